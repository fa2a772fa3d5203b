/**
 * Issue 11, connection findings: one regression test per finding, named after it, against the
 * real server in-process (limits made small so the tests are quick).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WebSocket } from "ws";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { defaultPolicyText, parsePolicyText } from "../../policies/policy.js";
import { AgentGateway } from "../../server/agents-ws.js";
import { Ingest } from "../../server/ingest.js";
import type { AuthFailureLimiterOptions } from "../../server/auth-limit.js";
import { ConnectionGate, LogSampler, resolveLimits, type ConnectionLimits } from "../../server/limits.js";
import { ServerMetrics } from "../../server/metrics.js";
import { ServerState } from "../../server/state.js";
import { SqliteStore } from "../../server/store-sqlite.js";
import { LiveStream } from "../../server/stream.js";
import { sha256Hex } from "../../server/tokens.js";
import { routeUpgrades } from "../../server/upgrade.js";
import {
  captureLog, connect, connectAgent, enroll, ev, hello, request, sendEvents, startTestServer, upgrade, waitFor,
  type TestServer,
} from "./helpers.js";

const servers: TestServer[] = [];
async function server(limits: Partial<ConnectionLimits>, authLimit?: AuthFailureLimiterOptions): Promise<TestServer> {
  const s = await startTestServer({ limits, authLimit });
  servers.push(s);
  return s;
}
afterAll(async () => { await Promise.all(servers.splice(0).map((s) => s.stop())); });

describe("issue 11 findings: sockets", () => {
  it("finding: an idle authenticated socket that never says hello is closed", async () => {
    const srv = await server({ helloTimeoutMs: 300 });
    const cred = await enroll(srv, "idle");
    const c = connect(srv, cred);
    await c.opened;
    const closed = await c.closed;
    expect(closed.code).toBe(4408);
    expect(c.messages[0]).toMatchObject({ t: "error", code: "hello_timeout" });
    expect(srv.logs.lines.some((l) => l.code === "hello_timeout" && l.agentId === cred.agentId)).toBe(true);
    // an agent that says hello in time stays connected past the deadline
    const ok = await connectAgent(srv, cred);
    await new Promise((r) => setTimeout(r, 600));
    expect(ok.isClosed).toBe(false);
    ok.close();
  });

  it("finding: unauthenticated upgrades to /agent and /api/stream get a 101 and are held", async () => {
    const srv = await server({});
    for (const path of ["/agent", "/api/stream"]) {
      const r = await upgrade(srv, path);
      expect(r.status, path).toBe(401);
      expect(r.json, path).toMatchObject({ code: "unauthorized" });
    }
    // an unknown WebSocket path is a 404, also without a 101
    expect((await upgrade(srv, "/nope")).status).toBe(404);
  });

  it("a socket that does not answer pings is terminated; one that answers stays", async () => {
    const srv = await server({ pingIntervalMs: 150 });
    const deaf = await enroll(srv, "deaf");
    const alive = await enroll(srv, "alive");
    const ws = new WebSocket(srv.url.replace(/^http/, "ws") + "/agent", { headers: { authorization: `Bearer ${deaf.agentId}:${deaf.secret}` }, autoPong: false });
    const closed = new Promise<number>((resolve) => ws.on("close", (code) => resolve(code)));
    ws.on("error", () => undefined);
    await new Promise((r) => ws.once("open", r));
    ws.send(JSON.stringify(hello(deaf)));
    const good = await connectAgent(srv, alive);
    expect(await closed).toBe(1006); // terminated: no closing handshake
    await waitFor(() => srv.logs.lines.some((l) => String(l.msg).includes("did not answer a ping") && l.agentId === deaf.agentId));
    expect(good.isClosed).toBe(false);
    good.close();
  });

  it("a per-IP cap refuses further upgrades with 429, a total cap with 503, and a closed connection frees its slot", async () => {
    const perIp = await server({ maxConnectionsPerIp: 2 });
    const creds = [await enroll(perIp, "a"), await enroll(perIp, "b"), await enroll(perIp, "c")];
    const a = await connectAgent(perIp, creds[0]!);
    const b = await connectAgent(perIp, creds[1]!);
    const third = await upgrade(perIp, "/agent", { authorization: `Bearer ${creds[2]!.agentId}:${creds[2]!.secret}` });
    expect(third.status).toBe(429);
    expect(third.json).toMatchObject({ code: "too_many_connections" });
    expect(third.headers["retry-after"]).toBeDefined();
    a.close();
    await a.closed;
    await waitFor(async () => (await upgrade(perIp, `/api/stream?token=${perIp.adminToken}`)).status === 101);
    b.close();

    const total = await server({ maxConnections: 1, maxConnectionsPerIp: 10 });
    const t1 = await enroll(total, "t1");
    const t2 = await enroll(total, "t2");
    const first = await connectAgent(total, t1);
    const refused = await upgrade(total, "/agent", { authorization: `Bearer ${t2.agentId}:${t2.secret}` });
    expect(refused.status).toBe(503);
    expect(refused.json).toMatchObject({ code: "server_full" });
    expect(total.logs.lines.some((l) => l.status === 503 && String(l.msg).includes("upgrade refused"))).toBe(true);
    first.close();
    // the HTTP API is not behind the WebSocket cap
    expect((await request(total, "GET", "/healthz")).status).toBe(200);
  });

  it("failed agent and stream authentications are limited per address (429, Retry-After) and logged at a sampled rate", async () => {
    const srv = await server({}, { maxFailures: 3, windowMs: 60_000 });
    const cred = await enroll(srv, "victim");
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await upgrade(srv, "/agent", { authorization: `Bearer ${cred.agentId}:guess-${i}` })).status);
    expect(statuses.slice(0, 3)).toEqual([401, 401, 401]);
    expect(new Set(statuses.slice(3))).toEqual(new Set([429]));
    // while blocked even the right credential waits (no oracle for guesses)
    const right = await upgrade(srv, "/agent", { authorization: `Bearer ${cred.agentId}:${cred.secret}` });
    expect(right.status).toBe(429);
    expect(Number(right.headers["retry-after"])).toBeGreaterThan(0);
    // 13 refusals: the failures logged by the shared limiter (first one, the blocking one), the 429s sampled
    const failures = srv.logs.lines.filter((l) => l.remote === "127.0.0.1" && String(l.msg).startsWith("authentication failed"));
    expect(failures.map((l) => l.what)).toEqual(["agent credential", "agent credential"]);
    const refused = srv.logs.lines.filter((l) => l.remote === "127.0.0.1" && (l.code === "unauthorized" || l.code === "too_many_failures"));
    expect(refused.length).toBeLessThanOrEqual(10);
    expect(refused.length).toBeGreaterThanOrEqual(2);
    // one limiter per address for every credential: the stream and the HTTP API are blocked too
    expect((await upgrade(srv, `/api/stream?token=${srv.adminToken}`)).status).toBe(429);
    expect((await request(srv, "GET", "/api/agents", { token: srv.adminToken })).status).toBe(429);
  });

  it("a wrong stream token counts as a failed authentication", async () => {
    const srv = await server({}, { maxFailures: 2, windowMs: 60_000 });
    for (let i = 0; i < 2; i++) expect((await upgrade(srv, `/api/stream?token=wrong-${i}`)).status).toBe(401);
    expect((await upgrade(srv, `/api/stream?token=${srv.adminToken}`)).status).toBe(429);
  });

  it("finding: hello strings of any length (a 1 MB hostname was stored)", async () => {
    const srv = await server({});
    const cred = await enroll(srv, "short-name");
    const c = connect(srv, cred);
    await c.opened;
    c.send({ ...(hello(cred) as object), hostname: "h".repeat(1024 * 1024 - 200) });
    expect(await c.next((m) => m.t === "error")).toMatchObject({ code: "invalid_message", message: expect.stringMatching(/hostname/) });
    expect((await c.closed).code).toBe(4400);
    const agents = (await request<Array<{ id: string; hostname: string }>>(srv, "GET", "/api/agents", { token: srv.adminToken })).json;
    expect(agents.find((a) => a.id === cred.agentId)!.hostname).toBe("short-name");
    for (const field of ["os", "version"] as const) {
      const d = connect(srv, cred);
      await d.opened;
      d.send({ ...(hello(cred) as object), [field]: "x".repeat(300) });
      expect((await d.closed).code, field).toBe(4400);
    }
  });
});

describe("a handler that throws on agent input", () => {
  const dirs: string[] = [];
  let http: Server | undefined;
  let gateway: AgentGateway | undefined;
  let store: SqliteStore | undefined;
  afterEach(async () => {
    gateway?.close();
    gateway?.terminateAll();
    await new Promise<void>((r) => (http ? http.close(() => r()) : r()));
    await store?.close();
    dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true }));
  });

  it("closes that one socket with 1011 and a logged reason; other agents and the process go on", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kyoka-guard-"));
    dirs.push(dir);
    const logs = captureLog();
    store = new SqliteStore(dir);
    const s = store;
    const text = defaultPolicyText();
    const state = new ServerState({ version: 1, policy: parsePolicyText(text), text });
    const ingest = new Ingest((rows) => s.insertEventsSync(rows), { log: logs.log });
    const stream = new LiveStream("admin-token-0123456789", logs.log);
    // a ledger hook that throws on one input stands for any bug reachable from agent input
    const media = { observe: (_t: string, d: Record<string, unknown>) => { if (d.boom) throw new TypeError("boom on input"); return undefined; } };
    gateway = new AgentGateway({ store, ingest, state, stream, metrics: new ServerMetrics(), log: logs.log, media, limits: resolveLimits({}) });
    http = createServer((_req, res) => res.end("ok"));
    routeUpgrades({ server: http, gate: new ConnectionGate(resolveLimits({})), endpoints: { "/agent": gateway }, log: logs.log });
    await new Promise<void>((r) => http!.listen(0, "127.0.0.1", r));
    const srv = { url: `http://127.0.0.1:${(http.address() as AddressInfo).port}` };
    const mk = async (id: string) => {
      await store!.createAgent({ id, secretHash: sha256Hex(`${id}-secret`), hostname: id, os: "linux", version: "1", enrolledAt: new Date().toISOString() });
      return { agentId: id, secret: `${id}-secret` };
    };
    const bad = await mk("bad");
    const good = await mk("good");
    const b = await connectAgent(srv as TestServer, bad);
    const g = await connectAgent(srv as TestServer, good);
    b.send({ t: "events", events: [ev(1, "software.installed", { name: "x", boom: true })] });
    expect((await b.closed).code).toBe(1011);
    expect(logs.lines.some((l) => l.where === "message" && l.agentId === "bad" && String((l.err as { message?: string })?.message).includes("boom on input"))).toBe(true);
    expect(await sendEvents(g, [ev(1, "software.installed", { name: "fine" })])).toEqual({ t: "ack", seq: 1 });
    expect(await store.maxSeq("bad")).toBe(0);
    expect(await store.maxSeq("good")).toBe(1);
    g.close();
    await ingest.close();
    stream.close();
  });
});

describe("limits: unit", () => {
  it("LogSampler lets a few lines per key and window through and counts the rest", () => {
    let t = 0;
    const s = new LogSampler(2, 1000, () => t);
    expect(s.sample("k")).toEqual({ suppressed: 0 });
    expect(s.sample("k")).toEqual({ suppressed: 0 });
    expect(s.sample("k")).toBeUndefined();
    expect(s.sample("k")).toBeUndefined();
    expect(s.sample("other")).toEqual({ suppressed: 0 });
    t = 1000;
    expect(s.sample("k")).toEqual({ suppressed: 2 });
  });

  it("ConnectionGate counts per address and in total; release is idempotent", () => {
    const g = new ConnectionGate({ maxConnections: 3, maxConnectionsPerIp: 2 });
    const r1 = g.acquire("1.1.1.1");
    const r2 = g.acquire("1.1.1.1");
    expect(typeof r1).toBe("function");
    expect(g.acquire("1.1.1.1")).toMatchObject({ status: 429 });
    const r3 = g.acquire("2.2.2.2");
    expect(g.acquire("3.3.3.3")).toMatchObject({ status: 503 });
    (r1 as () => void)();
    (r1 as () => void)();
    expect(g.open).toBe(2);
    expect(typeof g.acquire("1.1.1.1")).toBe("function");
    void r2;
    void r3;
  });
});
