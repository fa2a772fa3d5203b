/**
 * macOS reading for the P2P collector: two `ps` calls per cycle for all processes, and
 * system_profiler (applications) + brew (formulae and casks) every few minutes.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { InstalledItem, ProcessInfo } from "./match.js";
import { parseBrewList, parseDarwinApps, parseDarwinPs } from "./parse.js";
import type { P2pPlatform } from "./platform.js";

const run = promisify(execFile);

async function out(cmd: string, args: string[]): Promise<string> {
  const { stdout } = await run(cmd, args, { maxBuffer: 64 * 1024 * 1024, timeout: 120_000 });
  return stdout;
}

export class DarwinP2pPlatform implements P2pPlatform {
  readonly os = "darwin" as const;
  private lastInstalled = 0;

  constructor(private readonly installedEveryMs = 300_000) {}

  async listProcesses(): Promise<ProcessInfo[]> {
    const [list, args] = await Promise.all([
      out("ps", ["-axo", "pid=,ppid=,uid=,comm="]),
      out("ps", ["-axww", "-o", "pid,comm,args"]),
    ]);
    return parseDarwinPs(list, args);
  }

  executableOf(p: ProcessInfo): string | undefined {
    return p.exe;
  }

  async installed(): Promise<InstalledItem[] | undefined> {
    if (Date.now() - this.lastInstalled < this.installedEveryMs) return undefined;
    this.lastInstalled = Date.now();
    const items: InstalledItem[] = [];
    try { items.push(...parseDarwinApps(await out("system_profiler", ["SPApplicationsDataType", "-json"]))); } catch { /* partial */ }
    try { items.push(...parseBrewList(await out("brew", ["list", "--versions"]))); } catch { /* no brew */ }
    return items;
  }

  isAlive(pid: number): boolean {
    try { process.kill(pid, 0); return true; } catch { return false; }
  }
}
