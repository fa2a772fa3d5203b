import { createHash, randomUUID } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StoredEvent } from "../../policies/schema.js";
import {
  api, connect, connectAgent, enroll, ev, events, hello, request, sendEvents, startTestServer, upgrade, waitFor,
  type Credential, type TestServer,
} from "./helpers.js";

interface AgentView {
  id: string; hostname: string; os: string; version: string; online: boolean; lastSeen: string | null;
  policyVersion: number | null; tags: string[]; enrolledAt: string; revoked: boolean;
}

describe("server: HTTP basics and tokens", () => {
  let srv: TestServer;
  beforeAll(async () => { srv = await startTestServer(); });
  afterAll(async () => { await srv.stop(); });

  it("GET /healthz is 200 {ok:true} without a token", async () => {
    const r = await request(srv, "GET", "/healthz");
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ ok: true });
  });

  it("GET / is the dashboard (Japanese first) and its bundle is served from /assets, no token needed", async () => {
    const r = await request(srv, "GET", "/");
    expect(r.status).toBe(200);
    expect(r.headers["content-type"]).toMatch(/text\/html/);
    expect(r.text).toContain('<html lang="ja">');
    expect(r.text).toContain('<div id="app">');
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(r.text)?.[1];
    expect(script, "the page names its script").toBeDefined();
    const js = await request(srv, "GET", script!);
    expect(js.status).toBe(200);
    expect(js.headers["content-type"]).toMatch(/javascript/);
    expect(js.headers["cache-control"]).toMatch(/immutable/);
    expect((await request(srv, "GET", "/assets/nope.js")).status).toBe(404);
  });

  it("admin routes are 401 without or with a wrong token; unknown routes 404 JSON", async () => {
    for (const path of ["/api/agents", "/api/events", "/api/approvals", "/api/policy", "/metrics"]) {
      const none = await request(srv, "GET", path);
      expect(none.status, path).toBe(401);
      expect(none.json).toHaveProperty("error");
      expect((await request(srv, "GET", path, { token: "wrong" })).status, path).toBe(401);
    }
    const r = await api(srv, "GET", "/api/nope");
    expect(r.status).toBe(404);
    expect(r.json).toEqual({ error: expect.stringContaining("/api/nope") });
  });

  it("writes admin-token and enroll-token with mode 0600 and reuses them on the next start", async () => {
    for (const name of ["admin-token", "enroll-token"]) {
      const st = statSync(join(srv.dir, name));
      expect(st.mode & 0o777).toBe(0o600);
    }
    expect(readFileSync(join(srv.dir, "admin-token"), "utf8").trim()).toBe(srv.adminToken);
    expect(readFileSync(join(srv.dir, "enroll-token"), "utf8").trim()).toBe(srv.enrollToken);
    expect(srv.logs.lines.some((l) => String(l.msg).includes(join(srv.dir, "admin-token")))).toBe(true);
    const again = await startTestServer({ dir: srv.dir, port: 0 });
    try {
      expect(again.adminToken).toBe(srv.adminToken);
      expect(again.enrollToken).toBe(srv.enrollToken);
    } finally {
      await again.close();
    }
  });

  it("tokens given in the options are used", async () => {
    const s = await startTestServer({ adminToken: "admin-123", enrollToken: "enroll-456" });
    try {
      expect((await request(s, "GET", "/api/agents", { token: "admin-123" })).status).toBe(200);
      expect((await request(s, "POST", "/api/enroll", { body: { token: "enroll-456", hostname: "h", os: "linux", version: "1" } })).status).toBe(201);
    } finally {
      await s.stop();
    }
  });

  it("a body over 10 MiB is refused with 413", async () => {
    const r = await request(srv, "PUT", "/api/policy", { raw: Buffer.alloc(10 * 1024 * 1024 + 10, 0x61), token: srv.adminToken, headers: { "content-type": "text/yaml" } });
    expect(r.status).toBe(413);
    expect(r.json).toHaveProperty("error");
    expect((await request(srv, "GET", "/healthz")).status).toBe(200);
  });

  it("GET /metrics (admin) exposes ingest counters, connected agents and the batch histogram", async () => {
    const r = await request(srv, "GET", "/metrics", { token: srv.adminToken });
    expect(r.status).toBe(200);
    expect(r.text).toContain("kyoka_events_ingested_total");
    expect(r.text).toContain("kyoka_agents_connected");
    expect(r.text).toContain("kyoka_ingest_batch_duration_seconds");
  });
});

describe("server: enrollment, agent protocol and the events API", () => {
  let srv: TestServer;
  let cred: Credential;
  beforeAll(async () => {
    srv = await startTestServer();
    cred = await enroll(srv, "pc-main");
  });
  afterAll(async () => { await srv.stop(); });

  it("enrollment with a wrong token is 401; the secret is stored only as sha256", async () => {
    const bad = await request(srv, "POST", "/api/enroll", { body: { token: "nope", hostname: "h", os: "linux", version: "1" } });
    expect(bad.status).toBe(401);
    expect(bad.json).toHaveProperty("error");
    const invalid = await request(srv, "POST", "/api/enroll", { body: { hostname: "h" } });
    expect(invalid.status).toBe(400);
    const db = new Database(join(srv.dir, "kyoka.db"), { readonly: true });
    try {
      const row = db.prepare("SELECT secret_hash FROM agents WHERE id = ?").get(cred.agentId) as { secret_hash: string };
      expect(row.secret_hash).toBe(createHash("sha256").update(cred.secret).digest("hex"));
    } finally {
      db.close();
    }
  });

  it("hello → welcome (ackedSeq 0) and the policy in force; events → ack; query with filters", async () => {
    const c = connect(srv, cred);
    await c.opened;
    c.send(hello(cred, null));
    const welcome = await c.next((m) => m.t === "welcome");
    expect(welcome).toMatchObject({ ackedSeq: 0, heartbeatSeconds: 30 });
    expect(typeof welcome.serverTime).toBe("string");
    const policy = await c.next((m) => m.t === "policy");
    expect(policy).toMatchObject({ version: 1 });
    expect((policy.policy as { heartbeatSeconds: number }).heartbeatSeconds).toBe(30);

    const ack = await sendEvents(c, [
      ev(1, "software.installed", { name: "vim", version: "9.1" }),
      ev(2, "p2p.running", { family: "Winny", name: "winny.exe", pid: 4242 }),
      ev(3, "asset.snapshot", { hostname: "pc-main" }),
    ]);
    expect(ack).toEqual({ t: "ack", seq: 3 });

    const all = await events(srv, `?agent=${cred.agentId}`);
    expect(all.map((e) => e.seq)).toEqual([3, 2, 1]); // newest first
    const sw = all.find((e) => e.seq === 1)!;
    expect(sw).toMatchObject({
      agentId: cred.agentId, control: "software", type: "software.installed", articles: ["別記2 第10"], severity: "medium",
      status: "needs_approval", details: { name: "vim", version: "9.1" }, approvalId: null, resolution: null, note: null, resolvedAt: null,
      reasons: [{ ja: "カタログの既定: 甲許可待ち", en: "catalog default: needs approval" }],
    });
    expect(Object.keys(sw).sort()).toEqual(["agentId", "approvalId", "articles", "control", "details", "id", "note", "observedAt",
      "reasons", "receivedAt", "resolution", "resolvedAt", "seq", "severity", "status", "type"]);

    expect((await events(srv, "?control=p2p")).map((e) => e.type)).toEqual(["p2p.running"]);
    expect((await events(srv, "?status=violation")).map((e) => e.seq)).toEqual([2]);
    expect((await events(srv, "?type=asset.snapshot")).map((e) => e.seq)).toEqual([3]);
    expect((await events(srv, `?agent=${cred.agentId}&limit=2`)).map((e) => e.seq)).toEqual([3, 2]);
    expect(await events(srv, `?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)).toEqual([]);
    expect((await events(srv, `?agent=${cred.agentId}&since=2000-01-01T00:00:00Z`))).toHaveLength(3);
    expect((await events(srv, "?control=&type=")).length).toBeGreaterThanOrEqual(3); // empty params mean no filter

    const agents = await api<AgentView[]>(srv, "GET", "/api/agents");
    const me = agents.json.find((a) => a.id === cred.agentId)!;
    expect(me).toMatchObject({ hostname: "pc-01", os: "linux", version: "0.1.0", online: true, policyVersion: 1, tags: [], revoked: false });
    expect(typeof me.lastSeen).toBe("string");
    expect(typeof me.enrolledAt).toBe("string");

    // heartbeat is answered
    const from = c.messages.length;
    c.send({ t: "heartbeat", at: new Date().toISOString() });
    expect(await c.next((m) => m.t === "heartbeat", from)).toHaveProperty("serverTime");

    // a duplicate seq is acked and stored once; reconnect resumes after the highest stored seq
    expect(await sendEvents(c, [ev(3, "asset.snapshot", { hostname: "again" }), ev(4, "agent.started", {})])).toEqual({ t: "ack", seq: 4 });
    const stored = await events(srv, `?agent=${cred.agentId}`);
    expect(stored.map((e) => e.seq)).toEqual([4, 3, 2, 1]);
    expect(stored.find((e) => e.seq === 3)!.details).toEqual({ hostname: "pc-main" });

    c.send({ t: "bye", reason: "test" });
    await waitFor(async () => (await api<AgentView[]>(srv, "GET", "/api/agents")).json.find((a) => a.id === cred.agentId)?.online === false);
    c.close();
    await c.closed;
    const c2 = connect(srv, cred);
    await c2.opened;
    c2.send(hello(cred, 1, 4));
    expect(await c2.next((m) => m.t === "welcome")).toMatchObject({ ackedSeq: 4 });
    expect(await sendEvents(c2, [ev(4, "agent.started", {})])).toEqual({ t: "ack", seq: 4 });
    c2.close();
    await c2.closed;
    expect((await events(srv, `?agent=${cred.agentId}`)).map((e) => e.seq)).toEqual([4, 3, 2, 1]);
    // policyVersion was current: no policy push on the second hello
    expect(c2.messages.some((m) => m.t === "policy")).toBe(false);
  });

  it("bad query parameters are 400 with a message", async () => {
    for (const q of ["?limit=0", "?limit=10001", "?limit=abc", "?status=bogus", "?control=printer", "?type=software.exploded", "?since=yesterday", "?colour=red"]) {
      const r = await api<{ error: string }>(srv, "GET", `/api/events${q}`);
      expect(r.status, q).toBe(400);
      expect(r.json.error, q).toMatch(/bad query/);
    }
    expect((await api(srv, "GET", "/api/events?limit=10000")).status).toBe(200);
  });

  it("POST /api/events/:id/resolve records resolution and note", async () => {
    const [latest] = await events(srv, "?limit=1");
    const r = await api<StoredEvent>(srv, "POST", `/api/events/${latest!.id}/resolve`, { resolution: "explained", note: "更新は甲の指示による" });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ id: latest!.id, resolution: "explained", note: "更新は甲の指示による" });
    expect(typeof r.json.resolvedAt).toBe("string");
    expect((await api(srv, "POST", "/api/events/999999/resolve", { resolution: "x" })).status).toBe(404);
    expect((await api(srv, "POST", `/api/events/${latest!.id}/resolve`, { note: "no resolution" })).status).toBe(400);
    const raw = await request(srv, "POST", `/api/events/${latest!.id}/resolve`, { raw: "{oops", token: srv.adminToken });
    expect(raw.status).toBe(400);
    expect(raw.json).toEqual({ error: expect.stringContaining("JSON") });
  });

  it("a second connection of the same agent replaces the first (4409)", async () => {
    const first = await connectAgent(srv, cred, 1);
    const second = await connectAgent(srv, cred, 1);
    expect((await first.closed).code).toBe(4409);
    expect(await sendEvents(second, [ev(5, "agent.started", {})])).toEqual({ t: "ack", seq: 5 });
    const agents = await api<AgentView[]>(srv, "GET", "/api/agents");
    expect(agents.json.find((a) => a.id === cred.agentId)!.online).toBe(true);
    second.close();
    await second.closed;
  });
});

describe("server: refusals leave nothing stored and the server serving", () => {
  let srv: TestServer;
  let good: Credential;
  let goodClient: Awaited<ReturnType<typeof connectAgent>>;
  let goodSeq = 0;

  beforeAll(async () => {
    srv = await startTestServer();
    good = await enroll(srv, "good");
    goodClient = await connectAgent(srv, good);
  });
  afterAll(async () => {
    goodClient.close();
    await srv.stop();
  });

  async function stillServing(): Promise<void> {
    expect((await request(srv, "GET", "/healthz")).status).toBe(200);
    goodSeq++;
    expect(await sendEvents(goodClient, [ev(goodSeq, "agent.started", {})])).toEqual({ t: "ack", seq: goodSeq });
  }

  async function storedFor(agentId: string): Promise<number> {
    return (await events(srv, `?agent=${encodeURIComponent(agentId)}`)).length;
  }

  it("malformed JSON: error malformed_json, closed 4400", async () => {
    const cred = await enroll(srv, "bad-json");
    const c = await connectAgent(srv, cred);
    c.send('{"t":"events","events":[{"seq":1,');
    const err = await c.next((m) => m.t === "error");
    expect(err).toMatchObject({ code: "malformed_json" });
    expect(String(err.message)).toMatch(/JSON/);
    expect((await c.closed).code).toBe(4400);
    expect(await storedFor(cred.agentId)).toBe(0);
    await stillServing();
  });

  it("valid JSON with the wrong frame schema: error naming the field, closed 4400, nothing of it stored", async () => {
    const cred = await enroll(srv, "bad-schema");
    const c = await connectAgent(srv, cred);
    c.send({ t: "events", events: [ev(1, "software.installed", { name: "ok" }), { seq: -2, type: "software.installed", observedAt: new Date().toISOString(), details: {} }] });
    const err = await c.next((m) => m.t === "error");
    expect(err).toMatchObject({ code: "invalid_message" });
    expect(String(err.message)).toMatch(/events\.1\.seq/);
    expect((await c.closed).code).toBe(4400);
    expect(await storedFor(cred.agentId)).toBe(0);
    await stillServing();
  });

  it("an invalid event is refused alone: not stored, named in ack.rejected; the rest of the frame is stored", async () => {
    const cred = await enroll(srv, "bad-event");
    const c = await connectAgent(srv, cred);
    const ack = await sendEvents(c, [
      ev(1, "software.installed", { name: "ok" }),
      { seq: 2, type: "software.exploded", observedAt: new Date().toISOString(), details: {} },
      ev(3, "software.installed", { name: "x".repeat(5000) }),
      ev(4, "agent.started", {}),
    ]);
    expect(ack.seq).toBe(4);
    const rejected = ack.rejected as Array<{ seq: number; path: string; message: string }>;
    expect(rejected.map((r) => [r.seq, r.path])).toEqual([[2, "type"], [3, "details.name"]]);
    const stored = await events(srv, `?agent=${cred.agentId}`);
    expect(stored.map((e) => e.seq).sort()).toEqual([1, 4]);
    expect(c.isClosed).toBe(false);
    c.close();
    await stillServing();
  });

  it("regression (issue 11, poisons other agents' batches): details nested 6,000 deep are refused alone; an innocent agent's events in the same group commit are all acked and stored", async () => {
    const bad = await enroll(srv, "poison");
    const innocent = await enroll(srv, "innocent");
    const b = await connectAgent(srv, bad);
    const i = await connectAgent(srv, innocent);
    // built as text: JSON.stringify itself throws on it (that was the poison in the commit)
    const deep = `${'{"a":'.repeat(6000)}{"leaf":1}${"}".repeat(6000)}`;
    // both frames in the same tick: one group commit
    const fromB = b.messages.length;
    const fromI = i.messages.length;
    b.send(`{"t":"events","events":[{"seq":1,"type":"software.installed","observedAt":"${new Date().toISOString()}","details":{"name":"poison","extra":${deep}}}]}`);
    i.send({ t: "events", events: Array.from({ length: 50 }, (_, k) => ev(k + 1, "software.installed", { name: `app-${k}` })) });
    const ackB = await b.next((m) => m.t === "ack", fromB);
    const ackI = await i.next((m) => m.t === "ack", fromI);
    expect(ackI).toEqual({ t: "ack", seq: 50 });
    expect(ackB).toMatchObject({ t: "ack", seq: 1, rejected: [{ seq: 1, path: expect.stringMatching(/^details\.extra(\.a)+$/) as string }] });
    expect((ackB.rejected as Array<{ message: string }>)[0]!.message).toMatch(/deeper than 8/);
    expect((await events(srv, `?agent=${innocent.agentId}`)).length).toBe(50);
    expect(await storedFor(bad.agentId)).toBe(0);
    b.close();
    i.close();
    await stillServing();
  });

  it("regression (issue 11, dies on one frame): a software.installed whose name is {toString: 1} with a prohibited rule in force is refused, the server keeps running", async () => {
    const put = await api(srv, "PUT", "/api/policy", { software: { prohibited: [{ name: "winny*" }] } });
    expect(put.status).toBe(200);
    const cred = await enroll(srv, "to-string");
    const c = await connectAgent(srv, cred);
    const ack = await sendEvents(c, [ev(1, "software.installed", { name: { toString: 1 } }), ev(2, "software.installed", { name: "Winny 2.0" })]);
    expect(ack.rejected).toEqual([{ seq: 1, path: "details.name", message: expect.any(String) as string }]);
    const stored = await events(srv, `?agent=${cred.agentId}`);
    expect(stored.map((e) => [e.seq, e.status])).toEqual([[2, "violation"]]);
    c.close();
    await stillServing();
  });

  it("server-only event types (agent.silent, asset.unregistered) are refused from an agent", async () => {
    const cred = await enroll(srv, "forger");
    const c = await connectAgent(srv, cred);
    const ack = await sendEvents(c, [ev(1, "agent.silent", { lastSeen: new Date().toISOString(), missedHeartbeats: 3 }), ev(2, "asset.unregistered", {})]);
    expect(ack.rejected).toEqual([
      { seq: 1, path: "type", message: "agent.silent is made by the server only" },
      { seq: 2, path: "type", message: "asset.unregistered is made by the server only" },
    ]);
    expect(await storedFor(cred.agentId)).toBe(0);
    c.close();
    await stillServing();
  });

  it("an unknown message type is refused too", async () => {
    const cred = await enroll(srv, "bad-type");
    const c = await connectAgent(srv, cred);
    c.send({ t: "gimme" });
    expect(await c.next((m) => m.t === "error")).toMatchObject({ code: "invalid_message" });
    expect((await c.closed).code).toBe(4400);
  });

  it("events before hello: error hello_required, closed 4400", async () => {
    const cred = await enroll(srv, "no-hello");
    const c = connect(srv, cred);
    await c.opened;
    c.send({ t: "events", events: [ev(1, "agent.started", {})] });
    expect(await c.next((m) => m.t === "error")).toMatchObject({ code: "hello_required" });
    expect((await c.closed).code).toBe(4400);
    expect(await storedFor(cred.agentId)).toBe(0);
  });

  it("forged agent id in hello: error forged_agent_id, closed 4401", async () => {
    const cred = await enroll(srv, "forger");
    const c = connect(srv, cred);
    await c.opened;
    c.send(hello({ ...cred, agentId: good.agentId }));
    expect(await c.next((m) => m.t === "error")).toMatchObject({ code: "forged_agent_id" });
    expect((await c.closed).code).toBe(4401);
    expect(await storedFor(cred.agentId)).toBe(0);
    await stillServing();
  });

  it("unknown credential, wrong secret, no credential: HTTP 401 before the upgrade (no 101), logged with the remote address", async () => {
    for (const auth of [`Bearer ${randomUUID()}:nope`, `Bearer ${good.agentId}:wrong-secret`, null, "Basic abc"]) {
      const r = await upgrade(srv, "/agent", auth ? { authorization: auth } : {});
      expect(r.status, String(auth)).toBe(401);
      expect(r.json).toMatchObject({ code: "unauthorized", error: expect.any(String) });
      // the ws client sees the refusal as an unexpected response, never an open socket
      const c = connect(srv, auth);
      await expect(c.opened).rejects.toThrow(/unexpected response 401/);
    }
    expect(srv.logs.lines.some((l) => l.code === "unauthorized" && l.remote === "127.0.0.1")).toBe(true);
    await stillServing();
  });

  it("revoked credential: HTTP 403 before the upgrade; revoking a connected agent closes it with 4403", async () => {
    const cred = await enroll(srv, "revoked");
    const c = await connectAgent(srv, cred);
    const r = await api<AgentView>(srv, "POST", `/api/agents/${cred.agentId}/revoke`);
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ id: cred.agentId, revoked: true, online: false });
    expect((await c.closed).code).toBe(4403);
    const again = await upgrade(srv, "/agent", { authorization: `Bearer ${cred.agentId}:${cred.secret}` });
    expect(again.status).toBe(403);
    expect(again.json).toMatchObject({ code: "revoked", error: expect.stringMatching(/revoked at/) });
    expect(srv.logs.lines.some((l) => l.code === "revoked" && l.remote === "127.0.0.1")).toBe(true);
    expect((await api(srv, "POST", `/api/agents/${randomUUID()}/revoke`)).status).toBe(404);
    await stillServing();
  });

  it("a 10 MB frame: closed 1009, logged, nothing stored", async () => {
    const cred = await enroll(srv, "big");
    const c = await connectAgent(srv, cred);
    const big = JSON.stringify({ t: "events", events: [ev(1, "asset.snapshot", { blob: "x".repeat(10 * 1024 * 1024) })] });
    c.send(big);
    expect((await c.closed).code).toBe(1009);
    await waitFor(() => srv.logs.lines.some((l) => String(l.msg).includes("larger than") && l.agentId === cred.agentId && l.remote === "127.0.0.1"));
    expect(await storedFor(cred.agentId)).toBe(0);
    await stillServing();
  });

  it("unknown upgrade path is refused", async () => {
    const c = connect(srv, good, "/elsewhere");
    await expect(c.opened).rejects.toThrow();
    await stillServing();
  });
});

describe("server: policy", () => {
  let srv: TestServer;
  beforeAll(async () => { srv = await startTestServer(); });
  afterAll(async () => { await srv.stop(); });

  it("version 1 is the default policy", async () => {
    const r = await api<{ version: number; policy: { heartbeatSeconds: number }; text: string }>(srv, "GET", "/api/policy");
    expect(r.status).toBe(200);
    expect(r.json.version).toBe(1);
    expect(r.json.policy.heartbeatSeconds).toBe(30);
    expect(r.json.text).toContain("heartbeatSeconds: 30");
  });

  it("a YAML syntax error is 400 naming the line; the old policy stays", async () => {
    const text = "heartbeatSeconds: 30\nsoftware:\n  prohibited: [\n    { name: x\n";
    const r = await request<{ error: string; line: number }>(srv, "PUT", "/api/policy", { raw: text, token: srv.adminToken, headers: { "content-type": "text/yaml" } });
    expect(r.status).toBe(400);
    expect(typeof r.json.line).toBe("number");
    expect(r.json.error).toMatch(/^line \d+/);
    const schema = await request<{ error: string; line: number }>(srv, "PUT", "/api/policy", { raw: "collectors: {}\nheartbeatSeconds: -5\n", token: srv.adminToken });
    expect(schema.status).toBe(400);
    expect(schema.json.line).toBe(2);
    expect(schema.json.error).toMatch(/heartbeatSeconds/);
    expect((await api<{ version: number }>(srv, "GET", "/api/policy")).json.version).toBe(1);
  });

  it("a valid PUT (YAML or JSON) stores a new version and reaches the connected agent", async () => {
    const cred = await enroll(srv);
    const c = await connectAgent(srv, cred, 1);
    const from = c.messages.length;
    const r = await request<{ version: number }>(srv, "PUT", "/api/policy", {
      raw: "heartbeatSeconds: 45\nsoftware:\n  prohibited:\n    - { name: \"*torrent*\" }\n", token: srv.adminToken, headers: { "content-type": "text/yaml" },
    });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ version: 2 });
    const pushed = await c.next((m) => m.t === "policy", from);
    expect(pushed.version).toBe(2);
    expect((pushed.policy as { heartbeatSeconds: number }).heartbeatSeconds).toBe(45);
    const got = await api<{ version: number; text: string }>(srv, "GET", "/api/policy");
    expect(got.json.version).toBe(2);
    expect(got.json.text).toContain("heartbeatSeconds: 45");

    // the new policy is applied at ingest: prohibited software is a violation
    await sendEvents(c, [ev(1, "software.installed", { name: "qbittorrent" })]);
    expect((await events(srv, `?agent=${cred.agentId}`))[0]).toMatchObject({ status: "violation", severity: "critical" });

    const json = await request<{ version: number }>(srv, "PUT", "/api/policy", { body: { heartbeatSeconds: 20 }, token: srv.adminToken });
    expect(json.json).toEqual({ version: 3 });
    expect((await c.next((m) => m.t === "policy" && m.version === 3, from)).version).toBe(3);
    await waitFor(async () => (await api<AgentView[]>(srv, "GET", "/api/agents")).json[0]?.policyVersion === 3);
    c.close();
  });
});

describe("server: approvals (甲許可) change the status of later events", () => {
  let srv: TestServer;
  beforeAll(async () => { srv = await startTestServer(); });
  afterAll(async () => { await srv.stop(); });

  it("create / list / delete", async () => {
    const cred = await enroll(srv);
    const c = await connectAgent(srv, cred);
    const vscode = (seq: number) => ev(seq, "software.installed", { name: "Visual Studio Code", version: "1.90.0" });

    await sendEvents(c, [vscode(1)]);
    expect((await events(srv, "?limit=1"))[0]!.status).toBe("needs_approval");

    const bad = await api<{ error: string }>(srv, "POST", "/api/approvals", { control: "software", match: {}, scope: { all: true }, validFrom: "2025-01-02T00:00:00Z", validUntil: "2025-01-01T00:00:00Z", reason: "x" });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatch(/validUntil/);

    const now = Date.now();
    const input = {
      control: "software", match: { name: "Visual Studio Code*", action: "install" }, scope: { all: true },
      validFrom: new Date(now - 60_000).toISOString(), validUntil: new Date(now + 3_600_000).toISOString(), reason: "開発業務のため甲が許可",
    };
    const created = await api<{ id: string; createdAt: string }>(srv, "POST", "/api/approvals", input);
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ ...input, deletedAt: null });
    expect(typeof created.json.id).toBe("string");

    const list = await api<Array<{ id: string }>>(srv, "GET", "/api/approvals");
    expect(list.json.map((a) => a.id)).toEqual([created.json.id]);

    await sendEvents(c, [vscode(2), ev(3, "software.removed", { name: "Visual Studio Code" })]);
    const [removed, installed] = await events(srv, "?limit=2");
    expect(installed).toMatchObject({ seq: 2, status: "approved", approvalId: created.json.id });
    expect(removed).toMatchObject({ seq: 3, status: "needs_approval", approvalId: null });

    const del = await api(srv, "DELETE", `/api/approvals/${created.json.id}`);
    expect(del.status).toBe(204);
    expect((await api(srv, "DELETE", `/api/approvals/${created.json.id}`)).status).toBe(404);
    expect((await api<unknown[]>(srv, "GET", "/api/approvals")).json).toEqual([]);
    const all = await api<Array<{ deletedAt: string | null }>>(srv, "GET", "/api/approvals?all=1");
    expect(all.json).toHaveLength(1);
    expect(typeof all.json[0]!.deletedAt).toBe("string");

    await sendEvents(c, [vscode(4)]);
    expect((await events(srv, "?limit=1"))[0]).toMatchObject({ seq: 4, status: "needs_approval" });

    // tag scope: the agent's tags (PUT /api/agents/:id/tags) decide
    const tagged = await api<{ id: string }>(srv, "POST", "/api/approvals", { ...input, scope: { tags: ["dev"] } });
    expect(tagged.status).toBe(201);
    await sendEvents(c, [vscode(5)]);
    expect((await events(srv, "?limit=1"))[0]!.status).toBe("needs_approval");
    const tags = await api<AgentView>(srv, "PUT", `/api/agents/${cred.agentId}/tags`, ["dev", "kyoto"]);
    expect(tags.status).toBe(200);
    expect(tags.json.tags).toEqual(["dev", "kyoto"]);
    await sendEvents(c, [vscode(6)]);
    expect((await events(srv, "?limit=1"))[0]).toMatchObject({ seq: 6, status: "approved", approvalId: tagged.json.id });
    expect((await api(srv, "PUT", `/api/agents/${cred.agentId}/tags`, "dev")).status).toBe(400);
    c.close();
  });
});

describe("server: live stream", () => {
  let srv: TestServer;
  beforeAll(async () => { srv = await startTestServer(); });
  afterAll(async () => { await srv.stop(); });

  it("without a token, or with a wrong one, the stream upgrade is refused with HTTP 401 (no 101)", async () => {
    expect((await upgrade(srv, "/api/stream")).status).toBe(401);
    const wrong = await upgrade(srv, "/api/stream?token=wrong");
    expect(wrong.status).toBe(401);
    expect(wrong.json).toMatchObject({ code: "unauthorized" });
    expect((await upgrade(srv, "/api/stream", { authorization: "Bearer wrong" })).status).toBe(401);
    expect((await upgrade(srv, `/api/stream?token=${encodeURIComponent(srv.adminToken)}`)).status).toBe(101);
  });

  it("streams agent status changes and stored events (token as ?token= or header)", async () => {
    const viaQuery = connect(srv, null, `/api/stream?token=${encodeURIComponent(srv.adminToken)}`);
    const viaHeader = connect(srv, `Bearer ${srv.adminToken}`, "/api/stream");
    await viaQuery.opened;
    await viaHeader.opened;
    const cred = await enroll(srv);
    const c = await connectAgent(srv, cred);
    for (const s of [viaQuery, viaHeader]) {
      const m = await s.next((x) => (x as unknown as { kind: string }).kind === "agent");
      expect(m).toMatchObject({ kind: "agent", id: cred.agentId, online: true });
    }
    await sendEvents(c, [ev(1, "p2p.running", { name: "Share.exe" }), ev(1, "p2p.running", { name: "dup" })]);
    const e = await viaQuery.next((x) => (x as unknown as { kind: string }).kind === "event");
    expect(e).toMatchObject({ kind: "event", event: { agentId: cred.agentId, seq: 1, type: "p2p.running", status: "violation", details: { name: "Share.exe" },
      reasons: [{ ja: "カタログの既定: 違反", en: "catalog default: violation" }] } });
    const stored = await events(srv, `?agent=${cred.agentId}`);
    expect((e as unknown as { event: StoredEvent }).event).toEqual(stored[0]);
    c.close();
    const off = await viaQuery.next((x) => (x as unknown as { kind: string; online: boolean }).kind === "agent" && !(x as unknown as { online: boolean }).online);
    expect(off).toMatchObject({ kind: "agent", id: cred.agentId, online: false });
    // the duplicate was not streamed
    expect(viaQuery.messages.filter((x) => (x as unknown as { kind: string }).kind === "event")).toHaveLength(1);
    viaQuery.close();
    viaHeader.close();
  });
});

describe("server: agent.silent after missed heartbeats", () => {
  let srv: TestServer;
  beforeAll(async () => { srv = await startTestServer({ heartbeatSeconds: 0.4 }); });
  afterAll(async () => { await srv.stop(); });

  it("a connected agent that stops talking: one agent.silent per silence, offline, then online again when it talks", async () => {
    const stream = connect(srv, `Bearer ${srv.adminToken}`, "/api/stream");
    await stream.opened;
    const cred = await enroll(srv);
    const c = connect(srv, cred);
    await c.opened;
    c.send(hello(cred));
    expect(await c.next((m) => m.t === "welcome")).toMatchObject({ heartbeatSeconds: 0.4 });

    const silent = await waitFor(async () => (await events(srv, `?type=agent.silent&agent=${cred.agentId}`))[0]);
    expect(silent).toMatchObject({ seq: null, control: "agent", type: "agent.silent", articles: ["別記2 第16"], status: "needs_approval" });
    expect(typeof silent.details.lastSeen).toBe("string");
    expect(silent.details.missedHeartbeats).toBeGreaterThanOrEqual(3);
    await stream.next((m) => (m as unknown as { kind: string; online: boolean; id: string }).kind === "agent"
      && !(m as unknown as { online: boolean }).online && (m as unknown as { id: string }).id === cred.agentId);
    const agents = await api<AgentView[]>(srv, "GET", "/api/agents");
    expect(agents.json.find((a) => a.id === cred.agentId)!.online).toBe(false);

    // several more sweeps: still one event for this silence
    await new Promise((r) => setTimeout(r, 1500));
    expect(await events(srv, `?type=agent.silent&agent=${cred.agentId}`)).toHaveLength(1);

    // it talks again: online
    c.send({ t: "heartbeat", at: new Date().toISOString() });
    await c.next((m) => m.t === "heartbeat");
    const back = await api<AgentView[]>(srv, "GET", "/api/agents");
    expect(back.json.find((a) => a.id === cred.agentId)!.online).toBe(true);
    c.close();
    stream.close();
  });

  it("an agent that disconnects without bye goes silent; one that says bye does not", async () => {
    const lost = await enroll(srv, "lost");
    const stopped = await enroll(srv, "stopped");
    const a = await connectAgent(srv, lost);
    const b = await connectAgent(srv, stopped);
    a.ws.terminate();
    b.send({ t: "bye", reason: "shutdown" });
    b.close();
    await a.closed;
    await b.closed;
    await waitFor(async () => (await events(srv, `?type=agent.silent&agent=${lost.agentId}`)).length === 1);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await events(srv, `?type=agent.silent&agent=${stopped.agentId}`)).toHaveLength(0);
    expect(await events(srv, `?type=agent.silent&agent=${lost.agentId}`)).toHaveLength(1);
  });
});

describe("server: group commit", () => {
  let srv: TestServer;
  beforeAll(async () => { srv = await startTestServer(); });
  afterAll(async () => { await srv.stop(); });

  it("many agents at once: every ack arrives only when its rows are in the database", async () => {
    const creds = await Promise.all(Array.from({ length: 20 }, (_, i) => enroll(srv, `pc-${i}`)));
    const clients = await Promise.all(creds.map((cr) => connectAgent(srv, cr)));
    const db = new Database(join(srv.dir, "kyoka.db"), { readonly: true });
    const count = db.prepare("SELECT COUNT(*) AS n FROM events WHERE agent_id = ? AND seq <= ?");
    const missing: string[] = [];
    try {
      const acks = clients.map((c, i) => new Promise<void>((resolve) => {
        c.ws.on("message", (data) => {
          const m = JSON.parse(data.toString()) as { t: string; seq: number };
          if (m.t !== "ack") return;
          // synchronously, the moment the ack arrives
          const n = (count.get(creds[i]!.agentId, m.seq) as { n: number }).n;
          if (n !== m.seq) missing.push(`${creds[i]!.agentId}: ack ${m.seq} but ${n} rows`);
          if (m.seq === 500) resolve();
        });
      }));
      for (const c of clients) {
        for (let b = 0; b < 5; b++) {
          c.send({ t: "events", events: Array.from({ length: 100 }, (_, k) => ev(b * 100 + k + 1, "software.inventory", { name: `p${k}` })) });
        }
      }
      await Promise.all(acks);
      expect(missing).toEqual([]);
      expect((db.prepare("SELECT COUNT(*) AS n FROM events").get() as { n: number }).n).toBe(20 * 500);
    } finally {
      db.close();
      for (const c of clients) c.close();
    }
    const metrics = await request(srv, "GET", "/metrics", { token: srv.adminToken });
    expect(metrics.text).toMatch(/kyoka_events_ingested_total 10000/);
  });
});

