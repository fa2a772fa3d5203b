/**
 * Issue 11's HTTP findings, one regression test each (named after the finding): YAML alias errors,
 * query strings in logs, security headers, timeouts and the connection cap, and throttled,
 * sampled failed authentication. Plus 405 for a wrong method on a known path.
 */
import { connect as netConnect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, request, startTestServer, waitFor, type TestServer } from "./helpers.js";

const yaml = (srv: TestServer, text: string) =>
  request<{ error: string; line: number }>(srv, "PUT", "/api/policy", { raw: text, token: srv.adminToken, headers: { "content-type": "application/yaml" } });

/** A raw TCP connection to the server; resolves when it is closed by the server, with what it got. */
function rawSocket(srv: TestServer): { socket: Socket; opened: Promise<void>; closed: Promise<string> } {
  const { port } = new URL(srv.url);
  const socket = netConnect(Number(port), "127.0.0.1");
  let got = "";
  socket.on("data", (d: Buffer) => { got += d.toString("utf8"); });
  socket.on("error", () => { /* reset by the server: closed tells */ });
  const opened = new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  const closed = new Promise<string>((resolve) => socket.once("close", () => resolve(got)));
  return { socket, opened, closed };
}

describe("issue 11 (HTTP): hostile requests", () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer({
      http: { headersTimeoutMs: 500, requestTimeoutMs: 1_000, checkIntervalMs: 100, maxConnections: 8 },
      authLimit: { maxFailures: 1_000 },
    });
  });
  afterAll(async () => { await srv.stop(); });

  it("answers a YAML alias error in PUT /api/policy with 500 → now 400 naming the line; the old policy stays", async () => {
    const unresolved = await yaml(srv, "heartbeatSeconds: 30\nsoftware: *nowhere\n");
    expect(unresolved.status).toBe(400);
    expect(unresolved.json).toMatchObject({ line: 2, error: expect.stringMatching(/^line 2: Unresolved alias/) });
    // the "billion laughs" alias bomb
    const bomb = ["a: &a [x, x, x, x, x, x, x, x, x]", "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]", "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]",
      "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]", "e: [*d, *d, *d, *d, *d, *d, *d, *d, *d]"].join("\n");
    const r = await yaml(srv, bomb);
    expect(r.status).toBe(400);
    expect(typeof r.json.line).toBe("number");
    expect(r.json.error).toMatch(/^line \d+: .*alias/i);
    expect((await api<{ version: number }>(srv, "GET", "/api/policy")).json.version).toBe(1);
    expect(srv.logs.lines.some((l) => l.level === 50)).toBe(false); // no 500 logged
  });

  it("logs req.url with ?token= in it → no query string is ever logged", async () => {
    const secret = "s3cr3t-query-value";
    await request(srv, "GET", `/api/agents?token=${secret}`); // 401
    await request(srv, "GET", `/api/nope?token=${secret}`); // 404
    await api(srv, "GET", `/api/events?token=${secret}`); // 400 bad query
    await api(srv, "DELETE", `/api/events?token=${secret}`); // 405
    await api(srv, "GET", `/healthz?token=${secret}`);
    const c = rawSocket(srv);
    await c.opened;
    c.socket.write(`GET /api/stream?token=${secret} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`);
    await new Promise((r) => setTimeout(r, 300));
    c.socket.destroy();
    await waitFor(() => srv.logs.lines.some((l) => l.msg === "request" && l.status === 405));
    const all = JSON.stringify(srv.logs.lines);
    expect(all).toContain("/api/nope"); // requests are logged (path only)
    expect(all).not.toContain(secret);
    expect(all).not.toContain("token=");
  });

  it("sends no security headers → CSP, nosniff, frame-ancestors 'none' everywhere; Cache-Control no-store on the API", async () => {
    for (const path of ["/", "/healthz", "/api", "/api/agents", "/api/nope"]) {
      const r = await api(srv, "GET", path);
      expect(r.headers["x-content-type-options"], path).toBe("nosniff");
      const csp = String(r.headers["content-security-policy"]);
      expect(csp, path).toMatch(/default-src 'none'/);
      expect(csp, path).toMatch(/frame-ancestors 'none'/);
      expect(r.headers["x-frame-options"], path).toBe("SAMEORIGIN");
      if (path.startsWith("/api")) expect(r.headers["cache-control"], path).toBe("no-store");
    }
    expect((await request(srv, "GET", "/api/agents")).headers["cache-control"]).toBe("no-store"); // errors too
  });

  it("a wrong method on a known path is 405 with Allow; an unknown path is 404", async () => {
    const r = await api<{ error: string }>(srv, "DELETE", "/api/agents");
    expect(r.status).toBe(405);
    expect(r.headers.allow).toBe("GET");
    expect(r.json.error).toMatch(/DELETE not allowed on \/api\/agents/);
    expect((await api(srv, "PATCH", "/api/media/abc")).headers.allow).toBe("DELETE");
    expect((await api(srv, "GET", "/api/agents/")).status).toBe(200); // a trailing slash is the same route
  });

  it("the HTTP server has no headersTimeout → a request head that never ends is cut", async () => {
    const c = rawSocket(srv);
    await c.opened;
    c.socket.write("GET /healthz HTTP/1.1\r\nHost: x\r\n"); // and never the blank line
    const got = await c.closed;
    expect(got).toMatch(/^HTTP\/1\.1 408/);
    expect((await request(srv, "GET", "/healthz")).status).toBe(200);
  });

  it("the HTTP server has no requestTimeout → a body that never ends is cut", async () => {
    const c = rawSocket(srv);
    await c.opened;
    c.socket.write(`PUT /api/policy HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${srv.adminToken}\r\nContent-Length: 1000\r\n\r\nheartbeat`);
    const started = Date.now();
    const got = await c.closed;
    expect(got).toMatch(/^HTTP\/1\.1 408/);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect((await api<{ version: number }>(srv, "GET", "/api/policy")).json.version).toBe(1);
  });

  it("the HTTP server has no connection cap → connections over maxConnections are closed at once, the others served", async () => {
    const held = Array.from({ length: 8 }, () => rawSocket(srv));
    await Promise.all(held.map((h) => h.opened));
    await new Promise((r) => setTimeout(r, 100));
    const extra = rawSocket(srv);
    await extra.opened;
    extra.socket.write("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    expect(await extra.closed).toBe(""); // closed without an answer
    await waitFor(() => srv.logs.lines.some((l) => String(l.msg).includes("maximum of connections")));
    for (const h of held) h.socket.destroy();
    await Promise.all(held.map((h) => h.closed));
    await waitFor(async () => (await request(srv, "GET", "/healthz").catch(() => ({ status: 0 }))).status === 200);
  });
});

describe("issue 11 (HTTP): failed authentication is throttled and logged sampled", () => {
  let srv: TestServer;
  beforeAll(async () => { srv = await startTestServer({ authLimit: { maxFailures: 5, windowMs: 60_000 } }); });
  afterAll(async () => { await srv.stop(); });

  it("wrong tokens are answered without throttling and without a log line → 429 after 5 failures per address, logged sampled", async () => {
    const before = srv.logs.lines.length;
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await request(srv, "GET", "/api/agents", { token: `guess-${i}` })).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
    // blocked: even the right token and enrollment are 429 from this address until the window ends
    const right = await api(srv, "GET", "/api/agents");
    expect(right.status).toBe(429);
    expect(Number(right.headers["retry-after"])).toBeGreaterThan(0);
    const enroll = await request(srv, "POST", "/api/enroll", { body: { token: srv.enrollToken, hostname: "h", os: "linux", version: "1" } });
    expect(enroll.status).toBe(429);
    expect((await request(srv, "GET", "/healthz")).status).toBe(200); // public routes still answer
    const authLines = srv.logs.lines.slice(before).filter((l) => String(l.msg).includes("authentication failed"));
    expect(authLines.length).toBe(2); // the first failure and the block, not one line per failure
    expect(authLines.every((l) => l.remote === "127.0.0.1")).toBe(true);
  });
});

describe("issue 11 (HTTP): a wrong enrollment token is throttled too", () => {
  let srv: TestServer;
  beforeAll(async () => { srv = await startTestServer({ authLimit: { maxFailures: 3, windowMs: 60_000 } }); });
  afterAll(async () => { await srv.stop(); });

  it("wrong enrollment tokens: 401 three times, then 429 (the right token too)", async () => {
    const body = (token: string) => ({ body: { token, hostname: "h", os: "linux", version: "1" } });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await request(srv, "POST", "/api/enroll", body(`nope-${i}`))).status);
    expect(statuses).toEqual([401, 401, 401, 429]);
    expect((await request(srv, "POST", "/api/enroll", body(srv.enrollToken))).status).toBe(429);
    expect(srv.logs.lines.some((l) => l.what === "enrollment token" && l.remote === "127.0.0.1")).toBe(true);
  });
});
