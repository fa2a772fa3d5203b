import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import type { CollectorContext, StateStore } from "../../../agent/collector.js";
import type { NewEvent } from "../../../policies/schema.js";
import { Policy } from "../../../policies/policy.js";
import type { RawInventory } from "../../../agent/collectors/asset/inventory.js";

const fixtures = fileURLToPath(new URL("../../fixtures/", import.meta.url));

export function loadRaw(os: "linux" | "win32" | "darwin", name: string): RawInventory {
  return JSON.parse(readFileSync(`${fixtures}${os}/asset/${name}`, "utf8")) as RawInventory;
}
export const rawLinux = () => loadRaw("linux", "si-vm.json");
export const rawWindows = () => loadRaw("win32", "si-latitude.json");
export const rawMac = () => loadRaw("darwin", "si-macbook.json");

export class MemoryState implements StateStore {
  readonly data = new Map<string, unknown>();
  writes = 0;
  get<T>(key: string): T | undefined {
    const v = this.data.get(key);
    return v === undefined ? undefined : (structuredClone(v) as T);
  }
  async set<T>(key: string, value: T): Promise<void> {
    this.writes++;
    this.data.set(key, JSON.parse(JSON.stringify(value)));
  }
}

export interface FakeContext extends CollectorContext {
  events: NewEvent[];
  /** the order of emits and state writes */
  log_: string[];
  failures: unknown[];
  setPolicy(p: unknown): void;
}

export function fakeContext(state = new MemoryState(), policy: unknown = {}): FakeContext & { state: MemoryState } {
  let current = Policy.parse(policy);
  const listeners = new Set<(p: Policy) => void>();
  const events: NewEvent[] = [];
  const order: string[] = [];
  const failures: unknown[] = [];
  const origSet = state.set.bind(state);
  state.set = async <T>(key: string, value: T) => {
    order.push(`state:${key}`);
    await origSet(key, value);
  };
  return {
    log: pino({ level: "silent" }),
    state,
    agentId: "agent-1",
    events,
    log_: order,
    failures,
    async emit(...es: NewEvent[]) {
      for (const e of es) order.push(`emit:${e.type}`);
      events.push(...es);
    },
    policy: () => current,
    onPolicy(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    fail(err) {
      failures.push(err);
    },
    setPolicy(p: unknown) {
      current = Policy.parse(p);
      for (const l of listeners) l(current);
    },
  };
}
