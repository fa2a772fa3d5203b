/**
 * 甲許可 as a workflow between organisations: users and sessions, requests (申請) and decisions,
 * approvals and what they resolve, bulk decisions (approve everything like this, baseline, bulk
 * resolve), and the audit trail of all of it. Every operation takes the acting Principal, checks
 * `can()` and the organisation filter first (ForbiddenError → 403), and records its audit row in
 * the same SQLite transaction as the change.
 *
 * Retroaction: an approval (from a request, direct, "like this" or a baseline) resolves the open
 * matching `needs_approval` events at once — status `approved`, resolution `approved`, approvalId
 * set, note naming the decision. A denial marks the open matching events `violation` (resolution
 * `denied`, the note is the reason). Later events are decided at ingest by the server's clock
 * (policies/decide.ts), so an approval ends by itself at validUntil.
 */
import { randomUUID } from "node:crypto";
import type Database from "better-sqlite3";
import { z } from "zod";
import type { Logger } from "../../lib/log.js";
import { catalogEntry } from "../../policies/catalog.js";
import { matcherFor } from "../../policies/matchers/index.js";
import {
  ApprovalInput, Control, controlOf, formatIssues, type Approval, type Details, type EventType, type Reason, type StoredEvent,
} from "../../policies/schema.js";
import { scopeCovers } from "../../policies/decide.js";
import type { ServerState } from "../state.js";
import { secretEquals } from "../tokens.js";
import { AuthFailureLimiter, type AuthFailureLimiterOptions } from "../auth-limit.js";
import { AuditLog, type AuditQuery, type AuditRow } from "./audit.js";
import {
  DEFAULT_ORGANISATION, PeopleDb, publicUser, sha256, type Organisation, type RequestRecord, type RequestStatus, type User,
} from "./db.js";
import { BadInputError, ConflictingError, ForbiddenError, MissingError, UnauthenticatedError } from "./errors.js";
import { hashPassword, MIN_PASSWORD_LENGTH, verifyPassword } from "./password.js";
import { ADMIN_TOKEN_PRINCIPAL, can, orgBound, orgScope, roleNeedsContractorOrg, ROLES, visible, type Action, type Principal, type Resource, type Role } from "./permissions.js";

export const SESSION_HOURS = 12;
export const SESSION_COOKIE = "kyoka_session";
export const CSRF_HEADER = "x-csrf-token";

const IsoTime = z.iso.datetime({ offset: true });
const MatchSpec = z.record(z.string().max(64), z.union([z.string().max(1024), z.number(), z.boolean()]));

export const OrganisationInput = z.strictObject({ name: z.string().min(1).max(200), kind: z.enum(["client", "contractor"]) });
export const UserInput = z.strictObject({
  login: z.string().min(1).max(100).regex(/^[A-Za-z0-9._@-]+$/, "letters, digits and . _ @ - only"),
  password: z.string().min(MIN_PASSWORD_LENGTH, `at least ${MIN_PASSWORD_LENGTH} characters`).max(1000),
  role: z.enum(ROLES),
  organisation: z.string().min(1).max(200).optional(),
});
export const LoginInput = z.strictObject({ login: z.string().min(1).max(100), password: z.string().min(1).max(1000) });
export const TokenInput = z.strictObject({ name: z.string().min(1).max(200) });
export const RequestInput = z.strictObject({
  control: Control,
  match: MatchSpec,
  agents: z.array(z.string().min(1).max(200)).min(1).max(10_000).optional(),
  tags: z.array(z.string().min(1).max(100)).min(1).max(100).optional(),
  validFrom: IsoTime.optional(),
  validUntil: IsoTime,
  reason: z.string().min(1).max(2000),
  /** 甲-side users asking on behalf of an organisation; contractor-side users ask for their own */
  organisation: z.string().min(1).max(200).optional(),
});
export const ApproveInput = z.strictObject({
  validFrom: IsoTime.optional(),
  validUntil: IsoTime.optional(),
  agents: z.array(z.string().min(1).max(200)).min(1).max(10_000).optional(),
  tags: z.array(z.string().min(1).max(100)).min(1).max(100).optional(),
  note: z.string().max(2000).optional(),
});
export const DenyInput = z.strictObject({ reason: z.string().min(1).max(2000) });
export const LikeThisInput = z.strictObject({
  /** edits of the match made from the event (glob, range, CIDR); omitted keys keep the event's value, null drops a key */
  match: z.record(z.string().max(64), z.union([z.string().max(1024), z.number(), z.boolean(), z.null()])).optional(),
  scope: z.union([
    z.strictObject({ all: z.literal(true) }),
    z.strictObject({ tags: z.array(z.string().min(1).max(100)).min(1) }),
    z.strictObject({ organisation: z.string().min(1).max(200) }),
  ]),
  validFrom: IsoTime.optional(),
  validUntil: IsoTime,
  reason: z.string().min(1).max(2000),
});
export const BaselineInput = z.union([
  z.strictObject({ agent: z.string().min(1).max(200), validUntil: IsoTime, reason: z.string().min(1).max(2000) }),
  z.strictObject({ organisation: z.string().min(1).max(200), validUntil: IsoTime, reason: z.string().min(1).max(2000) }),
]);
export const BulkResolveInput = z.strictObject({
  events: z.array(z.number().int().positive()).min(1).max(100_000),
  resolution: z.string().min(1).max(200),
  note: z.string().min(1).max(10_000),
});

export type RequestInput = z.infer<typeof RequestInput>;
export type ApproveInput = z.infer<typeof ApproveInput>;
export type LikeThisInput = z.infer<typeof LikeThisInput>;
export type BaselineInput = z.infer<typeof BaselineInput>;

export function parseInput<T>(schema: z.ZodType<T>, raw: unknown): T {
  const r = schema.safeParse(raw);
  if (!r.success) throw new BadInputError(formatIssues(r.error));
  return r.data;
}

/** An approval as the workflow keeps it: restricted to an organisation, linked to its request. */
export type WorkflowApproval = Approval & { organisation?: string; requestId?: string; createdBy?: string };

export interface WorkflowDeps {
  db: Database.Database;
  state: ServerState;
  log: Logger;
  /** `<data>`: the audit head file is written there */
  dataDir?: string;
  /** the admin-token file's value (bootstrap admin) */
  adminToken: string;
  /** approvals changed: push the approvals in force to these agents (undefined = every connected agent) */
  onApprovalsChanged?: (agentIds?: string[]) => void;
  /** events changed (a retroaction, a denial, a resolve or acknowledge): for the live stream */
  onEventsChanged?: (events: StoredEvent[]) => void;
  /** failed logins per (login, address) before 429 with Retry-After (default 5 in 5 minutes) */
  loginLimit?: AuthFailureLimiterOptions;
  now?: () => Date;
}

/** Password guessing: 5 failed logins of one login from one address within 5 minutes → 429 until the 5 minutes end. */
export const LOGIN_LIMIT = { maxFailures: 5, windowMs: 5 * 60_000 } as const;

/** Where a call came from, for the audit trail. */
export interface CallContext {
  remote?: string | null;
}

interface OpenEventRow {
  id: number; agent_id: string; type: string; details: string; tags: string; organisation_id: string;
}

/** The match keys an event's details suggest, per control ("approve everything like this"). */
export function matchFromEvent(type: EventType, details: Details): Record<string, string | number | boolean> {
  const pick = (...keys: string[]): Record<string, string | number | boolean> => {
    const out: Record<string, string | number | boolean> = {};
    for (const k of keys) {
      const v = details[k];
      if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") out[k] = v;
    }
    return out;
  };
  switch (type) {
    case "software.installed": case "software.updated": case "software.removed": {
      const m = pick("name", "publisher");
      if (typeof details.version === "string") m.version = `=${details.version}`;
      return m;
    }
    case "network.attached": case "network.changed": {
      const m = pick("ssid", "gatewayMac");
      if (typeof details.cidr === "string") m.cidr = details.cidr;
      return m;
    }
    case "network.listening": {
      const m = pick("process");
      if (typeof details.port === "number") m.port = details.port;
      return m;
    }
    case "network.connection": {
      const m = pick("process");
      if (typeof details.remoteAddress === "string") {
        m.destination = typeof details.remotePort === "number" ? `${details.remoteAddress.includes(":") ? `[${details.remoteAddress}]` : details.remoteAddress}:${details.remotePort}` : details.remoteAddress;
      }
      return m;
    }
    case "software.executed": {
      // the program itself: its hash; a program that could not be hashed, its path (exact). The
      // action keeps the approval off installs and updates, which share the control.
      const m: Record<string, string | number | boolean> = { action: "execute" };
      if (typeof details.sha256 === "string") m.sha256 = details.sha256.toLowerCase();
      else if (typeof details.path === "string") m.path = details.path.replace(/[*?]/g, "?");
      return m;
    }
    case "media.inserted": case "media.copy_out": case "media.unencrypted":
      return pick("serial", "vendorId", "productId");
    case "asset.hardware_changed":
      return pick("component");
    default:
      return {};
  }
}

export class Workflow {
  readonly people: PeopleDb;
  readonly audit: AuditLog;
  private readonly db: Database.Database;
  private readonly log: Logger;
  private readonly now: () => Date;
  private readonly loginLimit: AuthFailureLimiter;

  constructor(private readonly deps: WorkflowDeps) {
    this.db = deps.db;
    this.people = new PeopleDb(deps.db);
    this.audit = new AuditLog(deps.db, deps.dataDir);
    this.log = deps.log;
    this.now = deps.now ?? (() => new Date());
    this.loginLimit = new AuthFailureLimiter(deps.log, { ...LOGIN_LIMIT, keyLabel: "this login from this address", ...deps.loginLimit });
    this.loadApprovalExtras();
  }

  /** The organisation/request columns of the approvals in force (the store's list does not read them). */
  private loadApprovalExtras(): void {
    const rows = this.db.prepare(`SELECT id, organisation_id, request_id, created_by FROM approvals`).all() as
      Array<{ id: string; organisation_id: string | null; request_id: string | null; created_by: string | null }>;
    const byId = new Map(rows.map((r) => [r.id, r]));
    this.deps.state.approvals = this.deps.state.approvals.map((a) => {
      const r = byId.get(a.id);
      if (!r) return a;
      return {
        ...a,
        ...(r.organisation_id ? { organisation: r.organisation_id } : {}),
        ...(r.request_id ? { requestId: r.request_id } : {}),
        ...(r.created_by ? { createdBy: r.created_by } : {}),
      } as WorkflowApproval;
    });
  }

  private iso(): string {
    return this.now().toISOString();
  }

  /** Run `fn` in one transaction; the audit head file is written after the commit. */
  private tx<T>(fn: () => T): T {
    try {
      const out = this.db.transaction(fn)();
      this.audit.flushHead();
      return out;
    } catch (err) {
      this.audit.dropHead();
      throw err;
    }
  }

  private record(p: Principal, ctx: CallContext, action: string, target: string | null, details: Record<string, unknown>, reason: string | null = null): AuditRow {
    return this.audit.append({
      actor: p.actor, role: p.role, organisationId: p.organisationId, remote: ctx.remote ?? null, action, target, details, reason,
    }, this.iso());
  }

  /** 403 unless allowed. */
  require(p: Principal, action: Action, resource?: Resource): void {
    if (!can(p, action, resource)) {
      throw new ForbiddenError(resource
        ? `${p.actor} (${p.role}) may not ${action} on this ${resource.agentId ? `agent ${resource.agentId}` : "resource"} (organisation)`
        : `${p.actor} (${p.role}) may not ${action}`);
    }
  }

  // --- authentication ------------------------------------------------------------------------

  /** A bearer token: the admin-token file, a personal API token, or an agent credential `<agentId>:<secret>`. */
  principalFromBearer(token: string): Principal | undefined {
    if (this.deps.adminToken && secretEquals(token, this.deps.adminToken)) return ADMIN_TOKEN_PRINCIPAL;
    const owner = this.people.tokenOwner(token);
    if (owner) {
      const u = this.people.userById(owner.userId);
      if (!u || u.disabledAt) return undefined;
      return { actor: u.login, role: u.role, organisationId: u.organisationId, userId: u.id, via: "token" };
    }
    const colon = token.indexOf(":");
    if (colon > 0) {
      const agentId = token.slice(0, colon);
      const r = this.db.prepare(`SELECT secret_hash, revoked_at, organisation_id FROM agents WHERE id = ?`).get(agentId) as
        { secret_hash: string; revoked_at: string | null; organisation_id: string } | undefined;
      if (r && !r.revoked_at && secretEquals(sha256(token.slice(colon + 1)), r.secret_hash)) {
        return { actor: `agent:${agentId}`, role: "agent", organisationId: r.organisation_id, agentId, via: "agent" };
      }
    }
    return undefined;
  }

  /** A session cookie's value: the user, if the session is live and the user not disabled. */
  principalFromSession(sessionId: string): Principal | undefined {
    const s = this.people.session(sessionId, this.iso());
    if (!s) return undefined;
    const u = this.people.userById(s.userId);
    if (!u || u.disabledAt) return undefined;
    return { actor: u.login, role: u.role, organisationId: u.organisationId, userId: u.id, via: "session", csrf: s.csrf, sessionId };
  }

  async login(raw: unknown, ctx: CallContext): Promise<{ sessionId: string; csrf: string; expiresAt: string; user: User }> {
    const input = parseInput(LoginInput, raw);
    // per (login, address): a guesser is answered 429 — right password or wrong — until the window
    // ends; another address, or another login from this one, is not held up
    const limitKey = `${input.login.toLowerCase()}\u0000${ctx.remote ?? ""}`;
    this.loginLimit.check(limitKey);
    const u = this.people.userByLogin(input.login);
    // verify even for an unknown login, so timing does not tell which logins exist
    const ok = await verifyPassword(input.password, u?.passwordHash ?? "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    const who: Principal = { actor: input.login, role: u?.role ?? "admin", organisationId: u?.organisationId ?? null, via: "session" };
    if (!u || !ok || u.disabledAt) {
      this.tx(() => this.record({ ...who, role: u?.role ?? ("unknown" as Role) }, ctx, "login.failed", u?.id ?? null,
        { reason: !u ? "unknown login" : u.disabledAt ? "user disabled" : "wrong password" }));
      this.log.warn({ login: input.login, remote: ctx.remote }, "login failed");
      this.loginLimit.failed(limitKey, `password of ${input.login}`, "/api/login");
      throw new UnauthenticatedError("wrong login or password");
    }
    this.loginLimit.succeeded(limitKey);
    const at = this.iso();
    const expiresAt = new Date(this.now().getTime() + SESSION_HOURS * 3600_000).toISOString();
    const s = this.tx(() => {
      this.people.pruneSessions(at);
      const session = this.people.createSession(u.id, expiresAt, ctx.remote ?? null, at);
      this.record(who, ctx, "login", u.id, { expiresAt });
      return session;
    });
    this.log.info({ login: u.login, role: u.role, remote: ctx.remote }, "login");
    return { ...s, expiresAt, user: publicUser(u) };
  }

  logout(p: Principal, ctx: CallContext): void {
    if (!p.sessionId) return;
    const sessionId = p.sessionId;
    this.tx(() => {
      this.people.deleteSession(sessionId);
      this.record(p, ctx, "logout", p.userId ?? null, {});
    });
  }

  me(p: Principal): { login: string; role: string; organisation: string | null; organisationName: string | null; csrfToken?: string } {
    const org = p.organisationId ? this.people.findOrganisation(p.organisationId) : undefined;
    return { login: p.actor, role: p.role, organisation: p.organisationId, organisationName: org?.name ?? null, ...(p.csrf ? { csrfToken: p.csrf } : {}) };
  }

  // --- organisations and users ---------------------------------------------------------------

  createOrganisation(p: Principal, raw: unknown, ctx: CallContext): Organisation {
    this.require(p, "organisation.create");
    const input = parseInput(OrganisationInput, raw);
    if (this.people.findOrganisation(input.name)) throw new ConflictingError(`organisation ${input.name} exists`);
    return this.tx(() => {
      const org = this.people.createOrganisation(input.name, input.kind, this.iso());
      this.record(p, ctx, "organisation.create", org.id, { name: org.name, kind: org.kind });
      return org;
    });
  }

  listOrganisations(p: Principal): Organisation[] {
    this.require(p, "organisation.read");
    return this.people.listOrganisations(orgScope(p));
  }

  private resolveOrganisation(nameOrId: string): Organisation {
    const org = this.people.findOrganisation(nameOrId);
    if (!org) throw new BadInputError(`organisation: no organisation ${nameOrId}`);
    return org;
  }

  async createUser(p: Principal, raw: unknown, ctx: CallContext): Promise<User> {
    this.require(p, "user.create");
    const input = parseInput(UserInput, raw);
    let organisationId: string | null = null;
    if (input.organisation) {
      const org = this.resolveOrganisation(input.organisation);
      if (roleNeedsContractorOrg(input.role) && org.kind !== "contractor") throw new BadInputError(`organisation: role ${input.role} needs a contractor organisation, ${org.name} is a client`);
      if (!roleNeedsContractorOrg(input.role) && org.kind !== "client") throw new BadInputError(`organisation: role ${input.role} belongs to the client (甲) side, ${org.name} is a contractor`);
      organisationId = org.id;
    } else if (roleNeedsContractorOrg(input.role)) {
      throw new BadInputError(`organisation: role ${input.role} needs a contractor organisation`);
    }
    if (this.people.userByLogin(input.login)) throw new ConflictingError(`user ${input.login} exists`);
    const passwordHash = await hashPassword(input.password);
    return this.tx(() => {
      const u = this.people.createUser({ login: input.login, passwordHash, role: input.role, organisationId }, this.iso());
      this.record(p, ctx, "user.create", u.id, { login: u.login, role: u.role, organisationId });
      return u;
    });
  }

  listUsers(p: Principal): User[] {
    this.require(p, "user.read");
    return this.people.listUsers(orgScope(p));
  }

  disableUser(p: Principal, idOrLogin: string, ctx: CallContext): User {
    this.require(p, "user.disable");
    const u = this.people.userById(idOrLogin) ?? this.people.userByLogin(idOrLogin);
    if (!u) throw new MissingError(`no user ${idOrLogin}`);
    return this.tx(() => {
      this.people.disableUser(u.id, this.iso());
      this.record(p, ctx, "user.disable", u.id, { login: u.login });
      return publicUser(this.people.userById(u.id)!);
    });
  }

  async setPassword(p: Principal, login: string, password: string, ctx: CallContext): Promise<void> {
    const u = this.people.userByLogin(login);
    if (!u) throw new MissingError(`no user ${login}`);
    if (p.userId !== u.id) this.require(p, "user.create");
    if (password.length < MIN_PASSWORD_LENGTH) throw new BadInputError(`password: at least ${MIN_PASSWORD_LENGTH} characters`);
    const hash = await hashPassword(password);
    this.tx(() => {
      this.people.setPassword(u.id, hash);
      this.record(p, ctx, "user.passwd", u.id, { login: u.login });
    });
  }

  // --- personal API tokens -------------------------------------------------------------------

  createToken(p: Principal, raw: unknown, ctx: CallContext): { id: string; token: string; name: string } {
    this.require(p, "token.manage");
    if (!p.userId) throw new ForbiddenError(`${p.actor} is not a user: personal API tokens belong to users`);
    const { name } = parseInput(TokenInput, raw);
    const userId = p.userId;
    return this.tx(() => {
      const t = this.people.createToken(userId, name, this.iso());
      this.record(p, ctx, "token.create", t.id, { name });
      return { ...t, name };
    });
  }

  deleteToken(p: Principal, id: string, ctx: CallContext): void {
    this.require(p, "token.manage");
    const t = this.people.getToken(id);
    if (!t || t.deletedAt) throw new MissingError(`no token ${id}`);
    // one's own tokens; an admin may delete anyone's
    if (t.userId !== p.userId && p.role !== "admin") throw new ForbiddenError(`token ${id} is not ${p.actor}'s`);
    this.tx(() => {
      this.people.deleteToken(id, this.iso());
      this.record(p, ctx, "token.delete", id, { name: t.name, owner: t.userId });
    });
  }

  // --- requests (申請) -----------------------------------------------------------------------

  private orgOfAgent(agentId: string): string {
    const org = this.people.agentOrganisation(agentId);
    if (org === undefined) throw new BadInputError(`agents: no agent ${agentId}`);
    return org;
  }

  createRequest(p: Principal, raw: unknown, ctx: CallContext): RequestRecord {
    this.require(p, "request.create");
    const input = parseInput(RequestInput, raw);
    if (input.agents && input.tags) throw new BadInputError("agents, tags: give one of them (or neither: every PC of the organisation)");
    const validFrom = input.validFrom ?? this.iso();
    if (Date.parse(validFrom) >= Date.parse(input.validUntil)) throw new BadInputError("validUntil: must be after validFrom");
    let agents = input.agents;
    if (p.role === "agent") {
      if (agents && (agents.length !== 1 || agents[0] !== p.agentId)) throw new ForbiddenError(`a PC requests for itself only (agent ${p.agentId})`);
      agents = [p.agentId!];
    }
    let organisationId: string;
    if (orgBound(p)) {
      if (input.organisation && this.people.findOrganisation(input.organisation)?.id !== p.organisationId) {
        throw new ForbiddenError(`${p.actor} requests for its own organisation only`);
      }
      organisationId = p.organisationId!;
    } else if (input.organisation) {
      organisationId = this.resolveOrganisation(input.organisation).id;
    } else if (agents) {
      organisationId = this.orgOfAgent(agents[0]!);
    } else {
      throw new BadInputError("organisation: a client-side user names the organisation (or the agents) the request is for");
    }
    for (const a of agents ?? []) {
      const org = this.orgOfAgent(a);
      if (org !== organisationId) throw new ForbiddenError(`agent ${a} is not a PC of the requesting organisation`);
    }
    const scope: RequestRecord["scope"] = agents ? { agents: [...new Set(agents)] } : input.tags ? { tags: [...new Set(input.tags)] } : { all: true };
    const r: RequestRecord = {
      id: randomUUID(), organisationId, control: input.control, match: input.match, scope, validFrom, validUntil: input.validUntil,
      reason: input.reason, status: "pending", requestedBy: p.actor, requestedAt: this.iso(), decidedBy: null, decidedAt: null,
      decisionNote: null, approvalId: null,
    };
    this.tx(() => {
      this.people.insertRequest(r);
      this.record(p, ctx, "request.create", r.id, { control: r.control, match: r.match, scope: r.scope, validFrom, validUntil: r.validUntil, organisationId }, r.reason);
    });
    this.log.info({ requestId: r.id, control: r.control, organisationId, by: p.actor }, "request submitted");
    if ("agents" in scope) this.deps.onApprovalsChanged?.(scope.agents); // the PC shows its pending requests
    return r;
  }

  listRequests(p: Principal, status?: string): RequestRecord[] {
    this.require(p, "request.read");
    let st: RequestStatus | undefined;
    if (status !== undefined && status !== "") {
      if (!["pending", "approved", "denied"].includes(status)) throw new BadInputError("status: pending, approved or denied");
      st = status as RequestStatus;
    }
    return this.people.listRequests({ status: st, organisationId: orgScope(p), agentId: p.role === "agent" ? p.agentId : undefined });
  }

  private requestFor(p: Principal, id: string, action: Action): RequestRecord {
    const r = this.people.getRequest(id);
    // the role is checked before existence: a role that may not decide gets 403, not 404
    this.require(p, action);
    if (!r) throw new MissingError(`no request ${id}`);
    this.require(p, action, { organisationId: r.organisationId });
    return r;
  }

  approveRequest(p: Principal, id: string, raw: unknown, ctx: CallContext): { request: RequestRecord; approval: WorkflowApproval; resolved: number } {
    const r = this.requestFor(p, id, "request.decide");
    const input = parseInput(ApproveInput, raw ?? {});
    if (r.status !== "pending") throw new ConflictingError(`request ${id} is already ${r.status}`);
    // narrowing only: the period inside the request's, the PCs a subset
    const validFrom = input.validFrom ?? r.validFrom;
    const validUntil = input.validUntil ?? r.validUntil;
    if (Date.parse(validFrom) < Date.parse(r.validFrom)) throw new BadInputError(`validFrom: may only narrow the request (not before ${r.validFrom})`);
    if (Date.parse(validUntil) > Date.parse(r.validUntil)) throw new BadInputError(`validUntil: may only narrow the request (not after ${r.validUntil})`);
    if (Date.parse(validFrom) >= Date.parse(validUntil)) throw new BadInputError("validUntil: must be after validFrom");
    if (input.agents && input.tags) throw new BadInputError("agents, tags: give one of them");
    let scope: Approval["scope"] = r.scope;
    if (input.agents) {
      const inRequest = (a: string): boolean => {
        if ("agents" in r.scope) return r.scope.agents.includes(a);
        if (this.people.agentOrganisation(a) !== r.organisationId) return false;
        if ("all" in r.scope) return true;
        const agent = this.people.agentsOf(r.organisationId).find((x) => x.id === a);
        return agent !== undefined && scopeCovers(r.scope, { id: a, tags: agent.tags });
      };
      const outside = input.agents.filter((a) => !inRequest(a));
      if (outside.length) throw new BadInputError(`agents: may only narrow the request (${outside.join(", ")} not in it)`);
      scope = { agents: [...new Set(input.agents)] };
    } else if (input.tags) {
      if ("agents" in r.scope) throw new BadInputError("tags: the request names PCs; narrow it with agents");
      if ("tags" in r.scope) {
        const outside = input.tags.filter((t) => !(r.scope as { tags: string[] }).tags.includes(t));
        if (outside.length) throw new BadInputError(`tags: may only narrow the request (${outside.join(", ")} not in it)`);
      }
      scope = { tags: [...new Set(input.tags)] };
    }
    const approval: WorkflowApproval = {
      id: randomUUID(), control: r.control as Approval["control"], match: r.match, scope, validFrom, validUntil,
      reason: `申請 ${r.id}: ${r.reason}${input.note ? ` / ${input.note}` : ""}`, createdAt: this.iso(),
      organisation: r.organisationId, requestId: r.id, createdBy: p.actor,
    };
    const out = this.tx(() => {
      if (!this.people.decideRequest(r.id, { status: "approved", decidedBy: p.actor, at: this.iso(), note: input.note ?? null, approvalId: approval.id })) {
        throw new ConflictingError(`request ${id} was decided meanwhile`);
      }
      this.insertApproval(approval);
      const resolved = this.resolveMatching(approval, "approved", `申請 ${r.id} 承認 / request approved by ${p.actor}`);
      this.record(p, ctx, "request.approve", r.id, {
        approvalId: approval.id, scope, validFrom, validUntil, narrowed: input.validFrom !== undefined || input.validUntil !== undefined || input.agents !== undefined || input.tags !== undefined,
        resolvedEvents: resolved.map((e) => e.id),
      }, input.note ?? null);
      return { resolved };
    });
    this.afterApproval(approval, out.resolved);
    this.log.info({ requestId: r.id, approvalId: approval.id, by: p.actor, resolved: out.resolved.length }, "request approved");
    return { request: this.people.getRequest(r.id)!, approval, resolved: out.resolved.length };
  }

  denyRequest(p: Principal, id: string, raw: unknown, ctx: CallContext): { request: RequestRecord; violations: number } {
    const r = this.requestFor(p, id, "request.decide");
    const { reason } = parseInput(DenyInput, raw);
    if (r.status !== "pending") throw new ConflictingError(`request ${id} is already ${r.status}`);
    const probe: WorkflowApproval = {
      id: `denied:${r.id}`, control: r.control as Approval["control"], match: r.match, scope: r.scope, validFrom: r.validFrom,
      validUntil: r.validUntil, reason, createdAt: this.iso(), organisation: r.organisationId,
    };
    const changed = this.tx(() => {
      if (!this.people.decideRequest(r.id, { status: "denied", decidedBy: p.actor, at: this.iso(), note: reason, approvalId: null })) {
        throw new ConflictingError(`request ${id} was decided meanwhile`);
      }
      const events = this.resolveMatching(probe, "denied", `申請 ${r.id} 却下 / request denied by ${p.actor}: ${reason}`);
      this.record(p, ctx, "request.deny", r.id, { violationEvents: events.map((e) => e.id) }, reason);
      return events;
    });
    if (changed.length) this.deps.onEventsChanged?.(changed);
    if ("agents" in r.scope) this.deps.onApprovalsChanged?.(r.scope.agents);
    this.log.info({ requestId: r.id, by: p.actor, violations: changed.length }, "request denied");
    return { request: this.people.getRequest(r.id)!, violations: changed.length };
  }

  // --- approvals -----------------------------------------------------------------------------

  private insertApproval(a: WorkflowApproval): void {
    this.db.prepare(`INSERT INTO approvals (id, control, match, scope, valid_from, valid_until, reason, created_at, organisation_id, request_id, created_by)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(a.id, a.control, JSON.stringify(a.match), JSON.stringify(a.scope), a.validFrom, a.validUntil,
      a.reason, a.createdAt, a.organisation ?? null, a.requestId ?? null, a.createdBy ?? null);
  }

  private afterApproval(approval: WorkflowApproval, resolved: StoredEvent[]): void {
    this.deps.state.approvals = [...this.deps.state.approvals, approval];
    if (resolved.length) this.deps.onEventsChanged?.(resolved);
    this.deps.onApprovalsChanged?.(this.agentsCovered(approval));
  }

  /** The agents an approval covers now (for the push); undefined = possibly every agent. */
  agentsCovered(a: Pick<WorkflowApproval, "scope" | "organisation">): string[] | undefined {
    if ("agents" in a.scope) return a.scope.agents;
    if (a.organisation) return this.people.agentsOf(a.organisation).filter((x) => scopeCovers(a.scope, x)).map((x) => x.id);
    return undefined;
  }

  /** POST /api/approvals: 甲 records a permission directly (e.g. a paper one). */
  createApproval(p: Principal, raw: unknown, ctx: CallContext): { approval: WorkflowApproval; resolved: number } {
    this.require(p, "approval.manage");
    const r = ApprovalInput.safeParse(raw);
    if (!r.success) throw new BadInputError(formatIssues(r.error));
    const input = r.data as z.infer<typeof ApprovalInput> & { organisation?: string };
    const organisation = input.organisation ? this.resolveOrganisation(input.organisation).id : undefined;
    const approval: WorkflowApproval = { ...input, ...(organisation ? { organisation } : {}), id: randomUUID(), createdAt: this.iso(), createdBy: p.actor };
    const resolved = this.tx(() => {
      this.insertApproval(approval);
      const events = this.resolveMatching(approval, "approved", `甲許可 ${approval.id} (${p.actor})`);
      this.record(p, ctx, "approval.create", approval.id, { control: approval.control, match: approval.match, scope: approval.scope, organisation,
        validFrom: approval.validFrom, validUntil: approval.validUntil, resolvedEvents: events.map((e) => e.id) }, approval.reason);
      return events;
    });
    this.afterApproval(approval, resolved);
    return { approval, resolved: resolved.length };
  }

  deleteApproval(p: Principal, id: string, ctx: CallContext): void {
    this.require(p, "approval.manage");
    const existing = this.deps.state.approvals.find((a) => a.id === id) as WorkflowApproval | undefined;
    const ok = this.tx(() => {
      const changed = this.db.prepare(`UPDATE approvals SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL`).run(this.iso(), id).changes === 1;
      if (changed) this.record(p, ctx, "approval.delete", id, {});
      return changed;
    });
    if (!ok) throw new MissingError(`no approval ${id}`);
    this.deps.state.approvals = this.deps.state.approvals.filter((a) => a.id !== id);
    this.deps.onApprovalsChanged?.(existing ? this.agentsCovered(existing) : undefined);
  }

  /** Approvals a principal may see: contractor-side ones only those of or covering their organisation. */
  listApprovals(p: Principal, includeDeleted: boolean): Array<WorkflowApproval & { deletedAt: string | null }> {
    this.require(p, "approval.read");
    const rows = this.db.prepare(`SELECT * FROM approvals ${includeDeleted ? "" : "WHERE deleted_at IS NULL"} ORDER BY created_at, id`).all() as Array<{
      id: string; control: string; match: string; scope: string; valid_from: string; valid_until: string; reason: string; created_at: string;
      deleted_at: string | null; organisation_id: string | null; request_id: string | null; created_by: string | null;
    }>;
    const all = rows.map((r) => ({
      id: r.id, control: r.control as Approval["control"], match: JSON.parse(r.match) as Approval["match"], scope: JSON.parse(r.scope) as Approval["scope"],
      validFrom: r.valid_from, validUntil: r.valid_until, reason: r.reason, createdAt: r.created_at, deletedAt: r.deleted_at,
      ...(r.organisation_id ? { organisation: r.organisation_id } : {}), ...(r.request_id ? { requestId: r.request_id } : {}),
      ...(r.created_by ? { createdBy: r.created_by } : {}),
    }));
    return all.filter((a) => this.approvalVisible(p, a));
  }

  /** For an organisation-bound principal: approvals of its organisation, or global ones that cover one of its agents. */
  approvalVisible(p: Principal, a: Pick<WorkflowApproval, "scope" | "organisation">): boolean {
    const scope = orgScope(p);
    if (scope === null) return true;
    if (a.organisation) return a.organisation === scope;
    const mine = p.role === "agent" ? this.people.agentsOf(scope).filter((x) => x.id === p.agentId) : this.people.agentsOf(scope);
    return mine.some((x) => scopeCovers(a.scope, x));
  }

  /** The approvals in force now that cover one agent (what is pushed to it). */
  approvalsFor(agentId: string): WorkflowApproval[] {
    const org = this.people.agentOrganisation(agentId);
    const row = this.db.prepare(`SELECT tags FROM agents WHERE id = ?`).get(agentId) as { tags: string } | undefined;
    if (!row || org === undefined) return [];
    const agent = { id: agentId, tags: JSON.parse(row.tags) as string[] };
    const t = this.now().getTime();
    return (this.deps.state.approvals as WorkflowApproval[]).filter((a) =>
      (!a.organisation || a.organisation === org) && scopeCovers(a.scope, agent) && Date.parse(a.validUntil) > t);
  }

  /** What is pushed to one PC: the approvals in force covering it, and its requests (pending, or decided in the last 7 days). */
  agentView(agentId: string): { approvals: Array<Pick<WorkflowApproval, "id" | "control" | "match" | "validFrom" | "validUntil" | "reason" | "requestId">>; requests: Array<{
    id: string; control: Control; match: RequestRecord["match"]; status: RequestStatus; validUntil: string; reason: string; requestedAt: string; decisionNote: string | null;
  }> } {
    const approvals = this.approvalsFor(agentId).map((a) => ({
      id: a.id, control: a.control, match: a.match, validFrom: a.validFrom, validUntil: a.validUntil, reason: a.reason, ...(a.requestId ? { requestId: a.requestId } : {}),
    }));
    const org = this.people.agentOrganisation(agentId);
    const row = this.db.prepare(`SELECT tags FROM agents WHERE id = ?`).get(agentId) as { tags: string } | undefined;
    if (org === undefined || !row) return { approvals, requests: [] };
    const agent = { id: agentId, tags: JSON.parse(row.tags) as string[] };
    const since = this.now().getTime() - 7 * 86400_000;
    const requests = this.people.listRequests({ organisationId: org })
      .filter((r) => scopeCovers(r.scope, agent) && (r.status === "pending" || Date.parse(r.decidedAt ?? r.requestedAt) >= since))
      .slice(0, 200)
      .map((r) => ({ id: r.id, control: r.control as Control, match: r.match, status: r.status, validUntil: r.validUntil, reason: r.reason, requestedAt: r.requestedAt, decisionNote: r.decisionNote }));
    return { approvals, requests };
  }

  // --- retroaction ---------------------------------------------------------------------------

  /** Open (unresolved) needs_approval events that `a` matches (control, match, scope, organisation; clearable only). */
  private openMatching(a: Pick<WorkflowApproval, "control" | "match" | "scope" | "organisation">, onlyAgents?: Set<string>): OpenEventRow[] {
    const rows = this.db.prepare(`SELECT e.id, e.agent_id, e.type, e.details, a.tags, a.organisation_id FROM events e JOIN agents a ON a.id = e.agent_id
      WHERE e.status = 'needs_approval' AND e.resolution IS NULL AND e.type >= ? AND e.type < ?`).all(`${a.control}.`, `${a.control}/`) as OpenEventRow[];
    const matcher = matcherFor(a.control as Control);
    return rows.filter((r) => {
      if (onlyAgents && !onlyAgents.has(r.agent_id)) return false;
      if (a.organisation && r.organisation_id !== a.organisation) return false;
      const type = r.type as EventType;
      const details = JSON.parse(r.details) as Details;
      if (!catalogEntry(type).clearable) return false;
      if (controlOf(type) === "media" && details.serialConflict === true) return false;
      if (!scopeCovers(a.scope, { id: r.agent_id, tags: JSON.parse(r.tags) as string[] })) return false;
      return matcher(a.match, details, type);
    });
  }

  private resolveMatching(a: WorkflowApproval, outcome: "approved" | "denied", note: string, onlyAgents?: Set<string>): StoredEvent[] {
    const rows = this.openMatching(a, onlyAgents);
    return this.markEvents(rows.map((r) => r.id), outcome, outcome === "approved" ? a.id : null, note);
  }

  private markEvents(ids: number[], outcome: "approved" | "denied", approvalId: string | null, note: string): StoredEvent[] {
    if (!ids.length) return [];
    const at = this.iso();
    // the status changes after ingest: say why beside the reasons decide gave (policies/decide.ts)
    const reason = JSON.stringify(outcome === "approved"
      ? { ja: `甲許可 ${approvalId} による事後の承認`, en: `approved afterwards by approval ${approvalId}` }
      : { ja: "申請の却下により違反", en: "violation: the request was denied" });
    const stmt = outcome === "approved"
      ? this.db.prepare(`UPDATE events SET status = 'approved', resolution = 'approved', approval_id = ?, note = ?, resolved_at = ?,
          reasons = json_insert(reasons, '$[#]', json(?)) WHERE id = ? AND resolution IS NULL`)
      : this.db.prepare(`UPDATE events SET status = 'violation', resolution = 'denied', note = ?, resolved_at = ?,
          reasons = json_insert(reasons, '$[#]', json(?)) WHERE id = ? AND resolution IS NULL`);
    const out: StoredEvent[] = [];
    const get = this.db.prepare(`SELECT * FROM events WHERE id = ?`);
    for (const id of ids) {
      const changed = outcome === "approved" ? stmt.run(approvalId, note, at, reason, id).changes : stmt.run(note, at, reason, id).changes;
      if (changed) out.push(storedFromRow(get.get(id) as Record<string, unknown>));
    }
    return out;
  }

  // --- bulk decisions ------------------------------------------------------------------------

  private eventFor(p: Principal, id: number, action: Action): StoredEvent & { organisationId: string } {
    this.require(p, action);
    const row = this.db.prepare(`SELECT e.*, a.organisation_id AS org FROM events e JOIN agents a ON a.id = e.agent_id WHERE e.id = ?`).get(id) as
      (Record<string, unknown> & { org: string }) | undefined;
    if (!row) throw new MissingError(`no event ${id}`);
    this.require(p, action, { organisationId: row.org, agentId: String(row.agent_id) });
    return { ...storedFromRow(row), organisationId: row.org };
  }

  /** The approval "approve everything like this" would make from an event (pre-filled, not stored). */
  likeThisDraft(p: Principal, eventId: number): { control: Control; match: Record<string, string | number | boolean>; organisation: string } {
    const e = this.eventFor(p, eventId, "approval.manage");
    return { control: e.control, match: matchFromEvent(e.type, e.details), organisation: e.organisationId };
  }

  /**
   * "Approve everything like this": an approval pre-filled from the event's match fields (edited
   * by `match`), scoped to all, tags or an organisation; it resolves every open matching event
   * at once and covers later ones until validUntil.
   */
  approveLikeThis(p: Principal, eventId: number, raw: unknown, ctx: CallContext): { approval: WorkflowApproval; resolved: number } {
    const e = this.eventFor(p, eventId, "approval.manage");
    const input = parseInput(LikeThisInput, raw);
    const match: Record<string, string | number | boolean> = matchFromEvent(e.type, e.details);
    for (const [k, v] of Object.entries(input.match ?? {})) {
      if (v === null) delete match[k];
      else match[k] = v;
    }
    if (Object.keys(match).length === 0 && !("organisation" in input.scope)) {
      throw new BadInputError("match: empty — an approval of every event of this control for every PC is not 'like this'; scope it to an organisation or give a match");
    }
    let scope: Approval["scope"];
    let organisation: string | undefined;
    if ("organisation" in input.scope) {
      organisation = this.resolveOrganisation(input.scope.organisation).id;
      scope = { all: true };
    } else scope = input.scope;
    const approval: WorkflowApproval = {
      id: randomUUID(), control: e.control, match, scope, validFrom: input.validFrom ?? this.iso(), validUntil: input.validUntil,
      reason: input.reason, createdAt: this.iso(), createdBy: p.actor, ...(organisation ? { organisation } : {}),
    };
    if (Date.parse(approval.validFrom) >= Date.parse(approval.validUntil)) throw new BadInputError("validUntil: must be after validFrom");
    const resolved = this.tx(() => {
      this.insertApproval(approval);
      const events = this.resolveMatching(approval, "approved", `同種一括許可 ${approval.id} (${p.actor}) from event ${eventId}`);
      this.record(p, ctx, "approval.like-this", approval.id, { fromEvent: eventId, control: approval.control, match, scope, organisation,
        validFrom: approval.validFrom, validUntil: approval.validUntil, resolvedEvents: events.map((x) => x.id) }, input.reason);
      return events;
    });
    this.afterApproval(approval, resolved);
    this.log.info({ approvalId: approval.id, fromEvent: eventId, resolved: resolved.length, by: p.actor }, "approve everything like this");
    return { approval, resolved: resolved.length };
  }

  /**
   * Baseline: a PC's (or an organisation's) open needs_approval items accepted in one step. One
   * approval per distinct (control, match) found, scoped to the PCs that had it, valid until
   * `validUntil`; every item is named in the audit row.
   */
  baseline(p: Principal, raw: unknown, ctx: CallContext): { approvals: WorkflowApproval[]; resolved: number } {
    this.require(p, "approval.manage");
    const input = parseInput(BaselineInput, raw);
    let agentIds: string[];
    let organisation: string;
    if ("agent" in input) {
      const org = this.people.agentOrganisation(input.agent);
      if (org === undefined) throw new MissingError(`no agent ${input.agent}`);
      this.require(p, "approval.manage", { organisationId: org, agentId: input.agent });
      agentIds = [input.agent];
      organisation = org;
    } else {
      organisation = this.resolveOrganisation(input.organisation).id;
      this.require(p, "approval.manage", { organisationId: organisation });
      agentIds = this.people.agentsOf(organisation).map((a) => a.id);
    }
    const validFrom = this.iso();
    if (Date.parse(validFrom) >= Date.parse(input.validUntil)) throw new BadInputError("validUntil: must be in the future");
    const onlyAgents = new Set(agentIds);
    const open = agentIds.length === 0 ? [] : (this.db.prepare(`SELECT e.id, e.agent_id, e.type, e.details FROM events e JOIN agents a ON a.id = e.agent_id
      WHERE e.status = 'needs_approval' AND e.resolution IS NULL AND a.organisation_id = ?`).all(organisation) as
      Array<{ id: number; agent_id: string; type: string; details: string }>).filter((r) => onlyAgents.has(r.agent_id));
    // group by (control, match)
    const groups = new Map<string, { control: Control; match: Record<string, string | number | boolean>; agents: Set<string>; events: number[] }>();
    const items: Array<{ event: number; agent: string; type: string; match: Record<string, unknown> }> = [];
    for (const r of open) {
      const type = r.type as EventType;
      const details = JSON.parse(r.details) as Details;
      if (!catalogEntry(type).clearable || (controlOf(type) === "media" && details.serialConflict === true)) continue;
      const match = matchFromEvent(type, details);
      const control = controlOf(type);
      // server-made asset.unregistered / agent.silent have no match fields: the approval is per PC
      const key = `${control}\u0000${JSON.stringify(Object.entries(match).sort())}`;
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { control, match, agents: new Set(), events: [] }));
      g.agents.add(r.agent_id);
      g.events.push(r.id);
      items.push({ event: r.id, agent: r.agent_id, type: r.type, match });
    }
    const approvals: WorkflowApproval[] = [];
    const resolved = this.tx(() => {
      const done: StoredEvent[] = [];
      for (const g of groups.values()) {
        const a: WorkflowApproval = {
          id: randomUUID(), control: g.control, match: g.match, scope: { agents: [...g.agents] }, validFrom, validUntil: input.validUntil,
          reason: `baseline: ${input.reason}`, createdAt: validFrom, createdBy: p.actor, organisation,
        };
        this.insertApproval(a);
        approvals.push(a);
        done.push(...this.markEvents(g.events, "approved", a.id, `ベースライン承認 / baseline by ${p.actor}: ${input.reason}`));
      }
      this.record(p, ctx, "approval.baseline", "agent" in input ? input.agent : organisation, {
        organisation, agents: agentIds.length, validUntil: input.validUntil, approvals: approvals.map((a) => a.id), items,
      }, input.reason);
      return done;
    });
    this.deps.state.approvals = [...this.deps.state.approvals, ...approvals];
    if (resolved.length) this.deps.onEventsChanged?.(resolved);
    if (approvals.length) this.deps.onApprovalsChanged?.(agentIds);
    this.log.info({ organisation, agents: agentIds.length, approvals: approvals.length, resolved: resolved.length, by: p.actor }, "baseline accepted");
    return { approvals, resolved: resolved.length };
  }

  /** The desk resolves many events with one note (its own organisation's only). */
  bulkResolve(p: Principal, raw: unknown, ctx: CallContext): { resolved: number } {
    this.require(p, "event.resolve");
    const input = parseInput(BulkResolveInput, raw);
    const ids = [...new Set(input.events)];
    const rows = this.db.prepare(`SELECT e.id, a.organisation_id AS org FROM events e JOIN agents a ON a.id = e.agent_id WHERE e.id IN (SELECT value FROM json_each(?))`)
      .all(JSON.stringify(ids)) as Array<{ id: number; org: string }>;
    if (rows.length !== ids.length) {
      const found = new Set(rows.map((r) => r.id));
      throw new MissingError(`no event ${ids.filter((i) => !found.has(i)).slice(0, 10).join(", ")}`);
    }
    for (const r of rows) this.require(p, "event.resolve", { organisationId: r.org });
    const at = this.iso();
    const changed = this.tx(() => {
      const stmt = this.db.prepare(`UPDATE events SET resolution = ?, note = ?, resolved_at = ? WHERE id = ?`);
      for (const id of ids) stmt.run(input.resolution, input.note, at, id);
      this.record(p, ctx, "event.resolve-bulk", null, { events: ids, resolution: input.resolution }, input.note);
      return (this.db.prepare(`SELECT * FROM events WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id`).all(JSON.stringify(ids)) as Array<Record<string, unknown>>)
        .map(storedFromRow);
    });
    // every open page shows them resolved (/api/stream), as it shows an approval's retroaction
    this.deps.onEventsChanged?.(changed);
    return { resolved: changed.length };
  }

  /** One event resolved (POST /api/events/:id/resolve), checked and audited. */
  resolveEvent(p: Principal, id: number, resolution: string, note: string | null, ctx: CallContext): StoredEvent {
    this.eventFor(p, id, "event.resolve");
    const at = this.iso();
    const event = this.tx(() => {
      this.db.prepare(`UPDATE events SET resolution = ?, note = ?, resolved_at = ? WHERE id = ?`).run(resolution, note, at, id);
      this.record(p, ctx, "event.resolve", String(id), { resolution }, note);
      return storedFromRow(this.db.prepare(`SELECT * FROM events WHERE id = ?`).get(id) as Record<string, unknown>);
    });
    this.deps.onEventsChanged?.([event]);
    return event;
  }

  /** Any other audited change made elsewhere (policy, agent revoke/tags, enrollment tokens). */
  recordChange(p: Principal, ctx: CallContext, action: string, target: string | null, details: Record<string, unknown>, reason: string | null = null): void {
    this.tx(() => this.record(p, ctx, action, target, details, reason));
  }

  /** The contractor organisation an enrollment token is for: its id (400 when unknown or a client one). */
  enrollOrganisation(nameOrId: string): string {
    const org = this.resolveOrganisation(nameOrId);
    if (org.kind !== "contractor") throw new BadInputError(`organisation: ${org.name} is a client organisation; PCs belong to contractors`);
    return org.id;
  }

  /** A new agent joins its enrollment token's organisation (null: the default one); audited. */
  assignEnrolledAgent(agentId: string, organisationId: string | null): void {
    // a name or id (the CLI stores what it was given); unknown: the default organisation, logged
    const org = (organisationId ? this.people.findOrganisation(organisationId)?.id : undefined) ?? DEFAULT_ORGANISATION;
    if (organisationId && org === DEFAULT_ORGANISATION && organisationId !== DEFAULT_ORGANISATION) {
      this.log.warn({ agentId, organisation: organisationId }, "enrollment token names an unknown organisation: the agent joins the default organisation");
    }
    this.tx(() => {
      this.people.setAgentOrganisation(agentId, org);
      this.audit.append({ actor: `agent:${agentId}`, role: "agent", organisationId: org, remote: null, action: "agent.enroll", target: agentId,
        details: { organisationId: org }, reason: null }, this.iso());
    });
  }

  /** Move an agent to an organisation (admin): its later events are judged with that organisation's approvals. */
  moveAgent(p: Principal, agentId: string, organisation: string, ctx: CallContext): string {
    this.require(p, "agent.manage");
    const from = this.people.agentOrganisation(agentId);
    if (from === undefined) throw new MissingError(`no agent ${agentId}`);
    const org = this.resolveOrganisation(organisation);
    if (org.kind !== "contractor") throw new BadInputError(`organisation: ${org.name} is a client organisation; a PC belongs to a contractor`);
    this.tx(() => {
      this.people.setAgentOrganisation(agentId, org.id);
      this.record(p, ctx, "agent.organisation", agentId, { from, to: org.id });
    });
    this.deps.onApprovalsChanged?.([agentId]);
    return org.id;
  }

  // --- the organisation filter for other lists -----------------------------------------------

  /** Whether an agent's rows pass `p`'s organisation filter. */
  agentVisible(p: Principal, agentId: string): boolean {
    if (orgScope(p) === null) return true;
    if (p.role === "agent") return agentId === p.agentId;
    return visible(p, this.people.agentOrganisation(agentId));
  }

  /** The agent ids `p` may see, or null for every agent. */
  visibleAgentIds(p: Principal): Set<string> | null {
    const scope = orgScope(p);
    if (scope === null) return null;
    if (p.role === "agent") return new Set([p.agentId!]);
    return new Set(this.people.agentsOf(scope).map((a) => a.id));
  }

  // --- audit ---------------------------------------------------------------------------------

  auditPage(p: Principal, q: AuditQuery): { rows: AuditRow[]; nextCursor: string | null } {
    this.require(p, "audit.read");
    const rows = this.audit.query({ ...q, limit: q.limit + 1 });
    let nextCursor: string | null = null;
    if (rows.length > q.limit) {
      rows.length = q.limit;
      nextCursor = String(rows[rows.length - 1]!.seq);
    }
    return { rows, nextCursor };
  }
}

/** An events row (snake_case) → the API shape. */
export function storedFromRow(r: Record<string, unknown>): StoredEvent {
  return {
    id: Number(r.id), agentId: String(r.agent_id), seq: r.seq === null ? null : Number(r.seq), control: r.control as StoredEvent["control"],
    type: r.type as StoredEvent["type"], articles: JSON.parse(String(r.articles)) as string[], severity: r.severity as StoredEvent["severity"],
    status: r.status as StoredEvent["status"], observedAt: String(r.observed_at), receivedAt: String(r.received_at),
    details: JSON.parse(String(r.details)) as Details, approvalId: (r.approval_id as string | null) ?? null,
    reasons: JSON.parse(typeof r.reasons === "string" ? r.reasons : "[]") as Reason[],
    resolution: (r.resolution as string | null) ?? null, note: (r.note as string | null) ?? null, resolvedAt: (r.resolved_at as string | null) ?? null,
  };
}
