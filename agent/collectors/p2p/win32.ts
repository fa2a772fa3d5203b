/**
 * Windows reading for the P2P collector, through the Win32 API (no process started per cycle):
 *  - processes: a Toolhelp32 snapshot (pid, parent, image name) — the list is diffed by pid and
 *    only a new pid has its full image path looked up (OpenProcess + QueryFullProcessImageNameW),
 *    so only new images are hashed by the collector; the command line is not read (it would need
 *    the other process's memory): signatures match on the image;
 *  - sockets: GetExtendedTcpTable / GetExtendedUdpTable rows with their owning pids;
 *  - installed software: the software collector's reader (the registry API; Appx at its rescan).
 * Without the FFI layer (koffi failed to load), PowerShell's Win32_Process is the fallback.
 */
import { execText } from "../software/reader.js";
import { Win32SoftwareReader } from "../software/win32.js";
import { InstalledSoftware } from "./installed.js";
import type { ProcessInfo } from "./match.js";
import { parseWin32Processes } from "./parse-win32.js";
import { CommandP2pPlatform, type OwnedSocket, type SocketQuery, type SocketSource } from "./platform.js";
import { win32 } from "../../os/win32/ffi.js";
import { processImage, readAllSockets, readBasicTables, type Win32Socket } from "../../os/win32/sockets.js";

export const WIN32_PROCESS_COMMAND =
  "Get-CimInstance Win32_Process | Select-Object ProcessId,ParentProcessId,Name,ExecutablePath,CommandLine | ConvertTo-Json -Compress";

const TH32CS_SNAPPROCESS = 0x2;

/** One Toolhelp32 row. */
export interface ToolhelpRow {
  pid: number;
  ppid: number;
  name: string;
}

/** Every process from one Toolhelp32 snapshot. */
export function toolhelpProcesses(): ToolhelpRow[] {
  const w = win32();
  const snap = w.CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0) as number;
  if (!snap || snap === -1) throw new Error(`CreateToolhelp32Snapshot failed: Win32 error ${w.GetLastError() as number}`);
  const out: ToolhelpRow[] = [];
  try {
    const size = w.koffi.sizeof(w.PROCESSENTRY32W) as number;
    const pe: Record<string, unknown> = { dwSize: size };
    let ok = w.Process32FirstW(snap, pe) as number;
    while (ok) {
      out.push({ pid: Number(pe.th32ProcessID), ppid: Number(pe.th32ParentProcessID), name: String(pe.szExeFile ?? "") });
      pe.dwSize = size;
      ok = w.Process32NextW(snap, pe) as number;
    }
  } finally {
    w.CloseHandle(snap);
  }
  return out;
}

/**
 * The process list diffed by pid: a pid seen before (same image name) keeps its looked-up image
 * path; only new pids are looked up. Pure apart from the two functions it is given.
 */
export class ProcessListDiff {
  private known = new Map<number, ProcessInfo>();
  /** image lookups done (new pids), for tests and benchmarks */
  lookups = 0;
  constructor(private readonly list: () => ToolhelpRow[], private readonly image: (pid: number) => string | null) {}

  read(): ProcessInfo[] {
    const next = new Map<number, ProcessInfo>();
    for (const r of this.list()) {
      const was = this.known.get(r.pid);
      if (was && was.name === r.name && was.ppid === r.ppid) {
        next.set(r.pid, was);
        continue;
      }
      this.lookups++;
      const exe = this.image(r.pid) ?? undefined;
      next.set(r.pid, { pid: r.pid, ppid: r.ppid, name: r.name, cmdline: exe ? [exe] : [r.name], ...(exe ? { exe } : {}) });
    }
    this.known = next;
    return [...next.values()];
  }
}

/** P2P sockets on Windows: the tables with their owning pids (no namespaces: netns 0). */
export class Win32P2pSockets implements SocketSource {
  constructor(
    private readonly source: () => Win32Socket[] = readAllSockets,
    /** owner-less IPv4 TCP/UDP rows (cheap under Wine too); null: always read the owner tables */
    private readonly basic: (() => Win32Socket[]) | null = () => readBasicTables().rows4,
  ) {}

  async read(q: SocketQuery): Promise<OwnedSocket[]> {
    // nothing on a P2P port and no identified process: the owner tables are not needed
    if (this.basic && q.allOf.size === 0 && !this.basic().some((s) => q.want(s))) return [];
    const out: OwnedSocket[] = [];
    for (const s of this.source()) {
      if (!q.want(s) && !q.allOf.has(s.pid)) continue;
      out.push({ ...s, netns: 0, ...(s.pid ? { pid: s.pid } : {}) });
    }
    return out;
  }
}

export class Win32P2pPlatform extends CommandP2pPlatform {
  readonly os = "win32" as const;
  readonly sockets?: SocketSource;
  private readonly diff?: ProcessListDiff;

  constructor(installedEveryMs = 300_000) {
    super(new InstalledSoftware({ reader: new Win32SoftwareReader(), maxAgeMs: installedEveryMs }));
    try {
      win32();
      this.diff = new ProcessListDiff(toolhelpProcesses, processImage);
      this.sockets = new Win32P2pSockets();
    } catch {
      this.diff = undefined; // no FFI: PowerShell fallback, no sockets
    }
  }

  async listProcesses(): Promise<ProcessInfo[]> {
    if (this.diff) return this.diff.read();
    return parseWin32Processes(await execText("powershell.exe", ["-NoProfile", "-NonInteractive", "-Command", WIN32_PROCESS_COMMAND], { timeoutMs: 60_000 }));
  }
}
