/**
 * Parsers for what the P2P Windows reader captures (no I/O): Win32_Process JSON. Each returns the
 * rows it could build and skips malformed ones. Installed packages are parsed by the software
 * collector (agent/collectors/software/parse-*.ts) and socket tables by agent/os/linux/sockets.ts;
 * macOS ps and brew output by parse-darwin.ts.
 */
import type { ProcessInfo } from "./match.js";

function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** ConvertTo-Json gives an object for one row and an array for many; nothing for none. */
function jsonRows(text: string): Record<string, unknown>[] {
  const t = stripBom(text).trim();
  if (!t) return [];
  const v: unknown = JSON.parse(t);
  const rows = Array.isArray(v) ? v : [v];
  return rows.filter((r): r is Record<string, unknown> => typeof r === "object" && r !== null);
}

/** Split a Windows command line into arguments (double quotes group; backslashes kept). */
export function splitWindowsCommandLine(cmd: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  let has = false;
  for (const ch of cmd) {
    if (ch === '"') { quoted = !quoted; has = true; continue; }
    if (!quoted && (ch === " " || ch === "\t")) {
      if (has) out.push(cur);
      cur = ""; has = false;
      continue;
    }
    cur += ch; has = true;
  }
  if (has) out.push(cur);
  return out;
}

/**
 * `Get-CimInstance Win32_Process | Select ProcessId,ParentProcessId,Name,ExecutablePath,CommandLine
 * | ConvertTo-Json` → processes. ExecutablePath and CommandLine are null for protected processes.
 */
export function parseWin32Processes(text: string): ProcessInfo[] {
  const out: ProcessInfo[] = [];
  for (const r of jsonRows(text)) {
    const pid = Number(r.ProcessId);
    if (!Number.isInteger(pid) || typeof r.Name !== "string") continue;
    const cmd = typeof r.CommandLine === "string" ? r.CommandLine : "";
    out.push({
      pid,
      ppid: Number.isInteger(Number(r.ParentProcessId)) ? Number(r.ParentProcessId) : 0,
      name: r.Name,
      cmdline: splitWindowsCommandLine(cmd),
      ...(typeof r.ExecutablePath === "string" && r.ExecutablePath ? { exe: r.ExecutablePath } : {}),
    });
  }
  return out;
}
