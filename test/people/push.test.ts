/**
 * Approvals reach the PC: an approval decided over HTTP is pushed to the connected agent as
 * {t:"approvals"} at once (the time from the decision's answer to the message is measured and
 * logged, bound generous); a later matching event comes in approved, a denied one's events become
 * violation. The agent also gets the approvals in force at hello.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, connectAgent, enroll, ev, request, sendEvents, startTestServer, type Credential, type TestClient, type TestServer } from "../server/helpers.js";

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

  it("the live stream (/api/stream) carries a resolve, an acknowledge, a bulk resolve and a denial's retroaction as they happen", async () => {
    const stream = connect(srv, `Bearer ${srv.adminToken}`, "/api/stream");
    await stream.opened;
    await sendEvents(agent, [4, 5, 6, 7].map((seq) => ev(seq, "software.installed", { name: `push-${seq}`, version: "1", source: "dpkg" })));
    const ids = new Map<number, number>();
    for (const seq of [4, 5, 6, 7]) {
      const m = await stream.next((x) => x.kind === "event" && (x.event as { seq: number; agentId: string }).agentId === cred.agentId && (x.event as { seq: number }).seq === seq);
      ids.set(seq, (m.event as { id: number }).id);
    }
    type Pushed = { id: number; status: string; resolution: string | null; note: string | null };
    const change = async (id: number, resolution: string, from: number): Promise<Pushed> =>
      (await stream.next((x) => x.kind === "event" && (x.event as Pushed).id === id && (x.event as Pushed).resolution === resolution, from)).event as Pushed;
    let from = stream.messages.length;
    expect((await admin("POST", `/api/events/${ids.get(4)}/resolve`, { resolution: "resolved", note: "削除済み" })).status).toBe(200);
    expect(await change(ids.get(4)!, "resolved", from)).toMatchObject({ status: "needs_approval", note: "削除済み" });
    from = stream.messages.length;
    expect((await admin("POST", `/api/events/${ids.get(5)}/resolve`, { resolution: "acknowledged" })).status).toBe(200);
    expect(await change(ids.get(5)!, "acknowledged", from)).toMatchObject({ status: "needs_approval", note: null });
    from = stream.messages.length;
    const bulk = await admin("POST", "/api/events/resolve", { events: [ids.get(6), ids.get(7)], resolution: "resolved", note: "一括" });
    expect(bulk.status, JSON.stringify(bulk.json)).toBe(200);
    for (const seq of [6, 7]) expect(await change(ids.get(seq)!, "resolved", from)).toMatchObject({ note: "一括" });
    // a denial: the open event of what was asked becomes a violation, on the stream too
    await sendEvents(agent, [ev(8, "software.installed", { name: "push-denied", version: "1", source: "dpkg" })]);
    const open = (await stream.next((x) => x.kind === "event" && (x.event as { seq: number; agentId: string }).agentId === cred.agentId && (x.event as { seq: number }).seq === 8)).event as Pushed;
    const req = await request<any>(srv, "POST", "/api/requests", { token: `${cred.agentId}:${cred.secret}`, body: {
      control: "software", match: { name: "push-denied" }, validUntil: inAYear(), reason: "r" } });
    from = stream.messages.length;
    expect((await admin("POST", `/api/requests/${req.json.id}/deny`, { reason: "不要" })).json.violations).toBe(1);
    expect(await change(open.id, "denied", from)).toMatchObject({ status: "violation" });
    stream.close();
  });
});
