/**
 * Linux process listing straight from /proc (no command spawned): /proc/<pid>/stat, cmdline, exe.
 * A process that exits while being read is skipped; unreadable fields are left out.
 */
import { readdirSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { readProcBuffer } from "./proc-read.js";

export interface LinuxProcess {
  pid: number;
  ppid: number;
  /** comm: the kernel's name for the process, at most 15 characters */
  name: string;
  cmdline: string[];
  /** readlink /proc/<pid>/exe — absent for kernel threads and processes we may not inspect */
  exe?: string;
  uid: number;
  /** field 22 of stat: start time in clock ticks since boot; (pid, startTime) identifies a process */
  startTime: number;
  /** kernel threads have no cmdline and no exe */
  kernelThread: boolean;
}

/** Parse /proc/<pid>/stat: the comm is in parentheses and may itself hold spaces and ')'. */
export function parseProcStat(text: string): { pid: number; name: string; state: string; ppid: number; startTime: number } | undefined {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) return undefined;
  const pid = Number(text.slice(0, open).trim());
  const rest = text.slice(close + 2).split(" ");
  // rest[0] = state (field 3), rest[1] = ppid (field 4), rest[19] = starttime (field 22)
  const ppid = Number(rest[1]);
  const startTime = Number(rest[19]);
  if (!Number.isInteger(pid) || !Number.isInteger(ppid)) return undefined;
  return { pid, name: text.slice(open + 1, close), state: rest[0] ?? "?", ppid, startTime: Number.isFinite(startTime) ? startTime : 0 };
}

/** Parse /proc/<pid>/cmdline (NUL-separated; a trailing NUL; setproctitle may use spaces instead). */
export function parseCmdline(buf: Buffer | string): string[] {
  const s = typeof buf === "string" ? buf : buf.toString("utf8");
  if (!s) return [];
  const parts = s.split("\0");
  if (parts[parts.length - 1] === "") parts.pop();
  return parts;
}

/**
 * Lists processes cheaply, pass after pass. A process already seen whose /proc/<pid>/exe link is
 * unchanged is taken from the last pass (one readlink per process: no stat/cmdline read); every
 * `fullEvery`-th pass re-reads everything (catches a renamed comm and a recycled pid running the
 * same executable — pids wrap far slower than that on a 64-bit kernel).
 */
export class ProcessLister {
  private known = new Map<number, LinuxProcess>();
  private pass = 0;

  constructor(private readonly procRoot = "/proc", private readonly fullEvery = 15) {}

  /**
   * The list after a few processes changed, without walking /proc: the pids in `changed` (started
   * or exec'd — from process events) are read again, those in `gone` dropped, the rest kept from
   * the last pass. Exact as long as no event was lost; callers still call list() now and then.
   */
  update(changed: Iterable<number>, gone: Iterable<number>, opts: { includeKernelThreads?: boolean } = {}): LinuxProcess[] {
    for (const pid of gone) this.known.delete(pid);
    for (const pid of changed) {
      const p = this.readOne(pid);
      if (p) this.known.set(pid, p); else this.known.delete(pid);
    }
    const out: LinuxProcess[] = [];
    for (const p of this.known.values()) if (!p.kernelThread || opts.includeKernelThreads) out.push(p);
    return out;
  }

  /** Everything about one process, read now (undefined when it is gone). */
  private readOne(pid: number): LinuxProcess | undefined {
    const dir = `${this.procRoot}/${pid}`;
    let exe: string | undefined;
    try { exe = readlinkSync(`${dir}/exe`); } catch { /* kernel thread, exited, or not permitted */ }
    let stat: ReturnType<typeof parseProcStat>;
    try { stat = parseProcStat(readProcBuffer(`${dir}/stat`).toString("latin1")); } catch { return undefined; }
    if (!stat || stat.state === "Z" || stat.state === "X") return undefined;
    let cmdline: string[] = [];
    try { cmdline = parseCmdline(readProcBuffer(`${dir}/cmdline`)); } catch { /* exited or hidden */ }
    let uid: number;
    try { uid = statSync(dir).uid; } catch { return undefined; }
    return {
      pid, ppid: stat.ppid, name: stat.name, cmdline, ...(exe !== undefined ? { exe } : {}),
      uid, startTime: stat.startTime, kernelThread: exe === undefined && cmdline.length === 0,
    };
  }

  list(opts: { includeKernelThreads?: boolean } = {}): LinuxProcess[] {
    const root = this.procRoot;
    const full = this.pass++ % this.fullEvery === 0;
    const out: LinuxProcess[] = [];
    const next = new Map<number, LinuxProcess>();
    for (const entry of readdirSync(root)) {
      const c = entry.charCodeAt(0);
      if (c < 48 || c > 57) continue;
      const pid = Number(entry);
      const dir = `${root}/${entry}`;
      let exe: string | undefined;
      try { exe = readlinkSync(`${dir}/exe`); } catch { /* kernel thread, exited, or not permitted */ }
      const prev = this.known.get(pid);
      let p: LinuxProcess | undefined;
      if (!full && prev && prev.exe === exe) p = prev;
      else {
        let stat: ReturnType<typeof parseProcStat>;
        try { stat = parseProcStat(readProcBuffer(`${dir}/stat`).toString("latin1")); } catch { continue; /* exited */ }
        if (!stat) continue;
        if (prev && prev.startTime === stat.startTime && prev.name === stat.name && prev.exe === exe) p = prev;
        else {
          let cmdline: string[] = [];
          try { cmdline = parseCmdline(readProcBuffer(`${dir}/cmdline`)); } catch { /* exited or hidden */ }
          let uid: number;
          try { uid = statSync(dir).uid; } catch { continue; }
          p = {
            pid, ppid: stat.ppid, name: stat.name, cmdline, ...(exe !== undefined ? { exe } : {}),
            uid, startTime: stat.startTime, kernelThread: exe === undefined && cmdline.length === 0,
          };
        }
      }
      next.set(pid, p);
      if (!p.kernelThread || opts.includeKernelThreads) out.push(p);
    }
    this.known = next;
    return out;
  }
}

/** Every process visible in /proc (sync on purpose: procfs is in memory; see ProcessLister). */
export function listProcesses(opts: { procRoot?: string; includeKernelThreads?: boolean } = {}): LinuxProcess[] {
  return new ProcessLister(opts.procRoot).list(opts);
}

/** Is (pid, startTime) still the same running process? */
export function isAlive(pid: number, startTime: number | undefined, procRoot = "/proc"): boolean {
  try {
    const s = parseProcStat(readFileSync(`${procRoot}/${pid}/stat`, "utf8"));
    if (!s || s.state === "Z" || s.state === "X") return false;
    return startTime === undefined || s.startTime === startTime;
  } catch {
    return false;
  }
}
