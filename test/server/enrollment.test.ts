/**
 * Enrollment tokens (use count, expiry, hashed), the bootstrap token, a revoked PC kept out until
 * allowed, and the per-address limit on failed enrollments — through the real server's API, plus
 * the domain logic with a controlled clock.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureCredential } from "../../agent/enroll.js";
import { AuthFailureLimiter } from "../../server/auth-limit.js";
import { Enrollment, parseDuration } from "../../server/enrollment.js";
import { InvalidInputError } from "../../server/errors.js";
import { SqliteStore } from "../../server/store-sqlite.js";
import { api, captureLog, connectAgent, ev, request, sendEvents, startTestServer, type TestServer } from "./helpers.js";

const PC_A = `pc-${"a".repeat(32)}`;
const PC_B = `pc-${"b".repeat(32)}`;
const PC_SNAP = `pc-${"c".repeat(32)}`;

interface TokenOut { id: string; token: string; maxUses: number | null; uses: number; expiresAt: string | null; state: string }

function enrollWith(srv: TestServer, token: string, extra: Record<string, unknown> = {}) {
  return request<{ agentId: string; secret: string; error?: string; code?: string }>(srv, "POST", "/api/enroll", {
    body: { token, hostname: "pc", os: "linux", version: "1", ...extra },
  });
}

describe("enrollment tokens through the API", () => {
  let srv: TestServer;
  beforeAll(async () => { srv = await startTestServer(); });
  afterAll(async () => { await srv.stop(); });

  it("a single-use token (the default) enrolls once; the token is shown once and kept only as its sha256", async () => {
    const made = await api<TokenOut>(srv, "POST", "/api/enroll-tokens", { name: "kyoto office" });
    expect(made.status).toBe(201);
    expect(made.json).toMatchObject({ maxUses: 1, uses: 0, state: "active", name: "kyoto office" });
    const days = (Date.parse(made.json.expiresAt!) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(6.9); // default 7 days
    expect(days).toBeLessThan(7.1);
    expect((await enrollWith(srv, made.json.token)).status).toBe(201);
    const again = await enrollWith(srv, made.json.token);
    expect(again.status).toBe(401);
    expect(again.json).toMatchObject({ code: "token_used_up", error: expect.stringMatching(/used up \(1 of 1 uses\)/) });

    const list = await api<Array<Record<string, unknown>>>(srv, "GET", "/api/enroll-tokens");
    const listed = list.json.find((t) => t.id === made.json.id)!;
    expect(listed).toMatchObject({ uses: 1, state: "used_up" });
    expect(JSON.stringify(list.json)).not.toContain(made.json.token);
    const db = new Database(join(srv.dir, "kyoka.db"), { readonly: true });
    try {
      const row = db.prepare("SELECT token_hash FROM enroll_tokens WHERE id = ?").get(made.json.id) as { token_hash: string };
      expect(row.token_hash).toBe(createHash("sha256").update(made.json.token).digest("hex"));
      const enrolled = db.prepare("SELECT enroll_token_id, remote FROM agent_enrollments WHERE enroll_token_id = ?").all(made.json.id);
      expect(enrolled).toEqual([{ enroll_token_id: made.json.id, remote: "127.0.0.1" }]);
    } finally {
      db.close();
    }
    // nowhere in the database files (the WAL holds the latest pages)
    for (const f of ["kyoka.db", "kyoka.db-wal"].filter((f) => existsSync(join(srv.dir, f)))) {
      expect(readFileSync(join(srv.dir, f)).includes(Buffer.from(made.json.token)), f).toBe(false);
    }
    expect(readFileSync(join(srv.dir, "kyoka.db-wal")).includes(Buffer.from(made.json.id))).toBe(true); // the check can see rows
  });

  it("a multi-use token counts its uses; a deleted one stops working; unlimited and never-expiring are explicit nulls", async () => {
    const three = await api<TokenOut>(srv, "POST", "/api/enroll-tokens", { uses: 3 });
    for (let i = 0; i < 3; i++) expect((await enrollWith(srv, three.json.token)).status).toBe(201);
    expect((await enrollWith(srv, three.json.token)).status).toBe(401);

    const open = await api<TokenOut>(srv, "POST", "/api/enroll-tokens", { uses: null, expiresAt: null });
    expect(open.json).toMatchObject({ maxUses: null, expiresAt: null });
    expect((await enrollWith(srv, open.json.token)).status).toBe(201);
    expect((await api(srv, "DELETE", `/api/enroll-tokens/${open.json.id}`)).status).toBe(204);
    const deleted = await enrollWith(srv, open.json.token);
    expect(deleted.status).toBe(401);
    expect(deleted.json).toMatchObject({ code: "token_deleted" });
    expect((await api(srv, "DELETE", `/api/enroll-tokens/${open.json.id}`)).status).toBe(404);
    const all = await api<Array<{ id: string; state: string }>>(srv, "GET", "/api/enroll-tokens?all=1");
    expect(all.json.find((t) => t.id === open.json.id)?.state).toBe("deleted");
    expect((await api<unknown[]>(srv, "GET", "/api/enroll-tokens")).json.some((t) => (t as { id: string }).id === open.json.id)).toBe(false);
  });

  it("bad token requests are 400 naming the field; the token routes need the admin token", async () => {
    for (const body of [{ uses: 0 }, { uses: 1.5 }, { uses: "3" }, { expiresAt: "tomorrow" }, { expiresAt: "2001-01-01T00:00:00Z" }, { extra: 1 }]) {
      const r = await api<{ error: string }>(srv, "POST", "/api/enroll-tokens", body);
      expect(r.status, JSON.stringify(body)).toBe(400);
    }
    expect((await request(srv, "POST", "/api/enroll-tokens", { body: {} })).status).toBe(401);
    expect((await request(srv, "GET", "/api/enroll-tokens")).status).toBe(401);
  });

  it("the bootstrap token (<data>/enroll-token) stays multi-use", async () => {
    for (let i = 0; i < 3; i++) expect((await enrollWith(srv, srv.enrollToken)).status).toBe(201);
  });
});

describe("a revoked PC is kept out", () => {
  let srv: TestServer;
  beforeAll(async () => { srv = await startTestServer(); });
  afterAll(async () => { await srv.stop(); });

  it("finding: a revoked PC re-enrolls at once with the same token", async () => {
    const first = await enrollWith(srv, srv.enrollToken, { pcId: PC_A });
    expect(first.status).toBe(201);
    // the asset collector's snapshot reports another identity for the same agent: both are kept out
    const c = await connectAgent(srv, first.json);
    await sendEvents(c, [ev(1, "asset.snapshot", { pcId: PC_SNAP, hostname: "pc" })]);
    expect((await api(srv, "POST", `/api/agents/${first.json.agentId}/revoke`)).status).toBe(200);

    for (const pcId of [PC_A, PC_SNAP]) {
      const again = await enrollWith(srv, srv.enrollToken, { pcId });
      expect(again.status, pcId).toBe(403);
      expect(again.json.code).toBe("pc_revoked");
      expect(again.json.error).toContain(first.json.agentId);
      expect(again.json.error).toMatch(/allow-reenroll/);
    }
    // another PC is not affected
    expect((await enrollWith(srv, srv.enrollToken, { pcId: PC_B })).status).toBe(201);
    // a stored single-use token is not consumed by a refused PC
    const one = await api<TokenOut>(srv, "POST", "/api/enroll-tokens", {});
    expect((await enrollWith(srv, one.json.token, { pcId: PC_A })).status).toBe(403);

    const allowed = await api<{ agentId: string; allowedPcIds: string[] }>(srv, "POST", `/api/agents/${first.json.agentId}/allow-reenroll`);
    expect(allowed.status).toBe(200);
    expect(allowed.json.allowedPcIds.sort()).toEqual([PC_A, PC_SNAP].sort());
    const back = await enrollWith(srv, one.json.token, { pcId: PC_A });
    expect(back.status).toBe(201);
    expect(back.json.agentId).not.toBe(first.json.agentId);
    // the old credential stays revoked
    const agents = await api<Array<{ id: string; revoked: boolean }>>(srv, "GET", "/api/agents");
    expect(agents.json.find((a) => a.id === first.json.agentId)?.revoked).toBe(true);
    expect((await api(srv, "POST", "/api/agents/nobody/allow-reenroll")).status).toBe(404);
    c.close();
  });

  it("a malformed pcId is a 400", async () => {
    expect((await enrollWith(srv, srv.enrollToken, { pcId: "x".repeat(100) })).status).toBe(400);
  });
});

describe("failed enrollments", () => {
  let srv: TestServer;
  beforeAll(async () => { srv = await startTestServer({ authLimit: { maxFailures: 4, windowMs: 60_000 } }); });
  afterAll(async () => { await srv.stop(); });

  it("finding: wrong tokens are answered without throttling and without a log line", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) statuses.push((await enrollWith(srv, `guess-${i}`)).status);
    expect(statuses.slice(0, 4)).toEqual([401, 401, 401, 401]);
    expect(new Set(statuses.slice(4))).toEqual(new Set([429]));
    const blocked = await request(srv, "POST", "/api/enroll", { body: { token: srv.enrollToken, hostname: "h", os: "l", version: "1" } });
    expect(blocked.status).toBe(429); // even the right token waits while the address is blocked
    expect(Number(blocked.headers["retry-after"])).toBeGreaterThan(0);
    // logged at a sampled rate: the first failure and the one that blocks the address, not 31 lines
    const lines = srv.logs.lines.filter((l) => l.remote === "127.0.0.1" && String(l.msg).startsWith("authentication failed"));
    expect(lines.map((l) => l.what)).toEqual(["enrollment token", "enrollment token"]);
    expect(lines[1]!.msg).toMatch(/4 times from 127\.0\.0\.1: further requests answered 429/);
  });
});

describe("the agent's side of enrollment (agent/enroll.ts against the real server)", () => {
  let srv: TestServer;
  const dirs: string[] = [];
  beforeAll(async () => { srv = await startTestServer({ authLimit: { maxFailures: 3 } }); });
  afterAll(async () => {
    await srv.stop();
    dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
  });
  const opts = (token: string | undefined, pcId?: string) => {
    const stateDir = mkdtempSync(join(tmpdir(), "kyoka-agent-enroll-"));
    dirs.push(stateDir);
    return {
      server: srv.url.replace(/^http/, "ws"), token, stateDir, log: captureLog().log, hostname: "desk-01", os: "Linux 6", version: "0.1.0",
      pcId: async () => pcId,
    };
  };

  it("sends the PC's hardware identity; a revoked PC gets a 403 with the server's reason (not retried), a 429 is retried", async () => {
    const cred = await ensureCredential(opts(srv.enrollToken, PC_A));
    const db = new Database(join(srv.dir, "kyoka.db"), { readonly: true });
    try {
      expect(db.prepare("SELECT pc_id FROM agent_enrollments WHERE agent_id = ?").get(cred.agentId)).toEqual({ pc_id: PC_A });
    } finally {
      db.close();
    }
    expect((await api(srv, "POST", `/api/agents/${cred.agentId}/revoke`)).status).toBe(200);
    const refused = ensureCredential(opts(srv.enrollToken, PC_A));
    await expect(refused).rejects.toMatchObject({ status: 403, transient: false });
    await expect(refused).rejects.toThrow(/refused to enroll this PC \(HTTP 403: this PC \(pc-a+\) belonged to agent .*\/allow-reenroll/);
    // a PC whose identity cannot be read still enrolls (without pcId)
    await expect(ensureCredential({ ...opts(srv.enrollToken), pcId: async () => { throw new Error("no dmi"); } })).resolves.toHaveProperty("agentId");
    for (let i = 0; i < 2; i++) await expect(ensureCredential(opts("wrong"))).rejects.toMatchObject({ status: 401, transient: false });
    await expect(ensureCredential(opts(srv.enrollToken))).rejects.toMatchObject({ status: 429, transient: true });
  });
});

describe("enrollment domain logic (controlled clock)", () => {
  it("a token expires at expiresAt; creating one that is already expired is refused", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kyoka-enroll-"));
    const store = new SqliteStore(dir);
    let now = new Date("2026-12-01T00:00:00.000Z");
    const { log } = captureLog();
    const e = new Enrollment({ store, log, now: () => now });
    try {
      const t = await e.createToken({ uses: 5, expiresAt: "2026-12-01T01:00:00+00:00" });
      expect(t.expiresAt).toBe("2026-12-01T01:00:00.000Z");
      const body = { token: t.token, hostname: "h", os: "linux", version: "1" };
      await expect(e.enroll(body, "10.0.0.1")).resolves.toHaveProperty("agentId");
      now = new Date("2026-12-01T01:00:00.000Z");
      await expect(e.enroll(body, "10.0.0.1")).rejects.toMatchObject({ name: "AuthenticationError", extra: { code: "token_expired" } });
      expect((await e.listTokens())[0]).toMatchObject({ uses: 1, state: "expired" });
      await expect(e.createToken({ expiresAt: "2026-11-30T00:00:00Z" })).rejects.toBeInstanceOf(InvalidInputError);
      // the failure window ends: the address may try again
      const authLimit = new AuthFailureLimiter(log, { maxFailures: 1, windowMs: 1000, now: () => now.getTime() });
      const limited = new Enrollment({ store, log, now: () => now, authLimit });
      await expect(limited.enroll({ ...body, token: "wrong" }, "10.0.0.2")).rejects.toMatchObject({ name: "AuthenticationError" });
      await expect(limited.enroll({ ...body, token: "wrong" }, "10.0.0.2")).rejects.toMatchObject({ name: "RateLimitedError", retryAfterSeconds: 1 });
      now = new Date(now.getTime() + 1000);
      await expect(limited.enroll({ ...body, token: "wrong" }, "10.0.0.2")).rejects.toMatchObject({ name: "AuthenticationError" });
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("parseDuration: 7d, 12h, 30m, 90s, 2w; anything else undefined", () => {
    expect(parseDuration("7d")).toBe(7 * 86_400_000);
    expect(parseDuration("12h")).toBe(12 * 3600_000);
    expect(parseDuration("30m")).toBe(30 * 60_000);
    expect(parseDuration("90s")).toBe(90_000);
    expect(parseDuration("2w")).toBe(14 * 86_400_000);
    for (const bad of ["", "7", "d", "-1d", "0d", "1.5d", "7 days", "1e3d"]) expect(parseDuration(bad), bad).toBeUndefined();
  });
});
