/**
 * Process start/exit events, OS-neutral: a collector asks to be told when a process execs a new
 * program, forks, or exits, instead of listing every process every few seconds.
 *
 *   const events = processEvents(log);          // one shared source per agent process
 *   const offExec = events.onExec((pid) => …);  // a process started a new program
 *   const offExit = events.onExit((pid) => …);
 *   events.onResync(() => …);                   // events may have been lost: rescan once
 *   await events.start();  …  await events.stop();   // reference-counted
 *
 * The source is chosen at start: an OS event source where there is one (Linux: the kernel's proc
 * connector, agent/os/linux/proc-events.ts), else a poll of the process list every `pollMs`
 * (`PollingProcessSource`) — no root, a container, koffi not loadable. The choice is logged, and
 * `mode` says which one runs. Either way a consumer keeps a slow rescan of its own as the safety
 * net (a source can be reset; a handler can throw).
 */
import type { Logger } from "../../lib/log.js";

export type ProcessEventMode = "netlink" | "poll";

/** What an OS source calls; ProcessEvents fans it out to the subscribers. */
export interface ProcessEventSink {
  exec(pid: number): void;
  fork(pid: number, parentPid: number): void;
  exit(pid: number): void;
  /** events were lost (a kernel buffer overflowed): every consumer should rescan */
  resync(): void;
}

/** One OS mechanism. start() throws when it is not available here (the caller falls back). */
export interface ProcessSource {
  readonly mode: ProcessEventMode;
  start(sink: ProcessEventSink): Promise<void>;
  stop(): Promise<void>;
}

type Fn<A extends unknown[]> = (...a: A) => void;

export interface ProcessEventsOptions {
  log: Logger;
  /** the event sources to try in order (default: the OS's, then polling) */
  sources?: () => ProcessSource[];
  /** poll period of the fallback (default 1 s) */
  pollMs?: number;
}

export class ProcessEvents {
  private readonly execs = new Set<Fn<[number]>>();
  private readonly forks = new Set<Fn<[number, number]>>();
  private readonly exits = new Set<Fn<[number]>>();
  private readonly resyncs = new Set<Fn<[]>>();
  private source?: ProcessSource;
  private starting?: Promise<void>;
  private users = 0;
  /** events delivered since start, by kind (for benches and tests) */
  readonly counts = { exec: 0, fork: 0, exit: 0, resync: 0 };

  constructor(private readonly opts: ProcessEventsOptions) {}

  /** which source runs (undefined before start) */
  get mode(): ProcessEventMode | undefined {
    return this.source?.mode;
  }

  onExec(fn: (pid: number) => void): () => void { return add(this.execs, fn); }
  onFork(fn: (pid: number, parentPid: number) => void): () => void { return add(this.forks, fn); }
  onExit(fn: (pid: number) => void): () => void { return add(this.exits, fn); }
  onResync(fn: () => void): () => void { return add(this.resyncs, fn); }

  /** Start the source (first caller) — later callers share it. Each start() wants one stop(). */
  async start(): Promise<void> {
    this.users++;
    this.starting ??= this.open();
    await this.starting;
  }

  async stop(): Promise<void> {
    if (this.users === 0) return;
    if (--this.users > 0) return;
    const starting = this.starting;
    this.starting = undefined;
    await starting?.catch(() => undefined);
    const source = this.source;
    this.source = undefined;
    await source?.stop();
  }

  private async open(): Promise<void> {
    const log = this.opts.log;
    const sink: ProcessEventSink = {
      exec: (pid) => { this.counts.exec++; this.fan(this.execs, pid); },
      fork: (pid, parent) => { this.counts.fork++; this.fan(this.forks, pid, parent); },
      exit: (pid) => { this.counts.exit++; this.fan(this.exits, pid); },
      resync: () => { this.counts.resync++; log.warn("process events: events were lost; consumers rescan"); this.fan(this.resyncs); },
    };
    const candidates = this.opts.sources?.() ?? await defaultSources(this.opts.pollMs);
    const failures: string[] = [];
    for (const s of candidates) {
      try {
        await s.start(sink);
        this.source = s;
        if (failures.length) log.info({ mode: s.mode, unavailable: failures }, "process events: falling back to polling the process list");
        else log.info({ mode: s.mode }, "process events: source started");
        return;
      } catch (err) {
        failures.push(`${s.mode}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    throw new Error(`process events: no source could start (${failures.join("; ")})`);
  }

  private fan<A extends unknown[]>(set: Set<Fn<A>>, ...a: A): void {
    for (const fn of set) {
      try {
        fn(...a);
      } catch (err) {
        this.opts.log.error({ err }, "process events: a subscriber threw; the others go on");
      }
    }
  }
}

function add<T>(set: Set<T>, fn: T): () => void {
  set.add(fn);
  return () => { set.delete(fn); };
}

async function defaultSources(pollMs = 1000): Promise<ProcessSource[]> {
  if (process.platform === "linux") {
    const { NetlinkProcSource, procPidIdentities } = await import("./linux/proc-events.js");
    return [new NetlinkProcSource(), new PollingProcessSource(procPidIdentities(), pollMs)];
  }
  return [];
}

/**
 * The fallback: list the processes every `pollMs` and report the difference — a new pid as
 * fork(+exec), a pid whose identity (Linux: the exe link) changed as exec, a pid gone as exit.
 * `list()` returns pid → identity.
 */
export class PollingProcessSource implements ProcessSource {
  readonly mode = "poll" as const;
  private timer?: NodeJS.Timeout;
  private known = new Map<number, string>();

  constructor(private readonly list: () => Map<number, string>, private readonly pollMs = 1000) {}

  async start(sink: ProcessEventSink): Promise<void> {
    this.known = this.list();
    this.timer = setInterval(() => this.poll(sink), this.pollMs);
    this.timer.unref();
  }

  /** One comparison with the last listing (the timer calls it; tests may too). */
  poll(sink: ProcessEventSink): void {
    let now: Map<number, string>;
    try { now = this.list(); } catch { return; }
    for (const [pid, id] of now) {
      const before = this.known.get(pid);
      if (before === undefined) { sink.fork(pid, 0); sink.exec(pid); }
      else if (before !== id) sink.exec(pid);
    }
    for (const pid of this.known.keys()) if (!now.has(pid)) sink.exit(pid);
    this.known = now;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

let shared: ProcessEvents | undefined;

/** The agent's one process-event source (created on first use; start/stop are reference-counted). */
export function processEvents(log: Logger): ProcessEvents {
  shared ??= new ProcessEvents({ log: log.child({ component: "process-events" }) });
  return shared;
}
