/**
 * software.executed in the bulk decisions (issue 19 with issue 10's workflow), over HTTP on a real
 * server: "approve everything like this" from an executed program approves that program by its
 * SHA-256 — a later execution of the same hash (another copy, another PC) arrives `approved`, a
 * different program still needs approval, and installs on the same control are not covered; an
 * unhashed program is matched by its path. A baseline of a PC's executed programs is one approval
 * per program (never one for every program).
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, connectAgent, enroll, ev, events, sendEvents, startTestServer, type Credential, type TestClient, type TestServer } from "../server/helpers.js";

const inAYear = () => new Date(Date.now() + 365 * 86400_000).toISOString();
const sha = () => randomBytes(32).toString("hex");

let srv: TestServer;
const pcs: Array<{ cred: Credential; client: TestClient; seq: number }> = [];

/** An agent's software.executed; returns the stored event. */
async function executed(pc: number, details: Record<string, unknown>): Promise<{ id: number; status: string; details: Record<string, unknown>; approvalId?: string | null }> {
  const p = pcs[pc]!;
  const seq = ++p.seq;
  const path = String(details.path);
  await sendEvents(p.client, [ev(seq, "software.executed", { name: path.slice(path.lastIndexOf("/") + 1), size: 39000, format: "elf", pid: 4242, user: "taro", uid: 1000, parent: { pid: 1, exe: "/usr/bin/bash" }, medium: null, ...details })]);
  const list = await events(srv, `?agent=${p.cred.agentId}&type=software.executed&limit=1`);
  return list[0] as never;
}

async function sendOther(pc: number, type: string, details: Record<string, unknown>): Promise<{ id: number; status: string }> {
  const p = pcs[pc]!;
  await sendEvents(p.client, [ev(++p.seq, type, details)]);
  return (await events(srv, `?agent=${p.cred.agentId}&type=${type}&limit=1`))[0] as never;
}

beforeAll(async () => {
  srv = await startTestServer();
  for (const name of ["pc-exec-1", "pc-exec-2", "pc-exec-3"]) {
    const cred = await enroll(srv, name);
    pcs.push({ cred, client: await connectAgent(srv, cred), seq: 0 });
  }
}, 60_000);

afterAll(async () => {
  for (const p of pcs) p.client.close();
  await srv?.stop();
});

describe("software.executed: approve everything like this", () => {
  it("the draft matches the program's SHA-256; once approved, a later run of the same hash elsewhere is approved, another program and an install are not", async () => {
    const hash = sha();
    const first = await executed(0, { path: "/home/taro/Downloads/portable-tool", sha256: hash });
    expect(first.status).toBe("needs_approval");

    const draft = await api<any>(srv, "GET", `/api/events/${first.id}/like-this`);
    expect(draft.status).toBe(200);
    expect(draft.json).toMatchObject({ control: "software", match: { action: "execute", sha256: hash } });

    const approved = await api<any>(srv, "POST", `/api/events/${first.id}/approve-like-this`, { scope: { all: true }, validUntil: inAYear(), reason: "the site's portable tool" });
    expect(approved.status).toBe(201);
    expect(approved.json).toMatchObject({ resolved: 1, approval: { control: "software", match: { action: "execute", sha256: hash } } });
    expect((await events(srv, `?agent=${pcs[0]!.cred.agentId}&type=software.executed`)).find((e) => e.id === first.id)).toMatchObject({ status: "approved" });

    // the same bytes copied elsewhere, run on another PC: approved when it arrives
    const later = await executed(1, { path: "/home/hanako/Desktop/renamed-copy", sha256: hash.toUpperCase() });
    expect(later.status).toBe("approved");
    expect(later.approvalId).toBe(approved.json.approval.id);
    // another program: still needs approval
    expect((await executed(1, { path: "/home/hanako/Downloads/portable-tool", sha256: sha() })).status).toBe("needs_approval");
    // an install on the same control is not an execution
    expect((await sendOther(1, "software.installed", { name: "portable-tool", version: "1.0", source: "dpkg" })).status).toBe("needs_approval");
  });

  it("a program that could not be hashed: the draft matches its path, and the next run from that path is approved", async () => {
    const path = "/home/taro/big/huge-installer.bin";
    const first = await executed(0, { path, sha256: null, size: 900_000_000, hashError: "too_large" });
    expect(first.status).toBe("needs_approval");
    const draft = await api<any>(srv, "GET", `/api/events/${first.id}/like-this`);
    expect(draft.json.match).toEqual({ action: "execute", path });
    const r = await api<any>(srv, "POST", `/api/events/${first.id}/approve-like-this`, { scope: { all: true }, validUntil: inAYear(), reason: "known installer" });
    expect(r.status).toBe(201);
    expect((await executed(2, { path, sha256: null, size: 900_000_001, hashError: "too_large" })).status).toBe("approved");
    expect((await executed(2, { path: "/home/taro/big/other.bin", sha256: null, size: 5, hashError: "too_large" })).status).toBe("needs_approval");
  });
});

describe("software.executed: baseline", () => {
  it("a PC's programs already present are one decision: one approval per program, each covering only its own hash", async () => {
    const a = sha(), b = sha();
    await executed(2, { path: "/opt/site-tools/a", sha256: a });
    await executed(2, { path: "/opt/site-tools/b", sha256: b });
    const r = await api<any>(srv, "POST", "/api/baseline", { agent: pcs[2]!.cred.agentId, validUntil: inAYear(), reason: "first day" });
    expect(r.status).toBe(201);
    const matches = (r.json.approvals as Array<{ control: string; match: Record<string, unknown> }>).filter((x) => x.match.action === "execute").map((x) => x.match);
    expect(matches).toEqual(expect.arrayContaining([{ action: "execute", sha256: a }, { action: "execute", sha256: b }]));
    // no approval of every program (an empty match) came out of it
    expect((r.json.approvals as Array<{ match: Record<string, unknown> }>).filter((x) => Object.keys(x.match).length === 0)).toEqual([]);
    const open = await events(srv, `?agent=${pcs[2]!.cred.agentId}&type=software.executed&status=needs_approval`);
    expect(open).toEqual([]);
    // afterwards: a copy of a baselined program is approved, a new program is not
    expect((await executed(2, { path: "/home/taro/a-again", sha256: a })).status).toBe("approved");
    expect((await executed(2, { path: "/home/taro/new-tool", sha256: sha() })).status).toBe("needs_approval");
  });
});
