/**
 * Parsers for what the P2P OS readers capture (no I/O): Windows Win32_Process JSON, macOS ps and
 * brew output. Each returns the rows it could build and skips malformed ones. Installed packages
 * are parsed by the software collector (agent/collectors/software/parse-*.ts) and socket tables by
 * agent/os/linux/sockets.ts.
 */
import type { InstalledItem, ProcessInfo } from "./match.js";

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

/**
 * macOS: `ps -axo pid=,ppid=,uid=,comm=` (comm is the executable's full path and may hold spaces)
 * and, optionally, `ps -axww -o pid,comm,args` for the arguments (its header line is skipped).
 */
export function parseDarwinPs(listText: string, argsText?: string): ProcessInfo[] {
  const procs = new Map<number, ProcessInfo>();
  for (const line of listText.split("\n")) {
    const m = /^\s*(\d+)\s+(\d+)\s+(\d+)\s+(.+?)\s*$/.exec(line);
    if (!m) continue;
    const comm = m[4]!;
    const base = comm.split("/").pop() ?? comm;
    procs.set(Number(m[1]), {
      pid: Number(m[1]), ppid: Number(m[2]), uid: Number(m[3]), name: base, cmdline: [],
      ...(comm.startsWith("/") ? { exe: comm } : {}),
    });
  }
  if (argsText) {
    for (const line of argsText.split("\n")) {
      const m = /^\s*(\d+)\s+(.*)$/.exec(line);
      if (!m) continue;
      const p = procs.get(Number(m[1]));
      if (!p) continue;
      let rest = m[2]!;
      const comm = p.exe ?? p.name;
      if (rest.startsWith(comm)) rest = rest.slice(comm.length).trimStart();
      else rest = rest.replace(/^\S+\s*/, ""); // comm column as ps printed it
      // args: argv[0] may hold spaces ("/Applications/uTorrent Web.app/…"); the rest is split on blanks.
      const argv0 = [p.exe, p.name].find((c): c is string => !!c && rest.startsWith(c));
      if (argv0) p.cmdline = [argv0, ...rest.slice(argv0.length).trim().split(/\s+/).filter(Boolean)];
      else p.cmdline = rest.trim().split(/\s+/).filter(Boolean);
    }
  }
  return [...procs.values()];
}

/** `brew list --versions` (formulae and casks): "name v1 [v2 …]" per line. */
export function parseBrewList(text: string, source = "brew"): InstalledItem[] {
  const out: InstalledItem[] = [];
  for (const line of text.split("\n")) {
    const [name, ...versions] = line.trim().split(/\s+/);
    if (name) out.push({ name, version: versions[versions.length - 1] ?? "", source });
  }
  return out;
}
