/**
 * Who may do what: ONE permission function, `can(principal, action, resource)`, and ONE
 * organisation filter, `orgScope(principal)`, used by every route, list, count, stream message,
 * export and report.
 *
 * Roles (SPEC.md "People, organisations and 甲許可 requests"):
 *  - admin      — users, organisations, policy, tokens; everything else too;
 *  - approver   — 甲: decides requests, creates and revokes approvals; reads every organisation;
 *  - desk       — 乙's security desk: its organisation's PCs and events, resolves them, requests;
 *  - contractor — 乙 staff: submits requests for its organisation's PCs, sees them and their status;
 *  - auditor    — 甲, read-only, everything (the audit trail included).
 * desk and contractor are bound to their (contractor) organisation: a resource of another
 * organisation is refused (403), and every list is filtered to their organisation.
 * An agent (a PC, authenticated with its own credential) may only submit requests for itself
 * and read what concerns itself.
 */

export const ROLES = ["admin", "approver", "desk", "contractor", "auditor"] as const;
export type Role = (typeof ROLES)[number];

export const ACTIONS = [
  "organisation.create", "organisation.read",
  "user.create", "user.read", "user.disable",
  "token.manage", // own personal API tokens
  "enroll-token.manage",
  "agent.read", "agent.manage",
  "event.read", "event.resolve",
  "approval.read", "approval.manage",
  "request.create", "request.read", "request.decide",
  "policy.read", "policy.write",
  "asset.read", "asset.export", "asset.write",
  "media.read", "media.write",
  "audit.read",
  "metrics.read",
  "stream.read",
  "incident.read", // incident report drafts (事故報告書, server/incident/): contractor-side users of their organisation's events
  "report.read", // compliance reports (server/reports/): generate, list, download
] as const;
export type Action = (typeof ACTIONS)[number];

export interface Principal {
  /** what the audit trail names: a login, `admin-token`, or `agent:<id>` */
  actor: string;
  role: Role | "agent";
  /** the organisation a desk/contractor user or an agent belongs to; null for 甲-side users */
  organisationId: string | null;
  userId?: string;
  agentId?: string;
  /** how it authenticated */
  via: "admin-token" | "token" | "session" | "agent";
  /** the session's CSRF token (session principals only) */
  csrf?: string;
  sessionId?: string;
}

/** What an action applies to: its organisation (when bound to one) and, for agents, its id. */
export interface Resource {
  organisationId?: string | null;
  agentId?: string;
}

const READ_ALL: Action[] = [
  "organisation.read", "agent.read", "event.read", "approval.read", "request.read", "policy.read", "asset.read", "asset.export", "media.read", "stream.read", "incident.read", "report.read",
];

const ALLOWED: Record<Role | "agent", ReadonlySet<Action>> = {
  admin: new Set(ACTIONS),
  approver: new Set<Action>([...READ_ALL, "token.manage", "event.resolve", "approval.manage", "request.create", "request.decide", "audit.read"]),
  auditor: new Set<Action>([...READ_ALL, "token.manage", "user.read", "audit.read", "metrics.read"]),
  desk: new Set<Action>([
    "organisation.read", "agent.read", "event.read", "event.resolve", "approval.read", "request.create", "request.read",
    "policy.read", "asset.read", "media.read", "stream.read", "token.manage", "incident.read", "report.read",
  ]),
  contractor: new Set<Action>(["organisation.read", "agent.read", "approval.read", "request.create", "request.read", "policy.read", "token.manage", "incident.read", "report.read"]),
  agent: new Set<Action>(["request.create", "request.read", "approval.read"]),
};

/** Roles bound to one organisation: they see and touch only its resources. */
export function orgBound(p: Principal): boolean {
  return p.role === "desk" || p.role === "contractor" || p.role === "agent";
}

/**
 * May `p` do `action` (on `resource`)? Without a resource: whether the role may do it at all
 * (lists are then filtered with orgScope).
 */
export function can(p: Principal, action: Action, resource?: Resource): boolean {
  if (!ALLOWED[p.role].has(action)) return false;
  if (!resource || !orgBound(p)) return true;
  if (p.role === "agent" && resource.agentId !== undefined && resource.agentId !== p.agentId) return false;
  return resource.organisationId !== undefined && resource.organisationId !== null && resource.organisationId === p.organisationId;
}

/**
 * The organisation filter of every list, count, stream message, export and report: null = every
 * organisation; a string = only that organisation's agents and their events, requests, rows.
 */
export function orgScope(p: Principal): string | null {
  return orgBound(p) ? (p.organisationId ?? "\u0000none") : null;
}

/** Whether a row of `organisationId` passes the principal's filter. */
export function visible(p: Principal, organisationId: string | null | undefined): boolean {
  const scope = orgScope(p);
  return scope === null || scope === organisationId;
}

/** Client-side roles need no organisation (or a client one); desk and contractor need a contractor organisation. */
export function roleNeedsContractorOrg(role: Role): boolean {
  return role === "desk" || role === "contractor";
}

/** The bootstrap admin: whoever holds the `admin-token` file. */
export const ADMIN_TOKEN_PRINCIPAL: Principal = { actor: "admin-token", role: "admin", organisationId: null, via: "admin-token" };
