/**
 * Socket inode → owning process (pid, comm, exe, user) by scanning /proc/<pid>/fd for
 * `socket:[inode]` links; see SocketOwners. Used by sockets.ts (SocketTableReader).
 */
import { readdirSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { join } from "node:path";
import { listPids, safeReadlink } from "./netns.js";

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
