/**
 * Parsers for what the OS readers capture (no I/O): Windows Win32_Process and Uninstall JSON,
 * macOS ps / system_profiler / brew output, dpkg status, and /proc/net/{tcp,udp}[6].
 * Each returns the rows it could build and skips malformed ones.
 */
import type { InstalledItem, ProcessInfo } from "./match.js";
import type { Transport } from "./signatures.js";

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

/**
 * `Get-ItemProperty HKLM:\…\Uninstall\*, HKLM:\…\WOW6432Node\…\Uninstall\*, HKCU:\…\Uninstall\*
 * | Select DisplayName,DisplayVersion,Publisher | ConvertTo-Json` → installed items.
 */
export function parseWin32Uninstall(text: string): InstalledItem[] {
  return jsonRows(text)
    .filter((r) => typeof r.DisplayName === "string" && r.DisplayName.trim() !== "")
    .map((r) => ({ name: String(r.DisplayName).trim(), version: typeof r.DisplayVersion === "string" ? r.DisplayVersion : "", source: "registry" }));
}

/** `system_profiler SPApplicationsDataType -json` → installed applications. */
export function parseDarwinApps(text: string): InstalledItem[] {
  const t = text.trim();
  if (!t) return [];
  const v = JSON.parse(t) as { SPApplicationsDataType?: { _name?: unknown; version?: unknown }[] };
  return (v.SPApplicationsDataType ?? [])
    .filter((a) => typeof a._name === "string")
    .map((a) => ({ name: String(a._name), version: typeof a.version === "string" ? a.version : "", source: "app" }));
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

/** /var/lib/dpkg/status → installed packages (Status: install ok installed). */
export function parseDpkgStatus(text: string): InstalledItem[] {
  const out: InstalledItem[] = [];
  for (const stanza of text.split(/\n\n+/)) {
    let name = "", version = "", status = "";
    for (const line of stanza.split("\n")) {
      if (line.startsWith("Package: ")) name = line.slice(9).trim();
      else if (line.startsWith("Version: ")) version = line.slice(9).trim();
      else if (line.startsWith("Status: ")) status = line.slice(8).trim();
    }
    if (name && / installed$/.test(status)) out.push({ name, version, source: "dpkg" });
  }
  return out;
}

export type SocketState = "listen" | "established" | "connecting" | "closing" | "unconnected";

/** One row of /proc/net/{tcp,tcp6,udp,udp6}. */
export interface SocketEntry {
  transport: Transport;
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  state: SocketState;
  inode: number;
}

function hexToIp(hex: string): string {
  if (hex.length === 8) {
    const n = parseInt(hex, 16);
    return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff].join(".");
  }
  // IPv6: four 32-bit words, each in host (little-endian) order.
  const bytes: number[] = [];
  for (let w = 0; w < 4; w++) {
    const word = hex.slice(w * 8, w * 8 + 8);
    for (let b = 3; b >= 0; b--) bytes.push(parseInt(word.slice(b * 2, b * 2 + 2), 16));
  }
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  if (groups.slice(0, 5).every((g) => g === "0") && groups[5] === "ffff") {
    return `::ffff:${bytes.slice(12).join(".")}`;
  }
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== "0") { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  if (bestLen < 2) return groups.join(":");
  return `${groups.slice(0, best).join(":")}::${groups.slice(best + bestLen).join(":")}`;
}

const TCP_STATES: Record<string, SocketState> = {
  "01": "established", "02": "connecting", "03": "connecting", "0A": "listen",
};

const PROC_NET_ROW = /^ *\d+: ([0-9A-Fa-f]+):([0-9A-Fa-f]{4}) ([0-9A-Fa-f]+):([0-9A-Fa-f]{4}) ([0-9A-Fa-f]{2}) \S+ \S+ \S+ +\d+ +\d+ +(\d+)/gm;

/**
 * Parse /proc/net/tcp, tcp6, udp or udp6. With `skipClosing`, TCP sockets that are neither
 * listening nor (being) connected (TIME_WAIT, FIN_WAIT…) are left out before their addresses are
 * decoded: a busy host has thousands of them.
 */
export function parseProcNet(text: string, transport: Transport, opts: { skipClosing?: boolean } = {}): SocketEntry[] {
  const out: SocketEntry[] = [];
  for (const m of text.matchAll(PROC_NET_ROW)) {
    const st = m[5]!.toUpperCase();
    const state: SocketState = transport === "udp"
      ? (st === "01" ? "established" : "unconnected")
      : (TCP_STATES[st] ?? "closing");
    if (opts.skipClosing && state === "closing") continue;
    out.push({
      transport,
      localAddress: hexToIp(m[1]!), localPort: parseInt(m[2]!, 16),
      remoteAddress: hexToIp(m[3]!), remotePort: parseInt(m[4]!, 16),
      state,
      inode: Number(m[6]),
    });
  }
  return out;
}
