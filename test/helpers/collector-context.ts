/**
 * A CollectorContext for driving a real collector in a test: it records what the collector emits
 * and reports through ctx.fail, keeps state in memory, and lets the test push a new policy.
 */
import { pino } from "pino";
import type { CollectorContext, StateStore } from "../../agent/collector.js";
import type { CheckResult } from "../../agent/evidence.js";
import { Policy } from "../../policies/policy.js";
import type { NewEvent } from "../../policies/schema.js";

/**
 * An in-memory StateStore that keeps what the real one (agent/state.ts) would give back after a
 * restart: each value goes through JSON on set (so a Map, a Date or an undefined field does not
 * survive, and a key set to undefined is gone), and get hands out a copy.
 */
export class MemoryState implements StateStore {
  /** the persisted values, by key (a test may seed them directly, as JSON-shaped values) */
  readonly data = new Map<string, unknown>();
  /** how many times set was called */
  writes = 0;
  get<T>(key: string): T | undefined {
    const v = this.data.get(key);
    return v === undefined ? undefined : (structuredClone(v) as T);
  }
  async set<T>(key: string, value: T): Promise<void> {
    this.writes++;
    const text = JSON.stringify(value) as string | undefined;
    if (text === undefined) this.data.delete(key);
    else this.data.set(key, JSON.parse(text));
  }
}

export interface RecordingOptions {
  /** record the order of emits and state writes in `order` */
  order?: boolean;
}

export interface RecordingContext<S extends StateStore = StateStore> extends CollectorContext {
  readonly state: S;
  /** what the collector emitted, each event as it was when emitted (the real queue serializes it) */
  readonly events: NewEvent[];
  readonly failures: unknown[];
  /** what the collector reported through ctx.checked (each completed check) */
  readonly checks: CheckResult[];
  /** with `{ order: true }`: `emit:<type>` and `state:<key>`, in the order they happened; else empty */
  readonly order: string[];
  /** a new policy (any input the Policy schema accepts), announced to the collector's listeners */
  setPolicy(p: unknown): void;
}

/** `state` seen through a layer that logs each set as `state:<key>` (reads and fields go to `state`). */
function loggingWrites<S extends StateStore>(state: S, order: string[]): S {
  const logged = Object.create(state) as S;
  logged.set = async <T>(key: string, value: T) => {
    order.push(`state:${key}`);
    await state.set(key, value);
  };
  return logged;
}

export function recordingContext(policy?: unknown, state?: undefined, opts?: RecordingOptions): RecordingContext<MemoryState>;
export function recordingContext<S extends StateStore>(policy: unknown, state: S, opts?: RecordingOptions): RecordingContext<S>;
export function recordingContext(policy: unknown = {}, state: StateStore = new MemoryState(), opts: RecordingOptions = {}): RecordingContext {
  let current = Policy.parse(policy);
  const listeners = new Set<(p: Policy) => void>();
  const events: NewEvent[] = [];
  const failures: unknown[] = [];
  const checks: CheckResult[] = [];
  const order: string[] = [];
  return {
    log: pino({ level: process.env.KYOKA_TEST_LOG ?? "silent" }),
    state: opts.order ? loggingWrites(state, order) : state,
    agentId: "test-agent",
    events,
    failures,
    checks,
    order,
    async emit(...evs: NewEvent[]) {
      if (opts.order) for (const e of evs) order.push(`emit:${e.type}`);
      events.push(...structuredClone(evs));
    },
    policy: () => current,
    onPolicy(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    fail(err) {
      failures.push(err);
    },
    checked(result = {}) {
      checks.push(result);
    },
    setPolicy(p) {
      current = Policy.parse(p);
      for (const l of listeners) l(current);
    },
  };
}
