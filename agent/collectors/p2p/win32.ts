/**
 * Windows reading for the P2P collector: one PowerShell call per cycle for the process list
 * (Win32_Process); installed software from the software collector's reader (Uninstall keys of
 * HKLM, WOW6432Node and every loaded HKU hive, and Appx), re-read every few minutes. Sockets are
 * not read here yet.
 */
import { execText } from "../software/reader.js";
import { Win32SoftwareReader } from "../software/win32.js";
import { InstalledSoftware } from "./installed.js";
import type { ProcessInfo } from "./match.js";
import { parseWin32Processes } from "./parse.js";
import { CommandP2pPlatform } from "./platform.js";

export const WIN32_PROCESS_COMMAND =
  "Get-CimInstance Win32_Process | Select-Object ProcessId,ParentProcessId,Name,ExecutablePath,CommandLine | ConvertTo-Json -Compress";

export class Win32P2pPlatform extends CommandP2pPlatform {
  readonly os = "win32" as const;

  constructor(installedEveryMs = 300_000) {
    super(new InstalledSoftware({ reader: new Win32SoftwareReader(), maxAgeMs: installedEveryMs }));
  }

  async listProcesses(): Promise<ProcessInfo[]> {
    return parseWin32Processes(await execText("powershell.exe", ["-NoProfile", "-NonInteractive", "-Command", WIN32_PROCESS_COMMAND], { timeoutMs: 60_000 }));
  }
}
