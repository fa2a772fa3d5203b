/**
 * 甲許可 as a workflow, end to end (issue 13): the real server and a real agent (software collector
 * only) as child processes, real `.deb` packages installed with dpkg, users made with the
 * `kyoka user add|passwd|disable` command on the running server's data folder.
 *  - a contractor (乙) user requests over HTTP, the approver (甲) approves: the decision reaches the
 *    agent's status.json and `kyoka status` within 2 s of the approve answer (measured, logged),
 *    and a later `dpkg -i` of the package comes in `approved`;
 *  - a request from the PC itself (`kyoka request software …`): pending in `kyoka status`, the
 *    approval resolves the open `needs_approval` event (retroaction);
 *  - a denied request: the open event becomes `violation` with the reason, the PC is told;
 *  - expiry by the server's clock: the agent's clock is a day behind (KYOKA_TEST_AGENT_CLOCK_OFFSET_MS),
 *    so its observedAt still lies inside an expired approval's period — the event is `needs_approval`.
 * Needs root (dpkg -i); fails, not skips, without.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildDeb, dpkg, purge, requireRoot, uniquePackageName } from "../helpers/dpkg.js";
import { removeDir, run, startAgent, startServer, tempDir, showLogsOnFailure, waitFor, type Proc, type ServerProc } from "../helpers/kyoka.js";

interface ApiEvent {
  id: number; agentId: string; type: string; status: string; observedAt: string; receivedAt: string;
  details: Record<string, unknown>; approvalId: string | null; resolution?: string | null; note?: string | null;
}
interface StatusFile {
  connected: boolean;
  approvals: Array<{ id: string; validUntil: string; requestId?: string }>;
  requests: Array<{ id: string; status: string; decisionNote: string | null }>;
}

const DAY = 86_400_000;
const PASSWORD = "correct horse battery staple";
const prefix = uniquePackageName("kyoka-e2e-wf");
const pkgs = { req: `${prefix}-req`, pc: `${prefix}-pc`, deny: `${prefix}-deny`, exp: `${prefix}-exp` };
const mine = new Set(Object.values(pkgs));

const work = tempDir("kyoka-e2e-wf-");
const stateDir = tempDir("kyoka-e2e-wf-agent-");
const dataDir = tempDir("kyoka-e2e-wf-data-");
const debs: Record<string, string> = {};
const procs: Proc[] = [];
let server: ServerProc;
let agentId: string;

function track<T extends Proc>(p: T): T {
  procs.push(p);
  return p;
}

/** Run `kyoka …` to its end; a non-zero exit fails with its output. */
async function kyoka(args: string[], expectCode = 0): Promise<string> {
  const p = track(run(args));
  const { code } = await p.exited;
  if (code !== expectCode) throw new Error(`kyoka ${args.join(" ")} exited ${code}, expected ${expectCode}:\n${p.stdout()}\n${p.stderr()}`);
  return p.stdout() + p.stderr();
}

/** A dashboard-like session: the cookie and the CSRF token of POST /api/login. */
interface Session { status: number; call<T = any>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> }
async function login(loginName: string, password = PASSWORD): Promise<Session> {
  const res = await fetch(`${server.url}/api/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ login: loginName, password }) });
  const body = (await res.json()) as { csrfToken?: string };
  const cookie = (res.headers.get("set-cookie") ?? "").split(";")[0]!;
  return {
    status: res.status,
    async call(method, path, payload) {
      const headers: Record<string, string> = { cookie, "x-csrf-token": body.csrfToken ?? "" };
      if (payload !== undefined) headers["content-type"] = "application/json";
      const r = await fetch(server.url + path, { method, headers, body: payload === undefined ? undefined : JSON.stringify(payload) });
      const text = await r.text();
      return { status: r.status, body: text ? JSON.parse(text) : undefined };
    },
  };
}

function statusFile(): StatusFile | undefined {
  const f = join(stateDir, "status.json");
  if (!existsSync(f)) return undefined;
  try {
    return JSON.parse(readFileSync(f, "utf8")) as StatusFile;
  } catch {
    return undefined; // never half-written (atomic rename), but be safe
  }
}

async function myEvents(): Promise<ApiEvent[]> {
  const res = await server.api<ApiEvent[]>(`/api/events?control=software&agent=${agentId}&limit=10000`);
  expect(res.status).toBe(200);
  return res.body.filter((e) => mine.has(String(e.details.name)));
}

async function waitEvent(type: string, name: string, version: string, pred: (e: ApiEvent) => boolean = () => true): Promise<ApiEvent> {
  return waitFor(async () => (await myEvents()).find((e) => e.type === type && e.details.name === name && e.details.version === version && pred(e)),
    `${type} ${name} ${version} at the server`, 30_000, 100);
}

/** Poll status.json every 5 ms until `pred`; the time it took from `since`. */
async function statusShows(pred: (s: StatusFile) => boolean, since: number, what: string): Promise<number> {
  await waitFor(() => { const s = statusFile(); return s !== undefined && pred(s); }, what, 10_000, 5);
  return Date.now() - since;
}

const inDays = (n: number) => new Date(Date.now() + n * DAY).toISOString();

let contractor: Session;
let approver: Session;

beforeAll(async () => {
  requireRoot("test/e2e/workflow.test.ts");
  for (const [k, name] of Object.entries(pkgs)) {
    debs[k] = await buildDeb(work, { name, version: "1.0" });
    debs[`${k}2`] = await buildDeb(work, { name, version: "2.0" });
  }
  server = track(await startServer({ dataDir }));
  const admin = (method: string, path: string, body?: unknown) => server.api<any>(path, { method, body });
  expect((await admin("POST", "/api/organisations", { name: "contractor-a", kind: "contractor" })).status).toBe(201);
  expect((await admin("POST", "/api/organisations", { name: "city", kind: "client" })).status).toBe(201);

  // the agent: software collector only, its clock a day behind the server's
  track(startAgent({
    server: server.wsUrl, stateDir, enrollToken: server.enrollToken, extra: ["--collectors", "software"],
    env: { KYOKA_TEST_AGENT_CLOCK_OFFSET_MS: String(-DAY) },
  }));
  agentId = await waitFor(async () => (await server.api<Array<{ id: string }>>("/api/agents")).body[0]?.id, "the agent to enroll");
  expect((await admin("PUT", `/api/agents/${agentId}/organisation`, { organisation: "contractor-a" })).status).toBe(200);
  await waitFor(async () => (await server.api<ApiEvent[]>(`/api/events?type=software.inventory&agent=${agentId}`)).body.length === 1, "the baseline software.inventory");
  await waitFor(() => statusFile()?.connected, "status.json: connected");
}, 120_000);

afterAll(async () => {
  try {
    await purge(...Object.values(pkgs));
  } finally {
    await Promise.all(procs.map((p) => p.kill("SIGKILL")));
    [work, stateDir, dataDir].forEach(removeDir);
  }
});

describe("kyoka user add | passwd | disable on the running server's data folder", () => {
  it("adds the contractor and the approver, changes a password, disables a user: logins follow", async () => {
    showLogsOnFailure(procs);
    const pw = join(work, "pw");
    writeFileSync(pw, `${PASSWORD}\n`);
    expect(await kyoka(["user", "add", "--login", "staff-a", "--role", "contractor", "--organisation", "contractor-a", "--password-file", pw, "--data", dataDir]))
      .toMatch(/user staff-a \(contractor\) added/);
    expect(await kyoka(["user", "add", "--login", "kou", "--role", "approver", "--organisation", "city", "--password-file", pw, "--data", dataDir]))
      .toMatch(/user kou \(approver\) added/);
    // refusals are usage errors (exit 2), one line
    expect(await kyoka(["user", "add", "--login", "x", "--role", "desk", "--password-file", pw, "--data", dataDir], 2)).toMatch(/organisation/i);
    expect(await kyoka(["user", "add", "--login", "staff-a", "--role", "contractor", "--organisation", "contractor-a", "--password-file", pw, "--data", dataDir], 1))
      .toMatch(/user staff-a exists/);

    contractor = await login("staff-a");
    approver = await login("kou");
    expect([contractor.status, approver.status]).toEqual([200, 200]);
    expect((await contractor.call("GET", "/api/me")).body).toMatchObject({ login: "staff-a", role: "contractor", organisationName: "contractor-a" });

    // passwd: the old password stops working, its sessions end
    expect(await kyoka(["user", "add", "--login", "temp", "--role", "auditor", "--password-file", pw, "--data", dataDir])).toMatch(/added/);
    const before = await login("temp");
    expect((await before.call("GET", "/api/me")).status).toBe(200);
    writeFileSync(pw, "another long password\n");
    expect(await kyoka(["user", "passwd", "--login", "temp", "--password-file", pw, "--data", dataDir])).toMatch(/password of temp changed/);
    expect((await before.call("GET", "/api/me")).status).toBe(401);
    expect((await login("temp")).status).toBe(401);
    const after = await login("temp", "another long password");
    expect(after.status).toBe(200);
    // disable: no more logins, the session ends
    expect(await kyoka(["user", "disable", "--login", "temp", "--data", dataDir])).toMatch(/user temp disabled/);
    expect((await after.call("GET", "/api/me")).status).toBe(401);
    expect((await login("temp", "another long password")).status).toBe(401);
    expect(await kyoka(["user", "disable", "--login", "nobody", "--data", dataDir], 1)).toMatch(/nobody/);
    // each change is in the audit trail as the command line's actor
    const audit = (await server.api<{ rows: Array<{ action: string; actor: string }> }>("/api/audit?limit=100")).body.rows;
    for (const a of ["user.create", "user.passwd", "user.disable"]) {
      expect(audit.find((r) => r.action === a)?.actor, a).toMatch(/^cli:/);
    }
  });
});

describe("request → 甲 decides → the PC knows within 2 s → dpkg -i comes in as decided", () => {
  it("a contractor's request approved: status.json and `kyoka status` show it within 2 s; the install is approved", async () => {
    showLogsOnFailure(procs);
    const until = inDays(30);
    const req = await contractor.call("POST", "/api/requests", {
      control: "software", match: { name: `${pkgs.req}*` }, agents: [agentId], validUntil: until, reason: "業務システムの更新に必要",
    });
    expect(req.status).toBe(201);
    expect(req.body).toMatchObject({ status: "pending", requestedBy: "staff-a" });
    // pending: pushed to the PC, `kyoka status` lists it
    await statusShows((s) => s.requests.some((r) => r.id === req.body.id && r.status === "pending"), Date.now(), "the pending request in status.json");
    const pendingOut = await kyoka(["status", "--state-dir", stateDir]);
    expect(pendingOut).toMatch(/pending requests 審査中の申請 \(1\)/);
    expect(pendingOut).toContain(req.body.id);

    const approved = await approver.call("POST", `/api/requests/${req.body.id}/approve`, { note: "承認します" });
    const answeredAt = Date.now();
    expect(approved.status).toBe(200);
    const approvalId = approved.body.approval.id as string;
    const fileMs = await statusShows((s) => s.approvals.some((a) => a.id === approvalId) && s.requests.some((r) => r.id === req.body.id && r.status === "approved"),
      answeredAt, "the approval in status.json");
    const out = await waitFor(async () => { const o = await kyoka(["status", "--state-dir", stateDir]); return o.includes(`name=${pkgs.req}*`) ? o : undefined; },
      "`kyoka status` to list the approval", 10_000, 0);
    const cliMs = Date.now() - answeredAt;
    console.log(`decision → agent: status.json showed the approval ${fileMs} ms after the approve answer; \`kyoka status\` printed it ${cliMs} ms after (load ${(await import("node:os")).loadavg()[0]!.toFixed(1)})`);
    expect(fileMs).toBeLessThanOrEqual(2000);
    // permitted until when (en + ja), and no longer pending
    expect(out).toMatch(/approvals in force for this PC 有効な甲許可 \(1\)/);
    expect(out).toContain(`software name=${pkgs.req}* until ${until}`);
    expect(out).toContain(`(申請 ${req.body.id})`);
    expect(out).toMatch(/pending requests 審査中の申請 \(0\)/);
    expect(out).toMatch(new RegExp(`${req.body.id} approved 承認: 承認します`));
    expect(out).toMatch(/running 稼働中/);
    const json = JSON.parse(await kyoka(["status", "--state-dir", stateDir, "--json"])) as StatusFile & { agentRunning: boolean };
    expect(json.agentRunning).toBe(true);
    expect(json.approvals.find((a) => a.id === approvalId)).toMatchObject({ validUntil: until, requestId: req.body.id });

    await dpkg(["-i", debs.req!]);
    const ev = await waitEvent("software.installed", pkgs.req, "1.0");
    expect(ev).toMatchObject({ status: "approved", approvalId });
  });

  it("a request from the PC itself (`kyoka request software`): the open needs_approval event is resolved approved", async () => {
    showLogsOnFailure(procs);
    await dpkg(["-i", debs.pc!]);
    const open = await waitEvent("software.installed", pkgs.pc, "1.0");
    expect(open).toMatchObject({ status: "needs_approval", approvalId: null });

    const out = await kyoka(["request", "software", "--name", pkgs.pc, "--version", ">=1", "--until", "2099-12-31", "--reason", "PCから申請", "--state-dir", stateDir]);
    const requestId = /申請 (\S+) submitted \(pending\)/.exec(out)?.[1];
    expect(requestId, out).toBeTruthy();
    // the contractor user of the same organisation sees the PC's request; scope = that PC
    const listed = (await contractor.call<Array<{ id: string; scope: unknown; requestedBy: string }>>("GET", "/api/requests?status=pending")).body;
    expect(listed.find((r) => r.id === requestId)).toMatchObject({ scope: { agents: [agentId] }, requestedBy: `agent:${agentId}` });

    const approved = await approver.call("POST", `/api/requests/${requestId}/approve`, { note: "ok" });
    const answeredAt = Date.now();
    expect(approved.status).toBe(200);
    expect(approved.body.resolved).toBe(1);
    const ms = await statusShows((s) => s.approvals.some((a) => a.id === approved.body.approval.id), answeredAt, "the PC's approval in status.json");
    console.log(`decision → agent (request from the PC): status.json ${ms} ms after the approve answer`);
    expect(ms).toBeLessThanOrEqual(2000);
    expect(await waitEvent("software.installed", pkgs.pc, "1.0", (e) => e.status === "approved")).toMatchObject({
      id: open.id, status: "approved", resolution: "approved", approvalId: approved.body.approval.id,
    });
    // and what the PC installs next under it comes in approved
    await dpkg(["-i", debs.pc2!]);
    expect(await waitEvent("software.updated", pkgs.pc, "2.0")).toMatchObject({ status: "approved", approvalId: approved.body.approval.id });
  });

  it("a denied request: the open event becomes violation with the reason; the PC is told", async () => {
    showLogsOnFailure(procs);
    await dpkg(["-i", debs.deny!]);
    const open = await waitEvent("software.installed", pkgs.deny, "1.0");
    expect(open.status).toBe("needs_approval");
    const req = await contractor.call("POST", "/api/requests", {
      control: "software", match: { name: pkgs.deny }, agents: [agentId], validUntil: inDays(30), reason: "試用したい",
    });
    expect(req.status).toBe(201);
    const denied = await approver.call("POST", `/api/requests/${req.body.id}/deny`, { reason: "業務外のソフトウェアは不可" });
    const answeredAt = Date.now();
    expect(denied.status).toBe(200);
    expect(denied.body.violations).toBe(1);
    const ms = await statusShows((s) => s.requests.some((r) => r.id === req.body.id && r.status === "denied"), answeredAt, "the denial in status.json");
    console.log(`denial → agent: status.json ${ms} ms after the deny answer`);
    expect(ms).toBeLessThanOrEqual(2000);
    const ev = await waitEvent("software.installed", pkgs.deny, "1.0", (e) => e.status === "violation");
    expect(ev).toMatchObject({ id: open.id, status: "violation", resolution: "denied" });
    expect(ev.note).toContain("業務外のソフトウェアは不可");
    const out = await kyoka(["status", "--state-dir", stateDir]);
    expect(out).toContain(`${req.body.id} denied 却下: 業務外のソフトウェアは不可`);
  });
});

describe("expiry by the server's clock", () => {
  it("an agent a day behind: after the approval expires (server time) its install is needs_approval", async () => {
    showLogsOnFailure(procs);
    // in force from two days ago until a few seconds from now: the agent's clock (a day behind)
    // stays inside this period long after the server's has left it
    const validUntil = new Date(Date.now() + 4000).toISOString();
    const created = await approver.call("POST", "/api/approvals", {
      control: "software", match: { name: pkgs.exp }, scope: { agents: [agentId] }, validFrom: inDays(-2), validUntil, reason: "期限付きの許可",
    });
    expect(created.status).toBe(201);
    await statusShows((s) => s.approvals.some((a) => a.id === created.body.id), Date.now(), "the short approval in status.json");
    await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(validUntil) - Date.now() + 500)));

    await dpkg(["-i", debs.exp!]);
    const ev = await waitEvent("software.installed", pkgs.exp, "1.0");
    // the agent stamped it a day back — inside the approval's period by its clock
    const skew = Date.parse(ev.receivedAt) - Date.parse(ev.observedAt);
    expect(skew).toBeGreaterThan(DAY - 60_000);
    expect(Date.parse(ev.observedAt)).toBeLessThan(Date.parse(validUntil));
    expect(ev).toMatchObject({ status: "needs_approval", approvalId: null });
    // `kyoka status` no longer lists it as in force
    expect(await kyoka(["status", "--state-dir", stateDir])).not.toContain(`name=${pkgs.exp} `);
  });
});
