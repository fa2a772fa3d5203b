/**
 * The 甲許可 workflow on a real SQLite store: requests → approve (narrowing) / deny, retroaction on
 * open events, the organisation restriction at ingest, expiry by the server's clock, approve
 * everything like this, baseline, bulk resolve, and the organisation filter of every list.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { makeFixture, type Fixture } from "./fixture.js";

const ctx = { remote: "192.0.2.7" };
const inAYear = new Date(Date.now() + 365 * 86400_000).toISOString();
const soft = (name: string, version = "2.1") => ({ name, version, source: "dpkg" });

let f: Fixture;
beforeEach(async () => { f = await makeFixture(); });
afterEach(async () => { await f.close(); });

describe("requests (申請)", () => {
  it("contractor requests for its PC; approver approves; open matching events resolved, others stay; later events approved at ingest", async () => {
    const a1 = await f.addAgent(f.orgA, "a1");
    const a2 = await f.addAgent(f.orgA, "a2");
    const b1 = await f.addAgent(f.orgB, "b1");
    const open1 = await f.ingest(a1, "software.installed", soft("foo-tools"));
    const other = await f.ingest(a1, "software.installed", soft("bar"));
    const onA2 = await f.ingest(a2, "software.installed", soft("foo-tools"));
    const onB1 = await f.ingest(b1, "software.installed", soft("foo-tools"));
    expect([open1.status, other.status, onA2.status, onB1.status]).toEqual(["needs_approval", "needs_approval", "needs_approval", "needs_approval"]);

    const req = f.wf.createRequest(f.users.contractor, { control: "software", match: { name: "foo*", version: ">=2" }, agents: [a1], validUntil: inAYear, reason: "業務で必要" }, ctx);
    expect(req.status).toBe("pending");
    expect(req.organisationId).toBe(f.orgA);
    // 乙 cannot decide, nor can the desk; B cannot even see it
    expect(() => f.wf.approveRequest(f.users.contractor, req.id, {}, ctx)).toThrow(/may not request.decide/);
    expect(() => f.wf.approveRequest(f.users.desk, req.id, {}, ctx)).toThrow(/may not request.decide/);
    expect(f.wf.listRequests(f.users.contractorB)).toEqual([]);
    expect(f.wf.listRequests(f.users.contractor).map((r) => r.id)).toEqual([req.id]);

    const { request, approval, resolved } = f.wf.approveRequest(f.users.approver, req.id, { note: "OK" }, ctx);
    expect(request.status).toBe("approved");
    expect(request.approvalId).toBe(approval.id);
    expect(approval.requestId).toBe(req.id);
    expect(approval.organisation).toBe(f.orgA);
    expect(resolved).toBe(1);
    const e1 = (await f.store.getEvent(open1.id))!;
    expect(e1).toMatchObject({ status: "approved", resolution: "approved", approvalId: approval.id });
    expect((await f.store.getEvent(other.id))!.resolution).toBeNull();
    expect((await f.store.getEvent(onA2.id))!.status).toBe("needs_approval"); // not in the request's scope
    expect((await f.store.getEvent(onB1.id))!.status).toBe("needs_approval");
    // later: a matching install on a1 comes in approved; a lower version does not
    expect((await f.ingest(a1, "software.installed", soft("foo-tools", "3.0"))).status).toBe("approved");
    expect((await f.ingest(a1, "software.installed", soft("foo-tools", "1.0"))).status).toBe("needs_approval");
    // pushed to the PC it covers
    expect(f.pushes.at(-1)).toEqual([a1]);
    expect(f.wf.approvalsFor(a1).map((a) => a.id)).toContain(approval.id);
    expect(f.wf.approvalsFor(a2)).toEqual([]);
  });

  it("an organisation-wide approval from A's request never covers B's PCs", async () => {
    const a1 = await f.addAgent(f.orgA, "a1", ["lab"]);
    const b1 = await f.addAgent(f.orgB, "b1", ["lab"]);
    const req = f.wf.createRequest(f.users.desk, { control: "software", match: { name: "foo*" }, tags: ["lab"], validUntil: inAYear, reason: "lab PCs" }, ctx);
    f.wf.approveRequest(f.users.approver, req.id, {}, ctx);
    expect((await f.ingest(a1, "software.installed", soft("foo"))).status).toBe("approved");
    expect((await f.ingest(b1, "software.installed", soft("foo"))).status).toBe("needs_approval");
  });

  it("approval narrows only: a longer period or a PC outside the request is refused", async () => {
    const a1 = await f.addAgent(f.orgA, "a1");
    const a2 = await f.addAgent(f.orgA, "a2");
    const req = f.wf.createRequest(f.users.contractor, { control: "software", match: { name: "foo" }, agents: [a1], validUntil: inAYear, reason: "r" }, ctx);
    const later = new Date(Date.parse(inAYear) + 86400_000).toISOString();
    expect(() => f.wf.approveRequest(f.users.approver, req.id, { validUntil: later }, ctx)).toThrow(/validUntil: may only narrow/);
    expect(() => f.wf.approveRequest(f.users.approver, req.id, { agents: [a2] }, ctx)).toThrow(/agents: may only narrow/);
    const shorter = new Date(Date.now() + 86400_000).toISOString();
    const { approval } = f.wf.approveRequest(f.users.approver, req.id, { validUntil: shorter }, ctx);
    expect(approval.validUntil).toBe(shorter);
    expect(() => f.wf.approveRequest(f.users.approver, req.id, {}, ctx)).toThrow(/already approved/);
  });

  it("deny marks open matching events violation with the reason", async () => {
    const a1 = await f.addAgent(f.orgA, "a1");
    const e = await f.ingest(a1, "software.installed", soft("evil-tool"));
    const req = f.wf.createRequest(f.users.contractor, { control: "software", match: { name: "evil-*" }, agents: [a1], validUntil: inAYear, reason: "r" }, ctx);
    const { request, violations } = f.wf.denyRequest(f.users.approver, req.id, { reason: "業務に不要" }, ctx);
    expect(request.status).toBe("denied");
    expect(violations).toBe(1);
    expect(await f.store.getEvent(e.id)).toMatchObject({ status: "violation", resolution: "denied" });
    expect((await f.store.getEvent(e.id))!.note).toContain("業務に不要");
    expect((await f.ingest(a1, "software.installed", soft("evil-tool"))).status).toBe("needs_approval");
  });

  it("a contractor cannot request for another organisation's PC; a PC requests for itself only", async () => {
    const a1 = await f.addAgent(f.orgA, "a1");
    const b1 = await f.addAgent(f.orgB, "b1");
    expect(() => f.wf.createRequest(f.users.contractor, { control: "software", match: { name: "x" }, agents: [b1], validUntil: inAYear, reason: "r" }, ctx))
      .toThrow(/not a PC of the requesting organisation/);
    const pc = f.wf.principalFromBearer(`${a1}:wrong`);
    expect(pc).toBeUndefined();
    const agentP = { actor: `agent:${a1}`, role: "agent" as const, organisationId: f.orgA, agentId: a1, via: "agent" as const };
    expect(() => f.wf.createRequest(agentP, { control: "software", match: { name: "x" }, agents: [b1], validUntil: inAYear, reason: "r" }, ctx)).toThrow(/itself only/);
    const r = f.wf.createRequest(agentP, { control: "software", match: { name: "x" }, validUntil: inAYear, reason: "r" }, ctx);
    expect(r.scope).toEqual({ agents: [a1] });
    expect(f.wf.listRequests(agentP).map((x) => x.id)).toEqual([r.id]);
  });
});

describe("expiry by the server's clock", () => {
  it("after validUntil later events are needs_approval again, whatever the event's observedAt says", async () => {
    const a1 = await f.addAgent(f.orgA, "a1");
    const until = new Date(Date.now() + 60_000).toISOString();
    const req = f.wf.createRequest(f.users.contractor, { control: "software", match: { name: "foo" }, agents: [a1], validUntil: until, reason: "r" }, ctx);
    f.wf.approveRequest(f.users.approver, req.id, {}, ctx);
    expect((await f.ingest(a1, "software.installed", soft("foo"))).status).toBe("approved");
    // the server's clock past validUntil; the ingest helper records observedAt = that time, evaluate reads only `now`
    expect((await f.ingest(a1, "software.installed", soft("foo"), new Date(Date.parse(until) + 1))).status).toBe("needs_approval");
  });
});

describe("bulk decisions", () => {
  it("approve everything like this resolves every matching open event across PCs and covers later ones; a non-matching one stays", async () => {
    const pcs = [await f.addAgent(f.orgA, "a1"), await f.addAgent(f.orgA, "a2"), await f.addAgent(f.orgB, "b1")];
    const ev: Array<{ id: number }> = [];
    for (const pc of pcs) ev.push(await f.ingest(pc, "network.listening", { port: 631, process: "cupsd", address: "0.0.0.0" }));
    const odd = await f.ingest(pcs[0]!, "network.listening", { port: 8080, process: "python3", address: "0.0.0.0" });
    const draft = f.wf.likeThisDraft(f.users.approver, ev[0]!.id);
    expect(draft.match).toEqual({ port: 631, process: "cupsd" });
    const { resolved, approval } = f.wf.approveLikeThis(f.users.approver, ev[0]!.id, { scope: { all: true }, validUntil: inAYear, reason: "印刷" }, ctx);
    expect(resolved).toBe(3);
    for (const e of ev) expect((await f.store.getEvent(e.id))!).toMatchObject({ status: "approved", approvalId: approval.id });
    expect((await f.store.getEvent(odd.id))!.status).toBe("needs_approval");
    expect((await f.ingest(pcs[1]!, "network.listening", { port: 631, process: "cupsd", address: "::" })).status).toBe("approved");
    expect((await f.ingest(pcs[1]!, "network.listening", { port: 8080, process: "python3", address: "::" })).status).toBe("needs_approval");
    // a desk cannot approve
    expect(() => f.wf.approveLikeThis(f.users.desk, ev[0]!.id, { scope: { all: true }, validUntil: inAYear, reason: "x" }, ctx)).toThrow(/may not approval.manage/);
  });

  it("like this with an edited match (glob) and an organisation scope", async () => {
    const a1 = await f.addAgent(f.orgA, "a1");
    const b1 = await f.addAgent(f.orgB, "b1");
    const e = await f.ingest(a1, "software.installed", soft("libfoo1"));
    const e2 = await f.ingest(a1, "software.installed", soft("libfoo2", "9"));
    const eb = await f.ingest(b1, "software.installed", soft("libfoo1"));
    const { resolved } = f.wf.approveLikeThis(f.users.approver, e.id, { match: { name: "libfoo*", version: null }, scope: { organisation: "contractor-a" }, validUntil: inAYear, reason: "libs" }, ctx);
    expect(resolved).toBe(2);
    expect((await f.store.getEvent(e2.id))!.status).toBe("approved");
    expect((await f.store.getEvent(eb.id))!.status).toBe("needs_approval");
    expect((await f.ingest(b1, "software.installed", soft("libfoo3"))).status).toBe("needs_approval");
    expect((await f.ingest(a1, "software.installed", soft("libfoo3"))).status).toBe("approved");
  });

  it("baseline accepts an organisation's open items in one step, itemised in the audit trail", async () => {
    const a1 = await f.addAgent(f.orgA, "a1");
    const a2 = await f.addAgent(f.orgA, "a2");
    const b1 = await f.addAgent(f.orgB, "b1");
    const items: Array<{ id: number }> = [];
    for (const pc of [a1, a2]) {
      for (const port of [22, 631]) items.push(await f.ingest(pc, "network.listening", { port, process: "p", address: "0.0.0.0" }));
      items.push(await f.ingest(pc, "network.attached", { iface: "eth0", cidr: "10.0.0.0/24", gatewayMac: "00:11:22:33:44:55" }));
    }
    const bItem = await f.ingest(b1, "network.listening", { port: 22, process: "p", address: "0.0.0.0" });
    const { approvals, resolved } = f.wf.baseline(f.users.approver, { organisation: "contractor-a", validUntil: inAYear, reason: "初日の現状を承認" }, ctx);
    expect(resolved).toBe(items.length);
    expect(approvals.length).toBe(3); // port 22, port 631, the attachment — each scoped to both PCs
    for (const e of items) expect((await f.store.getEvent(e.id))!.status).toBe("approved");
    expect((await f.store.getEvent(bItem.id))!.status).toBe("needs_approval");
    expect((await f.ingest(a2, "network.listening", { port: 22, process: "p", address: "::" })).status).toBe("approved");
    expect((await f.ingest(a2, "network.listening", { port: 23, process: "p", address: "::" })).status).toBe("needs_approval");
    const row = f.wf.auditPage(f.users.auditor, { action: "approval.baseline", limit: 5 }).rows[0]!;
    expect(row.reason).toBe("初日の現状を承認");
    expect((row.details.items as unknown[]).length).toBe(items.length);
  });

  it("bulk resolve: the desk resolves its own organisation's events, not another's", async () => {
    const a1 = await f.addAgent(f.orgA, "a1");
    const b1 = await f.addAgent(f.orgB, "b1");
    const e1 = await f.ingest(a1, "network.listening", { port: 1, process: "p" });
    const e2 = await f.ingest(a1, "network.listening", { port: 2, process: "p" });
    const eb = await f.ingest(b1, "network.listening", { port: 1, process: "p" });
    expect(() => f.wf.bulkResolve(f.users.desk, { events: [e1.id, eb.id], resolution: "acknowledged", note: "n" }, ctx)).toThrow(/may not event.resolve/);
    expect(f.wf.bulkResolve(f.users.desk, { events: [e1.id, e2.id], resolution: "acknowledged", note: "確認済み" }, ctx)).toEqual({ resolved: 2 });
    expect((await f.store.getEvent(e2.id))!).toMatchObject({ resolution: "acknowledged", note: "確認済み" });
    expect((await f.store.getEvent(eb.id))!.resolution).toBeNull();
  });
});

describe("users, sessions, tokens", () => {
  it("login gives a session; a wrong password, a disabled user fail; both are audited", async () => {
    const s = await f.wf.login({ login: "kou", password: "correct horse battery" }, ctx);
    const p = f.wf.principalFromSession(s.sessionId)!;
    expect(p).toMatchObject({ actor: "kou", role: "approver", csrf: s.csrf });
    await expect(f.wf.login({ login: "kou", password: "wrong" }, ctx)).rejects.toThrow(/wrong login or password/);
    f.wf.disableUser(f.admin, "kou", ctx);
    expect(f.wf.principalFromSession(s.sessionId)).toBeUndefined();
    await expect(f.wf.login({ login: "kou", password: "correct horse battery" }, ctx)).rejects.toThrow(/wrong login or password/);
    const actions = f.wf.auditPage(f.users.auditor, { limit: 100 }).rows.map((r) => r.action);
    expect(actions).toEqual(expect.arrayContaining(["login", "login.failed", "user.disable", "user.create", "organisation.create"]));
  });

  it("personal API tokens are stored hashed, authenticate, and end when deleted", async () => {
    const t = f.wf.createToken(f.users.desk, { name: "ci" }, ctx);
    expect(f.wf.principalFromBearer(t.token)).toMatchObject({ actor: "desk-a", role: "desk", organisationId: f.orgA });
    const stored = f.store.handle.prepare(`SELECT token_hash FROM api_tokens WHERE id = ?`).get(t.id) as { token_hash: string };
    expect(stored.token_hash).not.toContain(t.token);
    expect(() => f.wf.deleteToken(f.users.deskB, t.id, ctx)).toThrow(/is not desk-b's/);
    f.wf.deleteToken(f.users.desk, t.id, ctx);
    expect(f.wf.principalFromBearer(t.token)).toBeUndefined();
  });

  it("a desk or contractor user needs a contractor organisation", async () => {
    await expect(f.wf.createUser(f.admin, { login: "x", password: "0123456789", role: "desk" }, ctx)).rejects.toThrow(/needs a contractor organisation/);
    await expect(f.wf.createUser(f.admin, { login: "x", password: "0123456789", role: "desk", organisation: "city" }, ctx)).rejects.toThrow(/is a client/);
    await expect(f.wf.createUser(f.users.approver, { login: "x", password: "0123456789", role: "admin" }, ctx)).rejects.toThrow(/may not user.create/);
  });
});

describe("organisation filter", () => {
  it("lists of organisations, users, requests and approvals show a contractor-side user nothing of another contractor", async () => {
    const a1 = await f.addAgent(f.orgA, "a1");
    const b1 = await f.addAgent(f.orgB, "b1");
    const ra = f.wf.createRequest(f.users.contractor, { control: "software", match: { name: "a" }, agents: [a1], validUntil: inAYear, reason: "r" }, ctx);
    const rb = f.wf.createRequest(f.users.contractorB, { control: "software", match: { name: "b" }, agents: [b1], validUntil: inAYear, reason: "r" }, ctx);
    f.wf.approveRequest(f.users.approver, ra.id, {}, ctx);
    f.wf.approveRequest(f.users.approver, rb.id, {}, ctx);
    f.wf.createApproval(f.users.approver, { control: "software", match: { name: "b-only" }, scope: { agents: [b1] }, validFrom: new Date().toISOString(), validUntil: inAYear, reason: "paper" }, ctx);
    expect(f.wf.listOrganisations(f.users.desk).map((o) => o.name)).toEqual(["contractor-a"]);
    expect(f.wf.listRequests(f.users.desk).map((r) => r.id)).toEqual([ra.id]);
    expect(f.wf.listApprovals(f.users.desk, true).map((a) => a.match.name)).toEqual(["a"]);
    expect(f.wf.listApprovals(f.users.deskB, true).map((a) => a.match.name).sort()).toEqual(["b", "b-only"]);
    expect(f.wf.listApprovals(f.users.auditor, true)).toHaveLength(3);
    expect(f.wf.visibleAgentIds(f.users.desk)).toEqual(new Set([a1]));
    expect(f.wf.visibleAgentIds(f.users.auditor)).toBeNull();
    expect(() => f.wf.listUsers(f.users.desk)).toThrow(/may not user.read/);
  });
});
