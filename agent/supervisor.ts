/**
 * The collector supervisor: runs every enabled collector of the registry, each with its own
 * CollectorContext. A collector that throws from start() or reports ctx.fail(err) is logged with
 * its name, stopped, and restarted with exponential backoff (1 s → 60 s, reset after it ran 60 s
 * without failing); an `agent.degraded` {reason:"collector_failed"} event records it (at most one
 * per collector per degradedIntervalMs). One broken collector never stops the others.
 * A collector's ctx.checked() counts as evidence only from the instance running now: a failed,
 * disabled or stopped one records nothing (agent/evidence.ts).
 */
import type { Collector, CollectorContext, CollectorFactory } from "./collector.js";
import type { CheckResult, EvidenceRecorder } from "./evidence.js";
import type { StateStores } from "./state.js";
import type { Logger } from "../lib/log.js";
import type { Policy } from "../policies/policy.js";
import type { NewEvent } from "../policies/schema.js";

export interface SupervisorOptions {
  factories: Record<string, CollectorFactory>;
  log: Logger;
  stores: StateStores;
  /** the agent's id once enrolled, else "" (read when a context needs it) */
  agentId: () => string;
  /** `source`: the collector's name (logged with any event the queue refuses) */
  emit: (events: NewEvent[], source?: string) => Promise<unknown>;
  /** records ctx.checked() of the running collector instances as agent.check (agent/evidence.ts) */
  evidence?: Pick<EvidenceRecorder, "started" | "checked">;
  policy: () => Policy;
  onPolicy: (listener: (policy: Policy) => void) => () => void;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** a collector that ran this long without failing starts again from the initial backoff */
  resetAfterMs?: number;
  /** bound on each collector's stop() */
  stopTimeoutMs?: number;
  /** at most one agent.degraded per collector per this interval */
  degradedIntervalMs?: number;
  /** start() waits at most this long for the collectors' start() calls (default 10 s) */
  startWaitMs?: number;
}

type SlotState = "starting" | "running" | "backoff" | "stopped" | "disabled";

interface Slot {
  name: string;
  factory: CollectorFactory;
  state: SlotState;
  collector: Collector | undefined;
  /** bumped on every (re)start: a fail() from an older instance is ignored */
  generation: number;
  startedAt: number;
  nextBackoffMs: number;
  failures: number;
  timer: NodeJS.Timeout | undefined;
  lastDegradedAt: number;
  suppressedFailures: number;
  lastError: string | undefined;
  /** policy subscriptions of the current instance, dropped when it stops */
  subscriptions: Set<() => void>;
}

export interface CollectorStatus {
  name: string;
  state: SlotState;
  failures: number;
  lastError: string | undefined;
}

function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  return typeof err === "string" ? err : JSON.stringify(err) ?? String(err);
}

/** Resolve with `p`, or after `ms` with "timeout" (never rejects). */
async function bounded(p: Promise<unknown>, ms: number): Promise<"ok" | "timeout" | { error: unknown }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), ms);
  });
  try {
    return await Promise.race([p.then(() => "ok" as const, (error: unknown) => ({ error })), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export class Supervisor {
  private readonly slots = new Map<string, Slot>();
  private readonly log: Logger;
  private running = false;
  private unsubscribePolicy: (() => void) | undefined;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly resetAfterMs: number;
  private readonly stopTimeoutMs: number;
  private readonly degradedIntervalMs: number;
  private readonly startWaitMs: number;

  constructor(private readonly opts: SupervisorOptions) {
    this.log = opts.log.child({ component: "supervisor" });
    this.initialBackoffMs = opts.initialBackoffMs ?? 1000;
    this.maxBackoffMs = opts.maxBackoffMs ?? 60_000;
    this.resetAfterMs = opts.resetAfterMs ?? 60_000;
    this.stopTimeoutMs = opts.stopTimeoutMs ?? 1500;
    this.degradedIntervalMs = opts.degradedIntervalMs ?? 300_000;
    this.startWaitMs = opts.startWaitMs ?? 10_000;
  }

  /** Start every collector the policy enables; follow policy changes that enable or disable one. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    for (const [name, factory] of Object.entries(this.opts.factories)) {
      this.slots.set(name, {
        name, factory, state: "stopped", collector: undefined, generation: 0, startedAt: 0,
        nextBackoffMs: this.initialBackoffMs, failures: 0, timer: undefined, lastDegradedAt: -Infinity,
        suppressedFailures: 0, lastError: undefined, subscriptions: new Set(),
      });
    }
    this.unsubscribePolicy = this.opts.onPolicy((policy) => {
      void this.applyPolicy(policy);
    });
    await this.applyPolicy(this.opts.policy());
  }

  private enabled(name: string, policy: Policy): boolean {
    return policy.collectors[name]?.enabled !== false;
  }

  private async applyPolicy(policy: Policy): Promise<void> {
    if (!this.running) return;
    const work: Promise<void>[] = [];
    for (const slot of this.slots.values()) {
      const want = this.enabled(slot.name, policy);
      if (want && (slot.state === "disabled" || slot.state === "stopped")) {
        this.log.info({ collector: slot.name }, "starting collector");
        slot.nextBackoffMs = this.initialBackoffMs;
        work.push(this.launch(slot));
      } else if (!want && slot.state !== "disabled") {
        this.log.info({ collector: slot.name }, "collector disabled by policy: stopping it");
        work.push(this.halt(slot, "disabled"));
      }
    }
    // A collector whose start() hangs must not hold up the agent: wait a bounded time.
    if ((await bounded(Promise.all(work), this.startWaitMs)) === "timeout") {
      this.log.warn({ starting: [...this.slots.values()].filter((s) => s.state === "starting").map((s) => s.name), waitedMs: this.startWaitMs }, "some collectors are still starting: continuing without waiting");
    }
  }

  /** Build a fresh collector and start it; a throw goes to the failure path. */
  private async launch(slot: Slot): Promise<void> {
    if (!this.running) return;
    slot.timer = undefined;
    const generation = ++slot.generation;
    slot.state = "starting";
    this.opts.evidence?.started(slot.name);
    let collector: Collector;
    let ctx: CollectorContext;
    try {
      collector = slot.factory();
      slot.collector = collector;
      ctx = await this.context(slot, generation);
    } catch (err) {
      await this.failed(slot, generation, err);
      return;
    }
    try {
      await collector.start(ctx);
    } catch (err) {
      await this.failed(slot, generation, err);
      return;
    }
    if (slot.generation !== generation || slot.state !== "starting") return; // failed or stopped meanwhile
    slot.state = "running";
    slot.startedAt = Date.now();
  }

  private async context(slot: Slot, generation: number): Promise<CollectorContext> {
    const state = await this.opts.stores.forCollector(slot.name);
    const log = this.opts.log.child({ component: `collector:${slot.name}` });
    const opts = this.opts;
    return {
      log,
      state,
      get agentId() {
        return opts.agentId();
      },
      emit: async (...events: NewEvent[]) => {
        await opts.emit(events, slot.name);
      },
      policy: () => opts.policy(),
      onPolicy: (listener) => {
        // Only the instance that subscribed hears policies: a stopped one is unsubscribed.
        const off = opts.onPolicy((p) => {
          if (slot.generation === generation && (slot.state === "running" || slot.state === "starting")) listener(p);
        });
        slot.subscriptions.add(off);
        return () => {
          off();
          slot.subscriptions.delete(off);
        };
      },
      fail: (err: unknown) => {
        void this.failed(slot, generation, err);
      },
      checked: (result?: CheckResult) => {
        if (slot.generation !== generation || (slot.state !== "running" && slot.state !== "starting")) return;
        void opts.evidence?.checked(slot.name, result);
      },
    };
  }

  /** Log, stop the failed instance, record agent.degraded (rate-limited) and schedule a restart. */
  private async failed(slot: Slot, generation: number, err: unknown): Promise<void> {
    if (slot.generation !== generation || (slot.state !== "starting" && slot.state !== "running")) return;
    const ranFor = slot.state === "running" ? Date.now() - slot.startedAt : 0;
    if (ranFor >= this.resetAfterMs) slot.nextBackoffMs = this.initialBackoffMs;
    const delay = slot.nextBackoffMs;
    slot.nextBackoffMs = Math.min(slot.nextBackoffMs * 2, this.maxBackoffMs);
    slot.state = "backoff";
    slot.failures++;
    const error = errorText(err);
    slot.lastError = error;
    this.log.error({ collector: slot.name, err, restartInMs: delay }, `collector ${slot.name} failed: stopping it and restarting it in ${Math.round(delay / 1000)} s`);

    this.unsubscribe(slot);
    const collector = slot.collector;
    slot.collector = undefined;
    if (collector) await this.stopBounded(slot.name, collector);

    const now = Date.now();
    if (now - slot.lastDegradedAt >= this.degradedIntervalMs) {
      slot.lastDegradedAt = now;
      const suppressed = slot.suppressedFailures;
      slot.suppressedFailures = 0;
      this.opts.emit([{
        type: "agent.degraded",
        details: { reason: "collector_failed", collector: slot.name, error, failures: slot.failures, suppressedSinceLastReport: suppressed, restartInMs: delay },
      }]).catch((e: unknown) => this.log.error({ err: e }, "could not queue agent.degraded"));
    } else {
      slot.suppressedFailures++;
    }

    if (!this.running || slot.generation !== generation || slot.state !== "backoff") return;
    slot.timer = setTimeout(() => {
      if (slot.state === "backoff" && slot.generation === generation) void this.launch(slot);
    }, delay);
  }

  private async stopBounded(name: string, collector: Collector): Promise<void> {
    let result: Awaited<ReturnType<typeof bounded>>;
    try {
      result = await bounded(collector.stop(), this.stopTimeoutMs);
    } catch (error) {
      result = { error };
    }
    if (result === "timeout") this.log.warn({ collector: name, timeoutMs: this.stopTimeoutMs }, "collector did not stop in time: abandoning it");
    else if (result !== "ok") this.log.warn({ collector: name, err: result.error }, "collector threw while stopping");
  }

  /** Stop one slot (cancel a pending restart, stop the instance). */
  private async halt(slot: Slot, final: "stopped" | "disabled" = "stopped"): Promise<void> {
    if (slot.timer) clearTimeout(slot.timer);
    slot.timer = undefined;
    slot.generation++;
    slot.state = final;
    this.unsubscribe(slot);
    const collector = slot.collector;
    slot.collector = undefined;
    if (collector) await this.stopBounded(slot.name, collector);
  }

  private unsubscribe(slot: Slot): void {
    for (const off of slot.subscriptions) off();
    slot.subscriptions.clear();
  }

  /** Stop every collector, in parallel, each bounded by stopTimeoutMs. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.unsubscribePolicy?.();
    await Promise.all([...this.slots.values()].map((s) => this.halt(s)));
    this.log.info("collectors stopped");
  }

  status(): CollectorStatus[] {
    return [...this.slots.values()].map((s) => ({ name: s.name, state: s.state, failures: s.failures, lastError: s.lastError }));
  }
}
