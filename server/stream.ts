/**
 * The live stream (`/api/stream`, WebSocket): every stored event (after its commit) and every
 * agent status change, one JSON message each. The admin token comes as `?token=` or as
 * `Authorization: Bearer`; it is checked BEFORE the upgrade: without it, or with a wrong one, the
 * answer is HTTP 401 (429 after too many failures from one address) and no WebSocket is opened.
 * Clients are pinged; one that does not answer is terminated.
 */
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocket, WebSocketServer } from "ws";
import type { Logger } from "../lib/log.js";
import { CloseCode, type StoredEvent } from "../policies/schema.js";
import type { AuthFailureLimiter } from "./auth-limit.js";
import { RateLimitedError } from "./errors.js";
import { DEFAULT_LIMITS, LogSampler, type ConnectionLimits } from "./limits.js";
import type { Principal } from "./people/permissions.js";
import { bearer, secretEquals } from "./tokens.js";
import { refuseUpgrade, type UpgradeEndpoint } from "./upgrade.js";

/** A stream client that cannot keep up (this many bytes unsent) is dropped. */
const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;

export interface AgentStatusMessage {
  kind: "agent";
  id: string;
  online: boolean;
  lastSeen: string | null;
}

/**
 * Who may listen and what each listener sees (server/people/): the caller of a token (admin token,
 * personal API token), and whether it may see an agent's rows (the organisation filter).
 * Without it, the admin token only.
 */
export interface StreamAccess {
  principal(token: string): Principal | undefined;
  /** the dashboard's session cookie (a browser cannot set headers on a WebSocket) */
  sessionPrincipal?(sessionId: string): Principal | undefined;
  /** stream.read allowed */
  mayListen(p: Principal): boolean;
  /** the organisation filter: may `p` see this agent's events and status? */
  seesAgent(p: Principal, agentId: string): boolean;
}

/** the `kyoka_session` cookie's value (server/people/workflow.ts SESSION_COOKIE), if any */
export function sessionCookie(header: string | undefined): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === "kyoka_session") return part.slice(eq + 1).trim() || undefined;
  }
  return undefined;
}

export class LiveStream implements UpgradeEndpoint {
  private readonly wss: WebSocketServer;
  /** each listener with its caller (null: the admin token, sees everything) */
  private readonly clients = new Map<WebSocket, Principal | null>();
  access: StreamAccess | undefined;
  private readonly limits: ConnectionLimits;
  private readonly refusals = new LogSampler(5, 60_000);
  private readonly awaitingPong = new WeakSet<WebSocket>();
  private readonly pingTimer: NodeJS.Timeout;

  constructor(
    private readonly adminToken: string, private readonly log: Logger, limits: Partial<ConnectionLimits> = {},
    /** failed authentications per address (shared with the HTTP API); none: no limit */
    private readonly authLimit?: AuthFailureLimiter,
  ) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
    this.wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024, perMessageDeflate: false });
    this.pingTimer = setInterval(() => this.ping(), this.limits.pingIntervalMs);
    this.pingTimer.unref();
  }

  get hasClients(): boolean {
    return this.clients.size > 0;
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL): void {
    const remote = req.socket.remoteAddress ?? "?";
    try {
      this.authLimit?.check(remote);
    } catch (err) {
      if (!(err instanceof RateLimitedError)) throw err;
      this.logRefusal(remote, "too_many_failures", "stream client refused: too many failed authentications from this address (HTTP 429)");
      refuseUpgrade(socket, 429, "too_many_failures", err.message, { "Retry-After": String(err.retryAfterSeconds) });
      return;
    }
    const token = url.searchParams.get("token") ?? bearer(req.headers.authorization);
    const isAdmin = token !== undefined && token !== null && secretEquals(token, this.adminToken);
    const session = token ? undefined : sessionCookie(req.headers.cookie);
    const principal = isAdmin ? undefined
      : token ? this.access?.principal(token)
      : session ? this.access?.sessionPrincipal?.(session) : undefined;
    if (!isAdmin && !principal) {
      this.authLimit?.failed(remote, "stream token", "/api/stream");
      this.logRefusal(remote, "unauthorized", "stream client refused: missing or wrong token (HTTP 401)");
      refuseUpgrade(socket, 401, "unauthorized", "missing or wrong token: the admin token or a personal API token (?token= or Authorization: Bearer)");
      return;
    }
    if (principal && !this.access!.mayListen(principal)) {
      this.logRefusal(remote, "forbidden", `stream client refused: ${principal.actor} (${principal.role}) may not read the stream (HTTP 403)`);
      refuseUpgrade(socket, 403, "forbidden", `${principal.actor} (${principal.role}) may not read the stream`);
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on("error", (err) => this.log.warn({ err: err.message, remote }, "stream client error"));
      ws.on("pong", () => this.awaitingPong.delete(ws));
      this.clients.set(ws, principal ?? null);
      ws.on("close", () => this.clients.delete(ws));
      // The stream is one-way; anything a client sends is ignored.
    });
  }

  private logRefusal(remote: string, code: string, msg: string): void {
    const s = this.refusals.sample(`${code}:${remote}`);
    if (s) this.log.warn({ remote, code, suppressed: s.suppressed }, msg);
  }

  private ping(): void {
    for (const ws of this.clients.keys()) {
      try {
        if (this.awaitingPong.has(ws)) {
          this.log.warn("stream client did not answer a ping; terminated");
          ws.terminate();
          this.clients.delete(ws);
          continue;
        }
        if (ws.readyState !== WebSocket.OPEN) continue;
        this.awaitingPong.add(ws);
        ws.ping();
      } catch (err) {
        this.log.error({ err }, "stream ping failed; client terminated");
        ws.terminate();
        this.clients.delete(ws);
      }
    }
  }

  broadcastEvents(events: StoredEvent[]): void {
    if (!this.clients.size) return;
    for (const event of events) this.send(JSON.stringify({ kind: "event", event }), event.agentId);
  }

  broadcastAgent(status: AgentStatusMessage): void {
    if (!this.clients.size) return;
    this.send(JSON.stringify(status), status.id);
  }

  /** To every listener that may see `agentId`'s rows (the organisation filter). */
  private send(text: string, agentId: string): void {
    for (const [ws, principal] of this.clients) {
      if (principal && this.access && !this.access.seesAgent(principal, agentId)) continue;
      if (ws.readyState !== WebSocket.OPEN) continue;
      if (ws.bufferedAmount > MAX_BUFFERED_BYTES) {
        this.log.warn("stream client too slow (16 MiB unsent); dropped");
        ws.terminate();
        this.clients.delete(ws);
        continue;
      }
      ws.send(text);
    }
  }

  close(): void {
    clearInterval(this.pingTimer);
    for (const ws of this.clients.keys()) ws.close(CloseCode.goingAway, "server stopping");
    this.clients.clear();
    this.wss.close();
  }
}
