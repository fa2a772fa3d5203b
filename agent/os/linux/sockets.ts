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
 *    Where netlink sock_diag works (root, koffi: sock-diag.ts) the tables come from it — binary
 *    records, TIME_WAIT filtered in the kernel, a fraction of the CPU of the /proc text — else
 *    from /proc/<pid>/net/* as before; a namespace whose dump fails is read from /proc.
 *
 * Files: socket-parse.ts (the pure parsers and counters), netns.ts (namespaces), socket-owners.ts
 * (owners); this module reads the tables and re-exports the rest, so callers import from here.
 *
 * Everything here reads procfs synchronously: procfs reads are served from kernel memory (they do
 * not wait on a disk), and the synchronous calls cost a fraction of their promise equivalents,
 * which matters when 5,000 sockets are read every two seconds.
 */
import { join } from "node:path";
import { listNetNamespaces, parseNsLink, safeReadlink, type NetNamespace } from "./netns.js";
import { readProcFile } from "./proc-read.js";
import { SockDiagReader } from "./sock-diag.js";
import { SocketOwners } from "./socket-owners.js";
import { parseProcNetSockets, socketCounters, type SocketEntry, type SocketProtocol } from "./socket-parse.js";

export * from "./socket-parse.js";
export * from "./netns.js";
export * from "./socket-owners.js";

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

export interface NamespacedSocket extends SocketEntry {
  /** inode of the network namespace the socket lives in */
  netns: number;
}

let sharedDiag: Promise<SockDiagReader> | undefined;

/** One sock_diag reader per process, shared by every SocketTableReader (rejects where unavailable). */
export function sockDiag(): Promise<SockDiagReader> {
  sharedDiag ??= SockDiagReader.open();
  return sharedDiag;
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
  readonly stats = { fullReads: 0, skipped: 0, namespacesReused: 0, diagReads: 0, procReads: 0 };
  private diag?: SockDiagReader;
  /** resolves once the sock_diag reader is in use or known to be unavailable */
  readonly ready: Promise<void>;

  /**
   * `sockDiag: false` reads /proc text only (the default for a procRoot other than /proc: a
   * fixture tree has no kernel behind it).
   */
  constructor(opts: { procRoot?: string; allNamespaces?: boolean; owners?: SocketOwners; sockDiag?: boolean } = {}) {
    this.procRoot = opts.procRoot ?? "/proc";
    this.allNamespaces = opts.allNamespaces ?? true;
    this.owners = opts.owners ?? new SocketOwners({ procRoot: this.procRoot });
    this.ready = (opts.sockDiag ?? this.procRoot === "/proc")
      ? sockDiag().then((d) => { this.diag = d; }, () => undefined)
      : Promise.resolve();
  }

  /** Where the tables come from now. */
  get source(): "sock_diag" | "procfs" {
    return this.diag ? "sock_diag" : "procfs";
  }

  /** One namespace's tables: sock_diag when it works, else /proc (own namespace: pid undefined). */
  private tablesOf(nsInode: number, pid: number | undefined): SocketEntry[] {
    if (this.diag) {
      try {
        const rows = this.diag.read(pid === undefined ? undefined : { nsInode, pid });
        this.stats.diagReads++;
        return rows;
      } catch {
        // not ours to enter, gone, or a dump the kernel refused: /proc has the same rows
      }
    }
    this.stats.procReads++;
    return readSocketTables(pid, this.procRoot);
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
      push(tables(own, () => this.tablesOf(own, undefined)), own);
    } else {
      for (const ns of this.namespaces()) {
        if (ns.own) {
          push(tables(ns.inode, () => this.tablesOf(ns.inode, undefined)), ns.inode);
          continue;
        }
        for (const pid of ns.pids) {
          try {
            push(tables(ns.inode, () => this.tablesOf(ns.inode, pid)), ns.inode);
            break;
          } catch {
            // that pid exited (or is not ours to read): try the next one in the namespace
          }
        }
      }
    }
    this.nsRows = rowsByNs;
    if (this.allNamespaces) this.diag?.retain(new Set(rowsByNs.keys()));
    this.owners.retain(seen);
    return out;
  }
}
