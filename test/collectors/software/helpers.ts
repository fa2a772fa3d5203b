import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import type { CollectorContext, StateStore } from "../../../agent/collector.js";
import type { NewEvent } from "../../../policies/schema.js";
import { Policy } from "../../../policies/policy.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

export function fixture(os: "linux" | "win32" | "darwin", name: string): string {
  return readFileSync(join(root, "test", "fixtures", os, "software", name), "utf8");
}

/** An in-memory StateStore that round-trips through JSON, as the real one persists. */
export class FakeStateStore implements StateStore {
  readonly data = new Map<string, string>();
  writes = 0;
  get<T>(key: string): T | undefined {
    const s = this.data.get(key);
    return s === undefined ? undefined : (JSON.parse(s) as T);
  }
  async set<T>(key: string, value: T): Promise<void> {
    this.writes++;
    this.data.set(key, JSON.stringify(value));
  }
}

export interface FakeContext extends CollectorContext {
  events: NewEvent[];
  failures: unknown[];
  state: FakeStateStore;
}

export function fakeContext(state = new FakeStateStore(), policy: unknown = {}): FakeContext {
  const events: NewEvent[] = [];
  const failures: unknown[] = [];
  const parsed = Policy.parse(policy);
  return {
    log: pino({ level: "silent" }),
    state,
    agentId: "test-agent",
    events,
    failures,
    async emit(...ev: NewEvent[]) {
      events.push(...ev);
    },
    policy: () => parsed,
    onPolicy: () => () => undefined,
    fail(err: unknown) {
      failures.push(err);
    },
  };
}

/** Poll until cond() holds (generous timeout; no timing assertions). */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
