/**
 * Windows reading for the P2P collector: one batched PowerShell call per cycle for the process
 * list (Win32_Process) and one for the Uninstall keys (re-read every few minutes). Sockets are not
 * read here yet (the network collector's reader will provide them).
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { InstalledItem, ProcessInfo } from "./match.js";
import { parseWin32Processes, parseWin32Uninstall } from "./parse.js";
import type { P2pPlatform } from "./platform.js";

const run = promisify(execFile);

export const WIN32_PROCESS_COMMAND =
  "Get-CimInstance Win32_Process | Select-Object ProcessId,ParentProcessId,Name,ExecutablePath,CommandLine | ConvertTo-Json -Compress";
export const WIN32_UNINSTALL_COMMAND =
  "Get-ItemProperty 'HKLM:\\Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\*','HKLM:\\Software\\WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\*','HKCU:\\Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\*' -ErrorAction SilentlyContinue | Select-Object DisplayName,DisplayVersion,Publisher | ConvertTo-Json -Compress";

async function powershell(command: string): Promise<string> {
  const { stdout } = await run("powershell.exe", ["-NoProfile", "-NonInteractive", "-Command", command], {
    maxBuffer: 64 * 1024 * 1024, windowsHide: true, timeout: 60_000,
  });
  return stdout;
}

export class Win32P2pPlatform implements P2pPlatform {
  readonly os = "win32" as const;
  private lastInstalled = 0;

  constructor(private readonly installedEveryMs = 300_000) {}

  async listProcesses(): Promise<ProcessInfo[]> {
    return parseWin32Processes(await powershell(WIN32_PROCESS_COMMAND));
  }

  executableOf(p: ProcessInfo): string | undefined {
    return p.exe;
  }

  async installed(): Promise<InstalledItem[] | undefined> {
    if (Date.now() - this.lastInstalled < this.installedEveryMs) return undefined;
    this.lastInstalled = Date.now();
    return parseWin32Uninstall(await powershell(WIN32_UNINSTALL_COMMAND));
  }

  isAlive(pid: number): boolean {
    try { process.kill(pid, 0); return true; } catch { return false; }
  }
}
