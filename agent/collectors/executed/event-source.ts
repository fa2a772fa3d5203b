/**
 * Process starts on Linux from the agent's shared process event source (agent/os/process-events.ts:
 * the kernel's proc connector, or its own /proc poll where that is unavailable). Each exec is
 * turned into a ProcessStart with the executable's path read at once (one readlink, in the
 * event's callback: a short-lived program is still there). At start, and whenever the source
 * says events were lost (resync), every running process is reported once: the collector's state
 * makes the ones it knows a count, not an event.
 */
import { readlinkSync } from "node:fs";
import type { Logger } from "../../../lib/log.js";
import { processEvents, type ProcessEvents } from "../../os/process-events.js";
import { ProcessLister } from "../../os/linux/procfs.js";
import type { ProcessStart, ProcessStartSource } from "./platform.js";

export class ProcessEventStarts implements ProcessStartSource {
  private offs: (() => void)[] = [];
  private started = false;
  private readonly events: ProcessEvents;

  constructor(log: Logger, private readonly procRoot = "/proc", events?: ProcessEvents) {
    this.events = events ?? processEvents(log);
  }

  get kind(): string {
    return this.events.mode ?? "process-events";
  }

  /** Every running process (the first look, and after lost events). */
  private all(): ProcessStart[] {
    return new ProcessLister(this.procRoot).list()
      .filter((p) => p.pid !== process.pid && p.exe !== undefined)
      .map((p) => ({ pid: p.pid, exe: p.exe!, ppid: p.ppid, startTime: p.startTime }));
  }

  async start(onStarts: (starts: ProcessStart[]) => void, onError: (err: unknown) => void): Promise<void> {
    this.offs.push(this.events.onExec((pid) => {
      if (pid === process.pid) return;
      let exe: string;
      try { exe = readlinkSync(`${this.procRoot}/${pid}/exe`); } catch { return; /* gone already, or a kernel thread */ }
      onStarts([{ pid, exe }]);
    }));
    this.offs.push(this.events.onResync(() => {
      try { onStarts(this.all()); } catch (err) { onError(err); }
    }));
    await this.events.start();
    this.started = true;
    onStarts(this.all());
  }

  async stop(): Promise<void> {
    for (const off of this.offs.splice(0)) off();
    if (this.started) {
      this.started = false;
      await this.events.stop();
    }
  }
}
