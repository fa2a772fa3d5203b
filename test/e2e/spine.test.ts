/**
 * The spine end to end, with the real binary as child processes: enroll, deliver, query; kill -9
 * of the server or the agent in the middle of 10,000 events loses nothing and stores nothing twice.
 */
import { statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { processScope, startAgent, startServer, waitFor, freePort, type Proc, type ServerProc } from "../helpers/kyoka.js";

interface ApiEvent { id: number; agentId: string; seq: number | null; control: string; type: string; articles: string[]; severity: string; status: string; observedAt: string; receivedAt: string; details: Record<string, unknown> }
interface ApiAgent { id: string; hostname: string; os: string; online: boolean; lastSeen: string | null; policyVersion: number | null }

const { dir, track } = processScope();

// Only the agent's own events in these tests: the collectors are tested in their own files.
const quiet = ["--collectors", "none"];

async function selftestEvents(server: ServerProc, agentId: string): Promise<ApiEvent[]> {
  const res = await server.api<ApiEvent[]>(`/api/events?agent=${agentId}&type=agent.selftest&limit=10000`);
  expect(res.status).toBe(200);
  return res.body;
}

function expectExactlyOnce(events: ApiEvent[], n: number): void {
  const seqs = new Set(events.map((e) => e.seq));
  const ns = new Set(events.map((e) => e.details.n));
  expect(events.length).toBe(n);
  expect(seqs.size).toBe(n);
  expect(ns.size).toBe(n);
}

async function agentIdOf(server: ServerProc, hostname?: string): Promise<string> {
  const agents = await waitFor(async () => {
    const res = await server.api<ApiAgent[]>("/api/agents");
    return res.body.length > 0 && res.body;
  }, "an enrolled agent");
  return (hostname ? agents.find((a) => a.hostname === hostname) : agents[0])!.id;
}

describe("agent ⇄ server", () => {
  it("enrolls once, delivers agent.started, answers the API, and stops cleanly on SIGTERM", async () => {
    const server = track(await startServer({ dataDir: dir() }));
    const stateDir = dir();
    const agent = track(startAgent({ server: server.wsUrl, stateDir, enrollToken: server.enrollToken, extra: quiet }));
    const started = await waitFor(async () => {
      const res = await server.api<ApiEvent[]>("/api/events?type=agent.started");
      return res.body.length > 0 && res.body[0];
    }, "agent.started at the server");
    expect(started).toMatchObject({ control: "agent", type: "agent.started", status: "info", articles: ["別記2 第16"] });
    expect(typeof started.details.hostname).toBe("string");
    expect(started.seq).toBeGreaterThan(0);

    // the credential is kept, mode 0600
    expect(statSync(join(stateDir, "credential.json")).mode & 0o777).toBe(0o600);
    const agents = (await server.api<ApiAgent[]>("/api/agents")).body;
    expect(agents).toHaveLength(1);
    expect(agents[0]).toMatchObject({ id: started.agentId, online: true });

    // 401 without the token, healthz open
    expect((await fetch(`${server.url}/api/events`)).status).toBe(401);
    expect(await (await fetch(`${server.url}/healthz`)).json()).toEqual({ ok: true });

    // SIGTERM: exit 0 within 5 s, agent.stopped delivered, shown offline
    const t0 = Date.now();
    const exit = await agent.kill("SIGTERM");
    expect(exit.code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(5000);
    await waitFor(async () => (await server.api<ApiEvent[]>("/api/events?type=agent.stopped")).body.length === 1, "agent.stopped");
    await waitFor(async () => (await server.api<ApiAgent[]>("/api/agents")).body[0]?.online === false, "agent offline");

    // restarting reuses the credential: no second enrollment, the same agent id
    const again = track(startAgent({ server: server.wsUrl, stateDir, extra: quiet }));
    await waitFor(async () => (await server.api<ApiEvent[]>("/api/events?type=agent.started")).body.length === 2, "second agent.started");
    expect((await server.api<ApiAgent[]>("/api/agents")).body).toHaveLength(1);
    await again.kill();
  });

  it("kill -9 of the server while the agent sends 10,000 events: all stored exactly once after restart", { timeout: 180_000 }, async () => {
    const dataDir = dir();
    const port = await freePort();
    let server = track(await startServer({ dataDir, port }));
    const agent = track(startAgent({
      server: server.wsUrl, stateDir: dir(), enrollToken: server.enrollToken,
      extra: [...quiet, "--selftest-events", "10000"],
    }));
    const agentId = await agentIdOf(server);
    // wait until delivery has begun, then kill the server in the middle of it
    await waitFor(async () => (await selftestEvents(server, agentId)).length > 0, "the first events", 30_000, 5);
    await server.kill("SIGKILL");
    server = track(await startServer({ dataDir, port }));
    const events = await waitFor(async () => {
      const evs = await selftestEvents(server, agentId);
      return evs.length >= 10_000 && evs;
    }, "all 10,000 events", 60_000, 250);
    expectExactlyOnce(events, 10_000);
    expect(agent.child.exitCode).toBeNull();
  });

  it("server down, 10,000 events queued, kill -9 of the agent, both restarted: all delivered exactly once", { timeout: 180_000 }, async () => {
    const dataDir = dir();
    const stateDir = dir();
    const port = await freePort();
    let server = track(await startServer({ dataDir, port }));
    // enroll first
    let agent = track(startAgent({ server: server.wsUrl, stateDir, enrollToken: server.enrollToken, extra: quiet }));
    const agentId = await agentIdOf(server);
    // enrolled and running (credential kept) once its agent.started has arrived
    await waitFor(async () => (await server.api<ApiEvent[]>("/api/events?type=agent.started")).body.length === 1, "agent.started");
    await agent.kill("SIGTERM");
    await server.kill("SIGTERM");

    // the server is down: the agent queues 10,000 events on disk, then dies hard
    agent = track(startAgent({ server: server.wsUrl, stateDir, extra: [...quiet, "--selftest-events", "10000"] }));
    await waitFor(() => /selftest events queued/.test(agent.stderr()), "the agent to queue 10,000 events", 60_000);
    await agent.kill("SIGKILL");

    server = track(await startServer({ dataDir, port }));
    agent = track(startAgent({ server: server.wsUrl, stateDir, extra: quiet }));
    const events = await waitFor(async () => {
      const evs = await selftestEvents(server, agentId);
      return evs.length >= 10_000 && evs;
    }, "all 10,000 events", 60_000, 250);
    expectExactlyOnce(events, 10_000);
  });

  it("PUT /api/policy with a YAML syntax error: 400 naming the line, the old policy stays; a good one reaches the agent", async () => {
    const server = track(await startServer({ dataDir: dir() }));
    track(startAgent({ server: server.wsUrl, stateDir: dir(), enrollToken: server.enrollToken, extra: quiet }));
    const before = await server.api<{ version: number }>("/api/policy");
    expect(before.status).toBe(200);
    const bad = await server.api<{ error: string; line: number }>("/api/policy", { method: "PUT", body: "heartbeatSeconds: 30\np2p:\n  response: [terminate\n" });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatch(/line \d+/);
    expect(bad.body.line).toBeGreaterThanOrEqual(3);
    expect((await server.api<{ version: number }>("/api/policy")).body.version).toBe(before.body.version);

    const good = await server.api<{ version: number }>("/api/policy", { method: "PUT", body: "heartbeatSeconds: 20\n" });
    expect(good.status).toBe(200);
    expect(good.body.version).toBe(before.body.version + 1);
    await waitFor(async () => (await server.api<ApiAgent[]>("/api/agents")).body[0]?.policyVersion === good.body.version, "the agent to run the new policy");
  });
});

describe("the command line", () => {
  it("--help and --version exit 0; a bad flag is one line naming it, exit 2", async () => {
    const { run } = await import("../helpers/kyoka.js");
    const help = run(["--help"]);
    expect((await help.exited).code).toBe(0);
    expect(help.stdout()).toMatch(/server/);
    expect(help.stdout()).toMatch(/agent/);
    const ver = run(["--version"]);
    expect((await ver.exited).code).toBe(0);
    expect(ver.stdout().trim()).toMatch(/^\d+\.\d+\.\d+/);
    const bad = run(["server", "--bogus"]);
    expect((await bad.exited).code).toBe(2);
    expect(bad.stderr().trim().split("\n")).toHaveLength(1);
    expect(bad.stderr()).toMatch(/--bogus/);
    const badPort = run(["server", "--port", "99999"]);
    expect((await badPort.exited).code).toBe(2);
    expect(badPort.stderr()).toMatch(/--port/);
    const noServer = run(["agent"]);
    expect((await noServer.exited).code).toBe(2);
    expect(noServer.stderr()).toMatch(/--server/);
  });
});
