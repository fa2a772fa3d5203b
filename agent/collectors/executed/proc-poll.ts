/**
 * Process starts from a /proc poll (Linux): the fallback ProcessStartSource where the process
 * event source (netlink proc connector) is not available. Every `intervalMs` it lists /proc with
 * the shared ProcessLister (one readlink per process; stat/cmdline only for new ones) and reports
 * the processes that are new or exec'd another program since the last pass. The first pass reports
 * every process already running (a program started before the agent counts too).
 * A process that lives shorter than one interval can be missed: the event source does not have
 * that gap.
 */
import { ProcessLister } from "../../os/linux/procfs.js";
import type { ProcessStart, ProcessStartSource } from "./platform.js";

export class ProcPollSource implements ProcessStartSource {
  readonly kind = "proc-poll";
  private timer?: NodeJS.Timeout;
  private seen = new Map<number, string>();
  private stopped = true;

  constructor(private readonly intervalMs = 200, private readonly procRoot = "/proc", private readonly lister = new ProcessLister(procRoot)) {}

  /** One pass: the processes new or changed since the previous one. */
  poll(): ProcessStart[] {
    const now = new Map<number, string>();
    const out: ProcessStart[] = [];
    for (const p of this.lister.list()) {
      if (p.pid === process.pid || p.exe === undefined) continue;
      const key = `${p.startTime}:${p.exe}`;
      now.set(p.pid, key);
      if (this.seen.get(p.pid) !== key) out.push({ pid: p.pid, exe: p.exe, ppid: p.ppid, startTime: p.startTime });
    }
    this.seen = now;
    return out;
  }

  async start(onStarts: (starts: ProcessStart[]) => void, onError: (err: unknown) => void): Promise<void> {
    this.stopped = false;
    const tick = () => {
      if (this.stopped) return;
      try {
        const starts = this.poll();
        if (starts.length) onStarts(starts);
      } catch (err) {
        onError(err);
        return;
      }
      this.timer = setTimeout(tick, this.intervalMs);
      this.timer.unref?.();
    };
    tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
