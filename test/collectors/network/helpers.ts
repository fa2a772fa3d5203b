/** Test helpers for the network collector: a fake CollectorContext that records what it gets. */
import { createLogger } from "../../../lib/log.js";
import type { CollectorContext, StateStore } from "../../../agent/collector.js";
import { Policy } from "../../../policies/policy.js";
import type { NewEvent } from "../../../policies/schema.js";

export interface FakeContext extends CollectorContext {
  events: NewEvent[];
  stateData: Map<string, unknown>;
  failures: unknown[];
  setPolicy(p: Policy): void;
}

export function fakeContext(policyInput: unknown = {}): FakeContext {
  let policy = Policy.parse(policyInput);
  const stateData = new Map<string, unknown>();
  const state: StateStore = {
    get: <T>(key: string) => structuredClone(stateData.get(key)) as T | undefined,
    set: async <T>(key: string, value: T) => { stateData.set(key, structuredClone(value)); },
  };
  const ctx: FakeContext = {
    log: createLogger("test", "silent"),
    state,
    agentId: "test-agent",
    events: [],
    stateData,
    failures: [],
    emit: async (...events: NewEvent[]) => { ctx.events.push(...structuredClone(events)); },
    policy: () => policy,
    onPolicy: () => () => undefined,
    fail: (err: unknown) => { ctx.failures.push(err); },
    setPolicy: (p: Policy) => { policy = p; },
  };
  return ctx;
}

/** Wait until `check` returns a value (not undefined/false); fail with `describe()` after timeout. */
export async function waitFor<T>(check: () => T | undefined | false, describe: () => string, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting: ${describe()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
