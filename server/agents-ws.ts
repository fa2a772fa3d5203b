/**
 * The agent WebSocket (`/agent`): authentication (`Authorization: Bearer <agentId>:<secret>`),
 * the protocol (hello → welcome (+ policy), events → ack after commit, heartbeat, bye), one
 * connection per agent (a new one replaces the old: 4409), online/offline and agent.silent.
 *
 * The credential is checked BEFORE the upgrade: a missing or wrong one gets HTTP 401, a revoked
 * one 403, an address with too many failures 429 — never a 101. Once connected, every message is
 * validated with AgentMessage; a malformed or invalid message gets `{t:"error"}` and the
 * connection is closed with 4400, nothing of it stored. An agent that does not say hello within
 * `helloTimeoutMs` is closed (4408); a socket that does not answer a ping within `pingIntervalMs`
 * is terminated. Every handler that runs on agent input is guarded: an exception closes that one
 * socket (1011) with a logged reason, and the process keeps running.
 */
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocket, WebSocketServer, type RawData } from "ws";
import type { Logger } from "../lib/log.js";
import { loadCatalog, serverOnlyTypes } from "../policies/catalog.js";
import { checkEvent } from "../policies/details.js";
import {
  AgentMessage, CloseCode, formatIssues, MAX_FRAME_BYTES, type RejectedEvent, type ServerMessage, type StoredEvent,
} from "../policies/schema.js";
import { decide } from "../policies/decide.js";
import type { Ingest } from "./ingest.js";
import type { AuthFailureLimiter } from "./auth-limit.js";
import { RateLimitedError } from "./errors.js";
import { DEFAULT_LIMITS, LogSampler, type ConnectionLimits } from "./limits.js";
import { withEvidence, type MediaLedger } from "./media-ledger.js";
import type { ServerMetrics } from "./metrics.js";
import type { ServerState } from "./state.js";
import type { AgentCredential, EventRow, Store } from "./store.js";
import { toStoredEvent } from "./store.js";
import type { LiveStream } from "./stream.js";
import { bearer, secretEquals, sha256Hex } from "./tokens.js";
import { refuseUpgrade, type UpgradeEndpoint } from "./upgrade.js";

type AgentMessageT = AgentMessage;
type HelloMsg = Extract<AgentMessageT, { t: "hello" }>;
type EventsMsg = Extract<AgentMessageT, { t: "events" }>;

interface AgentConn {
  ws: WebSocket;
  agent: { id: string; tags: string[]; organisation?: string };
  remote: string;
  helloDone: boolean;
  lastSeenMs: number;
  /** flagged silent while still connected (half-open socket); talking again clears it */
  silent: boolean;
  bye: boolean;
  /** refused or replaced: ignore what else arrives, do not touch the agent's status on close */
  closing: boolean;
  /** closes the connection when no hello came in time */
  helloTimer: NodeJS.Timeout | undefined;
}

type AuthResult =
  | { ok: true; cred: AgentCredential }
  | { ok: false; code: "unauthorized" | "revoked"; status: 401 | 403; message: string; agentId?: string };

/** A closing socket that does not finish the closing handshake within this is cut. */
const CLOSE_GRACE_MS = 2000;

export interface AgentGatewayDeps {
  store: Store;
  ingest: Ingest;
  state: ServerState;
  stream: LiveStream;
  metrics: ServerMetrics;
  log: Logger;
  /** the approvals in force and requests of one agent (server/people/), pushed at hello and on decisions */
  approvalsFor?: (agentId: string) => Omit<Extract<ServerMessage, { t: "approvals" }>, "t" | "serverTime">;
  /** the media ledger (媒体台帳): its view of each media event's medium, for decide, and the evidence stored */
  media?: Pick<MediaLedger, "observe">;
  /** hello deadline, ping interval (defaults: DEFAULT_LIMITS) */
  limits?: Partial<ConnectionLimits>;
  /** failed authentications per address (shared with the HTTP API); none: no limit */
  authLimit?: AuthFailureLimiter;
}

const iso = (ms: number): string => new Date(ms).toISOString();

function rawText(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString("utf8");
  if (Array.isArray(data)) return Buffer.concat(data).toString("utf8");
  return Buffer.from(data).toString("utf8");
}

export class AgentGateway implements UpgradeEndpoint {
  private readonly wss: WebSocketServer;
  private readonly conns = new Map<string, AgentConn>();
  private readonly log: Logger;
  private readonly limits: ConnectionLimits;
  private readonly refusals = new LogSampler(5, 60_000);
  /** sockets pinged and not heard from since */
  private readonly awaitingPong = new WeakSet<WebSocket>();
  private pingTimer: NodeJS.Timeout | undefined;
  private timer: NodeJS.Timeout | undefined;
  private timerSeconds = 0;
  private sweeping = false;
  private stopping = false;

  constructor(private readonly deps: AgentGatewayDeps) {
    this.log = deps.log;
    this.limits = { ...DEFAULT_LIMITS, ...deps.limits };
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: MAX_FRAME_BYTES,
      // Small windows keep each connection's zlib state to a few KiB (10,000 agents must fit in
      // well under 1 GB). No context takeover on either side: ws honours `threshold` only then,
      // so acks, heartbeats and single events go uncompressed instead of queueing on zlib
      // (measured: p99 ack latency 460 ms → see BENCHMARKS.md). Event batches compress well on
      // their own.
      perMessageDeflate: {
        threshold: 1024,
        serverNoContextTakeover: true,
        clientNoContextTakeover: true,
        serverMaxWindowBits: 10,
        clientMaxWindowBits: 10,
        zlibDeflateOptions: { memLevel: 4 },
        concurrencyLimit: 64,
      },
    });
  }

  get connectedCount(): number {
    return this.conns.size;
  }

  /** live status of a connected agent (fresher than the store), undefined when not connected */
  liveStatus(id: string): { online: boolean; lastSeen: string } | undefined {
    const c = this.conns.get(id);
    return c && { online: !c.silent && !c.bye, lastSeen: iso(c.lastSeenMs) };
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const remote = req.socket.remoteAddress ?? "?";
    try {
      this.deps.authLimit?.check(remote);
    } catch (err) {
      if (!(err instanceof RateLimitedError)) throw err;
      this.deps.metrics.protocolErrors.inc({ code: "too_many_failures" });
      this.logRefusal(remote, "too_many_failures", undefined, "agent connection refused: too many failed authentications from this address (HTTP 429)");
      refuseUpgrade(socket, 429, "too_many_failures", err.message, { "Retry-After": String(err.retryAfterSeconds) });
      return;
    }
    this.authenticate(req.headers.authorization).then(
      (auth) => {
        if (this.stopping || socket.destroyed) {
          socket.destroy();
          return;
        }
        if (!auth.ok) {
          if (auth.code === "unauthorized") this.deps.authLimit?.failed(remote, "agent credential", "/agent");
          this.deps.metrics.protocolErrors.inc({ code: auth.code });
          this.logRefusal(remote, auth.code, auth.agentId, `agent connection refused: ${auth.message} (HTTP ${auth.status})`);
          refuseUpgrade(socket, auth.status, auth.code, auth.message);
          return;
        }
        this.wss.handleUpgrade(req, socket, head, (ws) => {
          try {
            this.accepted(ws, auth.cred, remote);
          } catch (err) {
            this.handlerFailed(undefined, ws, "accept", err, remote, auth.cred.id);
          }
        });
      },
    ).catch((err: unknown) => {
      this.log.error({ err, remote }, "agent authentication failed (store error); connection dropped");
      socket.destroy();
    });
  }

  /** Refusals are logged at a sampled rate (per address and reason): a flood stays a few lines. */
  private logRefusal(remote: string, code: string, agentId: string | undefined, msg: string): void {
    const s = this.refusals.sample(`${code}:${remote}`);
    if (s) this.log.warn({ remote, agentId, code, suppressed: s.suppressed }, msg);
  }

  private async authenticate(header: string | undefined): Promise<AuthResult> {
    const token = bearer(header);
    const colon = token?.indexOf(":") ?? -1;
    if (!token || colon <= 0) {
      return { ok: false, code: "unauthorized", status: 401, message: "missing credential: Authorization: Bearer <agentId>:<secret>" };
    }
    const agentId = token.slice(0, colon);
    const secret = token.slice(colon + 1);
    if (agentId.length > 200) return { ok: false, code: "unauthorized", status: 401, message: "unknown agent credential" };
    const cred = await this.deps.store.agentCredential(agentId);
    if (!cred || !secretEquals(sha256Hex(secret), cred.secretHash)) {
      return { ok: false, code: "unauthorized", status: 401, message: "unknown agent credential", agentId };
    }
    if (cred.revokedAt) {
      return { ok: false, code: "revoked", status: 403, message: `agent credential revoked at ${cred.revokedAt}`, agentId };
    }
    return { ok: true, cred };
  }

  /**
   * A handler threw on this connection's input: close THIS socket (1011) with a logged reason.
   * Nothing propagates: the process and every other connection keep running.
   */
  private handlerFailed(conn: AgentConn | undefined, ws: WebSocket, where: string, err: unknown, remote?: string, agentId?: string): void {
    this.deps.metrics.protocolErrors.inc({ code: "handler_error" });
    this.log.error({ err, where, agentId: conn?.agent.id ?? agentId, remote: conn?.remote ?? remote },
      `agent ${where} handler failed; this connection is closed (1011), the server keeps running`);
    if (conn) conn.closing = true;
    this.closeSoon(ws, 1011, "server error");
  }

  /** Run a handler for `conn`'s input, guarded. */
  private guard(conn: AgentConn, where: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.handlerFailed(conn, conn.ws, where, err);
    }
  }

  /** Close with `code`; a peer that does not finish the closing handshake in time is cut. */
  private closeSoon(ws: WebSocket, code: number, reason: string): void {
    try {
      if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(code, reason);
      setTimeout(() => {
        if (ws.readyState !== WebSocket.CLOSED) ws.terminate();
      }, CLOSE_GRACE_MS).unref();
    } catch {
      ws.terminate();
    }
  }

  private accepted(ws: WebSocket, cred: AgentCredential, remote: string): void {
    const id = cred.id;
    ws.on("error", (err: Error & { code?: string }) => {
      try {
        if (err.code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH") {
          this.deps.metrics.protocolErrors.inc({ code: "too_big" });
          this.log.warn({ remote, agentId: id, err: err.message }, `agent frame larger than ${MAX_FRAME_BYTES} bytes refused (closed 1009)`);
        } else {
          this.log.warn({ remote, agentId: id, err: err.message, code: err.code }, "agent socket error; connection closed");
        }
      } catch {
        // logging must not throw out of an event handler
      }
    });
    ws.on("pong", () => this.awaitingPong.delete(ws));
    const now = Date.now();
    const conn: AgentConn = {
      ws, agent: { id, tags: cred.tags, organisation: this.deps.state.agentOrganisation(id) }, remote, helloDone: false, lastSeenMs: now,
      silent: false, bye: false, closing: false, helloTimer: undefined,
    };
    conn.helloTimer = setTimeout(() => this.guard(conn, "hello deadline", () => {
      conn.helloTimer = undefined;
      if (conn.helloDone || conn.closing) return;
      this.refuse(conn, "hello_timeout", `no hello within ${this.limits.helloTimeoutMs} ms of connecting`, CloseCode.helloTimeout);
    }), this.limits.helloTimeoutMs);
    const old = this.conns.get(id);
    if (old) {
      old.closing = true;
      this.log.info({ agentId: id, remote, oldRemote: old.remote }, "agent connected again; the older connection is closed (4409)");
      this.sendRaw(old.ws, { t: "error", code: "replaced", message: "replaced by a newer connection of the same agent" });
      this.closeSoon(old.ws, CloseCode.replaced, "replaced");
    }
    this.conns.set(id, conn);
    this.deps.metrics.agentsConnected.set(this.conns.size);
    this.log.info({ agentId: id, remote }, "agent connected");
    void this.deps.store.setAgentOnline(id, true, iso(now)).catch((err: unknown) => this.log.error({ err, agentId: id }, "cannot record agent online"));
    this.deps.stream.broadcastAgent({ kind: "agent", id, online: true, lastSeen: iso(now) });

    ws.on("message", (data) => this.guard(conn, "message", () => this.onMessage(conn, data)));
    ws.on("close", (code, reason) => {
      try {
        this.onClose(conn, code, reason.toString());
      } catch (err) {
        this.log.error({ err, agentId: id }, "agent close handler failed");
      }
    });
  }

  private sendRaw(ws: WebSocket, msg: ServerMessage): void {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
  }

  private refuse(conn: AgentConn, code: string, message: string, closeCode: number): void {
    conn.closing = true;
    this.deps.metrics.protocolErrors.inc({ code });
    this.log.warn({ agentId: conn.agent.id, remote: conn.remote, code, message: message.slice(0, 500) },
      `agent message refused: ${code} (closed ${closeCode})`);
    this.sendRaw(conn.ws, { t: "error", code, message: message.slice(0, 2000) });
    this.closeSoon(conn.ws, closeCode, code);
  }

  private onMessage(conn: AgentConn, data: RawData): void {
    if (conn.closing) return;
    conn.lastSeenMs = Date.now();
    if (conn.silent && !conn.bye) this.backFromSilence(conn);
    let raw: unknown;
    try {
      raw = JSON.parse(rawText(data));
    } catch (err) {
      this.refuse(conn, "malformed_json", `message is not valid JSON: ${(err as Error).message}`, CloseCode.badMessage);
      return;
    }
    const parsed = AgentMessage.safeParse(raw);
    if (!parsed.success) {
      this.refuse(conn, "invalid_message", `message does not match the protocol schema: ${formatIssues(parsed.error)}`, CloseCode.badMessage);
      return;
    }
    const msg = parsed.data;
    if (msg.t !== "hello" && msg.t !== "bye" && !conn.helloDone) {
      this.refuse(conn, "hello_required", `the first message must be hello, got ${msg.t}`, CloseCode.badMessage);
      return;
    }
    switch (msg.t) {
      case "hello":
        this.onHello(conn, msg);
        break;
      case "events":
        this.onEvents(conn, msg);
        break;
      case "heartbeat":
        this.sendRaw(conn.ws, { t: "heartbeat", serverTime: new Date().toISOString() });
        break;
      case "bye":
        this.onBye(conn, msg.reason);
        break;
    }
  }

  private onHello(conn: AgentConn, msg: HelloMsg): void {
    const id = conn.agent.id;
    if (msg.agentId !== id) {
      this.refuse(conn, "forged_agent_id", `hello names agent ${msg.agentId} but the credential is agent ${id}`, CloseCode.unauthorized);
      return;
    }
    conn.helloDone = true;
    if (conn.helloTimer) clearTimeout(conn.helloTimer);
    conn.helloTimer = undefined;
    const { store, state } = this.deps;
    const at = new Date().toISOString();
    void (async () => {
      await store.agentHello(id, { hostname: msg.hostname, os: msg.os, version: msg.version, policyVersion: msg.policyVersion, at });
      const ackedSeq = await store.maxSeq(id);
      if (conn.closing) return;
      this.sendRaw(conn.ws, { t: "welcome", ackedSeq, heartbeatSeconds: state.heartbeatSeconds(), serverTime: new Date().toISOString() });
      this.log.info({ agentId: id, remote: conn.remote, version: msg.version, policyVersion: msg.policyVersion, ackedSeq, lastSeq: msg.lastSeq }, "agent hello");
      if (msg.policyVersion !== state.policy.version) this.sendPolicy(conn);
      this.sendApprovals(conn);
    })().catch((err: unknown) => {
      this.log.error({ err, agentId: id }, "hello failed (store error); connection closed");
      conn.closing = true;
      this.closeSoon(conn.ws, 1011, "server error");
    });
  }

  /**
   * Each event is checked alone (policies/details.ts): a bad one is refused — not stored, named in
   * the ack's `rejected` — and the others of the frame go on; nothing of it reaches the group
   * commit, so it cannot fail another agent's events.
   */
  private onEvents(conn: AgentConn, msg: EventsMsg): void {
    const now = new Date();
    const receivedAt = now.toISOString();
    const { state } = this.deps;
    const catalog = loadCatalog();
    const policy = state.policy.policy;
    const approvals = state.approvals;
    const rows: EventRow[] = [];
    const rejected: RejectedEvent[] = [];
    const serverOnly = serverOnlyTypes();
    let maxSeq = 0;
    for (const raw of msg.events) {
      if (raw.seq > maxSeq) maxSeq = raw.seq;
      const checked = checkEvent(raw, { serverOnly });
      if (!checked.ok) {
        rejected.push({ seq: raw.seq, path: checked.path.slice(0, 300), message: checked.message.slice(0, 500) });
        continue;
      }
      const e = checked.event;
      // a throw here is a bug, not bad input (the event passed its schema): the message guard
      // closes this one socket (1011, logged) and the agent resends later — nothing is dropped
      const media = this.deps.media?.observe(e.type, e.details, conn.agent.id, e.observedAt);
      const details = withEvidence(e.details, media?.evidence);
      const d = decide({ type: e.type, details, agent: conn.agent }, { catalog, policy, approvals, ledgers: { media: media?.view }, now });
      rows.push({
        agentId: conn.agent.id, seq: e.seq, control: d.control, type: e.type, articles: d.articles, severity: d.severity,
        status: d.status, observedAt: e.observedAt, receivedAt, details, approvalId: d.approvalId, reasons: d.reasons,
        ...(details === e.details ? { detailsJson: checked.detailsJson } : {}),
      });
    }
    if (rejected.length) {
      this.deps.metrics.protocolErrors.inc({ code: "event_rejected" }, rejected.length);
      this.log.warn({ agentId: conn.agent.id, remote: conn.remote, rejected: rejected.length, first: rejected.slice(0, 5) },
        "agent events refused (invalid details or a server-only type): not stored, named in the ack");
    }
    // an all-rejected frame still waits for the commits before it, so acks stay in order
    this.deps.ingest.submit(rows, (err) => this.guard(conn, "ack", () => {
      if (err) {
        if (conn.ws.readyState === WebSocket.OPEN) {
          conn.closing = true;
          this.log.error({ err: err.message, agentId: conn.agent.id }, "events not stored (storage failure); connection closed (1011)");
          this.closeSoon(conn.ws, 1011, "storage failure");
        }
        return;
      }
      this.sendRaw(conn.ws, rejected.length ? { t: "ack", seq: maxSeq, rejected } : { t: "ack", seq: maxSeq });
    }));
  }

  private onBye(conn: AgentConn, reason: string): void {
    conn.bye = true;
    const id = conn.agent.id;
    const at = iso(conn.lastSeenMs);
    this.log.info({ agentId: id, remote: conn.remote, reason }, "agent said bye; offline");
    void this.deps.store.markAgentBye(id, at).catch((err: unknown) => this.log.error({ err, agentId: id }, "cannot record bye"));
    this.deps.stream.broadcastAgent({ kind: "agent", id, online: false, lastSeen: at });
  }

  private backFromSilence(conn: AgentConn): void {
    conn.silent = false;
    const at = iso(conn.lastSeenMs);
    this.log.info({ agentId: conn.agent.id }, "silent agent talks again; online");
    void this.deps.store.setAgentOnline(conn.agent.id, true, at).catch((err: unknown) => this.log.error({ err }, "cannot record agent online"));
    this.deps.stream.broadcastAgent({ kind: "agent", id: conn.agent.id, online: true, lastSeen: at });
  }

  private onClose(conn: AgentConn, code: number, reason: string): void {
    const id = conn.agent.id;
    if (conn.helloTimer) clearTimeout(conn.helloTimer);
    conn.helloTimer = undefined;
    if (this.conns.get(id) !== conn) return; // replaced
    this.conns.delete(id);
    this.deps.metrics.agentsConnected.set(this.conns.size);
    this.log.info({ agentId: id, remote: conn.remote, code, reason }, "agent disconnected");
    if (this.stopping || conn.bye) return;
    const at = iso(conn.lastSeenMs);
    void this.deps.store.setAgentOnline(id, false, at).catch((err: unknown) => this.log.error({ err, agentId: id }, "cannot record agent offline"));
    this.deps.stream.broadcastAgent({ kind: "agent", id, online: false, lastSeen: at });
  }

  private sendPolicy(conn: AgentConn): void {
    const { version, policy } = this.deps.state.policy;
    if (conn.ws.readyState !== WebSocket.OPEN) return;
    conn.ws.send(JSON.stringify({ t: "policy", version, policy } satisfies ServerMessage), (err) => {
      if (err) return;
      // The version delivered is the version in force at the agent (it applies what it receives).
      void this.deps.store.setAgentPolicyVersion(conn.agent.id, version)
        .catch((e: unknown) => this.log.error({ err: e, agentId: conn.agent.id }, "cannot record the policy version sent"));
    });
  }

  private sendApprovals(conn: AgentConn): void {
    const provider = this.deps.approvalsFor;
    if (!provider || conn.ws.readyState !== WebSocket.OPEN) return;
    try {
      const body = provider(conn.agent.id);
      this.sendRaw(conn.ws, { t: "approvals", ...body, serverTime: new Date().toISOString() });
    } catch (err) {
      this.log.error({ err, agentId: conn.agent.id }, "cannot build the approvals message; not sent");
    }
  }

  /**
   * Approvals or requests changed: push to these connected agents (undefined: every one). The
   * organisation is re-read, an agent may have been moved.
   */
  pushApprovals(agentIds?: string[]): number {
    let n = 0;
    const targets = agentIds ? agentIds.map((id) => this.conns.get(id)).filter((c): c is AgentConn => c !== undefined) : [...this.conns.values()];
    for (const conn of targets) {
      if (!conn.helloDone || conn.closing) continue;
      conn.agent.organisation = this.deps.state.agentOrganisation(conn.agent.id);
      this.sendApprovals(conn);
      n++;
    }
    this.log.info({ agents: n }, "approvals pushed to connected agents");
    return n;
  }

  /** Push the policy in force to every connected agent that said hello. */
  pushPolicy(): void {
    let n = 0;
    for (const conn of this.conns.values()) {
      if (conn.helloDone && !conn.closing) {
        this.sendPolicy(conn);
        n++;
      }
    }
    this.log.info({ version: this.deps.state.policy.version, agents: n }, "policy pushed to connected agents");
    this.schedule();
  }

  /** Tags changed (PUT /api/agents/:id/tags): later events of a connected agent are decided with them. */
  setTags(id: string, tags: string[]): void {
    const c = this.conns.get(id);
    if (c) c.agent.tags = tags;
  }

  /** Revoked: its connection is closed with 4403. */
  revoked(id: string): void {
    const c = this.conns.get(id);
    if (!c) return;
    c.closing = true;
    this.log.warn({ agentId: id, remote: c.remote }, "agent credential revoked; connection closed (4403)");
    this.sendRaw(c.ws, { t: "error", code: "revoked", message: "agent credential revoked" });
    this.closeSoon(c.ws, CloseCode.revoked, "revoked");
  }

  /**
   * Liveness: every pingIntervalMs each socket is pinged; one that did not answer the previous
   * ping (a dead peer, a half-open TCP connection) is terminated.
   */
  private startPings(): void {
    if (this.pingTimer) return;
    this.pingTimer = setInterval(() => {
      for (const ws of this.wss.clients) {
        try {
          if (this.awaitingPong.has(ws)) {
            this.log.warn({ agentId: this.agentOf(ws) }, "agent socket did not answer a ping; terminated");
            ws.terminate();
            continue;
          }
          if (ws.readyState !== WebSocket.OPEN) continue;
          this.awaitingPong.add(ws);
          ws.ping();
        } catch (err) {
          this.log.error({ err }, "ping failed; socket terminated");
          ws.terminate();
        }
      }
    }, this.limits.pingIntervalMs);
    this.pingTimer.unref();
  }

  private agentOf(ws: WebSocket): string | undefined {
    for (const c of this.conns.values()) if (c.ws === ws) return c.agent.id;
    return undefined;
  }

  /** Start (or restart, when heartbeatSeconds changed) the silence sweep, and the pings. */
  schedule(): void {
    this.startPings();
    const seconds = this.deps.state.heartbeatSeconds();
    if (this.timer && seconds === this.timerSeconds) return;
    if (this.timer) clearInterval(this.timer);
    this.timerSeconds = seconds;
    this.timer = setInterval(() => void this.sweep(), seconds * 1000);
  }

  /**
   * Every agent not heard from for 3 heartbeats (and not stopped with bye) gets one agent.silent
   * event per silence, is marked offline and the change is broadcast.
   */
  async sweep(): Promise<void> {
    if (this.sweeping || this.stopping) return;
    this.sweeping = true;
    const { store, state, ingest, stream } = this.deps;
    try {
      const hbMs = state.heartbeatSeconds() * 1000;
      const now = Date.now();
      const cutoff = now - 3 * hbMs;
      const live = new Map<string, string>();
      for (const c of this.conns.values()) if (!c.bye) live.set(c.agent.id, iso(c.lastSeenMs));
      await store.touchAgents(live);
      const candidates = await store.silentCandidates(iso(cutoff));
      const rows: EventRow[] = [];
      const nowDate = new Date(now);
      for (const a of candidates) {
        const conn = this.conns.get(a.id);
        if (conn && (conn.lastSeenMs >= cutoff || conn.bye)) continue;
        const lastSeen = a.lastSeen!;
        const missedHeartbeats = Math.floor((now - Date.parse(lastSeen)) / hbMs);
        const details = { lastSeen, missedHeartbeats };
        const d = decide({ type: "agent.silent", details, agent: { id: a.id, tags: a.tags, organisation: state.agentOrganisation(a.id) } },
          { catalog: loadCatalog(), policy: state.policy.policy, approvals: state.approvals, now: nowDate });
        rows.push({
          agentId: a.id, seq: null, control: d.control, type: "agent.silent", articles: d.articles, severity: d.severity,
          status: d.status, observedAt: nowDate.toISOString(), receivedAt: nowDate.toISOString(), details, approvalId: d.approvalId,
          reasons: d.reasons,
        });
        await store.markAgentSilent(a.id, nowDate.toISOString());
        if (conn) conn.silent = true;
        this.log.warn({ agentId: a.id, hostname: a.hostname, lastSeen, missedHeartbeats }, "agent silent: heartbeats missed; agent.silent recorded, offline");
        stream.broadcastAgent({ kind: "agent", id: a.id, online: false, lastSeen });
      }
      if (rows.length) ingest.submit(rows);
    } catch (err) {
      this.log.error({ err }, "silence sweep failed; retried at the next interval");
    } finally {
      this.sweeping = false;
    }
  }

  /** Stored events for the stream, built only when someone listens. */
  static storedEvents(rows: EventRow[], ids: Array<number | null>): StoredEvent[] {
    const out: StoredEvent[] = [];
    for (let i = 0; i < rows.length; i++) {
      const id = ids[i];
      if (id !== null && id !== undefined) out.push(toStoredEvent(id, rows[i]!));
    }
    return out;
  }

  /** Stop the sweep and close every agent connection (1001). */
  close(): void {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = undefined;
    for (const c of this.conns.values()) {
      c.closing = true;
      if (c.helloTimer) clearTimeout(c.helloTimer);
      c.ws.close(CloseCode.goingAway, "server stopping");
    }
    this.wss.close();
  }

  /** Force-close sockets that did not finish the closing handshake. */
  terminateAll(): void {
    for (const c of this.conns.values()) c.ws.terminate();
    for (const ws of this.wss.clients) ws.terminate();
  }
}
