/** Test helpers: a real server in-process on 127.0.0.1:0 with a temp data dir, real ws clients. */
import { mkdtempSync, rmSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { WebSocket } from "ws";
import type { Logger } from "../../lib/log.js";
import type { StoredEvent } from "../../policies/schema.js";
import { startServer, type RunningServer, type ServerOptions } from "../../server/server.js";

export interface LogCapture {
  log: Logger;
  lines: Array<Record<string, unknown>>;
}

export function captureLog(): LogCapture {
  const lines: Array<Record<string, unknown>> = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString("utf8").split("\n")) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { log: pino({ level: "debug" }, dest), lines };
}

export interface TestServer extends RunningServer {
  dir: string;
  logs: LogCapture;
  ca?: string | Buffer;
  stop(): Promise<void>;
}

export async function startTestServer(opts: Partial<ServerOptions> & { ca?: string | Buffer; dir?: string } = {}): Promise<TestServer> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), "kyoka-server-"));
  const logs = captureLog();
  const srv = await startServer({ port: 0, host: "127.0.0.1", dataDir: dir, log: logs.log, ...opts });
  return {
    ...srv,
    dir,
    logs,
    ca: opts.ca,
    async stop() {
      await srv.close();
      if (!opts.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface HttpResult<T = unknown> {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: T;
}

export function request<T = unknown>(
  srv: { url: string; ca?: string | Buffer },
  method: string,
  path: string,
  opts: { body?: unknown; raw?: string | Buffer; token?: string | null; headers?: Record<string, string> } = {},
): Promise<HttpResult<T>> {
  const url = new URL(path, srv.url);
  const headers: Record<string, string> = { ...opts.headers };
  let payload: Buffer | undefined;
  if (opts.raw !== undefined) payload = Buffer.isBuffer(opts.raw) ? opts.raw : Buffer.from(opts.raw);
  else if (opts.body !== undefined) {
    payload = Buffer.from(JSON.stringify(opts.body));
    headers["content-type"] ??= "application/json";
  }
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (payload) headers["content-length"] = String(payload.length);
  const fn = url.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = fn(url, { method, headers, ca: srv.ca }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let json: unknown;
        try {
          json = text ? JSON.parse(text) : undefined;
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: json as T });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    if (payload) req.end(payload);
    else req.end();
  });
}

/** admin request */
export function api<T = unknown>(srv: TestServer, method: string, path: string, body?: unknown): Promise<HttpResult<T>> {
  return request<T>(srv, method, path, { body, token: srv.adminToken });
}

/** GET /api/events with `query` (e.g. "?type=asset.snapshot"); anything but 200 fails the test */
export async function events(srv: TestServer, query = ""): Promise<StoredEvent[]> {
  const r = await api<StoredEvent[]>(srv, "GET", `/api/events${query}`);
  if (r.status !== 200) throw new Error(`GET /api/events${query}: ${r.status} ${r.text}`);
  return r.json;
}

export interface Credential {
  agentId: string;
  secret: string;
}

export async function enroll(srv: TestServer, hostname = "pc-01"): Promise<Credential> {
  const r = await request<Credential>(srv, "POST", "/api/enroll", { body: { token: srv.enrollToken, hostname, os: "linux", version: "0.1.0" } });
  if (r.status !== 201) throw new Error(`enroll failed: ${r.status} ${r.text}`);
  return r.json;
}

export interface ServerMsg {
  t: string;
  [k: string]: unknown;
}

/** A WebSocket client that records every message and its close. */
export class TestClient {
  readonly messages: ServerMsg[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly opened: Promise<void>;
  private waiters: Array<() => void> = [];
  isClosed = false;

  constructor(readonly ws: WebSocket) {
    ws.on("message", (data) => {
      this.messages.push(JSON.parse(data.toString()) as ServerMsg);
      for (const w of this.waiters.splice(0)) w();
    });
    ws.on("error", () => { /* the close event tells the test what happened */ });
    this.closed = new Promise((resolve) => ws.on("close", (code, reason) => {
      this.isClosed = true;
      for (const w of this.waiters.splice(0)) w();
      resolve({ code, reason: reason.toString() });
    }));
    this.opened = new Promise((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("unexpected-response", (_req, res) => reject(new Error(`unexpected response ${res.statusCode}`)));
      ws.once("close", () => reject(new Error("closed before open")));
    });
    this.opened.catch(() => { /* observed through closed */ });
  }

  send(msg: unknown): void {
    this.ws.send(typeof msg === "string" ? msg : JSON.stringify(msg));
  }

  /** the first message (from `from` on) matching pred */
  async next(pred: (m: ServerMsg) => boolean, from = 0, timeoutMs = 10_000): Promise<ServerMsg> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.slice(from).find(pred);
      if (found) return found;
      if (this.isClosed) throw new Error(`closed while waiting; got ${JSON.stringify(this.messages)}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting; got ${JSON.stringify(this.messages)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 200);
        this.waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
  }

  close(): void {
    this.ws.close();
  }
}

export function wsUrl(srv: { url: string }, path: string): string {
  return srv.url.replace(/^http/, "ws") + path;
}

export function connect(srv: TestServer, cred: Credential | string | null, path = "/agent", opts: { ca?: string | Buffer } = {}): TestClient {
  const headers: Record<string, string> = {};
  if (cred) headers.authorization = typeof cred === "string" ? cred : `Bearer ${cred.agentId}:${cred.secret}`;
  return new TestClient(new WebSocket(wsUrl(srv, path), { headers, ca: opts.ca ?? srv.ca }));
}

export function hello(cred: Credential, policyVersion: number | null = null, lastSeq = 0): unknown {
  return { t: "hello", agentId: cred.agentId, hostname: "pc-01", os: "linux", version: "0.1.0", policyVersion, lastSeq };
}

/** connect + hello + welcome */
export async function connectAgent(srv: TestServer, cred: Credential, policyVersion: number | null = null): Promise<TestClient> {
  const c = connect(srv, cred);
  await c.opened;
  c.send(hello(cred, policyVersion));
  await c.next((m) => m.t === "welcome");
  return c;
}

/** connect + hello with the PC's own hostname + welcome */
export async function connectAs(srv: TestServer, cred: Credential, hostname: string): Promise<TestClient> {
  const c = connect(srv, cred);
  await c.opened;
  c.send({ ...(hello(cred) as object), hostname });
  await c.next((m) => m.t === "welcome");
  return c;
}

export function ev(seq: number, type: string, details: Record<string, unknown> = {}): unknown {
  return { seq, type, observedAt: new Date().toISOString(), details };
}

export async function sendEvents(c: TestClient, events: unknown[]): Promise<ServerMsg> {
  const from = c.messages.length;
  c.send({ t: "events", events });
  const max = Math.max(...events.map((e) => (e as { seq: number }).seq));
  return c.next((m) => m.t === "ack" && m.seq === max, from);
}

export async function waitFor<T>(fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== null && v !== false) return v;
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface UpgradeResult {
  /** 101 when the server switched protocols, else the HTTP status of the refusal */
  status: number;
  headers: Record<string, string | string[] | undefined>;
  json: { error?: string; code?: string } | undefined;
}

/**
 * A raw WebSocket upgrade request: what the server answers BEFORE any WebSocket exists
 * (101, or an HTTP refusal with its JSON body). A 101 socket is closed at once.
 */
export function upgrade(srv: { url: string; ca?: string | Buffer }, path: string, headers: Record<string, string> = {}): Promise<UpgradeResult> {
  const url = new URL(path, srv.url);
  const fn = url.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = fn(url, {
      ca: srv.ca,
      headers: {
        connection: "Upgrade", upgrade: "websocket", "sec-websocket-version": "13",
        "sec-websocket-key": Buffer.from(Math.random().toString()).toString("base64").slice(0, 22) + "==", ...headers,
      },
    });
    req.on("upgrade", (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, headers: res.headers, json: undefined });
    });
    req.on("response", (res) => {
      let text = "";
      res.on("data", (c: Buffer) => { text += c.toString(); });
      res.on("end", () => {
        let json: UpgradeResult["json"];
        try { json = JSON.parse(text) as UpgradeResult["json"]; } catch { json = undefined; }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, json });
      });
    });
    req.on("error", reject);
    req.end();
  });
}
