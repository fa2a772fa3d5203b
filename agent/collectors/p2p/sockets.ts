/**
 * Sockets and their owning processes, behind a small interface (SocketSource) so the shared
 * agent/os/linux/sockets.ts can replace this minimal reader later.
 *
 * Linux: a process in another network namespace has its sockets in /proc/<pid>/net/*, not in the
 * host's /proc/net/*. So pids are grouped by their /proc/<pid>/ns/net inode and each namespace's
 * tables are read once. Owners are found through /proc/<pid>/fd (socket:[inode]) — only for the
 * sockets asked about, with the last owner tried first.
 */
import { readFileSync } from "node:fs";
import { netNamespaceOf, socketInodesOf } from "../../os/linux/procfs.js";
import { parseProcNet, type SocketEntry } from "./parse.js";

export interface OwnedSocket extends SocketEntry {
  /** the owning process, when found */
  pid?: number;
  /** the network namespace (inode) the socket lives in */
  netns: string;
}

export interface SocketQuery {
  /** processes to consider (grouped by namespace); exe/startTime tell a process that exec'd or was replaced */
  processes: readonly { pid: number; exe?: string; startTime?: number }[];
  /** sockets of interest (e.g. on a well-known P2P port) — owners are resolved for these */
  want: (s: SocketEntry) => boolean;
  /** processes whose every listening/bound socket is wanted too */
  allOf: ReadonlySet<number>;
}

export interface SocketSource {
  read(q: SocketQuery): Promise<OwnedSocket[]>;
}

const TABLES = [["tcp", "tcp"], ["tcp6", "tcp"], ["udp", "udp"], ["udp6", "udp"]] as const;

export class ProcNetSocketSource implements SocketSource {
  private readonly lastOwner = new Map<number, number>();
  /**
   * (pid, start time, exe) → network namespace, refreshed every `fullEvery`-th read: a process
   * rarely changes namespace without exec'ing (as `ip netns exec` does: setns, then exec).
   */
  private nsOf = new Map<string, string>();
  private reads = 0;

  constructor(private readonly procRoot = "/proc", private readonly fullEvery = 15) {}

  async read(q: SocketQuery): Promise<OwnedSocket[]> {
    const byNs = new Map<string, number[]>();
    const full = this.reads++ % this.fullEvery === 0;
    const nsOf = new Map<string, string>();
    for (const { pid, exe, startTime } of q.processes) {
      const key = `${pid}:${startTime ?? ""}:${exe ?? ""}`;
      const ns = (!full ? this.nsOf.get(key) : undefined) ?? netNamespaceOf(pid, this.procRoot);
      if (ns === undefined) continue;
      nsOf.set(key, ns);
      const list = byNs.get(ns);
      if (list) list.push(pid); else byNs.set(ns, [pid]);
    }
    const out: OwnedSocket[] = [];
    const owners = new Map<number, number>();
    for (const [netns, pids] of byNs) {
      const entries = this.readTables(pids);
      if (!entries) continue;
      const wanted = new Map<number, SocketEntry>();
      for (const e of entries) if (q.want(e)) wanted.set(e.inode, e);
      const allOfPids = pids.filter((p) => q.allOf.has(p));
      const allOfInodes = new Map<number, number>();
      for (const pid of allOfPids) for (const ino of socketInodesOf(pid, this.procRoot)) allOfInodes.set(ino, pid);
      for (const e of entries) {
        const owner = allOfInodes.get(e.inode);
        if (owner !== undefined && (e.state === "listen" || e.state === "unconnected") && e.inode !== 0) {
          wanted.set(e.inode, e);
          owners.set(e.inode, owner);
        }
      }
      if (wanted.size === 0) continue;
      this.resolveOwners([...wanted.keys()].filter((i) => i !== 0 && !owners.has(i)), pids, owners);
      for (const e of wanted.values()) {
        const pid = owners.get(e.inode);
        out.push({ ...e, netns, ...(pid !== undefined ? { pid } : {}) });
      }
    }
    this.nsOf = nsOf;
    this.lastOwner.clear();
    for (const [ino, pid] of owners) this.lastOwner.set(ino, pid);
    return out;
  }

  /** Read the four tables through the first pid of the namespace that still answers. */
  private readTables(pids: readonly number[]): SocketEntry[] | undefined {
    for (const pid of pids) {
      try {
        const out: SocketEntry[] = [];
        for (const [file, transport] of TABLES) {
          let text: string;
          try { text = readFileSync(`${this.procRoot}/${pid}/net/${file}`, "utf8"); } catch (err) {
            if ((err as NodeJS.ErrnoException).code === "ENOENT" && file.endsWith("6")) continue; // no IPv6
            throw err;
          }
          out.push(...parseProcNet(text, transport, { skipClosing: true }));
        }
        return out;
      } catch {
        continue; // the process exited: try the next one in this namespace
      }
    }
    return undefined;
  }

  private resolveOwners(inodes: number[], pids: readonly number[], owners: Map<number, number>): void {
    const missing = new Set(inodes);
    if (missing.size === 0) return;
    // The previous owner first: a long-lived socket costs one fd listing per cycle.
    const tried = new Set<number>();
    for (const ino of inodes) {
      const pid = this.lastOwner.get(ino);
      if (pid === undefined || tried.has(pid) || !pids.includes(pid)) continue;
      tried.add(pid);
      for (const i of socketInodesOf(pid, this.procRoot)) if (missing.delete(i)) owners.set(i, pid);
    }
    for (const pid of pids) {
      if (missing.size === 0) return;
      if (tried.has(pid)) continue;
      for (const i of socketInodesOf(pid, this.procRoot)) if (missing.delete(i)) owners.set(i, pid);
    }
  }
}
