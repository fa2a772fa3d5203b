/**
 * MAC (and BSSID) addresses. Windows writes `AA-BB-CC-DD-EE-FF`, Cisco `aabb.ccdd.eeff`, macOS
 * drops leading zeros (`0:1c:e:ec:5c:0`); all normalise to `aa:bb:cc:dd:ee:ff`.
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

/** 00:00:00:00:00:00 (loopback, tunnels) */
export function isZeroMac(text: string | null | undefined): boolean {
  return normalizeMac(text) === "00:00:00:00:00:00";
}
