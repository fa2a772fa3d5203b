/**
 * The HTTP API (SPEC.md): a small router over node:http. JSON in and out, admin routes behind
 * `Authorization: Bearer <admin token>`, every error as `{error}`, bodies over 10 MiB refused with
 * 413, and no request can take the server down (caught, logged, 500).
 */
import { randomBytes, randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { z } from "zod";
import type { Logger } from "../lib/log.js";
import { parsePolicyText, PolicyError } from "../policies/policy.js";
import { ApprovalInput, Control, EventType, formatIssues, Status, type Approval } from "../policies/schema.js";
import type { AgentGateway } from "./agents-ws.js";
import type { AssetLedger } from "./assets.js";
import type { MediaLedger } from "./media-ledger.js";
import type { ServerMetrics } from "./metrics.js";
import type { ServerState } from "./state.js";
import type { AgentRecord, ApprovalRecord, Store } from "./store.js";
import { bearer, secretEquals, sha256Hex, type Tokens } from "./tokens.js";

export const MAX_BODY_BYTES = 10 * 1024 * 1024;
export const MAX_EVENTS_LIMIT = 10_000;

export interface ApiDeps {
  store: Store;
  state: ServerState;
  gateway: AgentGateway;
  tokens: Tokens;
  metrics: ServerMetrics;
  log: Logger;
  /** the PC ledger (台帳) routes, server/assets.ts */
  assets?: AssetLedger;
  /** the media ledger (媒体台帳) routes, server/media-ledger.ts */
  media?: MediaLedger;
}

export class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly extra: Record<string, unknown> = {}) {
    super(message);
  }
}

interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  params: string[];
}

type Handler = (ctx: Ctx) => Promise<void>;

interface Route {
  method: string;
  pattern: RegExp;
  /** false: no admin token needed */
  auth: boolean;
  handler: Handler;
}

/** Send a JSON response (204: no body). */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  if (status === 204) {
    res.writeHead(204).end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

/** Read the body as text, refusing more than MAX_BODY_BYTES with 413. */
async function readBody(req: IncomingMessage): Promise<string> {
  return (await readRawBody(req)).toString("utf8");
}

/** Read the body as bytes (e.g. a Shift_JIS CSV), refusing more than MAX_BODY_BYTES with 413. */
export function readRawBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"] ?? 0);
    if (declared > MAX_BODY_BYTES) {
      reject(new HttpError(413, `request body larger than ${MAX_BODY_BYTES} bytes`));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on("data", (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        done = true;
        chunks.length = 0;
        reject(new HttpError(413, `request body larger than ${MAX_BODY_BYTES} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      if (done) return;
      done = true;
      resolve(Buffer.concat(chunks));
    });
    req.on("error", (err) => {
      if (done) return;
      done = true;
      reject(err);
    });
  });
}

/** Read a JSON body and validate it: 400 naming the problem otherwise. */
export async function readJson<T>(req: IncomingMessage, schema: z.ZodType<T>): Promise<T> {
  const text = await readBody(req);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, `body is not valid JSON: ${(err as Error).message}`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new HttpError(400, formatIssues(parsed.error));
  return parsed.data;
}

const EnrollBody = z.object({
  token: z.string().min(1),
  hostname: z.string().min(1).max(255),
  os: z.string().max(255),
  version: z.string().max(100),
});

const ResolveBody = z.strictObject({
  resolution: z.string().min(1).max(200),
  note: z.string().max(10_000).nullable().optional(),
});

const TagsBody = z.array(z.string().min(1).max(100)).max(100);

const EventsQuery = z.strictObject({
  control: Control.optional(),
  type: EventType.optional(),
  agent: z.string().min(1).optional(),
  status: Status.optional(),
  since: z.string().refine((s) => !Number.isNaN(Date.parse(s)), "not an ISO 8601 date/time").optional(),
  limit: z.coerce.number().int().min(1).max(MAX_EVENTS_LIMIT).default(100),
});

function agentView(a: AgentRecord, live: { online: boolean; lastSeen: string } | undefined) {
  return {
    id: a.id,
    hostname: a.hostname,
    os: a.os,
    version: a.version,
    online: live ? live.online : false,
    lastSeen: live ? live.lastSeen : a.lastSeen,
    policyVersion: a.policyVersion,
    tags: a.tags,
    enrolledAt: a.enrolledAt,
    revoked: a.revokedAt !== null,
    revokedAt: a.revokedAt,
  };
}

function approvalView(a: ApprovalRecord | Approval) {
  return {
    id: a.id, control: a.control, match: a.match, scope: a.scope, validFrom: a.validFrom, validUntil: a.validUntil,
    reason: a.reason, createdAt: a.createdAt, deletedAt: "deletedAt" in a ? a.deletedAt : null,
  };
}

const HOME_PAGE = `<!doctype html>
<html lang="ja">
<head><meta charset="utf-8"><title>kyoka（許可）</title>
<style>body{font-family:system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem;line-height:1.6}code{background:#f3f3f3;padding:0 .2em}</style>
</head>
<body>
<h1>kyoka（許可）</h1>
<p>kyoka は、委託先（乙）のパソコンが情報セキュリティ関連業務特記事項（別記2）などの契約条項を守っていることを、
証跡とともに継続的に示すためのエンドポイント監視エージェントと集約サーバです。
ソフトウェアの導入・更新・削除、ネットワーク接続、記録媒体、ファイル交換ソフト、機器の台帳を監視します。</p>
<p>ダッシュボードは準備中です。API は <a href="/api">/api</a> を参照してください（管理トークン: データディレクトリの <code>admin-token</code>）。</p>
<hr>
<h2 lang="en">kyoka (許可, "permission")</h2>
<p lang="en">kyoka is an endpoint policy agent and aggregation server that proves, continuously and with evidence,
that a contractor's PCs keep the security clauses of their contract: software changes, network attachment,
removable media, file-sharing software and the hardware ledger.</p>
<p lang="en">The dashboard is coming. See the API at <a href="/api">/api</a> (admin token: <code>admin-token</code> in the data directory).</p>
</body>
</html>
`;

const API_INDEX = {
  name: "kyoka",
  auth: "Authorization: Bearer <admin token> (file admin-token in the data directory)",
  routes: [
    "GET /healthz",
    "POST /api/enroll {token, hostname, os, version} (no bearer; token = enrollment token)",
    "GET /api/agents",
    "POST /api/agents/:id/revoke",
    "PUT /api/agents/:id/tags [tag, ...]",
    "GET /api/events?control=&type=&agent=&status=&since=&limit=",
    "POST /api/events/:id/resolve {resolution, note}",
    "POST /api/approvals {control, match, scope, validFrom, validUntil, reason}",
    "GET /api/approvals[?all=1]",
    "DELETE /api/approvals/:id",
    "GET /api/policy",
    "PUT /api/policy (YAML or JSON)",
    "GET /api/stream (WebSocket; ?token= or bearer)",
    "GET /api/assets (the ledger 台帳 joined with the live inventory; unregistered agents)",
    "POST /api/assets/import[?mode=upsert] (text/csv: UTF-8, UTF-8 BOM or Shift_JIS; default replaces the ledger)",
    "GET /api/assets/export (text/csv, UTF-8 with BOM)",
    "GET /api/media (the media ledger 媒体台帳)",
    "POST /api/media {serial, vendorId?, productId?, label?, owner, note?}",
    "DELETE /api/media/:id",
    "GET /metrics (Prometheus; bearer)",
    "WebSocket /agent (Bearer <agentId>:<secret>)",
  ],
};

export function createApiHandler(deps: ApiDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const { store, state, gateway, tokens, metrics } = deps;
  const log = deps.log;

  const routes: Route[] = [];
  const route = (method: string, path: string, auth: boolean, handler: Handler): void => {
    // `:param` segments become capture groups
    const pattern = new RegExp(`^${path.replace(/:[a-zA-Z]+/g, "([^/]+)")}$`);
    routes.push({ method, pattern, auth, handler });
  };

  route("GET", "/", false, async ({ res }) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(HOME_PAGE);
  });
  route("GET", "/healthz", false, async ({ res }) => sendJson(res, 200, { ok: true }));
  route("GET", "/api", false, async ({ res }) => sendJson(res, 200, API_INDEX));
  route("GET", "/metrics", true, async ({ res }) => {
    const text = await metrics.registry.metrics();
    res.writeHead(200, { "content-type": metrics.registry.contentType }).end(text);
  });

  // --- enrollment ----------------------------------------------------------------------------
  route("POST", "/api/enroll", false, async ({ req, res }) => {
    const body = await readJson(req, EnrollBody);
    if (!secretEquals(body.token, tokens.enrollToken)) {
      log.warn({ remote: req.socket.remoteAddress, hostname: body.hostname }, "enrollment refused: wrong enrollment token");
      throw new HttpError(401, "wrong enrollment token");
    }
    const agentId = randomUUID();
    const secret = randomBytes(32).toString("base64url");
    await store.createAgent({ id: agentId, secretHash: sha256Hex(secret), hostname: body.hostname, os: body.os, version: body.version, enrolledAt: new Date().toISOString() });
    log.info({ agentId, hostname: body.hostname, os: body.os, remote: req.socket.remoteAddress }, "agent enrolled");
    sendJson(res, 201, { agentId, secret });
  });

  // --- agents --------------------------------------------------------------------------------
  route("GET", "/api/agents", true, async ({ res }) => {
    const agents = await store.listAgents();
    sendJson(res, 200, agents.map((a) => agentView(a, gateway.liveStatus(a.id))));
  });
  route("POST", "/api/agents/:id/revoke", true, async ({ res, params }) => {
    const id = params[0]!;
    if (!(await store.revokeAgent(id, new Date().toISOString()))) throw new HttpError(404, `no agent ${id}`);
    gateway.revoked(id);
    log.warn({ agentId: id }, "agent credential revoked");
    const a = (await store.getAgent(id))!;
    sendJson(res, 200, agentView(a, undefined));
  });
  route("PUT", "/api/agents/:id/tags", true, async ({ req, res, params }) => {
    const id = params[0]!;
    const tags = [...new Set(await readJson(req, TagsBody))];
    if (!(await store.setAgentTags(id, tags))) throw new HttpError(404, `no agent ${id}`);
    gateway.setTags(id, tags);
    const a = (await store.getAgent(id))!;
    sendJson(res, 200, agentView(a, gateway.liveStatus(id)));
  });

  // --- events --------------------------------------------------------------------------------
  route("GET", "/api/events", true, async ({ res, url }) => {
    const raw: Record<string, string> = {};
    for (const [k, v] of url.searchParams) if (v !== "") raw[k] = v;
    const parsed = EventsQuery.safeParse(raw);
    if (!parsed.success) throw new HttpError(400, `bad query: ${formatIssues(parsed.error)}`);
    const q = parsed.data;
    sendJson(res, 200, await store.queryEvents({ ...q, since: q.since === undefined ? undefined : new Date(q.since).toISOString() }));
  });
  route("POST", "/api/events/:id/resolve", true, async ({ req, res, params }) => {
    const id = Number(params[0]);
    if (!Number.isSafeInteger(id) || id <= 0) throw new HttpError(400, `bad event id ${params[0]}`);
    const body = await readJson(req, ResolveBody);
    const event = await store.resolveEvent(id, body.resolution, body.note ?? null, new Date().toISOString());
    if (!event) throw new HttpError(404, `no event ${id}`);
    log.info({ eventId: id, resolution: body.resolution }, "event resolved");
    sendJson(res, 200, event);
  });

  // --- approvals (甲許可) ---------------------------------------------------------------------
  route("POST", "/api/approvals", true, async ({ req, res }) => {
    const input = await readJson(req, ApprovalInput);
    const approval: Approval = { ...input, id: randomUUID(), createdAt: new Date().toISOString() };
    await store.createApproval(approval);
    state.approvals = [...state.approvals, approval];
    log.info({ approvalId: approval.id, control: approval.control, scope: approval.scope }, "approval created");
    sendJson(res, 201, approvalView(approval));
  });
  route("GET", "/api/approvals", true, async ({ res, url }) => {
    const all = ["1", "true"].includes(url.searchParams.get("all") ?? "");
    sendJson(res, 200, (await store.listApprovals(all)).map(approvalView));
  });
  route("DELETE", "/api/approvals/:id", true, async ({ res, params }) => {
    const id = params[0]!;
    if (!(await store.deleteApproval(id, new Date().toISOString()))) throw new HttpError(404, `no approval ${id}`);
    state.approvals = state.approvals.filter((a) => a.id !== id);
    log.info({ approvalId: id }, "approval deleted (no longer in force)");
    sendJson(res, 204, null);
  });

  // --- PC ledger (台帳): server/assets.ts ------------------------------------------------------
  for (const r of deps.assets?.routes() ?? []) route(r.method, r.path, true, r.handler);

  // --- media ledger (媒体台帳): server/media-ledger.ts ------------------------------------------
  for (const r of deps.media?.routes() ?? []) route(r.method, r.path, true, r.handler);

  // --- policy --------------------------------------------------------------------------------
  route("GET", "/api/policy", true, async ({ res }) => {
    const p = state.policy;
    sendJson(res, 200, { version: p.version, policy: p.policy, text: p.text });
  });
  route("PUT", "/api/policy", true, async ({ req, res }) => {
    const text = await readBody(req);
    let policy;
    try {
      policy = parsePolicyText(text);
    } catch (err) {
      if (err instanceof PolicyError) {
        log.warn({ line: err.line, err: err.message }, "policy refused; the policy in force stays");
        throw new HttpError(400, err.message, { line: err.line ?? null });
      }
      throw err;
    }
    const version = await store.insertPolicy(text, new Date().toISOString());
    state.policy = { version, policy, text };
    log.info({ version }, "new policy version in force");
    gateway.pushPolicy();
    sendJson(res, 200, { version });
  });

  return (req, res) => {
    try {
      dispatch(req, res);
    } catch (err) {
      log.error({ err, method: req.method, url: req.url }, "request failed; answered 500");
      sendJson(res, 500, { error: "internal server error" });
    }
  };

  function dispatch(req: IncomingMessage, res: ServerResponse): void {
    const started = Date.now();
    let url: URL;
    try {
      url = new URL(req.url ?? "/", "http://localhost");
    } catch {
      sendJson(res, 400, { error: "bad request URL" });
      return;
    }
    const path = url.pathname.length > 1 ? url.pathname.replace(/\/+$/, "") : url.pathname;
    let matched: Route | undefined;
    let params: string[] = [];
    let pathKnown = false;
    for (const r of routes) {
      const m = r.pattern.exec(path);
      if (!m) continue;
      pathKnown = true;
      if (r.method === req.method) {
        matched = r;
        try {
          params = m.slice(1).map((p) => decodeURIComponent(p));
        } catch {
          sendJson(res, 400, { error: "bad percent-encoding in the path" });
          return;
        }
        break;
      }
    }
    const fail = (err: unknown): void => {
      if (err instanceof HttpError) {
        if (err.status === 413) res.setHeader("connection", "close");
        sendJson(res, err.status, { error: err.message, ...err.extra });
        if (err.status === 413) res.on("finish", () => req.destroy());
        return;
      }
      log.error({ err, method: req.method, url: req.url }, "request failed; answered 500");
      sendJson(res, 500, { error: "internal server error" });
    };
    if (!matched) {
      if (pathKnown) sendJson(res, 405, { error: `method ${req.method} not allowed on ${path}` });
      else sendJson(res, 404, { error: `no route ${req.method} ${path}` });
      return;
    }
    if (matched.auth) {
      const token = bearer(req.headers.authorization);
      if (token === undefined || !secretEquals(token, tokens.adminToken)) {
        sendJson(res, 401, { error: "missing or wrong admin token (Authorization: Bearer <token>)" });
        req.resume();
        return;
      }
    }
    const ctx: Ctx = { req, res, url, params };
    matched.handler(ctx).then(
      () => log.debug({ method: req.method, path, status: res.statusCode, ms: Date.now() - started }, "request"),
      fail,
    );
  }
}
