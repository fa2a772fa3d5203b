/**
 * Password guessing at POST /api/login: 5 failed logins of one login from one address within the
 * window → 429 with Retry-After until the window ends, right password or wrong; a success before
 * that forgets the failures; another login, or the same login from another address, is not held up.
 * Over HTTP on a real server with the default limit (5 in 5 minutes) on a clock the test moves
 * (scrypt logins on a busy machine take a while: a real short window would end mid-test), and on
 * the workflow for the other address.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LOGIN_LIMIT } from "../../server/people/workflow.js";
import { makeFixture, type Fixture } from "./fixture.js";
import { request, startTestServer, type TestServer } from "../server/helpers.js";

const PASSWORD = "correct horse battery";
let clock = Date.now();
let srv: TestServer;
const login = (loginName: string, password: string) => request<any>(srv, "POST", "/api/login", { body: { login: loginName, password } });

beforeAll(async () => {
  srv = await startTestServer({ loginLimit: { now: () => clock } });
  for (const name of ["guessed", "other", "resets"]) {
    expect((await request(srv, "POST", "/api/users", { token: srv.adminToken, body: { login: name, password: PASSWORD, role: "auditor" } })).status).toBe(201);
  }
});
afterAll(async () => {
  await srv?.stop();
});

describe("login rate limit per (login, address)", () => {
  it("5 failures → 429 with Retry-After, even with the right password; another login is not held up; the window ends", async () => {
    for (let i = 0; i < LOGIN_LIMIT.maxFailures; i++) expect((await login("guessed", `wrong ${i}`)).status).toBe(401);
    const blocked = await login("guessed", PASSWORD);
    expect(blocked.status).toBe(429);
    const retryAfter = Number(blocked.headers["retry-after"]);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(LOGIN_LIMIT.windowMs / 1000);
    expect(blocked.json.error).toMatch(/too many failed authentications from this login from this address/);
    expect((await login("guessed", "wrong again")).status).toBe(429);
    // the same address, another login: fine
    expect((await login("other", PASSWORD)).status).toBe(200);
    // the block is logged once, as it starts
    expect(srv.logs.lines.some((l) => /authentication failed 5 times/.test(String(l.msg)))).toBe(true);
    clock += (retryAfter - 1) * 1000;
    expect((await login("guessed", PASSWORD)).status).toBe(429);
    clock += 1000;
    expect((await login("guessed", PASSWORD)).status).toBe(200);
  });

  it("a successful login forgets the failures before it", async () => {
    for (let i = 0; i < LOGIN_LIMIT.maxFailures - 1; i++) expect((await login("resets", "wrong")).status).toBe(401);
    expect((await login("resets", PASSWORD)).status).toBe(200);
    for (let i = 0; i < LOGIN_LIMIT.maxFailures - 1; i++) expect((await login("resets", "wrong")).status).toBe(401);
    expect((await login("resets", PASSWORD)).status).toBe(200);
  });
});

describe("the default limit on the workflow", () => {
  let fx: Fixture;
  beforeAll(async () => {
    fx = await makeFixture();
  });
  afterAll(async () => {
    await fx?.close();
  });

  it("5 in 5 minutes; the same login from another address still logs in", async () => {
    expect(LOGIN_LIMIT).toEqual({ maxFailures: 5, windowMs: 300_000 });
    const from = (remote: string, password: string) => fx.wf.login({ login: "kou", password }, { remote });
    for (let i = 0; i < 5; i++) await expect(from("10.0.0.1", "wrong")).rejects.toThrow(/wrong login or password/);
    const err = await from("10.0.0.1", "correct horse battery").catch((e: unknown) => e) as { retryAfterSeconds?: number; name?: string };
    expect(err.name).toBe("RateLimitedError");
    expect(err.retryAfterSeconds).toBeGreaterThan(290);
    expect(err.retryAfterSeconds).toBeLessThanOrEqual(300);
    await expect(from("10.0.0.2", "correct horse battery")).resolves.toMatchObject({ user: { login: "kou" } });
    // the refused attempts were not checked: the audit has the 5 failures, not a 6th
    const failed = fx.wf.audit.query({ action: "login.failed", limit: 100 }).filter((r) => r.actor === "kou");
    expect(failed).toHaveLength(5);
  });
});
