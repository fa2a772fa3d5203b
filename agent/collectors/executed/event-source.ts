/**
 * Process starts on Linux, best source first (`linuxProcessStarts`):
 *  1. fanotify FAN_OPEN_EXEC (agent/os/linux/fanotify.ts; root, Linux ≥ 5.0): each exec arrives
 *     with an fd on the executed file, so a program that exits within a millisecond (or deletes
 *     itself) is still named and hashed from that fd — path = readlink(/proc/self/fd/N), bytes
 *     read through /proc/self/fd/N; the collector releases (closes) the fd when done. Every
 *     filesystem of the agent's mount namespace is marked, again whenever the mount table
 *     changes; the processes already running from a new mount are then looked at once (a
 *     program started in the moment between the mount and its marking is seen if it still runs).
 *  2. the agent's shared process event source (agent/os/process-events.ts: the kernel's proc
 *     connector, or its own /proc poll): each exec's path is read with one readlink of
 *     /proc/<pid>/exe in the event's callback. A program that has exited and been reaped before
 *     that readlink (≈1 ms programs under load) is missed: the limit of this fallback.
 * At start, and whenever a source says events were lost (resync), every running process is
 * reported once: the collector's state makes the ones it knows a count, not an event.
 */
import { readFileSync, readlinkSync } from "node:fs";
import type { Logger } from "../../../lib/log.js";
import { processEvents, type ProcessEvents } from "../../os/process-events.js";
import { closeQuietly, FanotifyExec } from "../../os/linux/fanotify.js";
import { ProcessLister } from "../../os/linux/procfs.js";
import { parseMountinfo } from "../media/parse-linux.js";
import type { ProcessStart, ProcessStartSource } from "./platform.js";

/** Every running process, the agent left out (the first look, and after lost events). */
export function runningProcesses(procRoot: string): ProcessStart[] {
  return new ProcessLister(procRoot).list()
    .filter((p) => p.pid !== process.pid && p.exe !== undefined)
    .map((p) => ({ pid: p.pid, exe: p.exe!, ppid: p.ppid, startTime: p.startTime }));
}

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

  async start(onStarts: (starts: ProcessStart[]) => void, onError: (err: unknown) => void): Promise<void> {
    this.offs.push(this.events.onExec((pid) => {
      if (pid === process.pid) return;
      let exe: string;
      try { exe = readlinkSync(`${this.procRoot}/${pid}/exe`); } catch { return; /* gone already, or a kernel thread */ }
      onStarts([{ pid, exe }]);
    }));
    this.offs.push(this.events.onResync(() => {
      try { onStarts(runningProcesses(this.procRoot)); } catch (err) { onError(err); }
    }));
    await this.events.start();
    this.started = true;
    onStarts(runningProcesses(this.procRoot));
  }

  async stop(): Promise<void> {
    for (const off of this.offs.splice(0)) off();
    if (this.started) {
      this.started = false;
      await this.events.stop();
    }
  }
}

/** Filesystems no program is executed from: not marked (autofs: marking would trigger the automount). */
const UNMARKED_FS = new Set(["proc", "sysfs", "cgroup", "cgroup2", "devpts", "mqueue", "debugfs", "tracefs", "securityfs", "pstore", "bpf", "configfs", "fusectl", "binfmt_misc", "nsfs", "efivarfs", "rpc_pipefs", "selinuxfs", "autofs"]);

/** The mount points worth marking, from /proc/self/mountinfo's text. */
export function execMountPoints(mountinfo: string): string[] {
  return [...new Set(parseMountinfo(mountinfo).filter((m) => !UNMARKED_FS.has(m.fsType)).map((m) => m.mountPoint))];
}

export interface FanotifyStartsOptions {
  procRoot?: string;
  mountinfoPath?: string;
  /** re-read the mount table this often when its change events are unavailable (default 30 s) */
  remarkEveryMs?: number;
}

export class FanotifyStarts implements ProcessStartSource {
  readonly kind = "fanotify";
  private fan?: FanotifyExec;
  private mounts = new Set<string>();
  private stopMounts?: () => void;
  private remarkTimer?: NodeJS.Timeout;
  private readonly procRoot: string;

  constructor(private readonly log: Logger, private readonly opts: FanotifyStartsOptions = {}) {
    this.procRoot = opts.procRoot ?? "/proc";
  }

  async start(onStarts: (starts: ProcessStart[]) => void, onError: (err: unknown) => void): Promise<void> {
    const fan = await FanotifyExec.open();
    try {
      this.fan = fan;
      this.mark(true);
      await fan.listen((pid, fd) => this.onExec(pid, fd, onStarts), () => {
        this.log.warn("executed: fanotify events were lost; every running program is looked at again");
        onStarts(runningProcesses(this.procRoot));
      }, (err) => onError(err));
      const remark = (): void => {
        if (!this.fan) return;
        try {
          const added = this.mark(false);
          // started between the mount and its marking: seen if it still runs
          if (added.length) onStarts(runningProcesses(this.procRoot).filter((p) => added.some((m) => m === "/" || p.exe!.startsWith(`${m}/`))));
        } catch (err) { this.log.warn({ err }, "executed: marking the filesystems again failed; the old marks stay"); }
      };
      try {
        const { watchMounts } = await import("../../os/linux/mount-watch.js");
        this.stopMounts = await watchMounts(remark, (err) => {
          this.log.warn({ err }, "executed: the mount table watch failed; new mounts are marked every 30 s");
          this.remarkTimer ??= setInterval(remark, this.opts.remarkEveryMs ?? 30_000).unref();
        }, this.opts.mountinfoPath);
      } catch (err) {
        this.log.warn({ err }, "executed: the mount table cannot be watched; new mounts are marked every 30 s");
        this.remarkTimer = setInterval(remark, this.opts.remarkEveryMs ?? 30_000).unref();
      }
    } catch (err) {
      await this.stop();
      throw err;
    }
    onStarts(runningProcesses(this.procRoot));
  }

  /** Mark every mount point (all of them: marking is idempotent); returns the ones new since the last call. */
  private mark(first: boolean): string[] {
    const now = execMountPoints(readFileSync(this.opts.mountinfoPath ?? `${this.procRoot}/self/mountinfo`, "utf8"));
    const result = this.fan!.markMounts(now);
    if (result.failed.length) this.log[first ? "info" : "debug"]({ failed: result.failed.slice(0, 10), count: result.failed.length }, "executed: fanotify could not mark some mounts (programs run from them are seen by the start-up look and resyncs only)");
    const added = now.filter((m) => !this.mounts.has(m));
    this.mounts = new Set(now);
    return first ? [] : added;
  }

  private onExec(pid: number, fd: number, onStarts: (starts: ProcessStart[]) => void): void {
    if (pid === process.pid) { closeQuietly(fd); return; }
    let exe: string;
    try { exe = readlinkSync(`/proc/self/fd/${fd}`); } catch { closeQuietly(fd); return; }
    let open = true;
    onStarts([{ pid, exe, readPath: `/proc/self/fd/${fd}`, release: () => { if (open) { open = false; closeQuietly(fd); } } }]);
  }

  async stop(): Promise<void> {
    this.stopMounts?.();
    this.stopMounts = undefined;
    if (this.remarkTimer) clearInterval(this.remarkTimer);
    this.remarkTimer = undefined;
    this.fan?.close();
    this.fan = undefined;
    this.mounts.clear();
  }
}

/** The first of `sources` that starts (the others are not started); `kind` names it. */
export class FirstAvailableStarts implements ProcessStartSource {
  private active?: ProcessStartSource;

  constructor(private readonly log: Logger, private readonly sources: ProcessStartSource[]) {}

  get kind(): string {
    return this.active?.kind ?? this.sources.map((s) => s.kind).join("|");
  }

  async start(onStarts: (starts: ProcessStart[]) => void, onError: (err: unknown) => void): Promise<void> {
    const failures: string[] = [];
    for (const s of this.sources) {
      try {
        await s.start(onStarts, onError);
        this.active = s;
        if (failures.length) this.log.info({ source: s.kind, unavailable: failures }, "executed: process starts from a fallback source");
        return;
      } catch (err) {
        failures.push(`${s.kind}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    throw new Error(`executed: no process start source could start (${failures.join("; ")})`);
  }

  async stop(): Promise<void> {
    const s = this.active;
    this.active = undefined;
    await s?.stop();
  }
}

/** Linux: fanotify where it can run, else the shared process event source (proc connector, poll). */
export function linuxProcessStarts(log: Logger, procRoot = "/proc"): ProcessStartSource {
  return new FirstAvailableStarts(log, [new FanotifyStarts(log, { procRoot }), new ProcessEventStarts(log, procRoot)]);
}
