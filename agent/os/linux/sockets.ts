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
 *  - `sharedSocketTables().view(owners)` — one reader for the whole agent: the P2P and the network
 *    collector each get a view (their own owner cache and rate limit) of the same tables, so when
 *    one of them has read the tables and the kernel's counters have not moved since, the other
 *    gets those rows instead of reading them again.
 *  - `readConnections(skip)` — our namespace's TCP ESTABLISHED, SYN_SENT and LISTEN rows only
 *    (sock_diag's state filter, in the kernel), rows already judged skipped before decoding: the
 *    network collector's quick look after TCP ActiveOpens moved.
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
import { HeldProcFile, readProcFile } from "./proc-read.js";
import { parseCidr } from "../../../lib/net/ip.js";
import { CONNECTION_STATES, excludeDestinations, SockDiagReader, type DestinationCond } from "./sock-diag.js";
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

/** What a reader of the socket tables gives its users (a SocketTableReader, or a view of the shared one). */
export interface SocketTableSource {
  readonly owners: SocketOwners;
  read(): NamespacedSocket[];
  readIfChanged(maxAgeMs?: number): NamespacedSocket[] | undefined;
  /** see SocketTableReader.readConnections; undefined where sock_diag is not in use */
  readConnections(skip?: ReadonlySet<number>, approved?: readonly ApprovedDestination[]): NamespacedSocket[] | undefined;
  forget(pids: Iterable<number>): void;
}

/** A destination the policy approves (policies' approvedDestinations entry, as far as read here). */
export interface ApprovedDestination { cidr: string; ports?: readonly number[] | null }

/** The kernel filter for a list of approved destinations (compiled once per list). */
const approvedFilters = new WeakMap<readonly ApprovedDestination[], Buffer | undefined>();

function approvedFilter(approved: readonly ApprovedDestination[]): Buffer | undefined {
  if (approvedFilters.has(approved)) return approvedFilters.get(approved);
  const conds: DestinationCond[] = [];
  for (const a of approved) {
    const cidr = parseCidr(a.cidr);
    if (!cidr) continue;
    if (a.ports?.length) for (const port of a.ports) conds.push({ cidr, port });
    else conds.push({ cidr });
  }
  // a long list would make a long program for every row: the kernel filter is only for short ones
  const bc = conds.length <= 32 ? excludeDestinations(conds) : undefined;
  approvedFilters.set(approved, bc);
  return bc;
}

/** What one user of a shared reader has been given: the generation of the rows it has. */
interface Taken { gen: number }

/**
 * Reads every namespace's socket tables (or only ours with `allNamespaces: false`). A socket is
 * listed once even when several namespaces' tables are read through the same process.
 */
export class SocketTableReader implements SocketTableSource {
  readonly owners: SocketOwners;
  private readonly procRoot: string;
  private readonly allNamespaces: boolean;
  private readonly nsCache = new Map<number, number>();
  private nsCheckedAt = 0;
  /** the last namespace listing, reused for nsReuseMs unless forget() was called since */
  private nsList: NetNamespace[] | undefined;
  private nsListAt = -Infinity;
  private readonly nsReuseMs: number;
  /** our namespace's counter files, kept open (the real /proc only) */
  private readonly ownCounterFiles = new Map<string, HeldProcFile>();
  private counters = new Map<number, string>();
  private lastFullRead = 0;
  /** each namespace's rows from the last read (for readIfChanged to reuse) */
  private nsRows = new Map<number, NamespacedSocket[]>();
  /**
   * full table reads, readIfChanged calls that skipped them, calls answered with the rows another
   * view read (shared), quick connection reads (diagnostics, benchmarks)
   */
  readonly stats = { fullReads: 0, skipped: 0, shared: 0, namespacesReused: 0, diagReads: 0, procReads: 0, connectionReads: 0, namespaceListings: 0 };
  /** the rows of the last read, its generation, and the socket inodes in it */
  private gen = 0;
  private lastRows: NamespacedSocket[] = [];
  private lastInodes = new Set<number>();
  private readonly ownTaken: Taken = { gen: 0 };
  private ownNs: number | undefined;
  private diag?: SockDiagReader;
  /** resolves once the sock_diag reader is in use or known to be unavailable */
  readonly ready: Promise<void>;

  /**
   * `sockDiag: false` reads /proc text only (the default for a procRoot other than /proc: a
   * fixture tree has no kernel behind it).
   */
  constructor(opts: { procRoot?: string; allNamespaces?: boolean; owners?: SocketOwners; sockDiag?: boolean; nsReuseMs?: number } = {}) {
    this.procRoot = opts.procRoot ?? "/proc";
    this.nsReuseMs = opts.nsReuseMs ?? 0;
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
    for (const pid of pids) {
      this.nsCache.delete(pid);
      this.nsList = undefined;
    }
  }

  /** Namespaces seen (pid → namespace links are re-checked every 30 s: setns/unshare move pids). */
  namespaces(): NetNamespace[] {
    const now = Date.now();
    if (now - this.nsCheckedAt > 30_000) {
      this.nsCache.clear();
      this.nsCheckedAt = now;
      this.nsList = undefined;
    }
    if (this.nsList && now - this.nsListAt < this.nsReuseMs) return this.nsList;
    this.nsList = listNetNamespaces(this.procRoot, this.nsCache);
    this.nsListAt = now;
    this.stats.namespaceListings++;
    return this.nsList;
  }

  /**
   * Like read(), but only when some namespace's socket counters moved (see socketCounters), a
   * namespace appeared, or the last full read is older than `maxAgeMs`; else undefined. Reading
   * the counters costs a few hundred bytes of procfs per namespace instead of the whole tables.
   * Only the namespaces whose counters moved (or that are new) are read again; the others give
   * the rows of the last read — except every `maxAgeMs`, when all are read.
   */
  readIfChanged(maxAgeMs = 30_000): NamespacedSocket[] | undefined {
    return this.deliver(this.owners, this.readIfChangedFor(this.ownTaken, maxAgeMs));
  }

  /**
   * readIfChanged for one user of a shared reader: when the counters have not moved since the
   * last read, a user that has not been given that read's rows yet gets them (no read).
   */
  readIfChangedFor(taken: Taken, maxAgeMs = 30_000): NamespacedSocket[] | undefined {
    const aged = Date.now() - this.lastFullRead >= maxAgeMs;
    let changed = aged;
    const fps = this.sampleCounters();
    if (!fps) changed = true;
    else {
      for (const [ns, fp] of fps) if (this.counters.get(ns) !== fp) changed = true;
      if (fps.size !== this.counters.size) changed = true;
    }
    // namespaces whose counters did not move keep the rows of the last read (the kernel walks
    // its whole socket hash for each namespace's table, so every namespace skipped saves a walk)
    const unchanged = new Set<number>();
    if (!aged && fps) for (const [ns, fp] of fps) if (this.counters.get(ns) === fp) unchanged.add(ns);
    this.counters = fps ?? new Map();
    if (!changed) {
      if (taken.gen !== this.gen) {
        taken.gen = this.gen;
        this.stats.shared++;
        return this.lastRows;
      }
      this.stats.skipped++;
      return undefined;
    }
    const rows = this.readTables(aged ? undefined : unchanged);
    taken.gen = this.gen;
    return rows;
  }

  /** Every namespace's tables, read now. */
  read(): NamespacedSocket[] {
    return this.deliver(this.owners, this.readFor(this.ownTaken));
  }

  /** read() for one user of a shared reader. */
  readFor(taken: Taken): NamespacedSocket[] {
    // the counters first: the rows read after them are at least as new as they say
    this.counters = this.sampleCounters() ?? new Map();
    const rows = this.readTables(undefined);
    taken.gen = this.gen;
    return rows;
  }

  /** Rows handed to a user: its owner cache keeps only the sockets that still exist. */
  deliver(owners: SocketOwners, rows: NamespacedSocket[]): NamespacedSocket[];
  deliver(owners: SocketOwners, rows: NamespacedSocket[] | undefined): NamespacedSocket[] | undefined;
  deliver(owners: SocketOwners, rows: NamespacedSocket[] | undefined): NamespacedSocket[] | undefined {
    if (rows) owners.retain(this.lastInodes);
    return rows;
  }

  /**
   * Our namespace's TCP connections and listeners only (ESTABLISHED, SYN_SENT, LISTEN: filtered by
   * the kernel), for a quick look after a connect() somewhere; rows other than listeners whose
   * inode is in `skip` are left out before they are decoded, and rows whose remote end is in
   * `approved` (e.g. loopback, approved by the default policy) are left out by the kernel
   * (inet_diag bytecode). Not shared, and the rows are not remembered. undefined where sock_diag
   * is not in use (the caller reads the tables instead).
   */
  readConnections(skip?: ReadonlySet<number>, approved?: readonly ApprovedDestination[]): NamespacedSocket[] | undefined {
    if (!this.diag || this.procRoot !== "/proc") return undefined;
    this.ownNs ??= parseNsLink(safeReadlink(join(this.procRoot, "self/ns/net")) ?? "") ?? 0;
    let rows: SocketEntry[];
    try {
      rows = this.diag.read(undefined, { tcpOnly: true, states: CONNECTION_STATES, skip, bytecode: approved ? approvedFilter(approved) : undefined });
    } catch {
      return undefined;
    }
    this.stats.connectionReads++;
    for (const r of rows) (r as NamespacedSocket).netns = this.ownNs;
    return rows as NamespacedSocket[];
  }

  /** A view of this reader for one user with its own owner cache (see sharedSocketTables). */
  view(owners: SocketOwners = new SocketOwners({ procRoot: this.procRoot })): SocketTableView {
    return new SocketTableView(this, owners);
  }

  /** Each namespace's socket counters now (undefined when they cannot be read: read everything). */
  private sampleCounters(): Map<number, string> | undefined {
    const fps = new Map<number, string>();
    // our namespace's three files stay open (read again with pread: no path walk, open or close)
    const read = (dir: string, name: string, own: boolean): string => {
      if (!own || this.procRoot !== "/proc") return readProcFile(join(dir, name));
      let held = this.ownCounterFiles.get(name);
      if (!held) this.ownCounterFiles.set(name, (held = new HeldProcFile(join(dir, name))));
      return held.read().toString("latin1");
    };
    const counters = (dir: string, own = false): string => {
      let six = "";
      try { six = read(dir, "sockstat6", own); } catch { /* IPv6 disabled */ }
      return socketCounters(read(dir, "snmp", own), read(dir, "sockstat", own), six);
    };
    try {
      const nss = this.allNamespaces ? this.namespaces() : [{ inode: 0, pids: [], own: true }];
      for (const ns of nss) {
        let fp: string | undefined;
        if (ns.own) fp = counters(join(this.procRoot, "net"), true);
        else {
          for (const pid of ns.pids) {
            try { fp = counters(join(this.procRoot, String(pid), "net")); break; } catch { /* next pid */ }
          }
        }
        if (fp !== undefined) fps.set(ns.inode, fp);
      }
    } catch {
      return undefined;
    }
    return fps;
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
    this.gen++;
    this.lastRows = out;
    this.lastInodes = seen;
    return out;
  }
}

/** One user's view of a shared SocketTableReader: the same tables, its own owner cache. */
export class SocketTableView implements SocketTableSource {
  private readonly taken: Taken = { gen: -1 };

  constructor(readonly tables: SocketTableReader, readonly owners: SocketOwners) {}

  read(): NamespacedSocket[] {
    return this.tables.deliver(this.owners, this.tables.readFor(this.taken));
  }

  readIfChanged(maxAgeMs = 30_000): NamespacedSocket[] | undefined {
    return this.tables.deliver(this.owners, this.tables.readIfChangedFor(this.taken, maxAgeMs));
  }

  readConnections(skip?: ReadonlySet<number>, approved?: readonly ApprovedDestination[]): NamespacedSocket[] | undefined {
    return this.tables.readConnections(skip, approved);
  }

  forget(pids: Iterable<number>): void {
    this.tables.forget(pids);
  }
}

let shared: SocketTableReader | undefined;

/** The agent's one reader of the socket tables under /proc (see the file comment). */
export function sharedSocketTables(): SocketTableReader {
  // the P2P and the network collector each look every 2 s: one /proc walk for the namespaces
  // serves both (a new or exec'd process is forgotten by the P2P source at once, so a client
  // started in a new namespace is not kept waiting)
  shared ??= new SocketTableReader({ nsReuseMs: 1500 });
  return shared;
}
