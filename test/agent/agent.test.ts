import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Agent, type AgentOptions } from "../../agent/agent.js";
import type { Collector, CollectorContext } from "../../agent/collector.js";
import { ensureCredential, EnrollError, httpBaseUrl, loadCredential } from "../../agent/enroll.js";
import { FakeServer } from "./fake-server.js";
import { silentLog, tempDir, waitFor } from "./helpers.js";

let dir: string;
let cleanup: () => Promise<void>;
let server: FakeServer;
const agents: Agent[] = [];

/** A collector that emits one event on start and one more whenever asked. */
class Probe implements Collector {
  readonly name = "probe";
  static ctx: CollectorContext | undefined;
  async start(ctx: CollectorContext): Promise<void> {
    Probe.ctx = ctx;
    await ctx.emit({ type: "software.installed", details: { name: "probe-app", version: "1" } });
  }
  async stop(): Promise<void> {
    Probe.ctx = undefined;
  }
}

function makeAgent(extra: Partial<AgentOptions> = {}): Agent {
  const agent = new Agent({
    server: extra.server ?? server.url, enrollToken: server.enrollToken, stateDir: dir, log: silentLog(),
    collectors: { probe: () => new Probe() },
    transport: { baseBackoffMs: 20, maxBackoffMs: 100, rejectedRetryMs: 100 },
    ...extra,
  });
  agents.push(agent);
  return agent;
}

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
  server = new FakeServer();
  await server.start();
});
afterEach(async () => {
  for (const a of agents.splice(0)) await a.stop("test over");
  await server.stop();
  await cleanup();
});

describe("enrollment", () => {
  const base = { hostname: "pc-01", os: "Linux 6", version: "0.1.0", log: silentLog() };

  it("maps ws(s) to http(s)", () => {
    expect(httpBaseUrl("ws://127.0.0.1:8080")).toBe("http://127.0.0.1:8080");
    expect(httpBaseUrl("wss://kyoka.example:8443/")).toBe("https://kyoka.example:8443");
  });

  it("enrolls once, keeps the credential with mode 0600, and never enrolls again", async () => {
    const cred = await ensureCredential({ ...base, server: server.url, token: server.enrollToken, stateDir: dir });
    expect(cred).toEqual({ agentId: "agent-1", secret: "secret-1-xyz", server: server.url });
    expect(await loadCredential(dir)).toEqual(cred);
    if (process.platform !== "win32") expect((await stat(join(dir, "credential.json"))).mode & 0o777).toBe(0o600);
    const again = await ensureCredential({ ...base, server: server.url, token: server.enrollToken, stateDir: dir });
    expect(again).toEqual(cred);
    expect(server.enrollments).toBe(1);
  });

  it("fails clearly without a token, with a refused token, and when the server is unreachable", async () => {
    await expect(ensureCredential({ ...base, server: server.url, token: undefined, stateDir: dir }))
      .rejects.toThrow(/not enrolled.*enrollment token/);
    const refused = ensureCredential({ ...base, server: server.url, token: "wrong", stateDir: dir });
    await expect(refused).rejects.toThrow(/refused the enrollment token \(HTTP 401: invalid enrollment token\)/);
    await expect(refused).rejects.toMatchObject({ transient: false });
    const url = server.url;
    await server.stop();
    const down = ensureCredential({ ...base, server: url, token: "t", stateDir: dir });
    await expect(down).rejects.toBeInstanceOf(EnrollError);
    await expect(down).rejects.toMatchObject({ transient: true });
    server = new FakeServer();
    await server.start();
  });

  it("refuses to silently re-enroll over a corrupt credential file", async () => {
    await writeFile(join(dir, "credential.json"), "{oops");
    await expect(loadCredential(dir)).rejects.toThrow(/corrupt/);
  });
});

describe("Agent", () => {
  it("enrolls, reports agent.started, runs collectors, streams events and reports agent.stopped on stop", async () => {
    const agent = makeAgent();
    await agent.start();
    expect(agent.agentId).toBe("agent-1");
    await waitFor(() => server.eventsOfType("software.installed").length === 1, "collector event at the server");
    const started = server.eventsOfType("agent.started");
    expect(started).toHaveLength(1);
    expect(started[0]!.details).toMatchObject({ hostname: expect.any(String), platform: process.platform, arch: process.arch, pid: process.pid, policyVersion: null });
    expect(started[0]!.seq).toBe(1);

    await agent.stop("test");
    expect(server.eventsOfType("agent.stopped").map((e) => e.details)).toEqual([{ reason: "test" }]);
    expect(server.closeCodes).toEqual([1000]);
    expect(agent.status().queue!.pendingEvents).toBe(0);
    expect(Probe.ctx).toBeUndefined(); // collectors stopped
  });

  it("restarts from its state dir without enrolling again, continuing the seq", async () => {
    const first = makeAgent();
    await first.start();
    await waitFor(() => first.status().connected, "connected");
    await first.stop("restart");
    const lastSeq = Math.max(...server.stored.keys());

    const second = makeAgent({ enrollToken: undefined });
    await second.start();
    await waitFor(() => server.eventsOfType("agent.started").length === 2, "second agent.started");
    expect(server.enrollments).toBe(1);
    expect(second.agentId).toBe("agent-1");
    expect(Math.min(...server.eventsOfType("agent.started").map((e) => e.seq).filter((s) => s > 1))).toBe(lastSeq + 1);
  });

  it("keeps events queued while the server is away and delivers them after it returns", async () => {
    const agent = makeAgent();
    await agent.start();
    await waitFor(() => agent.status().connected, "connected");
    const url = server.url;
    const port = Number(new URL(url).port);
    await server.stop();
    await waitFor(() => !agent.status().connected, "disconnected");
    await Probe.ctx!.emit({ type: "p2p.running", details: { name: "qbittorrent", pid: 42 } });
    expect(agent.status().queue!.pendingEvents).toBeGreaterThan(0);

    // the "same" server comes back on the same port, with the agent registered and its acked seq
    const back = new FakeServer();
    back.addAgent("agent-1", "secret-1-xyz");
    back.ackedSeq = server.ackedSeq;
    await back.start(port);
    server = back;
    await waitFor(() => back.eventsOfType("p2p.running").length === 1, "queued event delivered after reconnect", 15_000);
    await waitFor(() => agent.status().queue!.pendingEvents === 0, "acked after reconnect");
    expect(back.connections).toBeGreaterThanOrEqual(1);
  });

  it("persists a pushed policy and uses it on the next start, even offline", async () => {
    const agent = makeAgent();
    await agent.start();
    await waitFor(() => agent.status().connected, "connected");
    expect(agent.policyVersion()).toBeNull();
    server.send({ t: "policy", version: 7, policy: { heartbeatSeconds: 15, collectors: { probe: { enabled: false } } } });
    await waitFor(() => agent.policyVersion() === 7, "policy applied");
    expect(agent.policy().heartbeatSeconds).toBe(15);
    await waitFor(() => agent.status().collectors.find((c) => c.name === "probe")?.state === "disabled", "collector disabled by the policy");
    const saved = JSON.parse(await readFile(join(dir, "policy.json"), "utf8")) as { version: number };
    expect(saved.version).toBe(7);
    await agent.stop("restart");

    await server.stop();
    const offline = makeAgent({ server: "ws://127.0.0.1:9" });
    await offline.start();
    expect(offline.policyVersion()).toBe(7);
    expect(offline.policy().heartbeatSeconds).toBe(15);
    server = new FakeServer();
    await server.start();
  });

  it("fails to start with a clear error when it has no credential and no token, or a refused token", async () => {
    await expect(makeAgent({ enrollToken: undefined }).start()).rejects.toThrow(/not enrolled/);
    await expect(makeAgent({ enrollToken: "bad-token" }).start()).rejects.toThrow(/refused the enrollment token/);
  });

  it("stops within the bound even when the server never acknowledges", async () => {
    const agent = makeAgent({ flushTimeoutMs: 300 });
    await agent.start();
    await waitFor(() => agent.status().connected, "connected");
    server.autoAck = false;
    await agent.stop("slow server");
    // agent.stopped was queued but never acknowledged: it is still in the queue on disk
    const next = makeAgent({ enrollToken: undefined, server: "ws://127.0.0.1:9" });
    await next.start();
    expect(next.status().queue!.pendingEvents).toBeGreaterThanOrEqual(2);
  });
});
