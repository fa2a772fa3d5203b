/**
 * Evidence that checks ran, on the agent (agent/evidence.ts): a collector's ctx.checked() becomes
 * one agent.check per collector per day and after each start, only from the instance the
 * supervisor runs — a failed, disabled or stopped collector records nothing. End to end: a real
 * agent with the real network collector and a collector that cannot start, against a real server.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Agent } from "../../agent/agent.js";
import type { Collector, CollectorContext } from "../../agent/collector.js";
import { NetworkCollector } from "../../agent/collectors/network/collector.js";
import { SoftwareCollector } from "../../agent/collectors/software/collector.js";
import { EvidenceRecorder } from "../../agent/evidence.js";
import { PolicyStore, StateStores } from "../../agent/state.js";
import { Supervisor } from "../../agent/supervisor.js";
import { dayISO } from "../../lib/day.js";
import { parsePolicyText, Policy } from "../../policies/policy.js";
import type { NewEvent } from "../../policies/schema.js";
import { evidenceDays } from "../../server/evidence.js";
import { SqliteStore } from "../../server/store-sqlite.js";
import { request, events as storedEvents, startTestServer } from "../server/helpers.js";
import { silentLog, tempDir, waitFor } from "./helpers.js";

/** A collector the test drives: it keeps its context so the test can report checks through it. */
class Driven implements Collector {
  static instances: Driven[] = [];
  ctx: CollectorContext | undefined;
  constructor(readonly name: string, private readonly failOnStart = false) {
    Driven.instances.push(this);
  }
  async start(ctx: CollectorContext): Promise<void> {
    this.ctx = ctx;
    if (this.failOnStart) throw new Error(`${this.name}: cannot read the devices`);
  }
  async stop(): Promise<void> {}
}

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
  Driven.instances = [];
});
afterEach(async () => {
  await cleanup();
});

const checks = (events: NewEvent[]) => events.filter((e) => e.type === "agent.check").map((e) => e.details);

describe("agent.check from the collectors", () => {
  it("one per collector per day and after each start; nothing from a failed, disabled or stopped collector", async () => {
    let now = new Date("2026-12-01T00:00:00.000Z"); // 09:00 in Tokyo
    const emitted: NewEvent[] = [];
    const policies = new PolicyStore(dir, Policy.parse({ collectors: { network: { enabled: false } } }), silentLog());
    await policies.load();
    const recorder = new EvidenceRecorder({ emit: async (e) => { emitted.push(...e); }, log: silentLog(), policyVersion: () => 7, now: () => now });
    const supervisor = new Supervisor({
      factories: { p2p: () => new Driven("p2p"), media: () => new Driven("media"), network: () => new Driven("network") },
      log: silentLog(), stores: new StateStores(dir, silentLog()), agentId: () => "a1",
      emit: async (e) => { emitted.push(...e); }, evidence: recorder,
      policy: () => policies.policy(), onPolicy: (l) => policies.onChange((p) => l(p)),
      initialBackoffMs: 5, maxBackoffMs: 5, degradedIntervalMs: 0,
    });
    await supervisor.start();
    try {
      const p2p = Driven.instances.find((c) => c.name === "p2p")!;
      const media = Driven.instances.find((c) => c.name === "media")!;
      expect(Driven.instances.map((c) => c.name).sort()).toEqual(["media", "p2p"]); // network is disabled

      p2p.ctx!.checked({ findings: 2 });
      p2p.ctx!.checked({ findings: 0 });
      media.ctx!.checked();
      await waitFor(() => checks(emitted).length === 2, "two checks");
      expect(checks(emitted)).toEqual([
        { control: "p2p", collector: "p2p", completedAt: "2026-12-01T00:00:00.000Z", ok: true, source: "collector", findings: 2, policyVersion: 7 },
        { control: "media", collector: "media", completedAt: "2026-12-01T00:00:00.000Z", ok: true, source: "collector", policyVersion: 7 },
      ]);

      // the next day (Tokyo): one more each
      now = new Date("2026-12-01T15:00:00.000Z");
      p2p.ctx!.checked({ findings: 0 });
      p2p.ctx!.checked({ findings: 0 });
      await waitFor(() => checks(emitted).length === 3, "the next day's check");
      expect(checks(emitted)[2]).toMatchObject({ collector: "p2p", completedAt: "2026-12-01T15:00:00.000Z" });

      // media fails: the failed instance's checks are not evidence; the restarted one's first is
      media.ctx!.fail(new Error("udev gone"));
      await waitFor(() => Driven.instances.filter((c) => c.name === "media").length === 2, "media restarted");
      media.ctx!.checked();
      await new Promise((r) => setTimeout(r, 20));
      expect(checks(emitted).filter((c) => c.collector === "media")).toHaveLength(1);
      const media2 = Driven.instances.filter((c) => c.name === "media")[1]!;
      await waitFor(() => supervisor.status().find((s) => s.name === "media")!.state === "running", "media running");
      media2.ctx!.checked();
      await waitFor(() => checks(emitted).filter((c) => c.collector === "media").length === 2, "the restarted media's check");

      // p2p disabled by a new policy: a check from it afterwards records nothing
      await policies.set(2, Policy.parse({ collectors: { network: { enabled: false }, p2p: { enabled: false } } }));
      await waitFor(() => supervisor.status().find((s) => s.name === "p2p")!.state === "disabled", "p2p disabled");
      now = new Date("2026-12-02T15:00:00.000Z");
      p2p.ctx!.checked();
      await new Promise((r) => setTimeout(r, 20));
      expect(checks(emitted).filter((c) => c.collector === "p2p")).toHaveLength(2);
    } finally {
      await supervisor.stop();
    }
    // stopped: nothing more
    const before = checks(emitted).length;
    Driven.instances.at(-1)!.ctx!.checked();
    await new Promise((r) => setTimeout(r, 20));
    expect(checks(emitted)).toHaveLength(before);
  });

  it("a real agent: the network collector's check reaches the server as evidence; a collector that cannot start gives none", async () => {
    const data = mkdtempSync(join(tmpdir(), "kyoka-evidence-srv-"));
    const srv = await startTestServer({ dir: data });
    let stopped = false;
    try {
      const agent = new Agent({
        server: srv.url.replace(/^http/, "ws"), enrollToken: srv.enrollToken, stateDir: dir, log: silentLog(),
        collectors: { network: () => new NetworkCollector(), media: () => new Driven("media", true) },
        supervisor: { initialBackoffMs: 50, maxBackoffMs: 50, degradedIntervalMs: 0 },
        pcId: async () => undefined,
      });
      await agent.start();
      try {
        await waitFor(async () => (await storedEvents(srv, "?type=agent.check")).length > 0, "the network check stored", 20_000);
        await waitFor(async () => (await storedEvents(srv, "?type=agent.degraded")).some((e) => e.details.collector === "media"), "media's failure stored");
      } finally {
        await agent.stop("test over");
      }
      const stored = await storedEvents(srv, "?type=agent.check");
      expect(stored.map((e) => e.details.collector)).toEqual(["network"]);
      expect(stored[0]!.details).toMatchObject({ control: "network", ok: true, source: "collector" });
      const agentId = stored[0]!.agentId;
      await srv.stop();
      stopped = true;

      const store = new SqliteStore(data);
      try {
        const today = dayISO(new Date())!;
        const days = await evidenceDays(store, { from: today, to: today });
        expect(Object.fromEntries([...days.get(agentId)!].map(([c, d]) => [c, [...d]]))).toEqual({ network: [today] });
      } finally {
        await store.close();
      }
    } finally {
      if (!stopped) await srv.stop();
      rmSync(data, { recursive: true, force: true });
    }
  }, 40_000);

  it("a real agent's compliance snapshot at start: the software collector and the snapshot record their checks; a prohibited package is counted", async () => {
    const data = mkdtempSync(join(tmpdir(), "kyoka-evidence-srv-"));
    const srv = await startTestServer({ dir: data });
    try {
      // the server's policy (it replaces the agent's own as soon as it is pushed): bash is prohibited
      const put = await request(srv, "PUT", "/api/policy", { raw: "software: { prohibited: [ { name: bash } ] }\n", token: srv.adminToken, headers: { "content-type": "application/yaml" } });
      expect(put.status, put.text).toBeLessThan(300);
      const makeAgent = () => new Agent({
        server: srv.url.replace(/^http/, "ws"), enrollToken: srv.enrollToken, stateDir: dir, log: silentLog(),
        configPolicy: parsePolicyText("software: { prohibited: [ { name: bash } ] }\n"),
        collectors: { software: () => new SoftwareCollector() },
        compliance: { startDelayMs: 0 },
        pcId: async () => undefined,
      });
      const agent = makeAgent();
      await agent.start();
      try {
        await waitFor(async () => (await storedEvents(srv, "?type=agent.check")).some((e) => e.details.source === "snapshot"), "the compliance snapshot's check stored", 30_000);
      } finally {
        await agent.stop("test over");
      }
      const checks = (await storedEvents(srv, "?type=agent.check")).map((e) => e.details);
      expect(checks.find((c) => c.source === "collector")).toMatchObject({ control: "software", collector: "software", ok: true });
      // only the control this agent runs, judged under its policy: bash is prohibited
      expect(checks.filter((c) => c.source === "snapshot")).toEqual([
        expect.objectContaining({ control: "software", collector: "software", ok: true, findings: 1, verdict: "needs_action", trigger: "start", statuses: { violation: 1, needs_approval: 0, approved: 0, info: 0 } }),
      ]);
      // the last run is kept: the next start does not run it again before the next scheduled time
      expect(JSON.parse(readFileSync(join(dir, "state", "compliance.json"), "utf8"))).toEqual({ compliance: { lastRunAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as string } });
      const again = makeAgent();
      await again.start();
      try {
        await waitFor(async () => (await storedEvents(srv, "?type=agent.started")).length === 2, "the second start stored");
        await new Promise((r) => setTimeout(r, 500));
      } finally {
        await again.stop("test over");
      }
      expect((await storedEvents(srv, "?type=agent.check")).filter((e) => e.details.source === "snapshot")).toHaveLength(1);
    } finally {
      await srv.stop();
      rmSync(data, { recursive: true, force: true });
    }
  }, 60_000);
});
