/**
 * The socket tables' text, parsed (pure, no I/O): /proc/net/{tcp,tcp6,udp,udp6} rows
 * (`parseProcNetSockets`), their hex addresses (`decodeProcAddress`), and a namespace's socket
 * counters from /proc/net/snmp and sockstat (`socketCounters`). Read by sockets.ts.
 */
import { endianness } from "node:os";
import { formatIp } from "../../../lib/net/ip.js";

export type SocketProtocol = "tcp" | "udp";

/** TCP states as the kernel numbers them (include/net/tcp_states.h). */
export const TCP_STATES = {
  1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2", 6: "TIME_WAIT",
  7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING", 12: "NEW_SYN_RECV",
} as const;
export type SocketState = (typeof TCP_STATES)[keyof typeof TCP_STATES] | "UNKNOWN";

export interface SocketEntry {
  protocol: SocketProtocol;
  family: 4 | 6;
  /** canonical text; IPv4-mapped IPv6 (::ffff:a.b.c.d) is shown as IPv4 */
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  /** for UDP the kernel reuses the TCP numbers: ESTABLISHED = connected, CLOSE = unconnected */
  state: SocketState;
  /** uid that created the socket */
  uid: number;
  /** socket inode (0 for TIME_WAIT and other orphaned rows) */
  inode: number;
}

/**
 * Decode a /proc/net address `0100007F:0050` (IPv4) or 32 hex digits (IPv6), both stored as
 * host-order (little-endian on x86/arm) 32-bit words, port big-endian hex.
 */
export function decodeProcAddress(hex: string): { address: string; port: number; family: 4 | 6 } | undefined {
  const colon = hex.indexOf(":");
  if (colon < 0) return undefined;
  const addr = hex.slice(0, colon);
  const port = parseInt(hex.slice(colon + 1), 16);
  if (!Number.isFinite(port)) return undefined;
  if (addr.length === 8) {
    const v = wordLE(addr, 0);
    if (v === undefined) return undefined;
    return { address: formatIp({ family: 4, value: BigInt(v) }), port, family: 4 };
  }
  if (addr.length === 32) {
    let v = 0n;
    for (let i = 0; i < 32; i += 8) {
      const w = wordLE(addr, i);
      if (w === undefined) return undefined;
      v = (v << 32n) | BigInt(w);
    }
    // folded to IPv4 when mapped: the same connection reads the same from tcp and tcp6
    const family = (v >> 32n) === 0xffffn ? 4 : 6;
    const value = family === 4 ? v & 0xffffffffn : v;
    return { address: formatIp({ family, value }), port, family: 6 };
  }
  return undefined;
}

const LITTLE_ENDIAN = endianness() === "LE";

/** one 32-bit word printed by the kernel as a host-order integer (8 hex digits) */
function wordLE(hex: string, at: number): number | undefined {
  if (!LITTLE_ENDIAN) {
    const v = parseInt(hex.slice(at, at + 8), 16);
    return Number.isNaN(v) ? undefined : v;
  }
  const b0 = parseInt(hex.slice(at, at + 2), 16), b1 = parseInt(hex.slice(at + 2, at + 4), 16);
  const b2 = parseInt(hex.slice(at + 4, at + 6), 16), b3 = parseInt(hex.slice(at + 6, at + 8), 16);
  if ([b0, b1, b2, b3].some(Number.isNaN)) return undefined;
  return ((b3 << 24) >>> 0) + (b2 << 16) + (b1 << 8) + b0;
}

/** decoded addresses by their hex text (the same few local/remote addresses repeat a lot) */
const addressCache = new Map<string, { address: string; port: number; family: 4 | 6 } | undefined>();

function decodeCached(hex: string): { address: string; port: number; family: 4 | 6 } | undefined {
  const colon = hex.indexOf(":");
  const addrHex = hex.slice(0, colon);
  let a = addressCache.get(addrHex);
  if (a === undefined && !addressCache.has(addrHex)) {
    if (addressCache.size > 20_000) addressCache.clear();
    a = decodeProcAddress(`${addrHex}:0`);
    addressCache.set(addrHex, a);
  }
  if (!a) return undefined;
  const port = parseInt(hex.slice(colon + 1), 16);
  return Number.isNaN(port) ? undefined : { address: a.address, port, family: a.family };
}

/** the next whitespace-separated field of `line` from `pos`: [start, end) */
function nextField(line: string, pos: number): [number, number] {
  let i = pos;
  while (i < line.length && line.charCodeAt(i) <= 32) i++;
  let j = i;
  while (j < line.length && line.charCodeAt(j) > 32) j++;
  return [i, j];
}

/**
 * Parse one /proc/net/{tcp,tcp6,udp,udp6} table. Pure. The header line and malformed rows are
 * skipped. `family` is the table's family (tcp6 rows may hold IPv4-mapped addresses).
 */
export function parseProcNetSockets(text: string, protocol: SocketProtocol, family: 4 | 6): SocketEntry[] {
  const rows: SocketEntry[] = [];
  let start = text.indexOf("\n") + 1; // skip header
  if (start === 0) return rows;
  const f: string[] = new Array<string>(10);
  while (start < text.length) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end);
    start = end + 1;
    // sl local rem st tx:rx tr:tm retrnsmt uid timeout inode ...
    let pos = 0, n = 0;
    for (; n < 10; n++) {
      const [a, b] = nextField(line, pos);
      if (a === b) break;
      f[n] = line.slice(a, b);
      pos = b;
    }
    if (n < 10) continue;
    const local = decodeCached(f[1]!);
    const remote = decodeCached(f[2]!);
    const st = parseInt(f[3]!, 16);
    const uid = Number(f[7]);
    const inode = Number(f[9]);
    if (!local || !remote || !Number.isFinite(st) || !Number.isFinite(uid) || !Number.isFinite(inode)) continue;
    rows.push({
      protocol,
      family,
      localAddress: local.address,
      localPort: local.port,
      remoteAddress: remote.address,
      remotePort: remote.port,
      state: (TCP_STATES as Record<number, SocketState>)[st] ?? "UNKNOWN",
      uid,
      inode,
    });
  }
  return rows;
}

/** A TCP listener, or an unconnected bound UDP socket (a UDP "listener"). */
export function isListening(s: SocketEntry): boolean {
  if (s.protocol === "tcp") return s.state === "LISTEN";
  return s.state === "CLOSE" && s.remotePort === 0 && s.localPort !== 0;
}

/** An established TCP connection or a connected UDP socket. */
export function isConnected(s: SocketEntry): boolean {
  return s.state === "ESTABLISHED" && s.remotePort !== 0;
}

/**
 * A fingerprint of a namespace's socket activity from its kernel counters (pure): TCP
 * ActiveOpens/PassiveOpens/CurrEstab from /proc/net/snmp, TCP/UDP `inuse`/`alloc` from
 * /proc/net/sockstat and sockstat6. Unchanged counters mean no connection was opened and the
 * number of sockets is the same — a socket closed and another opened within one interval can
 * hide behind equal counts, which is why readers still re-read the tables every so often.
 */
export function socketCounters(snmp: string, sockstat: string, sockstat6 = ""): string {
  const out: string[] = [];
  // only the two Tcp: lines are split (the look runs every second or two: not the whole file)
  const a = snmp.startsWith("Tcp:") ? 0 : snmp.indexOf("\nTcp:") + 1;
  if (a > 0 || snmp.startsWith("Tcp:")) {
    const e1 = snmp.indexOf("\n", a);
    if (e1 > 0 && snmp.startsWith("Tcp:", e1 + 1)) {
      const e2 = snmp.indexOf("\n", e1 + 1);
      const names = snmp.slice(a, e1).split(/\s+/), values = snmp.slice(e1 + 1, e2 < 0 ? undefined : e2).split(/\s+/);
      for (const k of ["ActiveOpens", "PassiveOpens", "CurrEstab"]) out.push(values[names.indexOf(k)] ?? "?");
    }
  }
  for (const line of `${sockstat}\n${sockstat6}`.split("\n")) {
    const m = /^(TCP6?|UDP6?):\s+inuse\s+(\d+)(?:.*?\balloc\s+(\d+))?/.exec(line);
    if (m) out.push(`${m[1]}=${m[2]}/${m[3] ?? ""}`);
  }
  return out.join(",");
}
