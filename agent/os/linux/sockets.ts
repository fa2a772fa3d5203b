/**
 * Linux sockets without netstat/ss: the kernel's own tables under /proc.
 *
 *  - `parseProcNetSockets(text, protocol, family)` — pure parser for /proc/net/{tcp,tcp6,udp,udp6}
 *    (hex little-endian addresses, hex states), one `SocketEntry` per row.
 *  - `listNetNamespaces()` — every network namespace that has a process in it (pids grouped by the
 *    inode of /proc/<pid>/ns/net), so sockets in containers and test namespaces are seen too.
 *  - `readSocketTables(pid?)` — the four tables of one namespace (/proc/<pid>/net/*; default: ours).
 *  - `SocketOwners` — socket inode → owning process (pid, comm, exe, user) by scanning
 *    /proc/<pid>/fd for `socket:[inode]` links. Cached; a scan happens only when the caller asks
 *    about an inode it has never resolved, and then first over the young processes (not rate
 *    limited), then over the processes that already owned sockets (most new sockets come
 *    from new processes or the same few busy ones), the full /proc only if needed.
 *  - `SocketTableReader` — all of the above in one call: every namespace's sockets, deduplicated.
 *
 * Everything here reads procfs synchronously: procfs reads are served from kernel memory (they do
 * not wait on a disk), and the synchronous calls cost a fraction of their promise equivalents,
 * which matters when 5,000 sockets are read every two seconds.
 */
import { readdirSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { endianness } from "node:os";
import { join } from "node:path";
import { formatIp } from "../../../lib/net/ip.js";
import { readProcFile } from "./proc-read.js";

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
 * Read a procfs file in as few read(2) calls as possible (see proc-read.ts); re-exported here for
 * the callers that import it from this module.
 */
export { readProcFile };

const TABLES: ReadonlyArray<readonly [string, SocketProtocol, 4 | 6]> = [
  ["tcp", "tcp", 4], ["tcp6", "tcp", 6], ["udp", "udp", 4], ["udp6", "udp", 6],
];

/**
 * Read the four socket tables of one network namespace: the namespace of `pid`, or ours when
 * omitted. A table that does not exist (IPv6 disabled) is skipped; a pid that has exited throws.
 */
export function readSocketTables(pid?: number, procRoot = "/proc"): SocketEntry[] {
  const dir = pid === undefined ? join(procRoot, "net") : join(procRoot, String(pid), "net");
  const out: SocketEntry[] = [];
  let read = 0;
  for (const [file, protocol, family] of TABLES) {
    let text: string;
    try {
      text = readProcFile(join(dir, file));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT" && pid === undefined) continue;
      if ((err as NodeJS.ErrnoException).code === "ENOENT" && read > 0) continue;
      throw err;
    }
    read++;
    for (const row of parseProcNetSockets(text, protocol, family)) out.push(row);
  }
  return out;
}

/** `net:[4026531840]` → 4026531840 */
export function parseNsLink(link: string): number | undefined {
  const m = /^net:\[(\d+)\]$/.exec(link);
  return m ? Number(m[1]) : undefined;
}

export interface NetNamespace {
  /** inode of the namespace (the number in `net:[…]`) */
  inode: number;
  /** live processes in it, ascending */
  pids: number[];
  /** the agent's own namespace */
  own: boolean;
}

function listPids(procRoot: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync(procRoot)) {
    const c = name.charCodeAt(0);
    if (c >= 48 && c <= 57) {
      const n = Number(name);
      if (Number.isInteger(n)) pids.push(n);
    }
  }
  return pids.sort((a, b) => a - b);
}

/**
 * Every network namespace that holds a process, with its pids. `cache` (pid → ns inode) saves
 * one readlink per known pid per call; pass the same Map across calls.
 */
export function listNetNamespaces(procRoot = "/proc", cache?: Map<number, number>): NetNamespace[] {
  const own = parseNsLink(safeReadlink(join(procRoot, "self/ns/net")) ?? "");
  const byNs = new Map<number, number[]>();
  const pids = listPids(procRoot);
  const live = new Set(pids);
  if (cache) for (const pid of cache.keys()) if (!live.has(pid)) cache.delete(pid);
  for (const pid of pids) {
    let ns = cache?.get(pid);
    if (ns === undefined) {
      ns = parseNsLink(safeReadlink(join(procRoot, String(pid), "ns/net")) ?? "");
      if (ns === undefined) continue; // exited, or a kernel thread we may not inspect
      cache?.set(pid, ns);
    }
    let list = byNs.get(ns);
    if (!list) byNs.set(ns, (list = []));
    list.push(pid);
  }
  if (own !== undefined && !byNs.has(own)) byNs.set(own, []);
  return [...byNs].map(([inode, list]) => ({ inode, pids: list, own: inode === own }));
}

function safeReadlink(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}

function safeRead(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/** Parse /etc/passwd text into uid → user name. Pure. */
export function parsePasswd(text: string): Map<number, string> {
  const users = new Map<number, string>();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const f = line.split(":");
    const uid = Number(f[2]);
    if (f[0] && Number.isInteger(uid) && !users.has(uid)) users.set(uid, f[0]);
  }
  return users;
}

/** The process that owns a socket. */
export interface SocketOwner {
  pid: number;
  /** /proc/<pid>/comm (15 characters at most, as the kernel keeps it) */
  process: string;
  /** /proc/<pid>/exe target, null when unreadable (kernel thread, gone, or not permitted) */
  exe: string | null;
  uid: number | null;
  user: string | null;
}

/**
 * Socket inode → owning process, cached. Call `resolve(inodes)` with the inodes you care about,
 * and `retain(liveInodes)` after each table read so closed sockets leave the cache.
 */
export class SocketOwners {
  private readonly procRoot: string;
  private readonly passwdPath: string;
  /** inode → pid, from the last scans */
  private readonly inodePid = new Map<number, number>();
  /** inode → owner, computed lazily */
  private readonly owners = new Map<number, SocketOwner>();
  /** inodes a full scan did not find (kernel-owned, or closed between read and scan) */
  private readonly unowned = new Set<number>();
  private users: Map<number, string> | undefined;
  private usersMtime = 0;
  private readonly minScanIntervalMs: number;
  private lastScan = -Infinity;
  /** pid → when it was first listed, from the last /proc listing (undefined before the first full scan) */
  private listedPids: Map<number, number> | undefined;
  /** at most this many young processes are scanned outside the rate limit per call */
  static readonly FRESH_PID_LIMIT = 256;
  /** a process counts as young (scanned outside the rate limit) this long after it was first listed */
  static readonly YOUNG_MS = 10_000;
  /** inodes asked about while a scan was not yet allowed (see minScanIntervalMs) */
  readonly pending = new Set<number>();
  /** counters, for diagnostics and benchmarks */
  readonly stats = { scans: 0, fullScans: 0, freshScans: 0, fdsRead: 0 };

  /**
   * `minScanIntervalMs` (default 5 s) bounds how often /proc/<pid>/fd is scanned: a scan reads one
   * link per open file on the machine, so on a busy machine new connections would otherwise cost
   * a scan each. Inodes asked about in between are left out of the answer and listed in
   * `pending` until the next allowed scan. Young processes (first listed less than YOUNG_MS ago)
   * are scanned outside that limit (at most FRESH_PID_LIMIT per call): they are few, and a new
   * connection very often comes from a new process (an older process's new socket waits for the
   * limit).
   */
  constructor(opts: { procRoot?: string; passwdPath?: string; minScanIntervalMs?: number } = {}) {
    this.procRoot = opts.procRoot ?? "/proc";
    this.passwdPath = opts.passwdPath ?? "/etc/passwd";
    this.minScanIntervalMs = opts.minScanIntervalMs ?? 5000;
  }

  /** Owners of the given inodes (those found; inode 0 never has one). */
  resolve(inodes: Iterable<number>): Map<number, SocketOwner> {
    const want = [...new Set(inodes)].filter((i) => i !== 0);
    let unknown = want.filter((i) => !this.inodePid.has(i) && !this.unowned.has(i));
    this.pending.clear();
    if (unknown.length && this.listedPids) {
      // young processes first (first listed less than YOUNG_MS ago), not rate limited: a new
      // connection very often comes from a new process, and scanning only those costs a few
      // readlinks. "Young", not just "new since the last listing": a process listed in the
      // moment between its start and its connect() is still looked at the next time.
      const now = Date.now();
      const pids = listPids(this.procRoot);
      const listed = new Map<number, number>();
      for (const p of pids) listed.set(p, this.listedPids.get(p) ?? now);
      this.listedPids = listed;
      const fresh = pids.filter((p) => now - listed.get(p)! < SocketOwners.YOUNG_MS);
      if (fresh.length) {
        this.stats.freshScans++;
        this.scan(fresh.slice(-SocketOwners.FRESH_PID_LIMIT));
        unknown = unknown.filter((i) => !this.inodePid.has(i));
      }
    }
    if (unknown.length && Date.now() - this.lastScan < this.minScanIntervalMs) {
      for (const i of unknown) this.pending.add(i);
      unknown = [];
    }
    if (unknown.length) {
      this.lastScan = Date.now();
      // the processes that already own sockets first: cheap, and usually enough
      const hot = new Set(this.inodePid.values());
      if (hot.size) {
        this.scan([...hot]);
        unknown = unknown.filter((i) => !this.inodePid.has(i));
      }
      if (unknown.length) {
        this.stats.fullScans++;
        const pids = listPids(this.procRoot);
        const listed = new Map<number, number>();
        // the processes of the first listing count as old; later ones keep when they were first seen
        for (const p of pids) listed.set(p, this.listedPids ? this.listedPids.get(p) ?? Date.now() : -Infinity);
        this.listedPids = listed;
        this.scan(pids);
        for (const i of unknown) if (!this.inodePid.has(i)) this.unowned.add(i);
      }
    }
    const out = new Map<number, SocketOwner>();
    const perPid = new Map<number, SocketOwner | undefined>();
    for (const inode of want) {
      let owner = this.owners.get(inode);
      if (!owner) {
        const pid = this.inodePid.get(inode);
        if (pid === undefined) continue;
        if (!perPid.has(pid)) perPid.set(pid, this.describe(pid));
        owner = perPid.get(pid);
        if (!owner) continue;
        this.owners.set(inode, owner);
      }
      out.set(inode, owner);
    }
    return out;
  }

  /** Forget every inode not in `live` (call with all inodes from the latest table read). */
  retain(live: Set<number>): void {
    for (const i of this.inodePid.keys()) if (!live.has(i)) { this.inodePid.delete(i); this.owners.delete(i); }
    for (const i of this.unowned) if (!live.has(i)) this.unowned.delete(i);
  }

  /**
   * The socket inodes one process holds open now (one listing of its /proc/<pid>/fd, not rate
   * limited: meant for the few processes a caller already has reason to look at). What it finds
   * is remembered, so `resolve` answers for those inodes without another scan.
   */
  socketsOf(pid: number): Set<number> {
    this.stats.scans++;
    return this.scanPid(pid);
  }

  private scan(pids: number[]): void {
    this.stats.scans++;
    for (const pid of pids) this.scanPid(pid);
  }

  private scanPid(pid: number): Set<number> {
    const found = new Set<number>();
    const fdDir = join(this.procRoot, String(pid), "fd");
    let fds: string[];
    try {
      fds = readdirSync(fdDir);
    } catch {
      return found; // exited or not permitted
    }
    for (const fd of fds) {
      const link = safeReadlink(join(fdDir, fd));
      this.stats.fdsRead++;
      // socket:[12345]
      if (link === undefined || !link.startsWith("socket:[")) continue;
      const inode = Number(link.slice(8, -1));
      found.add(inode);
      if (!this.inodePid.has(inode)) this.inodePid.set(inode, pid);
      this.unowned.delete(inode);
    }
    return found;
  }

  private describe(pid: number): SocketOwner | undefined {
    const base = join(this.procRoot, String(pid));
    const comm = safeRead(join(base, "comm"));
    if (comm === undefined) return undefined;
    const status = safeRead(join(base, "status")) ?? "";
    const m = /^Uid:\s+(\d+)/m.exec(status);
    const uid = m ? Number(m[1]) : null;
    let exe = safeReadlink(join(base, "exe")) ?? null;
    if (exe?.endsWith(" (deleted)")) exe = exe.slice(0, -" (deleted)".length);
    return { pid, process: comm.trimEnd(), exe, uid, user: uid === null ? null : this.userName(uid) };
  }

  /** uid → name from /etc/passwd (re-read when it changes); null when unknown. */
  userName(uid: number): string | null {
    try {
      const mtime = statSync(this.passwdPath).mtimeMs;
      if (!this.users || mtime !== this.usersMtime) {
        this.users = parsePasswd(readFileSync(this.passwdPath, "utf8"));
        this.usersMtime = mtime;
      }
    } catch {
      this.users ??= new Map();
    }
    return this.users.get(uid) ?? null;
  }
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
  const lines = snmp.split("\n");
  for (let i = 0; i + 1 < lines.length; i++) {
    if (!lines[i]!.startsWith("Tcp:") || !lines[i + 1]!.startsWith("Tcp:")) continue;
    const names = lines[i]!.split(/\s+/), values = lines[i + 1]!.split(/\s+/);
    for (const k of ["ActiveOpens", "PassiveOpens", "CurrEstab"]) out.push(values[names.indexOf(k)] ?? "?");
    break;
  }
  for (const line of `${sockstat}\n${sockstat6}`.split("\n")) {
    const m = /^(TCP6?|UDP6?):\s+inuse\s+(\d+)(?:.*?\balloc\s+(\d+))?/.exec(line);
    if (m) out.push(`${m[1]}=${m[2]}/${m[3] ?? ""}`);
  }
  return out.join(",");
}

export interface NamespacedSocket extends SocketEntry {
  /** inode of the network namespace the socket lives in */
  netns: number;
}

/**
 * Reads every namespace's socket tables (or only ours with `allNamespaces: false`). A socket is
 * listed once even when several namespaces' tables are read through the same process.
 */
export class SocketTableReader {
  readonly owners: SocketOwners;
  private readonly procRoot: string;
  private readonly allNamespaces: boolean;
  private readonly nsCache = new Map<number, number>();
  private nsCheckedAt = 0;
  private counters = new Map<number, string>();
  private lastFullRead = 0;
  /** each namespace's rows from the last read (for readIfChanged to reuse) */
  private nsRows = new Map<number, NamespacedSocket[]>();
  /** full table reads, and readIfChanged calls that skipped them (diagnostics, benchmarks) */
  readonly stats = { fullReads: 0, skipped: 0, namespacesReused: 0 };

  constructor(opts: { procRoot?: string; allNamespaces?: boolean; owners?: SocketOwners } = {}) {
    this.procRoot = opts.procRoot ?? "/proc";
    this.allNamespaces = opts.allNamespaces ?? true;
    this.owners = opts.owners ?? new SocketOwners({ procRoot: this.procRoot });
  }

  /**
   * Forget the namespaces cached for these pids: the next read looks their /proc/<pid>/ns/net up
   * again. For a caller that knows a process changed (it exec'd — `ip netns exec` does setns, then
   * exec) and does not want to wait for the 30 s re-check.
   */
  forget(pids: Iterable<number>): void {
    for (const pid of pids) this.nsCache.delete(pid);
  }

  /** Namespaces seen (pid → namespace links are re-checked every 30 s: setns/unshare move pids). */
  namespaces(): NetNamespace[] {
    const now = Date.now();
    if (now - this.nsCheckedAt > 30_000) {
      this.nsCache.clear();
      this.nsCheckedAt = now;
    }
    return listNetNamespaces(this.procRoot, this.nsCache);
  }

  /**
   * Like read(), but only when some namespace's socket counters moved (see socketCounters), a
   * namespace appeared, or the last full read is older than `maxAgeMs`; else undefined. Reading
   * the counters costs a few hundred bytes of procfs per namespace instead of the whole tables.
   * Only the namespaces whose counters moved (or that are new) are read again; the others give
   * the rows of the last read — except every `maxAgeMs`, when all are read.
   */
  readIfChanged(maxAgeMs = 30_000): NamespacedSocket[] | undefined {
    const now = Date.now();
    const fps = new Map<number, string>();
    const aged = now - this.lastFullRead >= maxAgeMs;
    let changed = aged;
    const counters = (dir: string): string => {
      let six = "";
      try { six = readProcFile(join(dir, "sockstat6")); } catch { /* IPv6 disabled */ }
      return socketCounters(readProcFile(join(dir, "snmp")), readProcFile(join(dir, "sockstat")), six);
    };
    try {
      const nss = this.allNamespaces ? this.namespaces() : [{ inode: 0, pids: [], own: true }];
      for (const ns of nss) {
        let fp: string | undefined;
        if (ns.own) fp = counters(join(this.procRoot, "net"));
        else {
          for (const pid of ns.pids) {
            try { fp = counters(join(this.procRoot, String(pid), "net")); break; } catch { /* next pid */ }
          }
        }
        if (fp === undefined) continue;
        fps.set(ns.inode, fp);
        if (this.counters.get(ns.inode) !== fp) changed = true;
      }
    } catch {
      changed = true;
    }
    if (fps.size !== this.counters.size) changed = true;
    // namespaces whose counters did not move keep the rows of the last read (the kernel walks
    // its whole socket hash for each namespace's table, so every namespace skipped saves a walk)
    const unchanged = new Set<number>();
    if (!aged) for (const [ns, fp] of fps) if (this.counters.get(ns) === fp) unchanged.add(ns);
    this.counters = fps;
    if (!changed) {
      this.stats.skipped++;
      return undefined;
    }
    return this.readTables(aged ? undefined : unchanged);
  }

  /** Every namespace's tables, read now. */
  read(): NamespacedSocket[] {
    return this.readTables(undefined);
  }

  /** Read the tables; the namespaces in `reuse` give the rows of the last read instead, when there are some. */
  private readTables(reuse: Set<number> | undefined): NamespacedSocket[] {
    if (!reuse) this.lastFullRead = Date.now();
    this.stats.fullReads++;
    const rowsByNs = new Map<number, NamespacedSocket[]>();
    const tables = (netns: number, readIt: () => SocketEntry[]): SocketEntry[] => {
      let rows = reuse?.has(netns) ? this.nsRows.get(netns) : undefined;
      if (rows) this.stats.namespacesReused++;
      else rows = readIt() as NamespacedSocket[];
      rowsByNs.set(netns, rows);
      return rows;
    };
    const out: NamespacedSocket[] = [];
    const seen = new Set<number>();
    const push = (rows: SocketEntry[], netns: number): void => {
      for (const r of rows) {
        if (r.inode !== 0) {
          if (seen.has(r.inode)) continue;
          seen.add(r.inode);
        }
        (r as NamespacedSocket).netns = netns;
        out.push(r as NamespacedSocket);
      }
    };
    if (!this.allNamespaces) {
      const own = parseNsLink(safeReadlink(join(this.procRoot, "self/ns/net")) ?? "") ?? 0;
      push(tables(own, () => readSocketTables(undefined, this.procRoot)), own);
    } else {
      for (const ns of this.namespaces()) {
        if (ns.own) {
          push(tables(ns.inode, () => readSocketTables(undefined, this.procRoot)), ns.inode);
          continue;
        }
        for (const pid of ns.pids) {
          try {
            push(tables(ns.inode, () => readSocketTables(pid, this.procRoot)), ns.inode);
            break;
          } catch {
            // that pid exited (or is not ours to read): try the next one in the namespace
          }
        }
      }
    }
    this.nsRows = rowsByNs;
    this.owners.retain(seen);
    return out;
  }
}
