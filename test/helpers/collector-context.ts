/**
 * A CollectorContext for driving a real collector in a test: it records what the collector emits
 * and reports through ctx.fail, keeps state in memory, and lets the test push a new policy.
 */
import { pino } from "pino";
import type { CollectorContext, StateStore } from "../../agent/collector.js";
import { Policy } from "../../policies/policy.js";
import type { NewEvent } from "../../policies/schema.js";

export class MemoryState implements StateStore {
  readonly data = new Map<string, unknown>();
  get<T>(key: string): T | undefined {
    return this.data.get(key) as T | undefined;
  }
  async set<T>(key: string, value: T): Promise<void> {
    this.data.set(key, structuredClone(value));
  }
}

export interface RecordingContext extends CollectorContext {
  readonly events: NewEvent[];
  readonly failures: unknown[];
  /** a new policy (any input the Policy schema accepts), announced to the collector's listeners */
  setPolicy(p: unknown): void;
}

export function recordingContext(policy: unknown = {}, state: StateStore = new MemoryState()): RecordingContext {
  let current = Policy.parse(policy);
  const listeners = new Set<(p: Policy) => void>();
  const events: NewEvent[] = [];
  const failures: unknown[] = [];
  return {
    log: pino({ level: process.env.KYOKA_TEST_LOG ?? "silent" }),
    state,
    agentId: "test-agent",
    events,
    failures,
    async emit(...evs: NewEvent[]) {
      events.push(...evs);
    },
    policy: () => current,
    onPolicy(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    fail(err) {
      failures.push(err);
    },
    setPolicy(p) {
      current = Policy.parse(p);
      for (const l of listeners) l(current);
    },
  };
}
