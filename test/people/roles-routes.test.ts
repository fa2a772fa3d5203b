/**
 * Every role × every route over HTTP on a real server: the allowed ones work (2xx), the rest get
 * 403 — never 404 or 500. Then the organisation filter: contractor A's users see none of
 * contractor B's PCs, events, requests, approvals or ledger rows in any list, count, export or
 * stream message. Sessions: the cookie's attributes, CSRF required for state-changing requests.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  connect, connectAgent, enroll, ev, request, sendEvents, startTestServer, type Credential, type TestClient, type TestServer,
} from "../server/helpers.js";

type Who = "admin-token" | "admin" | "approver" | "auditor" | "desk" | "contractor";
const WHO: Who[] = ["admin-token", "admin", "approver", "auditor", "desk", "contractor"];
const PASSWORD = "correct horse battery";
const inAYear = () => new Date(Date.now() + 365 * 86400_000).toISOString();

let srv: TestServer;
const tokens = {} as Record<Who | "deskB" | "contractorB", string>;
let credA: Credential;
let credB: Credential;
let agentA: TestClient;
let agentB: TestClient;
let seqA = 0;
let seqB = 0;

const call = (who: keyof typeof tokens, method: string, path: string, body?: unknown, raw?: string) =>
  request<any>(srv, method, path, { token: tokens[who], ...(raw !== undefined ? { raw, headers: { "content-type": "text/plain" } } : { body }) });

async function eventOn(agent: "A" | "B", port: number): Promise<number> {
  const c = agent === "A" ? agentA : agentB;
  const seq = agent === "A" ? ++seqA : ++seqB;
  await sendEvents(c, [ev(seq, "network.listening", { port, process: "srv", address: "0.0.0.0" })]);
  const r = await call("admin-token", "GET", `/api/events?agent=${agent === "A" ? credA.agentId : credB.agentId}&limit=1`);
  return r.json[0].id as number;
}

/** a P2P violation on A (an incident: its report draft can be made) */
async function violationOnA(): Promise<number> {
  await sendEvents(agentA, [ev(++seqA, "p2p.running", { family: "Winny", name: "winny.exe", pid: 4000 + seqA })]);
  const r = await call("admin-token", "GET", `/api/events?agent=${credA.agentId}&limit=1`);
  return r.json[0].id as number;
}

async function newRequest(): Promise<string> {
  const r = await call("contractor", "POST", "/api/requests", { control: "software", match: { name: `pkg-${Math.random()}` }, agents: [credA.agentId], validUntil: inAYear(), reason: "r" });
  expect(r.status).toBe(201);
  return r.json.id as string;
}

beforeAll(async () => {
  srv = await startTestServer();
  tokens["admin-token"] = srv.adminToken;
  const admin = (m: string, p: string, b?: unknown) => request<any>(srv, m, p, { token: srv.adminToken, body: b });
  for (const [name, kind] of [["contractor-a", "contractor"], ["contractor-b", "contractor"], ["city", "client"]]) {
    expect((await admin("POST", "/api/organisations", { name, kind })).status).toBe(201);
  }
  const users: Array<[keyof typeof tokens, string, string]> = [
    ["admin", "admin", "city"], ["approver", "approver", "city"], ["auditor", "auditor", "city"],
    ["desk", "desk", "contractor-a"], ["contractor", "contractor", "contractor-a"], ["deskB", "desk", "contractor-b"], ["contractorB", "contractor", "contractor-b"],
  ];
  for (const [key, role, organisation] of users) {
    expect((await admin("POST", "/api/users", { login: `u-${key}`, password: PASSWORD, role, organisation })).status).toBe(201);
    // log in (session + CSRF), make a personal API token with it
    const login = await request<any>(srv, "POST", "/api/login", { body: { login: `u-${key}`, password: PASSWORD } });
    expect(login.status).toBe(200);
    const cookie = String(login.headers["set-cookie"]).split(";")[0]!;
    const t = await request<any>(srv, "POST", "/api/tokens", { body: { name: "test" }, headers: { cookie, "x-csrf-token": login.json.csrfToken } });
    expect(t.status).toBe(201);
    tokens[key] = t.json.token;
  }
  credA = await enroll(srv, "pc-a");
  credB = await enroll(srv, "pc-b");
  expect((await admin("PUT", `/api/agents/${credA.agentId}/organisation`, { organisation: "contractor-a" })).status).toBe(200);
  expect((await admin("PUT", `/api/agents/${credB.agentId}/organisation`, { organisation: "contractor-b" })).status).toBe(200);
  agentA = await connectAgent(srv, credA);
  agentB = await connectAgent(srv, credB);
}, 120_000);

afterAll(async () => {
  agentA?.close();
  agentB?.close();
  await srv?.stop();
});

describe("sessions", () => {
  it("the cookie is HttpOnly, SameSite=Strict, with an expiry; a state-changing request without the CSRF token is 403", async () => {
    const login = await request<any>(srv, "POST", "/api/login", { body: { login: "u-approver", password: PASSWORD } });
    const setCookie = String(login.headers["set-cookie"]);
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Strict/);
    expect(setCookie).toMatch(/Max-Age=\d+/);
    const cookie = setCookie.split(";")[0]!;
    const me = await request<any>(srv, "GET", "/api/me", { headers: { cookie } });
    expect(me.json).toMatchObject({ login: "u-approver", role: "approver" });
    const noCsrf = await request<any>(srv, "POST", "/api/tokens", { body: { name: "x" }, headers: { cookie } });
    expect(noCsrf.status).toBe(403);
    expect(noCsrf.json.error).toMatch(/x-csrf-token/i);
    const wrong = await request<any>(srv, "POST", "/api/tokens", { body: { name: "x" }, headers: { cookie, "x-csrf-token": "nope" } });
    expect(wrong.status).toBe(403);
    const out = await request<any>(srv, "POST", "/api/logout", { headers: { cookie, "x-csrf-token": me.json.csrfToken } });
    expect(out.status).toBe(204);
    expect((await request<any>(srv, "GET", "/api/me", { headers: { cookie } })).status).toBe(401);
    expect((await request<any>(srv, "POST", "/api/login", { body: { login: "u-approver", password: "wrong password" } })).status).toBe(401);
  });
});

/** route → the roles allowed (the table of SPEC.md's roles, written out independently of permissions.ts) */
interface RouteCase {
  name: string;
  allowed: Who[];
  run: (who: Who) => Promise<{ status: number; text: string }>;
}
const ALL: Who[] = WHO;
const ADMIN: Who[] = ["admin-token", "admin"];
const KOU: Who[] = ["admin-token", "admin", "approver"];
const READERS: Who[] = ["admin-token", "admin", "approver", "auditor", "desk"];

const cases: RouteCase[] = [
  { name: "POST /api/organisations", allowed: ADMIN, run: (w) => call(w, "POST", "/api/organisations", { name: `org-${w}-${Math.random()}`, kind: "contractor" }) },
  { name: "GET /api/organisations", allowed: ALL, run: (w) => call(w, "GET", "/api/organisations") },
  { name: "POST /api/users", allowed: ADMIN, run: (w) => call(w, "POST", "/api/users", { login: `x${Math.floor(Math.random() * 1e9)}`, password: PASSWORD, role: "auditor" }) },
  { name: "GET /api/users", allowed: [...ADMIN, "auditor"], run: (w) => call(w, "GET", "/api/users") },
  { name: "POST /api/users/:id/disable", allowed: ADMIN, run: async (w) => {
    const u = await call("admin-token", "POST", "/api/users", { login: `d${Math.floor(Math.random() * 1e9)}`, password: PASSWORD, role: "auditor" });
    return call(w, "POST", `/api/users/${u.json.id}/disable`);
  } },
  { name: "GET /api/me", allowed: ALL, run: (w) => call(w, "GET", "/api/me") },
  // the bootstrap admin token is no user: it has no personal tokens
  { name: "POST /api/tokens", allowed: ["admin", "approver", "auditor", "desk", "contractor"], run: (w) => call(w, "POST", "/api/tokens", { name: "n" }) },
  // one's own token; the bootstrap admin token (an admin) deletes an admin user's
  { name: "DELETE /api/tokens/:id (own)", allowed: ALL, run: async (w) => {
    const own = w === "admin-token" ? await call("admin", "POST", "/api/tokens", { name: "n" }) : await call(w, "POST", "/api/tokens", { name: "n" });
    return call(w, "DELETE", `/api/tokens/${own.json.id}`);
  } },
  { name: "DELETE /api/tokens/:id (another user's)", allowed: ADMIN, run: async (w) => {
    const other = await call("contractorB", "POST", "/api/tokens", { name: "n" });
    return call(w, "DELETE", `/api/tokens/${other.json.id}`);
  } },
  { name: "POST /api/requests", allowed: ["admin-token", "admin", "approver", "desk", "contractor"], run: (w) => call(w, "POST", "/api/requests", {
    control: "software", match: { name: "foo" }, agents: [credA.agentId], validUntil: inAYear(), reason: "r" }) },
  { name: "GET /api/requests", allowed: ALL, run: (w) => call(w, "GET", "/api/requests?status=pending") },
  { name: "POST /api/requests/:id/approve", allowed: KOU, run: async (w) => call(w, "POST", `/api/requests/${await newRequest()}/approve`, { note: "ok" }) },
  { name: "POST /api/requests/:id/deny", allowed: KOU, run: async (w) => call(w, "POST", `/api/requests/${await newRequest()}/deny`, { reason: "no" }) },
  { name: "GET /api/audit", allowed: [...KOU, "auditor"], run: (w) => call(w, "GET", "/api/audit?limit=5") },
  { name: "GET /api/agents", allowed: ALL, run: (w) => call(w, "GET", "/api/agents") },
  { name: "PUT /api/agents/:id/tags", allowed: ADMIN, run: (w) => call(w, "PUT", `/api/agents/${credA.agentId}/tags`, ["lab"]) },
  { name: "PUT /api/agents/:id/organisation", allowed: ADMIN, run: (w) => call(w, "PUT", `/api/agents/${credA.agentId}/organisation`, { organisation: "contractor-a" }) },
  { name: "GET /api/events", allowed: READERS, run: (w) => call(w, "GET", "/api/events?limit=5") },
  { name: "GET /api/events/export", allowed: READERS, run: (w) => call(w, "GET", "/api/events/export?format=ndjson") },
  { name: "POST /api/events/:id/resolve", allowed: [...KOU, "desk"], run: async (w) => call(w, "POST", `/api/events/${await eventOn("A", 1000)}/resolve`, { resolution: "ack", note: "n" }) },
  { name: "POST /api/events/resolve (bulk)", allowed: [...KOU, "desk"], run: async (w) => call(w, "POST", "/api/events/resolve", { events: [await eventOn("A", 1001)], resolution: "ack", note: "n" }) },
  { name: "GET /api/events/:id/like-this", allowed: KOU, run: async (w) => call(w, "GET", `/api/events/${await eventOn("A", 1002)}/like-this`) },
  { name: "POST /api/events/:id/approve-like-this", allowed: KOU, run: async (w) => call(w, "POST", `/api/events/${await eventOn("A", 1003)}/approve-like-this`, {
    scope: { organisation: "contractor-a" }, validUntil: inAYear(), reason: "r" }) },
  { name: "POST /api/baseline", allowed: KOU, run: (w) => call(w, "POST", "/api/baseline", { agent: credA.agentId, validUntil: inAYear(), reason: "r" }) },
  { name: "POST /api/approvals", allowed: KOU, run: (w) => call(w, "POST", "/api/approvals", {
    control: "software", match: { name: "direct" }, scope: { all: true }, validFrom: new Date().toISOString(), validUntil: inAYear(), reason: "paper" }) },
  { name: "GET /api/approvals", allowed: ALL, run: (w) => call(w, "GET", "/api/approvals?all=1") },
  { name: "DELETE /api/approvals/:id", allowed: KOU, run: async (w) => {
    const a = await call("admin-token", "POST", "/api/approvals", { control: "software", match: { name: "d" }, scope: { all: true }, validFrom: new Date().toISOString(), validUntil: inAYear(), reason: "r" });
    return call(w, "DELETE", `/api/approvals/${a.json.id}`);
  } },
  { name: "GET /api/policy", allowed: ALL, run: (w) => call(w, "GET", "/api/policy") },
  { name: "PUT /api/policy", allowed: ADMIN, run: async (w) => call(w, "PUT", "/api/policy", undefined, (await call("admin-token", "GET", "/api/policy")).json.text) },
  // contractor-side users: their organisation's events only (A is theirs; B's is refused below)
  { name: "GET /api/events/:id/incident-report", allowed: ALL, run: async (w) => call(w, "GET", `/api/events/${await violationOnA()}/incident-report?format=md`) },
  { name: "GET /api/assets", allowed: READERS, run: (w) => call(w, "GET", "/api/assets") },
  { name: "GET /api/assets/export", allowed: ["admin-token", "admin", "approver", "auditor"], run: (w) => call(w, "GET", "/api/assets/export") },
  { name: "GET /api/media", allowed: READERS, run: (w) => call(w, "GET", "/api/media") },
  { name: "POST /api/media", allowed: ADMIN, run: (w) => call(w, "POST", "/api/media", { serial: `S${Math.floor(Math.random() * 1e9)}`, owner: "総務課" }) },
  { name: "GET /metrics", allowed: [...ADMIN, "auditor"], run: (w) => call(w, "GET", "/metrics") },
  { name: "DELETE /api/media/:id", allowed: ADMIN, run: async (w) => {
    const m = await call("admin-token", "POST", "/api/media", { serial: `S${Math.floor(Math.random() * 1e9)}`, owner: "総務課" });
    return call(w, "DELETE", `/api/media/${m.json.id}`);
  } },
  { name: "GET /api/catalog", allowed: ALL, run: (w) => call(w, "GET", "/api/catalog") },
  { name: "GET /api/events/counts", allowed: READERS, run: (w) => call(w, "GET", "/api/events/counts") },
  { name: "GET /api/events/counts/by/:group", allowed: READERS, run: (w) => call(w, "GET", "/api/events/counts/by/control") },
  { name: "POST /api/assets/import", allowed: ADMIN, run: (w) => request<any>(srv, "POST", "/api/assets/import?mode=upsert", {
    token: tokens[w], raw: "資産番号,ホスト名,製造番号,MACアドレス,設置場所（作業場所）,管理者,登録日,備考\nA-0001,pc-x,SN1,,本庁舎,総務課,2026-04-01,\n",
    headers: { "content-type": "text/csv" } }) },
  { name: "POST /api/enroll-tokens", allowed: ADMIN, run: (w) => call(w, "POST", "/api/enroll-tokens", { name: "n", organisation: "contractor-a" }) },
  { name: "GET /api/enroll-tokens", allowed: ADMIN, run: (w) => call(w, "GET", "/api/enroll-tokens") },
  { name: "DELETE /api/enroll-tokens/:id", allowed: ADMIN, run: async (w) => {
    const t = await call("admin-token", "POST", "/api/enroll-tokens", { name: "d" });
    return call(w, "DELETE", `/api/enroll-tokens/${t.json.id}`);
  } },
  { name: "POST /api/agents/:id/revoke", allowed: ADMIN, run: async (w) => call(w, "POST", `/api/agents/${(await enroll(srv, `pc-r-${w}`)).agentId}/revoke`) },
  { name: "POST /api/agents/:id/allow-reenroll", allowed: ADMIN, run: async (w) => {
    const { agentId } = await enroll(srv, `pc-re-${w}`);
    expect((await call("admin-token", "POST", `/api/agents/${agentId}/revoke`)).status).toBe(200);
    return call(w, "POST", `/api/agents/${agentId}/allow-reenroll`);
  } },
  // a personal token has no session: logout ends nothing and answers 204 to anyone authenticated
  { name: "POST /api/logout", allowed: ALL, run: (w) => call(w, "POST", "/api/logout") },
  { name: "GET /api/stream (WebSocket)", allowed: READERS, run: async (w) => {
    const c = connect(srv, `Bearer ${tokens[w]}`, "/api/stream");
    try {
      await c.opened;
      return { status: 101, text: "" };
    } catch (err) {
      const status = Number(/unexpected response (\d+)/.exec(String(err))?.[1] ?? 0);
      return { status: status === 403 ? 403 : status || 500, text: String(err) };
    } finally {
      c.close();
    }
  } },
  // compliance reports: every role; desk and contractor get their own organisation's
  { name: "GET /api/reports/compliance", allowed: ALL, run: (w) => call(w, "GET", "/api/reports/compliance?from=2026-11-01&to=2026-11-02&format=csv") },
  { name: "GET /api/reports", allowed: ALL, run: (w) => call(w, "GET", "/api/reports") },
  { name: "GET /api/reports/:id", allowed: ALL, run: async (w) => {
    await call(w, "GET", "/api/reports/compliance?from=2026-11-01&to=2026-11-01&format=json");
    const [newest] = (await call(w, "GET", "/api/reports?limit=1")).json as Array<{ id: string }>;
    return call(w, "GET", `/api/reports/${newest!.id}`);
  } },
];

/** Routes without a bearer check of their own (tested in their own files) — a new public route must be added here knowingly. */
const PUBLIC = new Set(["GET /healthz", "GET /api", "GET /api/openapi.json", "GET /agent", "GET /api/stream", "GET /", "GET /assets/:name", "POST /api/enroll", "POST /api/login"]);

describe("the matrix covers every route the server has", () => {
  it("each route of GET /api is a case (or a known public route)", async () => {
    const index = (await request<any>(srv, "GET", "/api")).json.routes as Array<{ method: string; path: string; auth: string }>;
    const named = new Set(cases.map((c) => c.name.split(" ").slice(0, 2).join(" ")));
    const routes = index.filter((r) => r.method !== "HEAD").map((r) => ({ key: `${r.method} ${r.path}`, auth: r.auth }));
    expect(routes.length).toBeGreaterThan(40);
    // the index names each route's action (what decides the roles)
    expect(index.find((r) => r.method === "POST" && r.path === "/api/requests/:id/approve")).toMatchObject({ action: "request.decide" });
    expect(index.filter((r) => r.auth !== "none" && typeof (r as { action?: string }).action !== "string")).toEqual([]);
    expect(routes.filter((r) => r.auth !== "none" && !named.has(r.key)).map((r) => r.key), "routes with no role × route case").toEqual([]);
    expect(routes.filter((r) => r.auth === "none" && !PUBLIC.has(r.key)).map((r) => r.key), "public routes nobody listed").toEqual([]);
  });
});

describe("every role × every route", () => {
  it.each(cases.map((c) => [c.name, c] as const))("%s", async (_name, c) => {
    const seen: string[] = [];
    for (const who of WHO) {
      const r = await c.run(who);
      const ok = c.allowed.includes(who) ? (r.status >= 200 && r.status < 300) || r.status === 101 : r.status === 403;
      seen.push(`${who}: ${r.status}${ok ? "" : ` ✗ ${r.text.slice(0, 160)}`}`);
    }
    expect(seen.filter((l) => l.includes("✗")), seen.join("\n")).toEqual([]);
  });
});

describe("contractor A sees none of contractor B's data", () => {
  it("lists, counts, exports and ledger views", async () => {
    const eA = await eventOn("A", 2001);
    const eB = await eventOn("B", 2002);
    const rB = await call("contractorB", "POST", "/api/requests", { control: "software", match: { name: "b-secret" }, agents: [credB.agentId], validUntil: inAYear(), reason: "r" });
    expect(rB.status).toBe(201);
    await call("approver", "POST", `/api/requests/${rB.json.id}/approve`, {});
    const bIds = new Set([credB.agentId]);
    for (const who of ["desk", "contractor"] as const) {
      const agents = (await call(who, "GET", "/api/agents")).json as Array<{ id: string }>;
      expect(agents.map((a) => a.id)).toEqual([credA.agentId]);
      const reqs = (await call(who, "GET", "/api/requests")).json as Array<{ organisationId: string; match: { name: string } }>;
      expect(reqs.some((r) => r.match.name === "b-secret")).toBe(false);
      const approvals = (await call(who, "GET", "/api/approvals?all=1")).json as Array<{ match: { name?: string } }>;
      expect(approvals.some((a) => a.match.name === "b-secret")).toBe(false);
      const orgs = (await call(who, "GET", "/api/organisations")).json as Array<{ name: string }>;
      expect(orgs.map((o) => o.name)).toEqual(["contractor-a"]);
    }
    const evs = (await call("desk", "GET", "/api/events?limit=1000")).json as Array<{ id: number; agentId: string }>;
    expect(evs.length).toBeGreaterThan(0);
    expect(evs.some((e) => bIds.has(e.agentId))).toBe(false);
    expect(evs.some((e) => e.id === eA)).toBe(true);
    // counts: desk A's equal what its own list holds, and B's agent counts nothing for it
    const counts = (await call("desk", "GET", "/api/events/counts")).json as Record<string, number>;
    const allEvs = (await call("desk", "GET", "/api/events?limit=10000")).json as Array<{ status: string }>;
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(allEvs.length);
    // the compliance page's grouped counts: the same total, and one organisation only (A's)
    const sum = (groups: Record<string, Record<string, number>>) => Object.values(groups).flatMap((g) => Object.values(g)).reduce((a, b) => a + b, 0);
    for (const group of ["control", "day", "organisation"]) {
      const byGroup = (await call("desk", "GET", `/api/events/counts/by/${group}`)).json as Record<string, Record<string, number>>;
      expect(sum(byGroup), group).toBe(allEvs.length);
    }
    const byOrg = (await call("desk", "GET", "/api/events/counts/by/organisation")).json as Record<string, Record<string, number>>;
    const orgA = (await call("desk", "GET", "/api/organisations")).json as Array<{ id: string }>;
    expect(Object.keys(byOrg)).toEqual(orgA.map((o) => o.id));
    const byOrgAuditor = (await call("auditor", "GET", "/api/events/counts/by/organisation")).json as Record<string, Record<string, number>>;
    expect(Object.keys(byOrgAuditor).length).toBeGreaterThanOrEqual(2);
    const countsB = (await call("desk", "GET", `/api/events/counts?agent=${credB.agentId}`)).json as Record<string, number>;
    expect(Object.values(countsB).reduce((a, b) => a + b, 0)).toBe(0);
    const countsBAuditor = (await call("auditor", "GET", `/api/events/counts?agent=${credB.agentId}`)).json as Record<string, number>;
    expect(Object.values(countsBAuditor).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    // filtering by B's agent explicitly gives nothing either
    expect((await call("desk", "GET", `/api/events?agent=${credB.agentId}`)).json).toEqual([]);
    const exported = (await call("desk", "GET", "/api/events/export?format=ndjson")).text.trim().split("\n").map((l) => JSON.parse(l) as { agentId: string; id: number });
    expect(exported.some((e) => e.agentId === credB.agentId)).toBe(false);
    expect(exported.some((e) => e.id === eA)).toBe(true);
    const csv = (await call("desk", "GET", "/api/events/export?format=csv")).text;
    expect(csv).not.toContain(credB.agentId);
    const assets = (await call("desk", "GET", "/api/assets")).json as { unregisteredAgents: Array<{ id: string }>; entries: Array<{ agent: { id: string } | null }> };
    expect(assets.unregisteredAgents.map((a) => a.id)).not.toContain(credB.agentId);
    expect(assets.entries.some((e) => e.agent?.id === credB.agentId)).toBe(false);
    // B's things by id: 403, not 404 or 500
    expect((await call("desk", "POST", `/api/events/${eB}/resolve`, { resolution: "x", note: "y" })).status).toBe(403);
    expect((await call("desk", "POST", "/api/events/resolve", { events: [eB], resolution: "x", note: "y" })).status).toBe(403);
    expect((await call("contractor", "GET", `/api/events/${eB}/incident-report`)).status).toBe(403);
    expect((await call("desk", "GET", `/api/events/${eB}/incident-report?format=md`)).status).toBe(403);
    expect((await call("contractor", "POST", "/api/requests", { control: "software", match: { name: "x" }, agents: [credB.agentId], validUntil: inAYear(), reason: "r" })).status).toBe(403);
    // the auditor sees both
    const all = (await call("auditor", "GET", "/api/agents")).json as Array<{ id: string }>;
    expect(all.map((a) => a.id)).toEqual(expect.arrayContaining([credA.agentId, credB.agentId]));
    // organisation= (the dashboard's per-organisation view) narrows 甲's lists and counts, never widens the desk's
    const ofB = (await call("auditor", "GET", "/api/events?organisation=contractor-b&limit=1000")).json as Array<{ agentId: string; id: number }>;
    expect(ofB.length).toBeGreaterThan(0);
    expect(ofB.every((e) => e.agentId === credB.agentId)).toBe(true);
    expect(ofB.some((e) => e.id === eB)).toBe(true);
    const countB = (await call("auditor", "GET", "/api/events/counts?organisation=contractor-b")).json as Record<string, number>;
    expect(Object.values(countB).reduce((a, b) => a + b, 0)).toBe(ofB.length);
    expect((await call("desk", "GET", "/api/events?organisation=contractor-b")).json).toEqual([]);
    expect(Object.values((await call("desk", "GET", "/api/events/counts?organisation=contractor-b")).json as Record<string, number>).every((n) => n === 0)).toBe(true);
    expect((await call("auditor", "GET", "/api/events?organisation=no-such-org")).json).toEqual([]);
  });

  it("compliance reports: what A's users generate, list and download holds none of B's", async () => {
    // the period: today in Asia/Tokyo (the reports' days)
    const day = new Date(Date.now() + 9 * 3_600_000).toISOString().slice(0, 10);
    const compliance = (who: keyof typeof tokens, format: string, org = "") =>
      call(who, "GET", `/api/reports/compliance?from=${day}&to=${day}&format=${format}${org ? `&organisation=${org}` : ""}`);
    await eventOn("B", 4002);
    const mine: string[] = [];
    for (const who of ["desk", "contractor"] as const) {
      for (const format of ["json", "csv", "html"]) {
        const r = await compliance(who, format);
        expect(r.status, `${who} ${format}`).toBe(200);
        expect(r.text, `${who} ${format}`).toContain(credA.agentId);
        expect(r.text, `${who} ${format}`).not.toContain(credB.agentId);
        mine.push(String(r.headers["x-kyoka-report-id"]));
      }
      expect((await compliance(who, "json", "contractor-b")).status).toBe(403);
    }
    // B's desk's report and the auditor's fleet report: not listed for A's users, 403 to download
    const bReport = String((await compliance("deskB", "json")).headers["x-kyoka-report-id"]);
    const fleet = await compliance("auditor", "json");
    expect(fleet.text).toContain(credB.agentId);
    const fleetReport = String(fleet.headers["x-kyoka-report-id"]);
    for (const who of ["desk", "contractor"] as const) {
      const listed = ((await call(who, "GET", "/api/reports")).json as Array<{ id: string }>).map((r) => r.id);
      expect(listed).toEqual(expect.arrayContaining(mine));
      expect(listed).not.toContain(bReport);
      expect(listed).not.toContain(fleetReport);
      expect((await call(who, "GET", `/api/reports/${bReport}`)).status).toBe(403);
      expect((await call(who, "GET", `/api/reports/${fleetReport}`)).status).toBe(403);
    }
  });

  it("stream messages: desk A receives A's events and status, never B's", async () => {
    const desk = connect(srv, `Bearer ${tokens.desk}`, "/api/stream");
    const auditor = connect(srv, `Bearer ${tokens.auditor}`, "/api/stream");
    await Promise.all([desk.opened, auditor.opened]);
    const contractor = connect(srv, `Bearer ${tokens.contractor}`, "/api/stream");
    await expect(contractor.opened).rejects.toThrow(/unexpected response 403/); // contractor staff have no stream
    const eB = await eventOn("B", 3002);
    const eA = await eventOn("A", 3001);
    await auditor.next((m) => (m as any).kind === "event" && (m as any).event.id === eA);
    await auditor.next((m) => (m as any).kind === "event" && (m as any).event.id === eB);
    await desk.next((m) => (m as any).kind === "event" && (m as any).event.id === eA);
    // a decision's retroaction (B's open event becomes approved), B's PC going offline and online
    const rB = await call("contractorB", "POST", "/api/requests", { control: "network", match: { port: 3002 }, agents: [credB.agentId], validUntil: inAYear(), reason: "r" });
    expect((await call("approver", "POST", `/api/requests/${rB.json.id}/approve`, {})).json.resolved).toBe(1);
    await auditor.next((m) => (m as any).kind === "event" && (m as any).event.id === eB && (m as any).event.status === "approved");
    agentB.close();
    await auditor.next((m) => (m as any).kind === "agent" && (m as any).id === credB.agentId && (m as any).online === false);
    agentB = await connectAgent(srv, credB);
    await auditor.next((m) => (m as any).kind === "agent" && (m as any).id === credB.agentId && (m as any).online === true);
    // A's next event reaches the desk after all of B's messages were sent: none of them reached it
    const eA2 = await eventOn("A", 3003);
    await desk.next((m) => (m as any).kind === "event" && (m as any).event.id === eA2);
    expect(desk.messages.length).toBeGreaterThanOrEqual(2);
    expect(desk.messages.some((m) => JSON.stringify(m).includes(credB.agentId))).toBe(false);
    desk.close();
    auditor.close();
  });
});

describe("the audit trail over HTTP", () => {
  it("records logins, requests, decisions, approvals, policy and user changes with who, where and why; pages with a cursor", async () => {
    const page1 = await call("auditor", "GET", "/api/audit?limit=10");
    expect(page1.status).toBe(200);
    expect(page1.json.rows).toHaveLength(10);
    const page2 = await call("auditor", "GET", `/api/audit?limit=10&cursor=${page1.json.nextCursor}`);
    expect(page2.json.rows[0].seq).toBe(page1.json.rows[9].seq - 1);
    const actions = new Set<string>();
    let cursor = "";
    for (;;) {
      const p = await call("auditor", "GET", `/api/audit?limit=1000${cursor ? `&cursor=${cursor}` : ""}`);
      for (const r of p.json.rows) actions.add(r.action);
      if (!p.json.nextCursor) break;
      cursor = p.json.nextCursor;
    }
    for (const a of ["login", "user.create", "organisation.create", "token.create", "request.create", "request.approve", "request.deny", "approval.create",
      "approval.delete", "approval.like-this", "approval.baseline", "event.resolve", "event.resolve-bulk", "policy.write", "agent.organisation", "user.disable", "logout"]) {
      expect(actions, a).toContain(a);
    }
    const denied = (await call("auditor", "GET", "/api/audit?action=request.deny&limit=1")).json.rows[0];
    expect(denied).toMatchObject({ actor: "u-approver", role: "approver", reason: "no", remote: "127.0.0.1" });
    const byActor = (await call("auditor", "GET", "/api/audit?actor=u-contractor&limit=1000")).json.rows as Array<{ actor: string }>;
    expect(byActor.length).toBeGreaterThan(0);
    expect(byActor.every((r) => r.actor === "u-contractor")).toBe(true);
  });
});
