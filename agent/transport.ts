/**
 * The agent's WebSocket link to the server (`<server>/agent`).
 *
 * hello → welcome {ackedSeq}: the queue is acked up to ackedSeq and events after it are streamed in
 * `events` frames (≤ 500 events, well under 1 MiB), with a bounded window of unacknowledged frames.
 * The server's `ack {seq}` (after its durable commit) is the only thing that lets the queue delete.
 * After any disconnect the stream resumes from the server's ackedSeq, so nothing unacked is lost.
 * Reconnects use exponential backoff with full jitter (0.5 s → 30 s), reset by a welcome; a refused
 * or revoked credential — HTTP 401/403 on the upgrade (the server checks it before the WebSocket
 * opens), or close code 4401/4403 inside the protocol — is logged as such, with the server's
 * reason, and retried every 60 s. HTTP 429/503 (connection limits) wait at least the server's
 * Retry-After (at most 5 minutes).
 */
import { WebSocket, type RawData } from "ws";
import type { Logger } from "../lib/log.js";
import { Policy } from "../policies/policy.js";
import { CloseCode, formatIssues, MAX_FRAME_BYTES, ServerMessage, type AgentMessage, type ServerApprovals } from "../policies/schema.js";
import type { Credential } from "./enroll.js";
import type { EventQueue } from "./queue.js";

export interface HelloInfo {
  hostname: string;
  os: string;
  version: string;
  policyVersion: number | null;
}

export interface TransportOptions {
  /** ws(s)://host:port as given to the agent */
  server: string;
  credential: Credential;
  queue: EventQueue;
  log: Logger;
  /** CA certificate(s) for wss:// with a private CA */
  ca?: string | Buffer;
  hello: () => HelloInfo;
  /** a valid policy pushed by the server */
  onPolicy: (version: number, policy: Policy) => Promise<void> | void;
  /** the approvals in force for this PC and its requests, pushed by the server */
  onApprovals?: (msg: ServerApprovals) => void;
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  /** retry interval while the server refuses the credential */
  rejectedRetryMs?: number;
  batchMaxEvents?: number;
  batchMaxBytes?: number;
  /** unacknowledged `events` frames allowed in flight */
  window?: number;
  /** new events are sent at most this long after they were queued */
  sendDelayMs?: number;
  connectTimeoutMs?: number;
  /** [0, 1): the jitter source */
  random?: () => number;
}

export interface TransportStats {
  connects: number;
  welcomes: number;
  framesSent: number;
  eventsSent: number;
  /** events the server refused (ack.rejected): logged and deleted */
  eventsRejected: number;
  lastCloseCode: number | undefined;
  /** the server refused the credential on the last attempt */
  credentialRejected: boolean;
}

/** `ws://h:p` → `ws://h:p/agent` (http(s) accepted and mapped to ws(s)). */
export function agentUrl(server: string): string {
  const url = new URL(server);
  if (url.protocol === "http:") url.protocol = "ws:";
  else if (url.protocol === "https:") url.protocol = "wss:";
  else if (url.protocol !== "ws:" && url.protocol !== "wss:") throw new Error(`server URL must be ws:// or wss://: ${server}`);
  const path = url.pathname.replace(/\/+$/, "");
  url.pathname = path.endsWith("/agent") ? path : `${path}/agent`;
  url.search = "";
  url.hash = "";
  return url.toString();
}

/** Exponential backoff with full jitter: uniform in [0, min(cap, base·2^attempt)). */
export function backoffDelay(attempt: number, baseMs: number, capMs: number, random: () => number): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

interface Session {
  ws: WebSocket;
  welcomed: boolean;
  /** the highest seq sent (or acked) on this connection */
  cursor: number;
  /** last seq of each unacknowledged frame */
  inFlight: number[];
  pumping: boolean;
  pumpAgain: boolean;
  heartbeat: NodeJS.Timeout | undefined;
  lastHeard: number;
  /** messages are handled one at a time, in order */
  chain: Promise<void>;
  /** the HTTP status of a refused upgrade */
  httpStatus: number | undefined;
  /** the server's reason for it (the `error` of its JSON body) */
  httpReason: string | undefined;
  /** Retry-After of a refused upgrade, in ms */
  retryAfterMs: number | undefined;
}

/** The `error` of a JSON error body, else the start of the text. */
function reasonOf(body: string): string | undefined {
  try {
    const j = JSON.parse(body) as { error?: unknown };
    if (typeof j.error === "string") return j.error.slice(0, 300);
  } catch {
    // not JSON
  }
  return body.trim().slice(0, 300) || undefined;
}

function rawText(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString("utf8");
  if (Array.isArray(data)) return Buffer.concat(data).toString("utf8");
  return Buffer.from(data).toString("utf8");
}

export class Transport {
  private readonly log: Logger;
  private readonly url: string;
  private session: Session | undefined;
  private running = false;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private sendTimer: NodeJS.Timeout | undefined;
  private offAppend: (() => void) | undefined;
  private closed: Promise<void> = Promise.resolve();
  private readonly counters: TransportStats = { connects: 0, welcomes: 0, framesSent: 0, eventsSent: 0, eventsRejected: 0, lastCloseCode: undefined, credentialRejected: false };

  constructor(private readonly opts: TransportOptions) {
    this.log = opts.log.child({ component: "transport" });
    this.url = agentUrl(opts.server);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.offAppend = this.opts.queue.onAppend(() => this.scheduleSend());
    this.connect();
  }

  /** Connected and welcomed by the server. */
  get connected(): boolean {
    return this.session?.welcomed === true && this.session.ws.readyState === WebSocket.OPEN;
  }

  stats(): TransportStats {
    return { ...this.counters };
  }

  private connect(): void {
    this.reconnectTimer = undefined;
    if (!this.running) return;
    const { credential } = this.opts;
    this.counters.connects++;
    const ws = new WebSocket(this.url, {
      headers: { authorization: `Bearer ${credential.agentId}:${credential.secret}` },
      perMessageDeflate: true,
      maxPayload: MAX_FRAME_BYTES,
      handshakeTimeout: this.opts.connectTimeoutMs ?? 10_000,
      ...(this.opts.ca ? { ca: this.opts.ca } : {}),
    });
    const session: Session = {
      ws, welcomed: false, cursor: 0, inFlight: [], pumping: false, pumpAgain: false,
      heartbeat: undefined, lastHeard: Date.now(), chain: Promise.resolve(), httpStatus: undefined, httpReason: undefined,
      retryAfterMs: undefined,
    };
    this.session = session;
    let onClosed!: () => void;
    this.closed = new Promise<void>((resolve) => (onClosed = resolve));

    ws.on("open", () => {
      session.lastHeard = Date.now();
      const h = this.opts.hello();
      // bounded as the server's schema bounds them (an over-long field would be refused)
      this.send(session, {
        t: "hello", agentId: credential.agentId, hostname: h.hostname.slice(0, 255) || "unknown", os: h.os.slice(0, 255),
        version: h.version.slice(0, 100), policyVersion: h.policyVersion, lastSeq: this.opts.queue.stats().lastSeq,
      });
    });
    ws.on("message", (data) => {
      session.lastHeard = Date.now();
      const text = rawText(data);
      session.chain = session.chain.then(() => this.receive(session, text)).catch((err: unknown) => {
        this.log.error({ err }, "error while handling a server message");
      });
    });
    ws.on("pong", () => {
      session.lastHeard = Date.now();
    });
    // The server refused the upgrade with an HTTP status: read its short reason, then drop the attempt.
    ws.on("unexpected-response", (_req, res) => {
      session.httpStatus = res.statusCode;
      const retryAfter = Number(res.headers["retry-after"]);
      if (Number.isFinite(retryAfter) && retryAfter > 0) session.retryAfterMs = Math.min(retryAfter, 300) * 1000;
      let body = "";
      const done = (): void => {
        clearTimeout(timer);
        session.httpReason = reasonOf(body);
        ws.terminate();
      };
      const timer = setTimeout(done, 2000);
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        if (body.length < 4096) body += chunk;
      });
      res.once("end", done);
      res.once("error", done);
    });
    ws.on("error", (err) => {
      const m = /Unexpected server response: (\d+)/.exec(err.message);
      if (m) session.httpStatus = Number(m[1]);
      if (session.httpStatus !== undefined) return; // reported with the reason on close
      this.log.warn({ err: err.message, url: this.url }, "connection error");
    });
    ws.on("close", (code, reasonBuf) => {
      if (session.heartbeat) clearInterval(session.heartbeat);
      session.heartbeat = undefined;
      session.welcomed = false;
      if (this.session === session) this.session = undefined;
      this.counters.lastCloseCode = code;
      onClosed();
      this.afterClose(session, code, reasonBuf.toString("utf8"));
    });
  }

  private afterClose(session: Session, code: number, reason: string): void {
    if (!this.running) return;
    const rejected = code === CloseCode.unauthorized || code === CloseCode.revoked || session.httpStatus === 401 || session.httpStatus === 403;
    this.counters.credentialRejected = rejected;
    let delay: number;
    if (rejected) {
      delay = this.opts.rejectedRetryMs ?? 60_000;
      this.log.error(
        { code, httpStatus: session.httpStatus, reason: session.httpReason ?? reason, agentId: this.opts.credential.agentId, retryInMs: delay },
        `the server ${code === CloseCode.revoked || session.httpStatus === 403 ? "revoked" : "does not know"} this agent's credential: events stay queued; retrying every ${Math.round(delay / 1000)} s (re-enroll by deleting credential.json and starting with --enroll-token)`,
      );
    } else {
      delay = backoffDelay(this.attempt, this.opts.baseBackoffMs ?? 500, this.opts.maxBackoffMs ?? 30_000, this.opts.random ?? Math.random);
      if (session.retryAfterMs !== undefined) delay = Math.max(delay, session.retryAfterMs);
      this.attempt++;
      this.log.warn({ code, httpStatus: session.httpStatus, reason: session.httpReason ?? reason, retryInMs: delay, attempt: this.attempt },
        "disconnected from the server: reconnecting");
    }
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  private send(session: Session, msg: AgentMessage): boolean {
    return this.sendText(session, JSON.stringify(msg));
  }

  private sendText(session: Session, text: string): boolean {
    if (session.ws.readyState !== WebSocket.OPEN) return false;
    session.ws.send(text, (err) => {
      if (err) this.log.warn({ err: err.message }, "send failed");
    });
    return true;
  }

  private async receive(session: Session, text: string): Promise<void> {
    if (this.session !== session) return;
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      this.log.warn({ bytes: text.length }, "server sent a frame that is not JSON: ignored");
      return;
    }
    const parsed = ServerMessage.safeParse(raw);
    if (!parsed.success) {
      this.log.warn({ issues: formatIssues(parsed.error) }, "server sent an invalid message: ignored");
      return;
    }
    const msg = parsed.data;
    switch (msg.t) {
      case "welcome": {
        const queue = this.opts.queue;
        if (msg.ackedSeq < queue.stats().ackedSeq) {
          this.log.warn({ serverAckedSeq: msg.ackedSeq, localAckedSeq: queue.stats().ackedSeq }, "server acknowledges less than before (restored server?): events already deleted cannot be resent");
        }
        await queue.ack(msg.ackedSeq);
        if (this.session !== session) return;
        session.cursor = Math.max(msg.ackedSeq, queue.stats().ackedSeq);
        session.inFlight = [];
        session.welcomed = true;
        this.attempt = 0;
        this.counters.welcomes++;
        this.counters.credentialRejected = false;
        this.log.info({ url: this.url, ackedSeq: msg.ackedSeq, pendingEvents: queue.stats().pendingEvents, heartbeatSeconds: msg.heartbeatSeconds }, "connected to the server");
        this.startHeartbeat(session, msg.heartbeatSeconds);
        void this.pump(session);
        return;
      }
      case "ack": {
        if (msg.rejected?.length) {
          // refused by the server (invalid details, a server-only type): never stored; the ack's seq
          // covers them, so the queue deletes them with the rest — resending could only fail again
          this.counters.eventsRejected += msg.rejected.length;
          for (const r of msg.rejected.slice(0, 20)) {
            this.log.error({ seq: r.seq, path: r.path, issue: r.message }, "the server refused an event (not stored): deleted from the queue");
          }
          if (msg.rejected.length > 20) this.log.error({ more: msg.rejected.length - 20 }, "more events refused by the server");
        }
        await this.opts.queue.ack(msg.seq);
        session.inFlight = session.inFlight.filter((last) => last > msg.seq);
        if (msg.seq > session.cursor) session.cursor = msg.seq;
        void this.pump(session);
        return;
      }
      case "policy": {
        const policy = Policy.safeParse(msg.policy);
        if (!policy.success) {
          this.log.error({ version: msg.version, issues: formatIssues(policy.error) }, "server pushed an invalid policy: keeping the one in force");
          return;
        }
        try {
          await this.opts.onPolicy(msg.version, policy.data);
        } catch (err) {
          this.log.error({ err, version: msg.version }, "could not apply the pushed policy");
        }
        return;
      }
      case "approvals":
        try {
          this.opts.onApprovals?.(msg);
        } catch (err) {
          this.log.error({ err }, "could not record the approvals pushed by the server");
        }
        return;
      case "heartbeat":
        return;
      case "error":
        this.log.warn({ code: msg.code, message: msg.message }, "server reported an error");
        return;
    }
  }

  private startHeartbeat(session: Session, seconds: number): void {
    if (session.heartbeat) clearInterval(session.heartbeat);
    const ms = Math.max(50, seconds * 1000);
    session.heartbeat = setInterval(() => {
      if (session.ws.readyState !== WebSocket.OPEN) return;
      if (Date.now() - session.lastHeard > 3 * ms) {
        this.log.warn({ silentMs: Date.now() - session.lastHeard }, "server silent for 3 heartbeats: dropping the connection");
        session.ws.terminate();
        return;
      }
      this.send(session, { t: "heartbeat", at: new Date().toISOString() });
      session.ws.ping();
    }, ms);
  }

  private scheduleSend(): void {
    if (this.sendTimer || !this.session?.welcomed) return;
    this.sendTimer = setTimeout(() => {
      this.sendTimer = undefined;
      if (this.session) void this.pump(this.session);
    }, this.opts.sendDelayMs ?? 10);
  }

  /** Send queued events after the cursor while the window has room. */
  private async pump(session: Session): Promise<void> {
    if (session.pumping) {
      session.pumpAgain = true;
      return;
    }
    session.pumping = true;
    try {
      do {
        session.pumpAgain = false;
        const window = this.opts.window ?? 4;
        const maxEvents = Math.min(this.opts.batchMaxEvents ?? 500, 5000);
        const maxBytes = this.opts.batchMaxBytes ?? 512 * 1024;
        while (this.session === session && session.welcomed && session.ws.readyState === WebSocket.OPEN && session.inFlight.length < window) {
          let count = maxEvents;
          let events = await this.opts.queue.pending(session.cursor, count, maxBytes);
          let frame = events.length ? JSON.stringify({ t: "events", events }) : "";
          while (events.length > 1 && Buffer.byteLength(frame) > MAX_FRAME_BYTES * 0.9) {
            count = Math.max(1, Math.floor(events.length / 2));
            events = events.slice(0, count);
            frame = JSON.stringify({ t: "events", events });
          }
          if (!events.length) break;
          if (this.session !== session || !session.welcomed) break;
          if (!this.sendText(session, frame)) break;
          const last = events.at(-1)!.seq;
          session.inFlight.push(last);
          session.cursor = last;
          this.counters.framesSent++;
          this.counters.eventsSent += events.length;
        }
      } while (session.pumpAgain);
    } catch (err) {
      this.log.error({ err }, "could not read the queue to send events");
    } finally {
      session.pumping = false;
    }
  }

  /** Wait until every queued event is acknowledged (true), or give up after timeoutMs (false). */
  async flush(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.opts.queue.stats().pendingEvents === 0) return true;
      if (Date.now() >= deadline || !this.running || this.counters.credentialRejected) return false;
      if (this.session) void this.pump(this.session);
      await new Promise((r) => setTimeout(r, Math.min(25, Math.max(1, deadline - Date.now()))));
    }
  }

  /** Say bye, close with 1000 (terminate if the server does not answer within closeTimeoutMs). */
  async stop(reason = "agent stopping", closeTimeoutMs = 1000): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.offAppend?.();
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.sendTimer) clearTimeout(this.sendTimer);
    this.reconnectTimer = undefined;
    this.sendTimer = undefined;
    const session = this.session;
    if (!session) return;
    if (session.heartbeat) clearInterval(session.heartbeat);
    const ws = session.ws;
    if (ws.readyState === WebSocket.OPEN) {
      this.send(session, { t: "bye", reason });
      ws.close(CloseCode.normal, reason.slice(0, 100));
    } else if (ws.readyState === WebSocket.CONNECTING) {
      ws.terminate();
    }
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      this.closed.then(() => false),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(true), closeTimeoutMs))),
    ]);
    clearTimeout(timer);
    if (timedOut) ws.terminate();
    this.log.info("disconnected");
  }
}
