/**
 * Linux reading for the P2P collector: /proc for processes (agent/os/linux/procfs.ts), the dpkg
 * status file for installed packages, /proc/<pid>/net/* per network namespace for sockets.
 */
import { readlinkSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { isAlive, ProcessLister } from "../../os/linux/procfs.js";
import type { InstalledItem, ProcessInfo } from "./match.js";
import { parseDpkgStatus } from "./parse.js";
import type { P2pPlatform } from "./platform.js";
import { ProcNetSocketSource, type SocketSource } from "./sockets.js";

/** Installed packages from the dpkg status file, re-read only when it changes. */
export class DpkgStatusReader {
  private lastKey = "";

  constructor(private readonly path = "/var/lib/dpkg/status") {}

  async read(): Promise<InstalledItem[] | undefined> {
    let key: string;
    try {
      const st = await stat(this.path);
      key = `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch {
      if (this.lastKey === "absent") return undefined;
      this.lastKey = "absent";
      return []; // not a dpkg system
    }
    if (key === this.lastKey) return undefined;
    const items = parseDpkgStatus(await readFile(this.path, "utf8"));
    this.lastKey = key;
    return items;
  }
}

export class LinuxP2pPlatform implements P2pPlatform {
  readonly os = "linux" as const;
  readonly sockets: SocketSource;
  private readonly dpkg: DpkgStatusReader;

  constructor(opts: { procRoot?: string; dpkgStatus?: string; sockets?: SocketSource } = {}) {
    this.procRoot = opts.procRoot ?? "/proc";
    this.lister = new ProcessLister(this.procRoot);
    this.dpkg = new DpkgStatusReader(opts.dpkgStatus);
    this.sockets = opts.sockets ?? new ProcNetSocketSource(this.procRoot);
  }

  private readonly procRoot: string;
  private readonly lister: ProcessLister;

  async listProcesses(): Promise<ProcessInfo[]> {
    return this.lister.list().filter((p) => p.pid !== process.pid);
  }

  executableOf(p: ProcessInfo): string | undefined {
    return p.exe ? `${this.procRoot}/${p.pid}/exe` : undefined;
  }

  executableChanged(p: ProcessInfo): boolean {
    try { return readlinkSync(`${this.procRoot}/${p.pid}/exe`) !== p.exe; } catch { return true; }
  }

  installed(): Promise<InstalledItem[] | undefined> {
    return this.dpkg.read();
  }

  isAlive(pid: number, startTime?: number): boolean {
    return isAlive(pid, startTime, this.procRoot);
  }
}
