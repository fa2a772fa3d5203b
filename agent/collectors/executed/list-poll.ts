/**
 * Windows and macOS: process starts from a poll of the whole process list (one command per poll:
 * PowerShell Win32_Process, ps), diffed by (pid, executable). Slower than an event source: a
 * program that lives shorter than the interval can be missed (see README, what each collector
 * watches). Also the process facts the collector asks for (describe), from the last list.
 */
import type { ProcessInfo } from "../p2p/match.js";
import type { ProcessStart, ProcessStartSource, StartedProcess } from "./platform.js";

export class ProcessListPoll implements ProcessStartSource {
  readonly kind = "process-list-poll";
  private timer?: NodeJS.Timeout;
  private stopped = true;
  private seen = new Map<number, string>();
  /** the last list, by pid (describe reads it) */
  last = new Map<number, ProcessInfo>();

  constructor(private readonly list: () => Promise<ProcessInfo[]>, private readonly intervalMs = 2000) {}

  async poll(): Promise<ProcessStart[]> {
    const procs = await this.list();
    const now = new Map<number, string>();
    const out: ProcessStart[] = [];
    this.last = new Map(procs.map((p) => [p.pid, p]));
    for (const p of procs) {
      if (p.pid === process.pid || !p.exe) continue;
      const key = `${p.exe}:${p.startTime ?? ""}`;
      now.set(p.pid, key);
      if (this.seen.get(p.pid) !== key) out.push({ pid: p.pid, exe: p.exe, ppid: p.ppid, ...(p.startTime !== undefined ? { startTime: p.startTime } : {}) });
    }
    this.seen = now;
    return out;
  }

  async start(onStarts: (starts: ProcessStart[]) => void, onError: (err: unknown) => void): Promise<void> {
    this.stopped = false;
    const tick = async () => {
      if (this.stopped) return;
      try {
        const starts = await this.poll();
        if (starts.length && !this.stopped) onStarts(starts);
      } catch (err) {
        onError(err);
        return;
      }
      if (this.stopped) return;
      this.timer = setTimeout(() => void tick(), this.intervalMs);
      this.timer.unref?.();
    };
    await tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  /** The facts of a listed process (the path is read at the path the list gives). */
  describe(start: ProcessStart): StartedProcess | undefined {
    const p = this.last.get(start.pid);
    const path = start.exe ?? p?.exe;
    if (!path) return undefined;
    const parent = p ? this.last.get(p.ppid) : undefined;
    return {
      pid: start.pid, path, readPath: path,
      ...(p ? { ppid: p.ppid } : {}), ...(parent?.exe ? { parentExe: parent.exe } : {}),
      ...(p?.uid !== undefined ? { uid: p.uid } : {}), ...(p?.cmdline.length ? { cmdline: p.cmdline } : {}),
    };
  }
}

/** Every process of a poll's last list, as starts (the processes running at that poll). */
export function runningFromList(poll: ProcessListPoll): ProcessStart[] {
  return [...poll.last.values()]
    .filter((p) => p.pid !== process.pid && p.exe)
    .map((p) => ({ pid: p.pid, exe: p.exe!, ppid: p.ppid, ...(p.startTime !== undefined ? { startTime: p.startTime } : {}) }));
}
