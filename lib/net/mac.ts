/**
 * MAC (and BSSID) addresses in ONE form everywhere (network events, inventory, PC ledger,
 * reconciliation): lower-case, colon separated, `aa:bb:cc:dd:ee:ff`. Windows writes
 * `AA-BB-CC-DD-EE-FF`, Cisco `aabb.ccdd.eeff`, macOS drops leading zeros (`0:1c:e:ec:5c:0` is
 * `00:1c:0e:ec:5c:00`), people paste twelve bare hex digits into a ledger.
 */
export function normalizeMac(text: string | null | undefined): string | undefined {
  if (!text) return undefined;
  const s = text.trim().toLowerCase();
  let octets: string[];
  if (/^[0-9a-f]{1,2}([:-][0-9a-f]{1,2}){5}$/.test(s)) octets = s.split(/[:-]/);
  else if (/^[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}$/.test(s)) octets = s.replace(/\./g, "").match(/../g)!;
  else if (/^[0-9a-f]{12}$/.test(s)) octets = s.match(/../g)!;
  else return undefined;
  return octets.map((o) => o.padStart(2, "0")).join(":");
}

/** Equal after normalisation (false when either is not a MAC). */
export function macEquals(a: string | null | undefined, b: string | null | undefined): boolean {
  const x = normalizeMac(a);
  return x !== undefined && x === normalizeMac(b);
}

/** All-zero and broadcast addresses identify nothing (expects the normalised form). */
export function isUsableMac(mac: string): boolean {
  return mac !== "" && mac !== "00:00:00:00:00:00" && mac !== "ff:ff:ff:ff:ff:ff";
}

/** 00:00:00:00:00:00 (loopback, tunnels) */
export function isZeroMac(text: string | null | undefined): boolean {
  return normalizeMac(text) === "00:00:00:00:00:00";
}
