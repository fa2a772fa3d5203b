/**
 * IP addresses and CIDR blocks, IPv4 and IPv6, without I/O.
 *
 * An address is held as a bigint with its family. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are
 * folded to IPv4 everywhere, so `10.0.0.0/8` contains `::ffff:10.1.2.3` and a block written as
 * `::ffff:10.0.0.0/104` is the IPv4 block `10.0.0.0/8`.
 */
import { isIP } from "node:net";

export type IpFamily = 4 | 6;

export interface IpAddress {
  readonly family: IpFamily;
  readonly value: bigint;
}

export interface Cidr {
  readonly family: IpFamily;
  /** the network address (host bits cleared) */
  readonly network: bigint;
  readonly prefix: number;
}

const BITS: Record<IpFamily, number> = { 4: 32, 6: 128 };

function parseV4(text: string): bigint | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let v = 0n;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    v = (v << 8n) | BigInt(n);
  }
  return v;
}

function parseV6(text: string): bigint | undefined {
  let s = text;
  // a trailing dotted quad (::ffff:1.2.3.4, 64:ff9b::1.2.3.4)
  let tail: bigint[] = [];
  const lastColon = s.lastIndexOf(":");
  if (s.includes(".", lastColon)) {
    const v4 = parseV4(s.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    tail = [v4 >> 16n, v4 & 0xffffn];
    s = s.slice(0, lastColon + 1) + "0";
    // replace the placeholder group below
  }
  const halves = s.split("::");
  if (halves.length > 2) return undefined;
  const groups = (h: string): string[] => (h === "" ? [] : h.split(":"));
  const head = groups(halves[0]!);
  const rest = halves.length === 2 ? groups(halves[1]!) : [];
  if (tail.length) {
    const arr = halves.length === 2 ? rest : head;
    arr.pop();
  }
  const given = head.length + rest.length + tail.length;
  if (halves.length === 1 && given !== 8) return undefined;
  if (halves.length === 2 && given > 7) return undefined;
  const all = [...head, ...Array<string>(8 - given).fill("0"), ...rest];
  let v = 0n;
  for (const g of all) {
    if (!/^[0-9a-f]{1,4}$/i.test(g)) return undefined;
    v = (v << 16n) | BigInt(parseInt(g, 16));
  }
  for (const t of tail) v = (v << 16n) | t;
  return v;
}

/** Parse an IPv4 or IPv6 address (zone ids like `%eth0` are dropped). IPv4-mapped → IPv4. */
export function parseIp(text: string): IpAddress | undefined {
  const s = text.trim().replace(/%.*$/, "").replace(/^\[(.*)\]$/, "$1");
  const fam = isIP(s);
  if (fam === 4) {
    const v = parseV4(s);
    return v === undefined ? undefined : { family: 4, value: v };
  }
  if (fam === 6) {
    const v = parseV6(s);
    if (v === undefined) return undefined;
    if (v >> 32n === 0xffffn) return { family: 4, value: v & 0xffffffffn };
    return { family: 6, value: v };
  }
  return undefined;
}

export function isIpAddress(text: string): boolean {
  return parseIp(text) !== undefined;
}

function mask(family: IpFamily, prefix: number): bigint {
  const bits = BITS[family];
  return prefix === 0 ? 0n : ((1n << BigInt(bits)) - 1n) ^ ((1n << BigInt(bits - prefix)) - 1n);
}

/**
 * Parse `addr/prefix` (a bare address is a host block: /32 or /128). Host bits are cleared, so
 * `10.1.2.3/8` is `10.0.0.0/8`. An IPv4-mapped IPv6 block of prefix ≥ 96 becomes IPv4.
 */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf("/");
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const prefixText = slash < 0 ? undefined : text.slice(slash + 1).trim();
  const trimmed = addrText.trim().replace(/%.*$/, "");
  const rawFamily = isIP(trimmed);
  const addr = parseIp(trimmed);
  if (!addr || rawFamily === 0) return undefined;
  let prefix: number;
  if (prefixText === undefined) prefix = BITS[addr.family];
  else {
    if (!/^\d{1,3}$/.test(prefixText)) return undefined;
    prefix = Number(prefixText);
    if (prefix > BITS[rawFamily as IpFamily]) return undefined;
    if (rawFamily === 6 && addr.family === 4) {
      // ::ffff:a.b.c.d/N with N ≥ 96 is an IPv4 block; a shorter one would span non-mapped space
      if (prefix < 96) return undefined;
      prefix -= 96;
    }
  }
  return { family: addr.family, prefix, network: addr.value & mask(addr.family, prefix) };
}

export function cidrContains(cidr: Cidr | string, address: IpAddress | string): boolean {
  const c = typeof cidr === "string" ? parseCidr(cidr) : cidr;
  const a = typeof address === "string" ? parseIp(address) : address;
  if (!c || !a || c.family !== a.family) return false;
  return (a.value & mask(c.family, c.prefix)) === c.network;
}

/** Whether `inner` lies wholly inside `outer`. */
export function cidrCovers(outer: Cidr | string, inner: Cidr | string): boolean {
  const o = typeof outer === "string" ? parseCidr(outer) : outer;
  const i = typeof inner === "string" ? parseCidr(inner) : inner;
  if (!o || !i || o.family !== i.family || i.prefix < o.prefix) return false;
  return (i.network & mask(o.family, o.prefix)) === o.network;
}

export function formatIp(address: IpAddress): string {
  if (address.family === 4) {
    const v = address.value;
    return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 0xffn)).join(".");
  }
  const groups: number[] = [];
  for (let s = 112n; s >= 0n; s -= 16n) groups.push(Number((address.value >> s) & 0xffffn));
  // longest run of zero groups (length ≥ 2) becomes "::" (RFC 5952)
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
}

export function formatCidr(cidr: Cidr): string {
  return `${formatIp({ family: cidr.family, value: cidr.network })}/${cidr.prefix}`;
}

/** The network an interface address belongs to: `networkOf("10.1.2.3", 24)` → `10.1.2.0/24`. */
export function networkOf(address: string, prefix: number): string | undefined {
  const a = parseIp(address);
  if (!a) return undefined;
  // a mapped IPv6 address given with a v6 prefix
  const p = a.family === 4 && prefix > 32 ? prefix - 96 : prefix;
  if (p < 0 || p > BITS[a.family]) return undefined;
  return formatCidr({ family: a.family, prefix: p, network: a.value & mask(a.family, p) });
}

/** Canonical text of an address (IPv4-mapped folded to IPv4, IPv6 compressed); input if unparsable. */
export function canonicalIp(text: string): string {
  const a = parseIp(text);
  return a ? formatIp(a) : text;
}

export function isLoopback(address: IpAddress | string): boolean {
  const a = typeof address === "string" ? parseIp(address) : address;
  if (!a) return false;
  return a.family === 4 ? (a.value >> 24n) === 127n : a.value === 1n;
}

export function isUnspecified(address: IpAddress | string): boolean {
  const a = typeof address === "string" ? parseIp(address) : address;
  return !!a && a.value === 0n;
}

/** fe80::/10 and 169.254.0.0/16 */
export function isLinkLocal(address: IpAddress | string): boolean {
  const a = typeof address === "string" ? parseIp(address) : address;
  if (!a) return false;
  return a.family === 4 ? (a.value >> 16n) === 0xa9fen : (a.value >> 118n) === 0x3fan;
}
