/**
 * Organisations, users, sessions, personal API tokens and requests (申請) in the server's SQLite
 * file, on the store's better-sqlite3 handle (so a decision and the events it resolves commit in
 * one transaction with its audit row).
 *
 * The tables (organisations, users, sessions, api_tokens, requests; `agents.organisation_id`,
 * `approvals.organisation_id`, `request_id`, `created_by`) are migration 5 in server/migrations.ts:
 * the handle must come from a migrated store (SqliteStore.handle).
 */
import { createHash, randomBytes, randomUUID } from "node:crypto";
import type Database from "better-sqlite3";
import type { Role } from "./permissions.js";

/** made by migration 5 (server/migrations.ts), where existing agents moved */
export const DEFAULT_ORGANISATION = "default";

export function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

export function newSecret(): string {
  return randomBytes(32).toString("base64url");
}

export interface Organisation {
  id: string;
  name: string;
  kind: "client" | "contractor";
  createdAt: string;
}

export interface User {
  id: string;
  login: string;
  role: Role;
  organisationId: string | null;
  createdAt: string;
  disabledAt: string | null;
}

export interface UserWithHash extends User {
  passwordHash: string;
}

export interface SessionRow {
  userId: string;
  csrf: string;
  expiresAt: string;
}

export interface ApiToken {
  id: string;
  userId: string;
  name: string;
  createdAt: string;
  deletedAt: string | null;
}

export type RequestStatus = "pending" | "approved" | "denied";

export interface RequestRecord {
  id: string;
  organisationId: string;
  control: string;
  match: Record<string, string | number | boolean>;
  /** the PCs asked for: `{agents}` or `{tags}` (always within organisationId) */
  scope: { agents: string[] } | { tags: string[] } | { all: true };
  validFrom: string;
  validUntil: string;
  reason: string;
  status: RequestStatus;
  requestedBy: string;
  requestedAt: string;
  decidedBy: string | null;
  decidedAt: string | null;
  decisionNote: string | null;
  approvalId: string | null;
}

interface UserDbRow {
  id: string; login: string; password_hash: string; role: string; organisation_id: string | null; created_at: string; disabled_at: string | null;
}
interface RequestDbRow {
  id: string; organisation_id: string; control: string; match: string; scope: string; valid_from: string; valid_until: string; reason: string;
  status: string; requested_by: string; requested_at: string; decided_by: string | null; decided_at: string | null;
  decision_note: string | null; approval_id: string | null;
}

const userFromRow = (r: UserDbRow): UserWithHash => ({
  id: r.id, login: r.login, role: r.role as Role, organisationId: r.organisation_id, createdAt: r.created_at, disabledAt: r.disabled_at,
  passwordHash: r.password_hash,
});

export function publicUser(u: User): User {
  return { id: u.id, login: u.login, role: u.role, organisationId: u.organisationId, createdAt: u.createdAt, disabledAt: u.disabledAt };
}

const requestFromRow = (r: RequestDbRow): RequestRecord => ({
  id: r.id, organisationId: r.organisation_id, control: r.control, match: JSON.parse(r.match) as RequestRecord["match"],
  scope: JSON.parse(r.scope) as RequestRecord["scope"], validFrom: r.valid_from, validUntil: r.valid_until, reason: r.reason,
  status: r.status as RequestStatus, requestedBy: r.requested_by, requestedAt: r.requested_at, decidedBy: r.decided_by,
  decidedAt: r.decided_at, decisionNote: r.decision_note, approvalId: r.approval_id,
});

/** Synchronous data access for the people/workflow tables (better-sqlite3). */
export class PeopleDb {
  constructor(readonly db: Database.Database) {}

  // --- organisations -----------------------------------------------------------------------
  createOrganisation(name: string, kind: "client" | "contractor", at: string): Organisation {
    const id = randomUUID();
    this.db.prepare(`INSERT INTO organisations (id, name, kind, created_at) VALUES (?, ?, ?, ?)`).run(id, name, kind, at);
    return { id, name, kind, createdAt: at };
  }

  listOrganisations(onlyId?: string | null): Organisation[] {
    const rows = (onlyId
      ? this.db.prepare(`SELECT * FROM organisations WHERE id = ? ORDER BY name`).all(onlyId)
      : this.db.prepare(`SELECT * FROM organisations ORDER BY name`).all()) as Array<{ id: string; name: string; kind: string; created_at: string }>;
    return rows.map((r) => ({ id: r.id, name: r.name, kind: r.kind as Organisation["kind"], createdAt: r.created_at }));
  }

  /** by id or by name */
  findOrganisation(idOrName: string): Organisation | undefined {
    const r = this.db.prepare(`SELECT * FROM organisations WHERE id = ? OR name = ? ORDER BY (id = ?) DESC LIMIT 1`).get(idOrName, idOrName, idOrName) as
      { id: string; name: string; kind: string; created_at: string } | undefined;
    return r && { id: r.id, name: r.name, kind: r.kind as Organisation["kind"], createdAt: r.created_at };
  }

  // --- users -------------------------------------------------------------------------------
  createUser(u: { login: string; passwordHash: string; role: Role; organisationId: string | null }, at: string): User {
    const id = randomUUID();
    this.db.prepare(`INSERT INTO users (id, login, password_hash, role, organisation_id, created_at) VALUES (?, ?, ?, ?, ?, ?)`)
      .run(id, u.login, u.passwordHash, u.role, u.organisationId, at);
    return { id, login: u.login, role: u.role, organisationId: u.organisationId, createdAt: at, disabledAt: null };
  }

  userByLogin(login: string): UserWithHash | undefined {
    const r = this.db.prepare(`SELECT * FROM users WHERE login = ?`).get(login) as UserDbRow | undefined;
    return r && userFromRow(r);
  }

  userById(id: string): UserWithHash | undefined {
    const r = this.db.prepare(`SELECT * FROM users WHERE id = ?`).get(id) as UserDbRow | undefined;
    return r && userFromRow(r);
  }

  listUsers(organisationId?: string | null): User[] {
    const rows = (organisationId
      ? this.db.prepare(`SELECT * FROM users WHERE organisation_id = ? ORDER BY login`).all(organisationId)
      : this.db.prepare(`SELECT * FROM users ORDER BY login`).all()) as UserDbRow[];
    return rows.map((r) => publicUser(userFromRow(r)));
  }

  setPassword(userId: string, passwordHash: string): boolean {
    const ok = this.db.prepare(`UPDATE users SET password_hash = ? WHERE id = ?`).run(passwordHash, userId).changes === 1;
    // a new password ends every session of the user
    if (ok) this.db.prepare(`DELETE FROM sessions WHERE user_id = ?`).run(userId);
    return ok;
  }

  disableUser(userId: string, at: string): boolean {
    const ok = this.db.prepare(`UPDATE users SET disabled_at = COALESCE(disabled_at, ?) WHERE id = ?`).run(at, userId).changes === 1;
    if (ok) {
      this.db.prepare(`DELETE FROM sessions WHERE user_id = ?`).run(userId);
      this.db.prepare(`UPDATE api_tokens SET deleted_at = COALESCE(deleted_at, ?) WHERE user_id = ?`).run(at, userId);
    }
    return ok;
  }

  // --- sessions ----------------------------------------------------------------------------
  createSession(userId: string, expiresAt: string, remote: string | null, at: string): { sessionId: string; csrf: string } {
    const sessionId = newSecret();
    const csrf = newSecret();
    this.db.prepare(`INSERT INTO sessions (id_hash, user_id, csrf, created_at, expires_at, remote) VALUES (?, ?, ?, ?, ?, ?)`)
      .run(sha256(sessionId), userId, csrf, at, expiresAt, remote);
    return { sessionId, csrf };
  }

  session(sessionId: string, now: string): SessionRow | undefined {
    const r = this.db.prepare(`SELECT user_id, csrf, expires_at FROM sessions WHERE id_hash = ? AND expires_at > ?`).get(sha256(sessionId), now) as
      { user_id: string; csrf: string; expires_at: string } | undefined;
    return r && { userId: r.user_id, csrf: r.csrf, expiresAt: r.expires_at };
  }

  deleteSession(sessionId: string): void {
    this.db.prepare(`DELETE FROM sessions WHERE id_hash = ?`).run(sha256(sessionId));
  }

  pruneSessions(now: string): void {
    this.db.prepare(`DELETE FROM sessions WHERE expires_at <= ?`).run(now);
  }

  // --- personal API tokens -----------------------------------------------------------------
  createToken(userId: string, name: string, at: string): { id: string; token: string } {
    const id = randomUUID();
    const token = `kyk_${newSecret()}`;
    this.db.prepare(`INSERT INTO api_tokens (id, user_id, name, token_hash, created_at) VALUES (?, ?, ?, ?, ?)`).run(id, userId, name, sha256(token), at);
    return { id, token };
  }

  tokenOwner(token: string): { tokenId: string; userId: string } | undefined {
    const r = this.db.prepare(`SELECT id, user_id FROM api_tokens WHERE token_hash = ? AND deleted_at IS NULL`).get(sha256(token)) as
      { id: string; user_id: string } | undefined;
    return r && { tokenId: r.id, userId: r.user_id };
  }

  getToken(id: string): ApiToken | undefined {
    const r = this.db.prepare(`SELECT * FROM api_tokens WHERE id = ?`).get(id) as
      { id: string; user_id: string; name: string; created_at: string; deleted_at: string | null } | undefined;
    return r && { id: r.id, userId: r.user_id, name: r.name, createdAt: r.created_at, deletedAt: r.deleted_at };
  }

  deleteToken(id: string, at: string): boolean {
    return this.db.prepare(`UPDATE api_tokens SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL`).run(at, id).changes === 1;
  }

  // --- agents' organisations ---------------------------------------------------------------
  agentOrganisation(agentId: string): string | undefined {
    const r = this.db.prepare(`SELECT organisation_id FROM agents WHERE id = ?`).get(agentId) as { organisation_id: string } | undefined;
    return r?.organisation_id;
  }

  setAgentOrganisation(agentId: string, organisationId: string): boolean {
    return this.db.prepare(`UPDATE agents SET organisation_id = ? WHERE id = ?`).run(organisationId, agentId).changes === 1;
  }

  /** agent id → organisation id, for every agent */
  agentOrganisations(): Map<string, string> {
    const rows = this.db.prepare(`SELECT id, organisation_id FROM agents`).all() as Array<{ id: string; organisation_id: string }>;
    return new Map(rows.map((r) => [r.id, r.organisation_id]));
  }

  agentsOf(organisationId: string): Array<{ id: string; tags: string[] }> {
    return (this.db.prepare(`SELECT id, tags FROM agents WHERE organisation_id = ?`).all(organisationId) as Array<{ id: string; tags: string }>)
      .map((r) => ({ id: r.id, tags: JSON.parse(r.tags) as string[] }));
  }

  // --- requests (申請) ---------------------------------------------------------------------
  insertRequest(r: RequestRecord): void {
    this.db.prepare(`INSERT INTO requests (id, organisation_id, control, match, scope, valid_from, valid_until, reason, status, requested_by, requested_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(r.id, r.organisationId, r.control, JSON.stringify(r.match), JSON.stringify(r.scope),
      r.validFrom, r.validUntil, r.reason, r.status, r.requestedBy, r.requestedAt);
  }

  getRequest(id: string): RequestRecord | undefined {
    const r = this.db.prepare(`SELECT * FROM requests WHERE id = ?`).get(id) as RequestDbRow | undefined;
    return r && requestFromRow(r);
  }

  listRequests(q: { status?: RequestStatus; organisationId?: string | null; agentId?: string }): RequestRecord[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.status) { where.push("status = ?"); args.push(q.status); }
    if (q.organisationId) { where.push("organisation_id = ?"); args.push(q.organisationId); }
    const rows = (this.db.prepare(`SELECT * FROM requests ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY requested_at DESC, id`)
      .all(...args) as RequestDbRow[]).map(requestFromRow);
    return q.agentId ? rows.filter((r) => "agents" in r.scope && r.scope.agents.includes(q.agentId!)) : rows;
  }

  decideRequest(id: string, d: { status: "approved" | "denied"; decidedBy: string; at: string; note: string | null; approvalId: string | null }): boolean {
    return this.db.prepare(`UPDATE requests SET status = ?, decided_by = ?, decided_at = ?, decision_note = ?, approval_id = ?
      WHERE id = ? AND status = 'pending'`).run(d.status, d.decidedBy, d.at, d.note, d.approvalId, id).changes === 1;
  }
}
