/**
 * Approvals reach the PC: an approval decided over HTTP is pushed to the connected agent as
 * {t:"approvals"} at once (the time from the decision's answer to the message is measured and
 * logged, bound generous); a later matching event comes in approved, a denied one's events become
 * violation. The agent also gets the approvals in force at hello.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectAgent, enroll, ev, request, sendEvents, startTestServer, type Credential, type TestClient, type TestServer } from "../server/helpers.js";

let srv: TestServer;
let cred: Credential;
let agent: TestClient;
const admin = (m: string, p: string, b?: unknown) => request<any>(srv, m, p, { token: srv.adminToken, body: b });
const inAYear = () => new Date(Date.now() + 365 * 86400_000).toISOString();

beforeAll(async () => {
  srv = await startTestServer();
  cred = await enroll(srv, "pc-push");
  agent = await connectAgent(srv, cred);
});
afterAll(async () => {
  agent?.close();
  await srv?.stop();
});

describe("approvals pushed to the PC", () => {
  it("at hello, then within moments of a decision; a later matching event is approved", async () => {
    await agent.next((m) => m.t === "approvals"); // at hello
    await sendEvents(agent, [ev(1, "software.installed", { name: "foo-tool", version: "2.5", source: "dpkg" })]);
    const req = await request<any>(srv, "POST", "/api/requests", { token: `${cred.agentId}:${cred.secret}`, body: {
      control: "software", match: { name: "foo*", version: ">=2" }, validUntil: inAYear(), reason: "業務で必要" } });
    expect(req.status).toBe(201);
    expect(req.json.scope).toEqual({ agents: [cred.agentId] });
    const from = agent.messages.length;
    const approved = await admin("POST", `/api/requests/${req.json.id}/approve`, { note: "ok" });
    const decidedAt = Date.now();
    expect(approved.status).toBe(200);
    expect(approved.json.resolved).toBe(1);
    const pushed = await agent.next((m) => m.t === "approvals" && (m.approvals as Array<{ id: string }>).some((a) => a.id === approved.json.approval.id), from, 10_000);
    const ms = Date.now() - decidedAt;
    console.log(`approval pushed to the agent ${ms} ms after the decision's HTTP answer`);
    expect(ms).toBeLessThan(2000);
    expect((pushed.requests as Array<{ id: string; status: string }>).find((r) => r.id === req.json.id)?.status).toBe("approved");
    await sendEvents(agent, [ev(2, "software.installed", { name: "foo-tool2", version: "3", source: "dpkg" })]);
    const evs = (await admin("GET", `/api/events?agent=${cred.agentId}&type=software.installed`)).json as Array<{ seq: number; status: string; resolution: string | null }>;
    expect(evs.find((e) => e.seq === 2)?.status).toBe("approved");
    expect(evs.find((e) => e.seq === 1)).toMatchObject({ status: "approved", resolution: "approved" });
  });

  it("a denied request: its open events become violation and the PC is told", async () => {
    await sendEvents(agent, [ev(3, "software.installed", { name: "evil", version: "1", source: "dpkg" })]);
    const req = await request<any>(srv, "POST", "/api/requests", { token: `${cred.agentId}:${cred.secret}`, body: {
      control: "software", match: { name: "evil" }, validUntil: inAYear(), reason: "r" } });
    const from = agent.messages.length;
    expect((await admin("POST", `/api/requests/${req.json.id}/deny`, { reason: "不要" })).json.violations).toBe(1);
    const pushed = await agent.next((m) => m.t === "approvals" && (m.requests as Array<{ id: string; status: string }>).some((r) => r.id === req.json.id && r.status === "denied"), from);
    expect(pushed).toBeTruthy();
    const evs = (await admin("GET", `/api/events?agent=${cred.agentId}&type=software.installed`)).json as Array<{ seq: number; status: string }>;
    expect(evs.find((e) => e.seq === 3)?.status).toBe("violation");
  });
});
