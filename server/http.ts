/**
 * The HTTP API (SPEC.md) on Fastify: this file builds the app — body parsing, admin-token
 * authentication, the one error handler, security headers, the route index (`/api`) and the
 * OpenAPI document (`/api/openapi.json`) — and registers the route files, one per domain, in
 * server/routes/. A route declares its params, query, body and response as zod schemas; the index
 * and the OpenAPI document are generated from those same schemas, so they cannot disagree.
 *
 * Adding a route: put it in the route file of its domain (or a new `server/routes/<domain>.ts`
 * listed in ROUTE_FILES below) with `schema: {summary, params?, querystring?, body?, response}`.
 * Routes need the admin token unless `config: {public: true}`. Domain code throws the errors of
 * server/errors.ts; the error handler here turns them into `{error, ...}` with a status code.
 *
 * The WebSockets (`/agent`, `/api/stream`) stay on `ws`: server.ts dispatches the upgrade; their
 * GET routes here only document them and answer a plain GET with 426.
 */
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import helmet from "@fastify/helmet";
import swagger from "@fastify/swagger";
import Fastify, { LogController, type FastifyError, type FastifyReply } from "fastify";
import {
  hasZodFastifySchemaValidationErrors, isResponseSerializationError, jsonSchemaTransform, serializerCompiler, validatorCompiler,
  type FastifyPluginAsyncZod, type ZodTypeProvider,
} from "fastify-type-provider-zod";
import { z } from "zod";
import type { Logger } from "../lib/log.js";
import type { AgentGateway } from "./agents-ws.js";
import type { AssetLedger } from "./assets.js";
import { AuthFailureLimiter } from "./auth-limit.js";
import {
  AuthenticationError, ConflictError, DomainError, ForbiddenError, InvalidInputError, NotFoundError, NotImplementedError, RateLimitedError,
  UnsupportedMediaTypeError,
} from "./errors.js";
import type { Enrollment } from "./enrollment.js";
import type { MediaLedger } from "./media-ledger.js";
import type { ServerMetrics } from "./metrics.js";
import { agentRoutes } from "./routes/agents.js";
import { approvalRoutes } from "./routes/approvals.js";
import { assetRoutes } from "./routes/assets.js";
import { catalogRoutes } from "./routes/catalog.js";
import { dashboardRoutes } from "./routes/dashboard.js";
import { enrollRoutes } from "./routes/enroll.js";
import { eventRoutes } from "./routes/events.js";
import { indexRoutes } from "./routes/index.js";
import { incidentRoutes } from "./routes/incidents.js";
import { mediaRoutes } from "./routes/media.js";
import { metricsRoutes } from "./routes/metrics.js";
import { policyRoutes } from "./routes/policy.js";
import { reportRoutes } from "./routes/reports.js";
import type { Reports } from "./reports/service.js";
import { can, type Action, type Principal } from "./people/permissions.js";
import { CSRF_HEADER, SESSION_COOKIE, type Workflow } from "./people/workflow.js";
import { peopleRoutes } from "./routes/people.js";
import type { ServerState } from "./state.js";
import type { Store } from "./store.js";
import { bearer, secretEquals, type Tokens } from "./tokens.js";

export const MAX_BODY_BYTES = 10 * 1024 * 1024;

declare module "fastify" {
  interface FastifyContextConfig {
    /** no admin token needed */
    public?: boolean;
    /** how the body is read: JSON (default), text (the policy's YAML) or bytes (a CSV file) */
    body?: "json" | "text" | "bytes";
    /** a WebSocket endpoint (upgrade handled in server.ts); the GET route only documents it */
    websocket?: boolean;
    /**
     * what the route does, for the permission check (server/people/permissions.ts `can`): a role
     * that may not do it gets 403; "any": every authenticated caller. Without it: admin only.
     */
    action?: Action | "any";
  }
  interface FastifyRequest {
    /** who is calling (set by the authentication hook on every non-public route) */
    principal: Principal;
  }
}

export interface ApiDeps {
  store: Store;
  state: ServerState;
  gateway: AgentGateway;
  tokens: Tokens;
  metrics: ServerMetrics;
  log: Logger;
  /** counts failed authentications per IP (admin token, enrollment token) and answers 429 */
  authLimit: AuthFailureLimiter;
  /** the PC ledger (台帳) routes, server/assets.ts */
  assets?: AssetLedger;
  /** the media ledger (媒体台帳) routes, server/media-ledger.ts */
  media?: MediaLedger;
  /** enrollment and enrollment tokens, server/enrollment.ts */
  enrollment: Enrollment;
  /** users, sessions, tokens, organisations, requests, the audit trail: server/people/ */
  workflow: Workflow;
  /** compliance reports: generate, store, list, download (server/reports/) */
  reports?: Reports;
}

/** A route file: a Fastify plugin with zod schemas, given the server's components. */
export type RouteFile = FastifyPluginAsyncZod<ApiDeps>;

/** One line of the route index (`GET /api`), made from the route's schema. */
export interface RouteIndexEntry {
  method: string;
  path: string;
  auth: "admin" | "none";
  /** the action the route needs (people/permissions.ts: which roles may); "any": any authenticated caller */
  action?: string;
  summary: string;
  query?: string[];
  websocket?: true;
}

/** The route files, in the order of the index. */
const ROUTE_FILES: RouteFile[] = [
  dashboardRoutes, indexRoutes, catalogRoutes, enrollRoutes, agentRoutes, eventRoutes, approvalRoutes, policyRoutes, assetRoutes, mediaRoutes, metricsRoutes, peopleRoutes,
  incidentRoutes, reportRoutes,
];

/** The value of one cookie of a request, if present. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** The body of every error answer. */
export const ErrorBody = z.looseObject({ error: z.string().describe("what went wrong, naming the field or line") });

const METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"] as const;

/** The path of a request URL without its query string (what is logged: `?token=` never is). */
export function pathOf(url: string | undefined): string {
  const u = url ?? "/";
  const q = u.indexOf("?");
  return q === -1 ? u : u.slice(0, q);
}

/** Query strings as the API always read them: the last value of a key wins, empty values are absent. */
function parseQuery(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(text)) {
    if (v === "") delete out[k];
    else out[k] = v;
  }
  return out;
}

function issuesText(err: { validation: Array<{ instancePath: string; message?: string }> }): string {
  return err.validation
    .map((i) => `${i.instancePath && i.instancePath !== "/" ? i.instancePath.slice(1).replace(/\//g, ".") : "(root)"}: ${i.message ?? "invalid"}`)
    .join("; ");
}

/** Any error → status code and body. The one place where errors become HTTP. */
function httpError(err: unknown): { status: number; body: Record<string, unknown> } {
  if (err instanceof DomainError) {
    const status = err instanceof InvalidInputError ? 400
      : err instanceof NotFoundError ? 404
        : err instanceof ConflictError ? 409
          : err instanceof UnsupportedMediaTypeError ? 415
            : err instanceof AuthenticationError ? 401
              : err instanceof RateLimitedError ? 429
                : err instanceof ForbiddenError ? 403
                  : err instanceof NotImplementedError ? 501
                : 500;
    return { status, body: { error: err.message, ...err.extra } };
  }
  if (hasZodFastifySchemaValidationErrors(err)) {
    const where = (err as { validationContext?: string }).validationContext;
    const prefix = where === "querystring" ? "bad query: " : where === "params" ? "bad path parameter: " : "";
    return { status: 400, body: { error: `${prefix}${issuesText(err)}` } };
  }
  const fe = err as Partial<FastifyError> & { status?: unknown; extra?: unknown };
  if (fe.code === "FST_ERR_CTP_BODY_TOO_LARGE") return { status: 413, body: { error: `request body larger than ${MAX_BODY_BYTES} bytes` } };
  // Fastify's own errors (statusCode) and domain errors that carry their status (server/people/errors.ts)
  const status = typeof fe.statusCode === "number" ? fe.statusCode : typeof fe.status === "number" ? fe.status : undefined;
  if (!isResponseSerializationError(err) && status !== undefined && status >= 400 && status < 500) {
    const extra = fe.extra && typeof fe.extra === "object" ? fe.extra as Record<string, unknown> : {};
    return { status, body: { error: fe.message ?? "bad request", ...extra } };
  }
  return { status: 500, body: { error: "internal server error" } };
}

/**
 * Build the API on `server` (made by server.ts, http or https, with its timeouts and connection
 * cap). Resolves when every route is registered; server.ts then listens.
 */
export async function buildApi(deps: ApiDeps, server: Server) {
  const log = deps.log;
  const app = Fastify({
    // the node server is server.ts's: Fastify only gets its requests (upgrades stay with ws)
    serverFactory: (handler) => {
      server.on("request", handler as (req: IncomingMessage, res: ServerResponse) => void);
      return server;
    },
    loggerInstance: log.child({}, {
      // a logged request never shows its query string (?token=)
      serializers: { req: (r: IncomingMessage) => ({ method: r.method, path: pathOf(r.url) }) },
    }),
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: MAX_BODY_BYTES,
    exposeHeadRoutes: false,
    return503OnClosing: false,
    routerOptions: { ignoreTrailingSlash: true, querystringParser: parseQuery },
    frameworkErrors: (err, _req, res) => {
      const reply = res as unknown as FastifyReply;
      void reply.code(400).send({ error: err.code === "FST_ERR_BAD_URL" ? "bad percent-encoding in the path" : err.message });
    },
  }).withTypeProvider<ZodTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  // --- bodies: read as bytes whatever the content type; JSON routes parse them below -------------
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "buffer" }, (_req, body, done) => done(null, body));
  app.addHook("preValidation", async (req) => {
    if (!Buffer.isBuffer(req.body)) return;
    const kind = req.routeOptions.config.body ?? "json";
    if (kind === "bytes") return;
    const text = req.body.toString("utf8");
    if (kind === "text") {
      req.body = text;
      return;
    }
    try {
      req.body = JSON.parse(text) as unknown;
    } catch (err) {
      throw new InvalidInputError(`body is not valid JSON: ${(err as Error).message}`);
    }
  });

  // --- errors: one handler; 404 and 405 as {error} ------------------------------------------------
  app.setErrorHandler((err, req, reply) => {
    const { status, body } = httpError(err);
    if (status >= 500) log.error({ err, method: req.method, path: pathOf(req.url) }, "request failed; answered 500");
    if (status === 413) void reply.header("connection", "close");
    if (status === 429 && err instanceof RateLimitedError) void reply.header("retry-after", String(err.retryAfterSeconds));
    return reply.code(status).type("application/json; charset=utf-8").send(body);
  });
  app.setNotFoundHandler((req, reply: FastifyReply) => {
    const path = pathOf(req.url);
    const allowed = METHODS.filter((m) => app.findRoute({ method: m, url: path }) !== null);
    if (allowed.length > 0) {
      return reply.code(405).header("allow", allowed.join(", ")).send({ error: `method ${req.method} not allowed on ${path}` });
    }
    return reply.code(404).send({ error: `no route ${req.method} ${path}` });
  });

  // --- headers: helmet (CSP, nosniff, frame-ancestors), no caching of API answers ----------------
  await app.register(helmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        // the dashboard (server/routes/dashboard.ts) is this origin's own bundle: scripts, styles and
        // its WebSocket (/api/stream) from 'self' only, nothing from anywhere else
        defaultSrc: ["'none'"], scriptSrc: ["'self'"], styleSrc: ["'self'", "'unsafe-inline'"], imgSrc: ["'self'", "data:"],
        connectSrc: ["'self'"], fontSrc: ["'self'"], frameAncestors: ["'none'"], baseUri: ["'none'"], formAction: ["'self'"],
      },
    },
  });
  app.addHook("onSend", async (req, reply) => {
    const path = pathOf(req.url);
    if (path === "/api" || path.startsWith("/api/") || path === "/metrics") void reply.header("cache-control", "no-store");
  });

  // --- authentication: who is calling, unless the route is public; failures rate-limited ---------
  // Bearer: the admin-token file (bootstrap admin), a personal API token, or an agent's credential
  // (`<agentId>:<secret>`, for a PC's own requests); else the session cookie, whose state-changing
  // requests must carry the session's CSRF token in X-CSRF-Token. Then the role check: can(action).
  app.addHook("onRequest", async (req) => {
    if (req.is404 || req.routeOptions.config.public) return;
    deps.authLimit.check(req.ip);
    const token = bearer(req.headers.authorization);
    let principal: Principal | undefined;
    if (token !== undefined) {
      principal = deps.workflow.principalFromBearer(token);
    } else {
      const sid = cookieValue(req.headers.cookie, SESSION_COOKIE);
      if (sid) principal = deps.workflow.principalFromSession(sid);
    }
    if (!principal) {
      deps.authLimit.failed(req.ip, token !== undefined ? "bearer token" : "session", pathOf(req.url));
      throw new AuthenticationError("missing or wrong credential (Authorization: Bearer <admin token | API token>, or a session cookie from POST /api/login)");
    }
    if (principal.via === "session" && !SAFE_METHODS.has(req.method)) {
      const sent = req.headers[CSRF_HEADER];
      if (typeof sent !== "string" || !principal.csrf || !secretEquals(sent, principal.csrf)) {
        throw new ForbiddenError(`missing or wrong ${CSRF_HEADER} header (the csrfToken of POST /api/login or GET /api/me)`);
      }
    }
    const action = req.routeOptions.config.action;
    const allowed = action === "any" ? true
      : action === undefined ? principal.role === "admin" : can(principal, action);
    if (!allowed) throw new ForbiddenError(`${principal.actor} (${principal.role}) may not ${action ?? "use this admin route"}`);
    req.principal = principal;
  });

  app.addHook("onResponse", async (req, reply) => {
    log.debug({ method: req.method, path: pathOf(req.url), status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, "request");
  });

  // --- the route index and the OpenAPI document, from the routes' schemas ------------------------
  const index: RouteIndexEntry[] = [];
  app.addHook("onRoute", (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const config = (route.config ?? {}) as { public?: boolean; websocket?: boolean; action?: string };
    const schema = (route.schema ?? {}) as { summary?: string; querystring?: unknown; security?: unknown };
    const response = (route.schema?.response ?? {}) as Record<string, unknown>;
    // every error is {error, ...}: documented (and checked) on every route
    route.schema = { ...route.schema, response: { "4xx": ErrorBody, "5xx": ErrorBody, ...response }, ...(config.public ? {} : { security: [{ adminToken: [] }] }) };
    const qs = schema.querystring instanceof z.ZodObject ? Object.keys(schema.querystring.shape as object) : undefined;
    for (const method of methods) {
      index.push({
        method: String(method), path: route.url, auth: config.public ? "none" : "admin",
        ...(config.public ? {} : { action: config.action ?? "admin" }), summary: schema.summary ?? "",
        ...(qs?.length ? { query: qs } : {}), ...(config.websocket ? { websocket: true as const } : {}),
      });
    }
  });
  await app.register(swagger, {
    openapi: {
      openapi: "3.0.3",
      info: {
        title: "kyoka", version: "0.1.0",
        description: "kyoka（許可）集約サーバの API / the kyoka aggregation server's API (SPEC.md). Errors are {error}.",
      },
      components: { securitySchemes: { adminToken: { type: "http", scheme: "bearer", description: "the admin token (<data>/admin-token), a personal API token (POST /api/tokens), or the session cookie of POST /api/login (with X-CSRF-Token on state-changing requests)" } } },
    },
    transform: jsonSchemaTransform,
  });
  app.decorate("routeIndex", index);

  for (const file of ROUTE_FILES) await app.register(file, deps);
  await app.ready();
  return app;
}

declare module "fastify" {
  interface FastifyInstance {
    /** every route as the index shows it (filled while routes are registered) */
    routeIndex: RouteIndexEntry[];
  }
}
