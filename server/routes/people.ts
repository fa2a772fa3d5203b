/**
 * People, organisations and 甲許可 requests (SPEC.md): organisations, users, login/logout/me
 * (session cookie HttpOnly + SameSite=Strict, CSRF token for state-changing requests), personal API
 * tokens, requests (申請) and decisions, approve-everything-like-this, baseline, bulk resolve and
 * the audit trail. Each route names its action (`config.action`): the authentication hook in
 * http.ts refuses a role that may not (403); the workflow checks the organisation of the thing.
 */
import { z } from "zod";
import { Control } from "../../policies/schema.js";
import type { RouteFile } from "../http.js";
import { SESSION_COOKIE, SESSION_HOURS } from "../people/workflow.js";

const Id = z.object({ id: z.string().min(1).max(200) });
const EventId = z.object({ id: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER) });
const Anything = z.unknown();
const Match = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]));

const OrganisationView = z.object({ id: z.string(), name: z.string(), kind: z.enum(["client", "contractor"]), createdAt: z.string() });
const UserView = z.object({
  id: z.string(), login: z.string(), role: z.string(), organisationId: z.string().nullable(), createdAt: z.string(), disabledAt: z.string().nullable(),
});
const RequestView = z.object({
  id: z.string(), organisationId: z.string(), control: z.string(), match: Match, scope: z.record(z.string(), z.unknown()), validFrom: z.string(),
  validUntil: z.string(), reason: z.string(), status: z.enum(["pending", "approved", "denied"]), requestedBy: z.string(), requestedAt: z.string(),
  decidedBy: z.string().nullable(), decidedAt: z.string().nullable(), decisionNote: z.string().nullable(), approvalId: z.string().nullable(),
});
export const WorkflowApprovalView = z.looseObject({
  id: z.string(), control: Control, match: Match, scope: z.record(z.string(), z.unknown()), validFrom: z.string(), validUntil: z.string(),
  reason: z.string(), createdAt: z.string(), organisation: z.string().optional(), requestId: z.string().optional(), createdBy: z.string().optional(),
});
const AuditRowView = z.object({
  seq: z.number().int(), at: z.string(), actor: z.string(), role: z.string(), organisationId: z.string().nullable(), remote: z.string().nullable(),
  action: z.string(), target: z.string().nullable(), details: z.record(z.string(), z.unknown()), reason: z.string().nullable(), prevHash: z.string(), hash: z.string(),
});
const Me = z.object({ login: z.string(), role: z.string(), organisation: z.string().nullable(), organisationName: z.string().nullable(), csrfToken: z.string().optional() });

export const peopleRoutes: RouteFile = async (app, { workflow }) => {
  const ctx = (req: { ip: string }) => ({ remote: req.ip });

  // --- organisations --------------------------------------------------------------------------
  app.post("/api/organisations", {
    config: { action: "organisation.create" },
    schema: { summary: "create an organisation {name, kind: client|contractor} (admin)", body: Anything, response: { 201: OrganisationView } },
  }, async (req, reply) => reply.code(201).send(workflow.createOrganisation(req.principal, req.body, ctx(req))));
  app.get("/api/organisations", {
    config: { action: "organisation.read" },
    schema: { summary: "organisations (a contractor-side user sees its own)", response: { 200: z.array(OrganisationView) } },
  }, async (req) => workflow.listOrganisations(req.principal));

  // --- users ----------------------------------------------------------------------------------
  app.post("/api/users", {
    config: { action: "user.create" },
    schema: { summary: "create a user {login, password, role, organisation?} (admin)", body: Anything, response: { 201: UserView } },
  }, async (req, reply) => reply.code(201).send(await workflow.createUser(req.principal, req.body, ctx(req))));
  app.get("/api/users", {
    config: { action: "user.read" },
    schema: { summary: "users (admin, auditor)", response: { 200: z.array(UserView) } },
  }, async (req) => workflow.listUsers(req.principal));
  app.post("/api/users/:id/disable", {
    config: { action: "user.disable" },
    schema: { summary: "disable a user: its sessions and API tokens end (admin)", params: Id, response: { 200: UserView } },
  }, async (req) => workflow.disableUser(req.principal, req.params.id, ctx(req)));

  // --- sessions -------------------------------------------------------------------------------
  app.post("/api/login", {
    config: { public: true },
    schema: { summary: "log in {login, password}: a session cookie (HttpOnly, SameSite=Strict) and the CSRF token for X-CSRF-Token", body: Anything, response: { 200: Me } },
  }, async (req, reply) => {
    const s = await workflow.login(req.body, ctx(req));
    const secure = req.protocol === "https" ? "; Secure" : "";
    void reply.header("set-cookie", `${SESSION_COOKIE}=${s.sessionId}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${SESSION_HOURS * 3600}${secure}`);
    const org = s.user.organisationId ? workflow.people.findOrganisation(s.user.organisationId) : undefined;
    return { login: s.user.login, role: s.user.role, organisation: s.user.organisationId, organisationName: org?.name ?? null, csrfToken: s.csrf };
  });
  app.post("/api/logout", {
    config: { action: "any" },
    schema: { summary: "end this session", response: { 204: z.null().describe("no content") } },
  }, async (req, reply) => {
    workflow.logout(req.principal, ctx(req));
    void reply.header("set-cookie", `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`);
    return reply.code(204).send(null);
  });
  app.get("/api/me", {
    config: { action: "any" },
    schema: { summary: "who is calling: {login, role, organisation}", response: { 200: Me } },
  }, async (req) => workflow.me(req.principal));

  // --- personal API tokens --------------------------------------------------------------------
  app.post("/api/tokens", {
    config: { action: "token.manage" },
    schema: { summary: "a personal API token {name} → {id, token} (shown once; stored hashed)", body: Anything,
      response: { 201: z.object({ id: z.string(), token: z.string(), name: z.string() }) } },
  }, async (req, reply) => reply.code(201).send(workflow.createToken(req.principal, req.body, ctx(req))));
  app.delete("/api/tokens/:id", {
    config: { action: "token.manage" },
    schema: { summary: "delete one of your personal API tokens", params: Id, response: { 204: z.null().describe("no content") } },
  }, async (req, reply) => {
    workflow.deleteToken(req.principal, req.params.id, ctx(req));
    return reply.code(204).send(null);
  });

  // --- requests (申請) and decisions -----------------------------------------------------------
  app.post("/api/requests", {
    config: { action: "request.create" },
    schema: { summary: "request a 甲許可 {control, match, agents?, tags?, validFrom?, validUntil, reason, organisation?}", body: Anything, response: { 201: RequestView } },
  }, async (req, reply) => reply.code(201).send(workflow.createRequest(req.principal, req.body, ctx(req))));
  app.get("/api/requests", {
    config: { action: "request.read" },
    schema: { summary: "requests, newest first (a contractor-side user sees its organisation's)", querystring: z.strictObject({ status: z.enum(["pending", "approved", "denied"]).optional() }),
      response: { 200: z.array(RequestView) } },
  }, async (req) => workflow.listRequests(req.principal, req.query.status));
  app.post("/api/requests/:id/approve", {
    config: { action: "request.decide" },
    schema: { summary: "approve, optionally narrowing {validFrom?, validUntil?, agents?, tags?, note?} → {request, approval}", params: Id, body: Anything,
      response: { 200: z.object({ request: RequestView, approval: WorkflowApprovalView, resolved: z.number().int() }) } },
  }, async (req) => workflow.approveRequest(req.principal, req.params.id, req.body, ctx(req)));
  app.post("/api/requests/:id/deny", {
    config: { action: "request.decide" },
    schema: { summary: "deny {reason}: open matching events become violation", params: Id, body: Anything,
      response: { 200: z.object({ request: RequestView, violations: z.number().int() }) } },
  }, async (req) => workflow.denyRequest(req.principal, req.params.id, req.body, ctx(req)));

  // --- bulk decisions ---------------------------------------------------------------------------
  app.get("/api/events/:id/like-this", {
    config: { action: "approval.manage" },
    schema: { summary: "the approval 'approve everything like this' would make from this event (pre-filled match)", params: EventId,
      response: { 200: z.object({ control: Control, match: Match, organisation: z.string() }) } },
  }, async (req) => workflow.likeThisDraft(req.principal, req.params.id));
  app.post("/api/events/:id/approve-like-this", {
    config: { action: "approval.manage" },
    schema: { summary: "approve everything like this event {match? (edits), scope: {all}|{tags}|{organisation}, validFrom?, validUntil, reason}", params: EventId, body: Anything,
      response: { 201: z.object({ approval: WorkflowApprovalView, resolved: z.number().int() }) } },
  }, async (req, reply) => reply.code(201).send(workflow.approveLikeThis(req.principal, req.params.id, req.body, ctx(req))));
  app.post("/api/baseline", {
    config: { action: "approval.manage" },
    schema: { summary: "accept a PC's {agent} or an organisation's {organisation} open needs_approval items {validUntil, reason}", body: Anything,
      response: { 201: z.object({ approvals: z.array(WorkflowApprovalView), resolved: z.number().int() }) } },
  }, async (req, reply) => reply.code(201).send(workflow.baseline(req.principal, req.body, ctx(req))));
  app.post("/api/events/resolve", {
    config: { action: "event.resolve" },
    schema: { summary: "resolve many events with one note {events: [id], resolution, note}", body: Anything, response: { 200: z.object({ resolved: z.number().int() }) } },
  }, async (req) => workflow.bulkResolve(req.principal, req.body, ctx(req)));

  // --- the audit trail --------------------------------------------------------------------------
  app.get("/api/audit", {
    config: { action: "audit.read" },
    schema: {
      summary: "the hash-chained audit trail, newest first; the next page is nextCursor",
      querystring: z.strictObject({
        since: z.string().refine((s) => !Number.isNaN(Date.parse(s)), "not an ISO 8601 date/time").optional(),
        actor: z.string().max(200).optional(),
        action: z.string().max(100).optional(),
        cursor: z.string().regex(/^[1-9][0-9]{0,15}$/, "not a cursor from nextCursor").optional(),
        limit: z.coerce.number().int().min(1).max(1000).default(100),
      }),
      response: { 200: z.object({ rows: z.array(AuditRowView), nextCursor: z.string().nullable() }) },
    },
  }, async (req) => {
    const q = req.query;
    return workflow.auditPage(req.principal, {
      since: q.since === undefined ? undefined : new Date(q.since).toISOString(), actor: q.actor, action: q.action,
      before: q.cursor === undefined ? undefined : Number(q.cursor), limit: q.limit,
    });
  });
};
