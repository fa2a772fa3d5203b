/**
 * Parsers for what the P2P macOS reader captures (no I/O): ps and brew output. Each returns the
 * rows it could build and skips malformed ones.
 */
import type { InstalledItem, ProcessInfo } from "./match.js";

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
