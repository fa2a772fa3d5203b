/**
 * The fuzz harness: hostile enrolled agents sending generated frames, generated HTTP requests,
 * one innocent agent delivering numbered events at the same time, and a /healthz sampler — all
 * against a running server given by URL (in-process or a child process). It only measures; the
 * tests (and bench/fuzz.ts) assert.
 */
import fc from "fast-check";
import { WebSocket } from "ws";
import { frameArb, requestArb, type HttpRequestSpec, type RouteTemplate } from "./generators.js";

export interface FuzzTarget {
  url: string;
  adminToken: string;
  enrollToken: string;
  /** is the server still alive (the child process has not exited)? */
  alive(): boolean;
}

export interface FuzzOptions {
  frames: number;
  requests: number;
  /** hostile agents sending at once */
  hostileAgents?: number;
  /** parallel HTTP requests */
  httpConcurrency?: number;
  /** events the innocent agent delivers during the run */
  innocentEvents?: number;
  seed?: number;
}

export interface FuzzResult {
  frames: number;
  requests: number;
  /** hostile sockets the server closed (each then reconnected) */
  closedSockets: number;
  closeCodes: Record<string, number>;
  /** events the server named in `ack.rejected` */
  rejectedEvents: number;
  statuses: Record<string, number>;
  fiveHundreds: Array<{ method: string; path: string; status: number; body: string }>;
  /** upgrade refusals met while reconnecting (429 when the limiter engaged, etc.) */
  refusedUpgrades: Record<string, number>;
  healthz: { samples: number; maxMs: number; p99Ms: number; failures: number };
  innocent: { agentId: string; sent: number; ackedSeq: number; rejected: number; closes: number[] };
  hostileAgentIds: string[];
  seconds: number;
}

interface Cred { agentId: string; secret: string }

async function enroll(t: FuzzTarget, hostname: string): Promise<Cred> {
  const r = await fetch(`${t.url}/api/enroll`, {
    method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ token: t.enrollToken, hostname, os: "linux", version: "fuzz" }),
  });
  if (r.status !== 201) throw new Error(`enroll ${hostname}: ${r.status} ${await r.text()}`);
  return (await r.json()) as Cred;
}

const wsBase = (url: string): string => url.replace(/^http/, "ws");

/** One open socket with a queue of received messages. */
class Sock {
  readonly ws: WebSocket;
  closed: number | undefined;
  httpStatus: number | undefined;
  /** messages not yet taken by next(): two frames can arrive in one TCP read and are emitted in
   * the same tick, so a message that arrives while nobody waits must be kept, not dropped */
  private inbox: Array<Record<string, unknown>> = [];
  private waiters: Array<() => void> = [];
  onMessage: ((m: Record<string, unknown>) => void) | undefined;
  readonly opened: Promise<boolean>;

  constructor(url: string, cred: Cred) {
    this.ws = new WebSocket(`${wsBase(url)}/agent`, { headers: { authorization: `Bearer ${cred.agentId}:${cred.secret}` } });
    this.ws.on("unexpected-response", (_req, res) => {
      this.httpStatus = res.statusCode;
      res.resume();
      this.ws.terminate();
    });
    this.ws.on("error", () => undefined);
    this.opened = new Promise((resolve) => {
      this.ws.once("open", () => resolve(true));
      this.ws.once("close", () => resolve(false));
    });
    this.ws.on("message", (data: Buffer) => {
      let m: Record<string, unknown>;
      try {
        m = JSON.parse(data.toString()) as Record<string, unknown>;
      } catch {
        return;
      }
      this.onMessage?.(m);
      this.inbox.push(m);
      if (this.inbox.length > 1000) this.inbox.shift();
      for (const w of this.waiters.splice(0)) w();
    });
    this.ws.on("close", (code) => {
      this.closed = code;
      for (const w of this.waiters.splice(0)) w();
    });
  }

  /** the next message matching `pred` (earlier non-matching ones are dropped), or undefined when the socket closes first */
  async next(pred: (m: Record<string, unknown>) => boolean, timeoutMs = 20_000): Promise<Record<string, unknown> | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.inbox.length) {
        const m = this.inbox.shift()!;
        if (pred(m)) return m;
      }
      if (this.closed !== undefined || Date.now() >= deadline) return undefined;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
  }
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

export async function runFuzz(target: FuzzTarget, opts: FuzzOptions): Promise<FuzzResult> {
  const started = Date.now();
  const seed = opts.seed ?? Date.now() % 2 ** 31;
  const hostileCount = opts.hostileAgents ?? 8;
  const result: FuzzResult = {
    frames: 0, requests: 0, closedSockets: 0, closeCodes: {}, rejectedEvents: 0, statuses: {}, fiveHundreds: [], refusedUpgrades: {},
    healthz: { samples: 0, maxMs: 0, p99Ms: 0, failures: 0 },
    innocent: { agentId: "", sent: 0, ackedSeq: 0, rejected: 0, closes: [] }, hostileAgentIds: [], seconds: 0,
  };

  const innocentCred = await enroll(target, "innocent");
  result.innocent.agentId = innocentCred.agentId;
  const hostile: Cred[] = [];
  for (let i = 0; i < hostileCount; i++) hostile.push(await enroll(target, `hostile-${i}`));
  result.hostileAgentIds = hostile.map((c) => c.agentId);

  // --- /healthz sampler ---------------------------------------------------------------------
  let sampling = true;
  const latencies: number[] = [];
  const sampler = (async () => {
    while (sampling) {
      const t0 = performance.now();
      try {
        const r = await fetch(`${target.url}/healthz`, { signal: AbortSignal.timeout(5000) });
        await r.text();
        if (r.status !== 200) result.healthz.failures++;
      } catch {
        result.healthz.failures++;
      }
      latencies.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();

  // --- the innocent agent: numbered events in frames of 20, each frame acked before the next ----
  const innocentTotal = opts.innocentEvents ?? 2000;
  const innocent = (async () => {
    const s = new Sock(target.url, innocentCred);
    if (!(await s.opened)) throw new Error(`the innocent agent could not connect (HTTP ${s.httpStatus})`);
    s.ws.on("close", (code) => result.innocent.closes.push(code));
    s.ws.send(JSON.stringify({ t: "hello", agentId: innocentCred.agentId, hostname: "innocent", os: "linux", version: "fuzz", policyVersion: null, lastSeq: 0 }));
    if (!(await s.next((m) => m.t === "welcome"))) throw new Error("the innocent agent got no welcome");
    let seq = 0;
    while (seq < innocentTotal) {
      const events = [];
      for (let i = 0; i < 20 && seq < innocentTotal; i++) {
        seq++;
        events.push({ seq, type: "software.installed", observedAt: new Date().toISOString(), details: { name: `innocent-${seq}`, version: "1.0" } });
      }
      s.ws.send(JSON.stringify({ t: "events", events }));
      result.innocent.sent += events.length;
      const ack = await s.next((m) => m.t === "ack" && (m.seq as number) >= seq);
      if (!ack) break;
      result.innocent.ackedSeq = ack.seq as number;
      result.innocent.rejected += Array.isArray(ack.rejected) ? ack.rejected.length : 0;
      await new Promise((r) => setTimeout(r, 5));
    }
    s.ws.close(1000);
  })();

  // --- hostile agents ------------------------------------------------------------------------
  const perAgent = Math.ceil(opts.frames / hostileCount);
  const hostileRuns = hostile.map(async (cred, idx) => {
    const other = idx === 0 ? innocentCred.agentId : hostile[idx - 1]!.agentId;
    const arb = frameArb({ agentId: cred.agentId, otherAgentId: other });
    let sent = 0;
    let round = 0;
    while (sent < perAgent && target.alive()) {
      const s = new Sock(target.url, cred);
      s.onMessage = (m) => {
        if (m.t === "ack" && Array.isArray(m.rejected)) result.rejectedEvents += m.rejected.length;
      };
      if (!(await s.opened)) {
        const key = String(s.httpStatus ?? "no-answer");
        result.refusedUpgrades[key] = (result.refusedUpgrades[key] ?? 0) + 1;
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      s.ws.send(JSON.stringify({ t: "hello", agentId: cred.agentId, hostname: `hostile-${idx}`, os: "linux", version: "fuzz", policyVersion: null, lastSeq: 0 }));
      if (!(await s.next((m) => m.t === "welcome"))) {
        s.ws.terminate();
        continue;
      }
      while (sent < perAgent && s.closed === undefined) {
        const batch = fc.sample(arb, { numRuns: 20, seed: seed + idx * 1_000_003 + round++ });
        for (const text of batch) {
          if (s.ws.readyState !== WebSocket.OPEN) break;
          s.ws.send(text);
          sent++;
          result.frames++;
        }
        // a fence: the server answers heartbeats in order, so this paces the sender
        if (s.ws.readyState === WebSocket.OPEN) {
          s.ws.send(JSON.stringify({ t: "heartbeat", at: new Date().toISOString() }));
          await s.next((m) => m.t === "heartbeat");
        }
        await tick();
      }
      if (s.closed !== undefined) {
        result.closedSockets++;
        result.closeCodes[String(s.closed)] = (result.closeCodes[String(s.closed)] ?? 0) + 1;
      } else {
        s.ws.close(1000);
      }
    }
  });

  // --- HTTP requests -------------------------------------------------------------------------
  const index = (await (await fetch(`${target.url}/api`)).json()) as { routes: Array<RouteTemplate & { websocket?: boolean }> };
  const routes = index.routes.filter((r) => !r.websocket);
  // never revoke or retag the innocent agent: its deliveries are what the run checks
  const protect = (path: string): boolean => path.includes(innocentCred.agentId);
  const reqArb = requestArb(routes, { admin: target.adminToken }, protect);
  const concurrency = opts.httpConcurrency ?? 8;
  let issued = 0;
  let round = 0;
  const httpWorkers = Array.from({ length: concurrency }, async (_, w) => {
    while (issued < opts.requests && target.alive()) {
      const batch: HttpRequestSpec[] = fc.sample(reqArb, { numRuns: 10, seed: seed + 7 + w * 7919 + round++ });
      for (const spec of batch) {
        if (issued >= opts.requests) break;
        issued++;
        let status = 0;
        let text = "";
        try {
          const r = await fetch(target.url + spec.path, { method: spec.method, headers: spec.headers, body: typeof spec.body === "string" || spec.body === undefined ? spec.body : new Uint8Array(spec.body), signal: AbortSignal.timeout(30_000) });
          status = r.status;
          text = status >= 500 ? await r.text() : "";
          if (status < 500) await r.arrayBuffer();
        } catch (err) {
          // a URL fetch itself refuses (bad characters) is not a server answer
          if (err instanceof TypeError && !String(err.cause ?? "").includes("ECONNRE")) {
            result.statuses["client-refused"] = (result.statuses["client-refused"] ?? 0) + 1;
            continue;
          }
          status = -1;
          text = String(err);
        }
        result.requests++;
        result.statuses[String(status)] = (result.statuses[String(status)] ?? 0) + 1;
        if (status >= 500 || status === -1) result.fiveHundreds.push({ method: spec.method, path: spec.path.slice(0, 200), status, body: text.slice(0, 300) });
      }
      await tick();
    }
  });

  await Promise.all([...hostileRuns, ...httpWorkers]);
  await innocent;
  sampling = false;
  await sampler;
  latencies.sort((a, b) => a - b);
  result.healthz = {
    samples: latencies.length,
    maxMs: Math.round(latencies.at(-1) ?? 0),
    p99Ms: Math.round(latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))] ?? 0),
    failures: result.healthz.failures,
  };
  result.seconds = Math.round((Date.now() - started) / 100) / 10;
  return result;
}
