/**
 * MAC addresses in one form everywhere (inventory, ledger, reconciliation): lower-case, colon
 * separated, "aa:bb:cc:dd:ee:ff". Accepts the forms people paste into a ledger: colons, hyphens
 * (Windows `getmac`), dots in groups of four (Cisco), or twelve bare hex digits.
 */
const FORMS = [
  /^([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})$/i,
  /^([0-9a-f]{2})([0-9a-f]{2})\.([0-9a-f]{2})([0-9a-f]{2})\.([0-9a-f]{2})([0-9a-f]{2})$/i,
  /^([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i,
];

/** The canonical form, or undefined when `text` is not a MAC address. */
export function normalizeMac(text: string): string | undefined {
  const t = text.trim();
  for (const re of FORMS) {
    const m = re.exec(t);
    if (m) return m.slice(1, 7).join(":").toLowerCase();
  }
  return undefined;
}

/** All-zero and broadcast addresses identify nothing. */
export function isUsableMac(mac: string): boolean {
  return mac !== "" && mac !== "00:00:00:00:00:00" && mac !== "ff:ff:ff:ff:ff:ff";
}
