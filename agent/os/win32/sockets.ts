/**
 * Windows socket tables with their owning processes: GetExtendedTcpTable (TCP_TABLE_OWNER_PID_ALL)
 * and GetExtendedUdpTable (UDP_TABLE_OWNER_PID), IPv4 and IPv6 — one call each, no process
 * started. Owners: OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION) + QueryFullProcessImageNameW,
 * cached per pid (a pid is looked up again only when it is new).
 *
 * The row layouts are parsed from the raw table bytes (pure functions, tested on captured tables).
 * Rows are returned in the shape of the Linux reader (agent/os/linux/sockets.ts) so the network
 * collector's evaluation is shared; the owning pid stands where Linux has the socket inode.
 */
import { basename } from "node:path";
import type { SocketEntry, SocketOwner, SocketState } from "../linux/sockets.js";
import { ERROR_INSUFFICIENT_BUFFER, utf16, win32 } from "./ffi.js";

const AF_INET = 2;
const AF_INET6 = 23;
const TCP_TABLE_BASIC_ALL = 2;
const TCP_TABLE_OWNER_PID_ALL = 5;
const UDP_TABLE_BASIC = 0;
const UDP_TABLE_OWNER_PID = 1;
const PROCESS_QUERY_LIMITED_INFORMATION = 0x1000;

/** MIB_TCP_STATE → the Linux names the evaluation uses. */
const TCP_STATE: Record<number, SocketState> = {
  1: "CLOSE", 2: "LISTEN", 3: "SYN_SENT", 4: "SYN_RECV", 5: "ESTABLISHED", 6: "FIN_WAIT1", 7: "FIN_WAIT2",
  8: "CLOSE_WAIT", 9: "CLOSING", 10: "LAST_ACK", 11: "TIME_WAIT", 12: "CLOSE",
};

/** A row of a Windows table: `inode` holds the owning pid (0 = System Idle / TIME_WAIT rows). */
export interface Win32Socket extends SocketEntry {
  pid: number;
}

const port = (buf: Buffer, off: number): number => (buf[off]! << 8) | buf[off + 1]!; // network order in the low word

function ipv4(buf: Buffer, off: number): string {
  return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
}

function ipv6(buf: Buffer, off: number): string {
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2) words.push(buf.readUInt16BE(off + i).toString(16));
  // ::ffff:a.b.c.d is shown as IPv4, like the Linux reader
  if (words.slice(0, 5).every((w) => w === "0") && words[5] === "ffff") return ipv4(buf, off + 12);
  // compress the longest run of zeros
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== "0") { i++; continue; }
    let j = i;
    while (j < 8 && words[j] === "0") j++;
    if (j - i > bestLen && j - i > 1) { best = i; bestLen = j - i; }
    i = j;
  }
  if (best < 0) return words.join(":");
  return `${words.slice(0, best).join(":")}::${words.slice(best + bestLen).join(":")}`;
}

function row(protocol: "tcp" | "udp", family: 4 | 6, local: string, lport: number, remote: string, rport: number, state: SocketState, pid: number): Win32Socket {
  return { protocol, family, localAddress: local, localPort: lport, remoteAddress: remote, remotePort: rport, state, uid: -1, inode: pid, pid };
}

/** MIB_TCPTABLE_OWNER_PID (IPv4): count, then rows of 6 DWORDs: state, laddr, lport, raddr, rport, pid. */
export function parseTcp4Table(buf: Buffer): Win32Socket[] {
  const n = buf.readUInt32LE(0);
  const out: Win32Socket[] = [];
  for (let i = 0; i < n && 4 + (i + 1) * 24 <= buf.length; i++) {
    const o = 4 + i * 24;
    out.push(row("tcp", 4, ipv4(buf, o + 4), port(buf, o + 8), ipv4(buf, o + 12), port(buf, o + 16), TCP_STATE[buf.readUInt32LE(o)] ?? "UNKNOWN", buf.readUInt32LE(o + 20)));
  }
  return out;
}

/** MIB_TCP6TABLE_OWNER_PID: rows of laddr[16], lscope, lport, raddr[16], rscope, rport, state, pid (56 bytes). */
export function parseTcp6Table(buf: Buffer): Win32Socket[] {
  const n = buf.readUInt32LE(0);
  const out: Win32Socket[] = [];
  for (let i = 0; i < n && 4 + (i + 1) * 56 <= buf.length; i++) {
    const o = 4 + i * 56;
    out.push(row("tcp", 6, ipv6(buf, o), port(buf, o + 20), ipv6(buf, o + 24), port(buf, o + 44), TCP_STATE[buf.readUInt32LE(o + 48)] ?? "UNKNOWN", buf.readUInt32LE(o + 52)));
  }
  return out;
}

/** MIB_UDPTABLE_OWNER_PID: rows of laddr, lport, pid (12 bytes). UDP rows are unconnected ("CLOSE", remote 0). */
export function parseUdp4Table(buf: Buffer): Win32Socket[] {
  const n = buf.readUInt32LE(0);
  const out: Win32Socket[] = [];
  for (let i = 0; i < n && 4 + (i + 1) * 12 <= buf.length; i++) {
    const o = 4 + i * 12;
    out.push(row("udp", 4, ipv4(buf, o), port(buf, o + 4), "0.0.0.0", 0, "CLOSE", buf.readUInt32LE(o + 8)));
  }
  return out;
}

/** MIB_UDP6TABLE_OWNER_PID: rows of laddr[16], lscope, lport, pid (28 bytes). */
export function parseUdp6Table(buf: Buffer): Win32Socket[] {
  const n = buf.readUInt32LE(0);
  const out: Win32Socket[] = [];
  for (let i = 0; i < n && 4 + (i + 1) * 28 <= buf.length; i++) {
    const o = 4 + i * 28;
    out.push(row("udp", 6, ipv6(buf, o), port(buf, o + 20), "::", 0, "CLOSE", buf.readUInt32LE(o + 24)));
  }
  return out;
}

/** MIB_TCPTABLE (basic, no owner): rows of state, laddr, lport, raddr, rport (20 bytes); pid unknown (-1). */
export function parseTcp4BasicTable(buf: Buffer): Win32Socket[] {
  const n = buf.readUInt32LE(0);
  const out: Win32Socket[] = [];
  for (let i = 0; i < n && 4 + (i + 1) * 20 <= buf.length; i++) {
    const o = 4 + i * 20;
    out.push(row("tcp", 4, ipv4(buf, o + 4), port(buf, o + 8), ipv4(buf, o + 12), port(buf, o + 16), TCP_STATE[buf.readUInt32LE(o)] ?? "UNKNOWN", -1));
  }
  return out;
}

/** MIB_UDPTABLE (basic): rows of laddr, lport (8 bytes). */
export function parseUdp4BasicTable(buf: Buffer): Win32Socket[] {
  const n = buf.readUInt32LE(0);
  const out: Win32Socket[] = [];
  for (let i = 0; i < n && 4 + (i + 1) * 8 <= buf.length; i++) {
    const o = 4 + i * 8;
    out.push(row("udp", 4, ipv4(buf, o), port(buf, o + 4), "0.0.0.0", 0, "CLOSE", -1));
  }
  return out;
}

/**
 * The tables without owners (TCP_TABLE_BASIC_ALL, UDP_TABLE_BASIC): on Windows as cheap as the
 * owner tables, but under Wine the owner lookup scans every Wine process's descriptors per socket
 * (seconds with thousands of sockets) — so callers look at these first and ask for owners only
 * when a row matters or the table changed. Returns the raw bytes (for change detection) and the
 * IPv4 TCP and UDP rows.
 */
export function readBasicTables(): { bytes: Buffer; rows4: Win32Socket[] } {
  const parts: Buffer[] = [];
  const rows4: Win32Socket[] = [];
  for (const [kind, family] of [["tcp", 4], ["udp", 4], ["tcp", 6], ["udp", 6]] as const) {
    try {
      const b = readTable(kind, family, true);
      if (family === 4) rows4.push(...(kind === "tcp" ? parseTcp4BasicTable(b) : parseUdp4BasicTable(b)));
      parts.push(b);
    } catch {
      // IPv6 disabled
    }
  }
  return { bytes: Buffer.concat(parts), rows4 };
}

/** The raw table bytes of one GetExtended*Table call (grown until it fits); `basic`: without owners. */
export function readTable(kind: "tcp" | "udp", family: 4 | 6, basic = false): Buffer {
  const w = win32();
  let buf = Buffer.alloc(16 * 1024);
  for (let attempt = 0; attempt < 5; attempt++) {
    const size = [buf.length];
    const rc = kind === "tcp"
      ? (w.GetExtendedTcpTable(buf, size, 0, family === 4 ? AF_INET : AF_INET6, basic ? TCP_TABLE_BASIC_ALL : TCP_TABLE_OWNER_PID_ALL, 0) as number)
      : (w.GetExtendedUdpTable(buf, size, 0, family === 4 ? AF_INET : AF_INET6, basic ? UDP_TABLE_BASIC : UDP_TABLE_OWNER_PID, 0) as number);
    if (rc === 0) return buf.subarray(0, size[0]);
    if (rc !== ERROR_INSUFFICIENT_BUFFER) throw new Error(`GetExtended${kind === "tcp" ? "Tcp" : "Udp"}Table(IPv${family}) failed: Win32 error ${rc}`);
    buf = Buffer.alloc(size[0]! + 4096);
  }
  throw new Error(`GetExtended${kind === "tcp" ? "Tcp" : "Udp"}Table(IPv${family}): the table keeps growing`);
}

/** Every TCP and UDP socket of the machine, IPv4 and IPv6. */
export function readAllSockets(): Win32Socket[] {
  const out: Win32Socket[] = [];
  out.push(...parseTcp4Table(readTable("tcp", 4)), ...parseUdp4Table(readTable("udp", 4)));
  for (const [parse, kind] of [[parseTcp6Table, "tcp"], [parseUdp6Table, "udp"]] as const) {
    try {
      out.push(...parse(readTable(kind, 6)));
    } catch {
      // IPv6 disabled
    }
  }
  return out;
}

/** The full image path of a process (Win32 path, UTF-16), or null (gone, protected, idle/System). */
export function processImage(pid: number): string | null {
  if (pid <= 4) return null;
  const w = win32();
  const h = w.OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) as number;
  if (!h) return null;
  try {
    const buf = Buffer.alloc(2 * 32768);
    const size = [32768];
    if (!w.QueryFullProcessImageNameW(h, 0, buf, size)) return null;
    return utf16(buf, size[0]);
  } finally {
    w.CloseHandle(h);
  }
}

/** The base name of a Windows path (either separator). */
export function winBasename(p: string): string {
  return basename(p.replace(/\\/g, "/"));
}

/**
 * pid → owner, cached: a pid's image is looked up once (and again only when the pid was gone from
 * the table and came back, i.e. may be another process).
 */
export class Win32SocketOwners {
  private readonly cache = new Map<number, SocketOwner>();
  readonly pending = new Set<number>();
  constructor(private readonly image: (pid: number) => string | null = processImage) {}

  resolve(pids: Iterable<number>): Map<number, SocketOwner> {
    const out = new Map<number, SocketOwner>();
    for (const pid of pids) {
      if (pid === 0) continue;
      let o = this.cache.get(pid);
      if (!o) {
        const exe = this.image(pid);
        o = { pid, process: exe ? winBasename(exe) : pid === 4 ? "System" : `pid ${pid}`, exe, uid: null, user: null };
        this.cache.set(pid, o);
      }
      out.set(pid, o);
    }
    return out;
  }

  /** forget pids no longer in the tables */
  retain(live: Set<number>): void {
    for (const pid of this.cache.keys()) if (!live.has(pid)) this.cache.delete(pid);
  }
}

/**
 * The network collector's socket source on Windows (the same calls as the Linux reader's:
 * read, readIfChanged, owners). The tables are small and one call each: readIfChanged reads them.
 */
export class Win32SocketTableReader {
  readonly owners: Win32SocketOwners;
  readonly stats = { fullReads: 0, skipped: 0 };
  private lastBasic: Buffer | undefined;
  private lastFull = 0;
  constructor(
    private readonly source: () => Win32Socket[] = readAllSockets,
    owners?: Win32SocketOwners,
    private readonly basic: () => Buffer = () => readBasicTables().bytes,
  ) {
    this.owners = owners ?? new Win32SocketOwners();
  }

  read(): Win32Socket[] {
    const rows = this.source();
    this.stats.fullReads++;
    this.lastFull = Date.now();
    this.owners.retain(new Set(rows.map((r) => r.pid)));
    return rows;
  }

  /** The tables with owners only when the owner-less tables changed (or every maxAgeMs); else undefined. */
  readIfChanged(maxAgeMs = 30_000): Win32Socket[] | undefined {
    const now = this.basic();
    const same = this.lastBasic !== undefined && now.equals(this.lastBasic);
    this.lastBasic = now;
    if (same && Date.now() - this.lastFull < maxAgeMs) {
      this.stats.skipped++;
      return undefined;
    }
    return this.read();
  }
}
