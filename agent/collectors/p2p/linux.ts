/**
 * Linux reading for the P2P collector: /proc for processes (agent/os/linux/procfs.ts), the software
 * collector's readers for installed packages (dpkg, rpm, snap, flatpak: installed.ts), and the
 * socket tables of every network namespace through the agent's shared reader
 * (agent/os/linux/sockets.ts: the network collector reads the same tables, and a read by one is
 * given to the other while the kernel's counters have not moved).
 */
import { readlinkSync } from "node:fs";
import { isAlive, ProcessLister } from "../../os/linux/procfs.js";
import { isListening, sharedSocketTables, SocketOwners, SocketTableReader, type NamespacedSocket, type SocketTableSource } from "../../os/linux/sockets.js";
import { LinuxSoftwareReader } from "../software/linux.js";
import type { InventoryReader } from "../software/reader.js";
import { InstalledSoftware } from "./installed.js";
import type { InstalledItem, ProcessInfo } from "./match.js";
import type { OwnedSocket, P2pPlatform, SocketQuery, SocketSource } from "./platform.js";

/**
 * Sockets for the P2P checks from the shared reader. A process in another network namespace has
 * its sockets in /proc/<pid>/net/*, not in the host's /proc/net/*: the reader reads each
 * namespace's tables once, when a process started, exec'd or exited, when a namespace's socket
 * counters moved, or every `maxAgeMs`.
 * Owners are resolved only for the sockets asked about; a process that is new or exec'd since the
 * last read has its namespace looked up again at once (`ip netns exec` does setns, then exec).
 */
export class SharedSocketSource implements SocketSource {
  readonly tables: SocketTableSource;
  private rows: NamespacedSocket[] = [];
  /** pid → start time and exe at the last read */
  private seenAs = new Map<number, string>();
  /** the pids that owned a socket returned by the last read */
  private owners = new Set<number>();
  /** when the tables were last read (performance.now()) and the CPU that read cost, ms */
  private lastRead = -Infinity;
  private lastCostMs = 0;

  // maxAgeMs: the network collector's full-read period too (60 s), so one aged read serves both
  constructor(procRoot = "/proc", private readonly maxAgeMs = 60_000, private readonly cpuBudget = 0.004) {
    // owners of new sockets on P2P ports are looked up at most once a second; the rest wait a cycle
    const owners = new SocketOwners({ procRoot, minScanIntervalMs: 1000 });
    // the real /proc: the agent's shared reader (the network collector reads the same tables)
    this.tables = procRoot === "/proc" ? sharedSocketTables().view(owners) : new SocketTableReader({ procRoot, owners });
  }

  async read(q: SocketQuery): Promise<OwnedSocket[]> {
    const now = new Map<number, string>();
    const moved: number[] = [];
    for (const p of q.processes) {
      const k = `${p.startTime ?? ""}:${p.exe ?? ""}`;
      now.set(p.pid, k);
      if (this.seenAs.get(p.pid) !== k) moved.push(p.pid);
    }
    const exited = [...this.seenAs.keys()].filter((pid) => !now.has(pid));
    this.seenAs = now;
    this.tables.forget(moved);
    // A P2P client that started, exec'd or exited can swap sockets behind equal counters (a
    // client restarted on the same ports): then the tables are read again whatever the counters
    // say. Other processes coming and going do not force it (on a busy machine they come and go
    // all the time, and a full read of thousands of sockets is the costliest thing here).
    const relevant = moved.some((pid) => q.allOf.has(pid)) || exited.some((pid) => this.owners.has(pid));
    // Counters that move all the time (thousands of sockets, busy clients) would mean a full read
    // every cycle: after a read that cost C ms of CPU the next waits C / cpuBudget ms (as the
    // network collector does); a P2P client starting or exiting is read at once anyway.
    const wall = performance.now();
    if (relevant || wall - this.lastRead >= this.lastCostMs / this.cpuBudget) {
      const cpu0 = process.cpuUsage();
      const rows = relevant ? this.tables.read() : this.tables.readIfChanged(this.maxAgeMs);
      if (rows) {
        this.rows = rows;
        const cpu = process.cpuUsage(cpu0);
        this.lastCostMs = (cpu.user + cpu.system) / 1000;
        this.lastRead = wall;
      }
    }

    const owners = this.tables.owners;
    const out: OwnedSocket[] = [];
    const taken = new Set<number>();
    // every listening/bound socket of an identified client
    if (q.allOf.size) {
      const ownerOf = new Map<number, number>();
      for (const pid of q.allOf) for (const ino of owners.socketsOf(pid)) ownerOf.set(ino, pid);
      for (const r of this.rows) {
        const pid = r.inode !== 0 ? ownerOf.get(r.inode) : undefined;
        if (pid === undefined || !(isListening(r) || q.want(r))) continue;
        taken.add(r.inode);
        out.push({ ...r, pid });
      }
    }
    // sockets on well-known P2P ports, whoever owns them
    const wanted = this.rows.filter((r) => !taken.has(r.inode) && q.want(r));
    if (wanted.length === 0) {
      this.owners = new Set(out.flatMap((s) => (s.pid !== undefined ? [s.pid] : [])));
      return out;
    }
    const found = owners.resolve(wanted.map((r) => r.inode));
    for (const r of wanted) {
      const owner = found.get(r.inode);
      if (!owner && owners.pending.has(r.inode)) continue; // its owner is looked up next cycle
      out.push(owner ? { ...r, pid: owner.pid } : { ...r });
    }
    this.owners = new Set(out.flatMap((s) => (s.pid !== undefined ? [s.pid] : [])));
    return out;
  }
}

export class LinuxP2pPlatform implements P2pPlatform {
  readonly os = "linux" as const;
  readonly sockets: SocketSource;
  private readonly procRoot: string;
  private readonly lister: ProcessLister;
  private readonly software: InstalledSoftware;

  constructor(opts: { procRoot?: string; software?: InventoryReader; sockets?: SocketSource } = {}) {
    this.procRoot = opts.procRoot ?? "/proc";
    this.lister = new ProcessLister(this.procRoot);
    this.software = new InstalledSoftware({ reader: opts.software ?? new LinuxSoftwareReader() });
    this.sockets = opts.sockets ?? new SharedSocketSource(this.procRoot);
  }

  async listProcesses(): Promise<ProcessInfo[]> {
    return this.lister.list();
  }

  async updateProcesses(changed: readonly number[], gone: readonly number[]): Promise<ProcessInfo[]> {
    return this.lister.update(changed, gone);
  }

  executableOf(p: ProcessInfo): string | undefined {
    return p.exe ? `${this.procRoot}/${p.pid}/exe` : undefined;
  }

  executableChanged(p: ProcessInfo): boolean {
    try { return readlinkSync(`${this.procRoot}/${p.pid}/exe`) !== p.exe; } catch { return true; }
  }

  installed(): Promise<InstalledItem[] | undefined> {
    return this.software.read();
  }

  isAlive(pid: number, startTime?: number): boolean {
    return isAlive(pid, startTime, this.procRoot);
  }

  close(): void {
    this.software.close();
  }
}
