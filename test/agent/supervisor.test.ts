import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Collector, CollectorContext, CollectorFactory } from "../../agent/collector.js";
import { PolicyStore, StateStores } from "../../agent/state.js";
import { Supervisor, type SupervisorOptions } from "../../agent/supervisor.js";
import { Policy } from "../../policies/policy.js";
import type { NewEvent } from "../../policies/schema.js";
import { silentLog, tempDir, waitFor } from "./helpers.js";

let dir: string;
let cleanup: () => Promise<void>;
let emitted: NewEvent[];
let policies: PolicyStore;
let supervisor: Supervisor | undefined;

class FakeCollector implements Collector {
  starts = 0;
  stops = 0;
  ctx: CollectorContext | undefined;
  private timer: NodeJS.Timeout | undefined;
  constructor(readonly name: string, private readonly behaviour: "good" | "throws" | "fails-later" | "fails-after-30ms" | "hangs-on-stop") {}
  async start(ctx: CollectorContext): Promise<void> {
    this.starts++;
    this.ctx = ctx;
    if (this.behaviour === "throws") throw new Error(`${this.name} cannot start`);
    if (this.behaviour === "fails-later") this.timer = setTimeout(() => ctx.fail(new Error("watcher died")), 5);
    if (this.behaviour === "fails-after-30ms") this.timer = setTimeout(() => ctx.fail(new Error("died after a while")), 30);
    await ctx.emit({ type: "software.inventory", details: { from: this.name } });
  }
  async stop(): Promise<void> {
    this.stops++;
    if (this.timer) clearTimeout(this.timer);
    if (this.behaviour === "hangs-on-stop") await new Promise(() => undefined);
  }
}

/** A factory that records every instance it built. */
function factory(name: string, behaviour: FakeCollector["behaviour"]): CollectorFactory & { instances: FakeCollector[] } {
  const instances: FakeCollector[] = [];
  const f = Object.assign(() => {
    const c = new FakeCollector(name, behaviour);
    instances.push(c);
    return c;
  }, { instances });
  return f;
}

function makeSupervisor(factories: Record<string, CollectorFactory>, extra: Partial<SupervisorOptions> = {}): Supervisor {
  supervisor = new Supervisor({
    factories,
    log: silentLog(),
    stores: new StateStores(dir, silentLog()),
    agentId: () => "agent-1",
    emit: async (events) => {
      emitted.push(...events);
    },
    policy: () => policies.policy(),
    onPolicy: (l) => policies.onChange((p) => l(p)),
    initialBackoffMs: 5,
    maxBackoffMs: 40,
    stopTimeoutMs: 100,
    ...extra,
  });
  return supervisor;
}

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
  emitted = [];
  policies = new PolicyStore(dir, Policy.parse({}), silentLog());
});
afterEach(async () => {
  await supervisor?.stop();
  supervisor = undefined;
  await cleanup();
});

describe("Supervisor", () => {
  it("restarts a collector that throws on start and one that fails from a timer; the others keep running", async () => {
    const good = factory("good", "good");
    const throws = factory("throws", "throws");
    const later = factory("later", "fails-later");
    const s = makeSupervisor({ good, throws, later }, { degradedIntervalMs: 0 });
    await s.start();
    await waitFor(() => throws.instances.length >= 4 && later.instances.length >= 3, "several restarts");

    // the good collector was started once and never stopped
    expect(good.instances).toHaveLength(1);
    expect(good.instances[0]!.stops).toBe(0);
    expect(s.status().find((c) => c.name === "good")!.state).toBe("running");
    // each failed instance was stopped before the next one started
    for (const c of later.instances.slice(0, -1)) expect(c.stops).toBe(1);
    for (const c of throws.instances.slice(0, -1)) expect(c.stops).toBe(1);
    expect(s.status().find((c) => c.name === "throws")!.lastError).toBe("throws cannot start");

    const degraded = emitted.filter((e) => e.type === "agent.degraded");
    expect(degraded.some((e) => e.details.collector === "throws" && e.details.error === "throws cannot start" && e.details.reason === "collector_failed")).toBe(true);
    expect(degraded.some((e) => e.details.collector === "later" && e.details.error === "watcher died")).toBe(true);
    expect(emitted.some((e) => e.type === "software.inventory" && e.details.from === "good")).toBe(true);
  });

  it("backs off exponentially up to the cap", async () => {
    const throws = factory("throws", "throws");
    const s = makeSupervisor({ throws }, { initialBackoffMs: 1, maxBackoffMs: 8, degradedIntervalMs: 0 });
    await s.start();
    await waitFor(() => emitted.filter((e) => e.type === "agent.degraded").length >= 7, "7 failures");
    const delays = emitted.filter((e) => e.type === "agent.degraded").slice(0, 7).map((e) => e.details.restartInMs);
    expect(delays).toEqual([1, 2, 4, 8, 8, 8, 8]);
  });

  it("resets the backoff after a collector ran for resetAfterMs without failing", async () => {
    const flaky = factory("flaky", "fails-after-30ms");
    const s = makeSupervisor({ flaky }, { initialBackoffMs: 2, maxBackoffMs: 1000, resetAfterMs: 10, degradedIntervalMs: 0 });
    await s.start();
    await waitFor(() => emitted.filter((e) => e.type === "agent.degraded").length >= 3, "3 failures");
    expect(emitted.filter((e) => e.type === "agent.degraded").slice(0, 3).map((e) => e.details.restartInMs)).toEqual([2, 2, 2]);
  });

  it("rate-limits agent.degraded per collector", async () => {
    const throws = factory("throws", "throws");
    const s = makeSupervisor({ throws }, { degradedIntervalMs: 3_600_000 });
    await s.start();
    await waitFor(() => throws.instances.length >= 4, "several failures");
    expect(emitted.filter((e) => e.type === "agent.degraded")).toHaveLength(1);
  });

  it("follows the policy: a disabled collector is not started, and starts once enabled", async () => {
    await policies.set(1, Policy.parse({ collectors: { off: { enabled: false } } }));
    const on = factory("on", "good");
    const off = factory("off", "good");
    const s = makeSupervisor({ on, off });
    await s.start();
    expect(on.instances).toHaveLength(1);
    expect(off.instances).toHaveLength(0);
    await policies.set(2, Policy.parse({ collectors: { on: { enabled: false } } }));
    await waitFor(() => s.status().map((c) => `${c.name}:${c.state}`).join() === "on:disabled,off:running", "policy applied");
    expect(off.instances).toHaveLength(1);
    expect(on.instances[0]!.stops).toBe(1);
  });

  it("gives each collector its context: child logger, agent id, persisted state, the policy in force", async () => {
    const good = factory("good", "good");
    const s = makeSupervisor({ good });
    await s.start();
    const ctx = good.instances[0]!.ctx!;
    expect(ctx.agentId).toBe("agent-1");
    expect(ctx.policy().heartbeatSeconds).toBe(30);
    const heard: number[] = [];
    ctx.onPolicy((p) => heard.push(p.heartbeatSeconds));
    await policies.set(5, Policy.parse({ heartbeatSeconds: 12 }));
    expect(heard).toEqual([12]);
    expect(ctx.policy().heartbeatSeconds).toBe(12);

    await ctx.state.set("seen", { a: 1 });
    expect(JSON.parse(await readFile(join(dir, "state", "good.json"), "utf8"))).toEqual({ seen: { a: 1 } });
    const again = await new StateStores(dir, silentLog()).forCollector("good");
    expect(again.get("seen")).toEqual({ a: 1 });
  });

  it("stops every collector, even one whose stop() never returns", async () => {
    const good = factory("good", "good");
    const hangs = factory("hangs", "hangs-on-stop");
    const s = makeSupervisor({ good, hangs }, { stopTimeoutMs: 50 });
    await s.start();
    await s.stop();
    expect(good.instances[0]!.stops).toBe(1);
    expect(hangs.instances[0]!.stops).toBe(1);
    expect(s.status().every((c) => c.state === "stopped")).toBe(true);
  });

  it("does not restart a collector after stop", async () => {
    const throws = factory("throws", "throws");
    const s = makeSupervisor({ throws }, { initialBackoffMs: 30 });
    await s.start();
    await s.stop();
    const n = throws.instances.length;
    await new Promise((r) => setTimeout(r, 80));
    expect(throws.instances.length).toBe(n);
  });
});
