/**
 * The embedded store: one SQLite file (`<data>/kyoka.db`), WAL, synchronous=FULL by default so an
 * ack means the events survive a power cut. better-sqlite3 is synchronous; the async Store methods
 * wrap it, and group commit calls insertEventsSync directly.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import type { Logger } from "../lib/log.js";
import type { Approval, EventType, Reason, Status, StoredEvent } from "../policies/schema.js";
import type { LedgerEntry } from "../policies/ledger.js";
import type {
  AgentCredential, AgentRecord, ApprovalRecord, CountGroup, EnrollTokenRecord, EnrollTokenRefusal, EventQuery, EventRow, EvidenceQuery, EvidenceRecord,
  MediaRecord, NewAgent,
  PcBlock, PolicyRecord, Store, SyncEventWriter,
} from "./store.js";
import { MIGRATIONS_TABLE, migrationSql, pendingMigrations, SCHEMA_VERSION } from "./migrations.js";
import { checkEvidence, evidenceFromRow, evidenceSelectSql, evidenceUpsertSql } from "./evidence.js";

/**
 * Bring the database to SCHEMA_VERSION: every step not yet recorded in schema_migrations, in
 * order, each in its own transaction with its record (a crash mid-way leaves a consistent
 * version). Refuses a database made by a newer kyoka. Returns the versions before and after.
 */
export function migrateSqlite(db: Database.Database, log?: Logger): { from: number; to: number } {
  db.exec(MIGRATIONS_TABLE);
  const applied = (db.prepare(`SELECT version FROM schema_migrations`).all() as Array<{ version: number }>).map((r) => r.version);
  const pending = pendingMigrations(applied);
  const hasColumn = (table: string, column: string): boolean =>
    (db.prepare(`SELECT 1 FROM pragma_table_info(?) WHERE name = ?`).get(table, column) as unknown) !== undefined;
  const record = db.prepare(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`);
  for (const m of pending) {
    db.transaction(() => {
      db.exec(migrationSql(m, "sqlite", hasColumn));
      record.run(m.version, m.name, new Date().toISOString());
    })();
    log?.info({ version: m.version, migration: m.name }, "database migrated");
  }
  db.pragma(`user_version = ${SCHEMA_VERSION}`);
  return { from: Math.max(0, ...applied), to: SCHEMA_VERSION };
}

/** The data folder and the database files hold personal data (the ledgers): owner only. */
function restrictModes(dataDir: string, dbPath: string): void {
  chmodSync(dataDir, 0o700);
  for (const f of [dbPath, `${dbPath}-wal`, `${dbPath}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
}

interface AgentRow {
  id: string; secret_hash: string; hostname: string; os: string; version: string; tags: string;
  enrolled_at: string; last_seen: string | null; revoked_at: string | null; policy_version: number | null;
  online: number; silent_at: string | null; bye_at: string | null;
}
interface EventDbRow {
  id: number; agent_id: string; seq: number | null; control: string; type: string; articles: string;
  severity: string; status: string; observed_at: string; received_at: string; details: string;
  approval_id: string | null; resolution: string | null; note: string | null; resolved_at: string | null; reasons: string;
}
interface EnrollTokenRow {
  id: string; token_hash: string; name: string | null; organisation: string | null; max_uses: number | null; uses: number;
  expires_at: string | null; created_at: string; last_used_at: string | null; deleted_at: string | null;
}

function enrollTokenFromRow(r: EnrollTokenRow): EnrollTokenRecord {
  return {
    id: r.id, name: r.name, organisation: r.organisation, maxUses: r.max_uses, uses: r.uses, expiresAt: r.expires_at,
    createdAt: r.created_at, lastUsedAt: r.last_used_at, deletedAt: r.deleted_at,
  };
}

interface ApprovalRow {
  id: string; control: string; match: string; scope: string; valid_from: string; valid_until: string;
  reason: string; created_at: string; deleted_at: string | null;
}

function agentFromRow(r: AgentRow): AgentRecord {
  return {
    id: r.id, hostname: r.hostname, os: r.os, version: r.version, tags: JSON.parse(r.tags) as string[],
    enrolledAt: r.enrolled_at, lastSeen: r.last_seen, revokedAt: r.revoked_at, policyVersion: r.policy_version,
    online: r.online === 1, silentAt: r.silent_at, byeAt: r.bye_at,
  };
}

function eventFromRow(r: EventDbRow): StoredEvent {
  return {
    id: r.id, agentId: r.agent_id, seq: r.seq, control: r.control as StoredEvent["control"],
    type: r.type as StoredEvent["type"], articles: JSON.parse(r.articles) as string[],
    severity: r.severity as StoredEvent["severity"], status: r.status as StoredEvent["status"],
    observedAt: r.observed_at, receivedAt: r.received_at, details: JSON.parse(r.details) as StoredEvent["details"],
    approvalId: r.approval_id, reasons: JSON.parse(r.reasons) as Reason[], resolution: r.resolution, note: r.note, resolvedAt: r.resolved_at,
  };
}

function approvalFromRow(r: ApprovalRow): ApprovalRecord {
  return {
    id: r.id, control: r.control as Approval["control"], match: JSON.parse(r.match) as Approval["match"],
    scope: JSON.parse(r.scope) as Approval["scope"], validFrom: r.valid_from, validUntil: r.valid_until,
    reason: r.reason, createdAt: r.created_at, deletedAt: r.deleted_at,
  };
}

export interface SqliteStoreOptions {
  /** FULL (default): every commit is fsynced before the ack. NORMAL trades the last commits on power loss for speed. */
  synchronous?: "FULL" | "NORMAL";
  busyTimeoutMs?: number;
  log?: Logger;
}

export class SqliteStore implements Store, SyncEventWriter {
  readonly path: string;
  private readonly db: Database.Database;
  private readonly insertStmt: Database.Statement;
  private readonly statements = new Map<string, Database.Statement>();
  private readonly bulkStatements = new Map<string, Database.Statement>();
  private bulk: Database.Database | undefined;
  private readonly busyTimeoutMs: number;
  private readonly insertBatch: (rows: EventRow[]) => Array<number | null>;

  constructor(dataDir: string, opts: SqliteStoreOptions = {}) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    this.path = join(dataDir, "kyoka.db");
    // create the file 0600 before SQLite does (its -wal and -shm take the database file's mode)
    if (!existsSync(this.path)) closeSync(openSync(this.path, "a", 0o600));
    restrictModes(dataDir, this.path);
    this.db = new Database(this.path);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma(`synchronous = ${opts.synchronous ?? "FULL"}`);
    this.busyTimeoutMs = opts.busyTimeoutMs ?? 5000;
    this.db.pragma(`busy_timeout = ${this.busyTimeoutMs}`);
    this.db.pragma("foreign_keys = ON");
    migrateSqlite(this.db, opts.log);
    restrictModes(dataDir, this.path);
    this.insertStmt = this.db.prepare(
      `INSERT OR IGNORE INTO events (agent_id, seq, control, type, articles, severity, status, observed_at, received_at, details, approval_id, reasons)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const stmt = this.insertStmt;
    const evidenceStmt = this.db.prepare(evidenceUpsertSql("sqlite"));
    // articles are the catalog's arrays (shared per type): serialize each once
    const articlesJson = new WeakMap<string[], string>();
    const articlesText = (a: string[]): string => {
      let t = articlesJson.get(a);
      if (t === undefined) articlesJson.set(a, (t = JSON.stringify(a)));
      return t;
    };
    // the catalog-default reasons are shared arrays too (policies/decide.ts)
    const reasonsJson = new WeakMap<object, string>();
    const reasonsText = (r: EventRow["reasons"]): string => {
      let t = reasonsJson.get(r);
      if (t === undefined) {
        t = JSON.stringify(r);
        if (Object.isFrozen(r)) reasonsJson.set(r, t);
      }
      return t;
    };
    this.insertBatch = this.db.transaction((rows: EventRow[]) => {
      const ids: Array<number | null> = new Array<number | null>(rows.length);
      for (let i = 0; i < rows.length; i++) {
        const r = rows[i]!;
        const res = stmt.run(r.agentId, r.seq, r.control, r.type, articlesText(r.articles), r.severity, r.status,
          r.observedAt, r.receivedAt, r.detailsJson ?? JSON.stringify(r.details), r.approvalId, reasonsText(r.reasons));
        ids[i] = res.changes === 1 ? Number(res.lastInsertRowid) : null;
        if (ids[i] !== null && r.type === "agent.check") {
          const ev = checkEvidence(r);
          if (ev) evidenceStmt.run(r.agentId, ev.control, ev.collector, ev.day, r.observedAt, r.observedAt);
        }
      }
      return ids;
    });
  }

  /** The better-sqlite3 handle, for modules keeping their own tables in the same file (server/people/). */
  get handle(): Database.Database {
    return this.db;
  }

  async listEvidence(q: EvidenceQuery): Promise<EvidenceRecord[]> {
    const { sql, args } = evidenceSelectSql("sqlite", q);
    return (this.db.prepare(sql).all(...args) as Array<Parameters<typeof evidenceFromRow>[0]>).map(evidenceFromRow);
  }

  // --- agents ------------------------------------------------------------------------------
  async createAgent(a: NewAgent): Promise<void> {
    this.db.transaction(() => {
      this.db.prepare(`INSERT INTO agents (id, secret_hash, hostname, os, version, enrolled_at) VALUES (?, ?, ?, ?, ?, ?)`)
        .run(a.id, a.secretHash, a.hostname, a.os, a.version, a.enrolledAt);
      this.db.prepare(`INSERT INTO agent_enrollments (agent_id, pc_id, enroll_token_id, remote, enrolled_at) VALUES (?, ?, ?, ?, ?)`)
        .run(a.id, a.pcId ?? null, a.enrollTokenId ?? null, a.remote ?? null, a.enrolledAt);
    })();
  }

  async agentCredential(id: string): Promise<AgentCredential | undefined> {
    const r = this.db.prepare(`SELECT id, secret_hash, revoked_at, tags FROM agents WHERE id = ?`).get(id) as
      Pick<AgentRow, "id" | "secret_hash" | "revoked_at" | "tags"> | undefined;
    return r && { id: r.id, secretHash: r.secret_hash, revokedAt: r.revoked_at, tags: JSON.parse(r.tags) as string[] };
  }

  async getAgent(id: string): Promise<AgentRecord | undefined> {
    const r = this.db.prepare(`SELECT * FROM agents WHERE id = ?`).get(id) as AgentRow | undefined;
    return r && agentFromRow(r);
  }

  async listAgents(): Promise<AgentRecord[]> {
    return (this.db.prepare(`SELECT * FROM agents ORDER BY hostname, id`).all() as AgentRow[]).map(agentFromRow);
  }

  async agentHello(id: string, i: { hostname: string; os: string; version: string; policyVersion: number | null; at: string }): Promise<void> {
    this.db.prepare(`UPDATE agents SET hostname = ?, os = ?, version = ?, policy_version = ?, last_seen = ?, online = 1,
      silent_at = NULL, bye_at = NULL WHERE id = ?`).run(i.hostname, i.os, i.version, i.policyVersion, i.at, id);
  }

  async setAgentPolicyVersion(id: string, version: number): Promise<void> {
    this.db.prepare(`UPDATE agents SET policy_version = ? WHERE id = ?`).run(version, id);
  }

  async setAgentOnline(id: string, online: boolean, lastSeen: string): Promise<void> {
    this.db.prepare(`UPDATE agents SET online = ?, last_seen = ?${online ? ", silent_at = NULL" : ""} WHERE id = ?`)
      .run(online ? 1 : 0, lastSeen, id);
  }

  async touchAgents(lastSeen: Map<string, string>): Promise<void> {
    if (lastSeen.size === 0) return;
    const stmt = this.db.prepare(`UPDATE agents SET last_seen = ? WHERE id = ? AND (last_seen IS NULL OR last_seen < ?)`);
    this.db.transaction(() => {
      for (const [id, at] of lastSeen) stmt.run(at, id, at);
    })();
  }

  async markAgentBye(id: string, at: string): Promise<void> {
    this.db.prepare(`UPDATE agents SET bye_at = ?, online = 0, last_seen = ? WHERE id = ?`).run(at, at, id);
  }

  async silentCandidates(before: string): Promise<AgentRecord[]> {
    return (this.db.prepare(`SELECT * FROM agents WHERE revoked_at IS NULL AND bye_at IS NULL AND silent_at IS NULL
      AND last_seen IS NOT NULL AND last_seen < ?`).all(before) as AgentRow[]).map(agentFromRow);
  }

  async markAgentSilent(id: string, at: string): Promise<void> {
    this.db.prepare(`UPDATE agents SET silent_at = ?, online = 0 WHERE id = ?`).run(at, id);
  }

  async revokeAgent(id: string, at: string): Promise<boolean> {
    const r = this.db.prepare(`UPDATE agents SET revoked_at = COALESCE(revoked_at, ?), online = 0 WHERE id = ?`).run(at, id);
    return r.changes === 1;
  }

  async setAgentTags(id: string, tags: string[]): Promise<boolean> {
    return this.db.prepare(`UPDATE agents SET tags = ? WHERE id = ?`).run(JSON.stringify(tags), id).changes === 1;
  }

  async resetOnline(): Promise<void> {
    this.db.prepare(`UPDATE agents SET online = 0 WHERE online <> 0`).run();
  }

  // --- enrollment --------------------------------------------------------------------------
  async createEnrollToken(t: EnrollTokenRecord & { tokenHash: string }): Promise<void> {
    this.db.prepare(`INSERT INTO enroll_tokens (id, token_hash, name, organisation, max_uses, uses, expires_at, created_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)`).run(t.id, t.tokenHash, t.name, t.organisation, t.maxUses, t.uses, t.expiresAt, t.createdAt);
  }

  async listEnrollTokens(includeDeleted = false): Promise<EnrollTokenRecord[]> {
    const sql = `SELECT * FROM enroll_tokens ${includeDeleted ? "" : "WHERE deleted_at IS NULL"} ORDER BY created_at DESC, id`;
    return (this.db.prepare(sql).all() as EnrollTokenRow[]).map(enrollTokenFromRow);
  }

  async findEnrollToken(tokenHash: string): Promise<EnrollTokenRecord | undefined> {
    const r = this.db.prepare(`SELECT * FROM enroll_tokens WHERE token_hash = ?`).get(tokenHash) as EnrollTokenRow | undefined;
    return r && enrollTokenFromRow(r);
  }

  async consumeEnrollToken(tokenHash: string, at: string): Promise<{ ok: true; token: EnrollTokenRecord } | { ok: false; reason: EnrollTokenRefusal; token?: EnrollTokenRecord }> {
    const used = this.db.prepare(`UPDATE enroll_tokens SET uses = uses + 1, last_used_at = ?
      WHERE token_hash = ? AND deleted_at IS NULL AND (max_uses IS NULL OR uses < max_uses) AND (expires_at IS NULL OR expires_at > ?)
      RETURNING *`).get(at, tokenHash, at) as EnrollTokenRow | undefined;
    if (used) return { ok: true, token: enrollTokenFromRow(used) };
    const token = await this.findEnrollToken(tokenHash);
    if (!token) return { ok: false, reason: "unknown" };
    const reason: EnrollTokenRefusal = token.deletedAt ? "deleted" : token.expiresAt !== null && token.expiresAt <= at ? "expired" : "used_up";
    return { ok: false, reason, token };
  }

  async deleteEnrollToken(id: string, at: string): Promise<boolean> {
    return this.db.prepare(`UPDATE enroll_tokens SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL`).run(at, id).changes === 1;
  }

  async agentPcIds(agentId: string): Promise<string[]> {
    const enrolled = this.db.prepare(`SELECT pc_id FROM agent_enrollments WHERE agent_id = ? AND pc_id IS NOT NULL`).get(agentId) as
      { pc_id: string } | undefined;
    const snapshot = this.db.prepare(`SELECT json_extract(details, '$.pcId') AS pc_id FROM events
      WHERE agent_id = ? AND type = 'asset.snapshot' ORDER BY id DESC LIMIT 1`).get(agentId) as { pc_id: unknown } | undefined;
    const ids = [enrolled?.pc_id, typeof snapshot?.pc_id === "string" ? snapshot.pc_id : undefined];
    return [...new Set(ids.filter((x): x is string => typeof x === "string" && x !== ""))];
  }

  async blockPcs(agentId: string, pcIds: string[], at: string): Promise<void> {
    const stmt = this.db.prepare(`INSERT INTO blocked_pcs (pc_id, agent_id, blocked_at) VALUES (?, ?, ?)
      ON CONFLICT (pc_id, agent_id) DO UPDATE SET blocked_at = excluded.blocked_at, allowed_at = NULL`);
    this.db.transaction(() => {
      for (const pc of pcIds) stmt.run(pc, agentId, at);
    })();
  }

  async pcBlock(pcId: string): Promise<PcBlock | undefined> {
    const r = this.db.prepare(`SELECT pc_id, agent_id, blocked_at FROM blocked_pcs WHERE pc_id = ? AND allowed_at IS NULL
      ORDER BY blocked_at DESC LIMIT 1`).get(pcId) as { pc_id: string; agent_id: string; blocked_at: string } | undefined;
    return r && { pcId: r.pc_id, agentId: r.agent_id, blockedAt: r.blocked_at };
  }

  async allowPcs(agentId: string, at: string): Promise<string[]> {
    const rows = this.db.prepare(`UPDATE blocked_pcs SET allowed_at = ? WHERE agent_id = ? AND allowed_at IS NULL RETURNING pc_id`)
      .all(at, agentId) as Array<{ pc_id: string }>;
    return rows.map((r) => r.pc_id);
  }

  // --- events ------------------------------------------------------------------------------
  async maxSeq(agentId: string): Promise<number> {
    const r = this.db.prepare(`SELECT MAX(seq) AS m FROM events WHERE agent_id = ?`).get(agentId) as { m: number | null };
    return r.m ?? 0;
  }

  insertEventsSync(rows: EventRow[]): Array<number | null> {
    return this.insertBatch(rows);
  }

  async insertEvents(rows: EventRow[]): Promise<Array<number | null>> {
    return this.insertBatch(rows);
  }

  /** WHERE clauses of an event query (shared by the list and the counts) */
  private eventWhere(q: Omit<EventQuery, "limit">, timeIndex = false): { sql: string; args: unknown[] } {
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.control && !q.type) { where.push("type >= ? AND type < ?"); args.push(`${q.control}.`, `${q.control}/`); }
    if (q.control && q.type) { where.push("control = ?"); args.push(q.control); }
    if (q.type) { where.push("type = ?"); args.push(q.type); }
    if (q.agent) { where.push("agent_id = ?"); args.push(q.agent); }
    if (q.agents) { where.push("agent_id IN (SELECT value FROM json_each(?))"); args.push(JSON.stringify(q.agents)); }
    if (q.status) { where.push("status = ?"); args.push(q.status); }
    if (q.severity) { where.push("severity = ?"); args.push(q.severity); }
    // `+received_at`: the time range filters rows but never picks the index, so a page or an export
    // chunk walks the id order (the primary key) from its cursor instead of sorting the whole range;
    // a grouped count (timeIndex) has no order and reads the range from the index
    const at = timeIndex ? "received_at" : "+received_at";
    if (q.since) { where.push(`${at} >= ?`); args.push(q.since); }
    if (q.until) { where.push(`${at} < ?`); args.push(q.until); }
    if (q.text) {
      // LIKE is case-insensitive for ASCII in SQLite; %, _ and \ in the text are literal
      const like = `%${q.text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      where.push("(type LIKE ? ESCAPE '\\' OR details LIKE ? ESCAPE '\\')");
      args.push(like, like);
    }
    if (q.beforeId !== undefined) { where.push("id < ?"); args.push(q.beforeId); }
    if (q.afterId !== undefined) { where.push("id > ?"); args.push(q.afterId); }
    return { sql: where.length ? `WHERE ${where.join(" AND ")}` : "", args };
  }

  async queryEvents(q: EventQuery): Promise<StoredEvent[]> {
    const { sql: where, args } = this.eventWhere(q);
    const sql = `SELECT * FROM events ${where} ORDER BY id ${q.order === "asc" ? "ASC" : "DESC"} LIMIT ?`;
    return (this.statement(sql, q.bulk === true).all(...args, q.limit) as EventDbRow[]).map(eventFromRow);
  }

  async queryEventLines(q: EventQuery): Promise<string[]> {
    const { sql: where, args } = this.eventWhere(q);
    // keys in StoredEvent's order (eventFromRow); json() passes the stored JSON text through
    const sql = `SELECT json_object('id', id, 'agentId', agent_id, 'seq', seq, 'control', control, 'type', type, 'articles', json(articles),
      'severity', severity, 'status', status, 'observedAt', observed_at, 'receivedAt', received_at, 'details', json(details),
      'approvalId', approval_id, 'reasons', json(reasons), 'resolution', resolution, 'note', note, 'resolvedAt', resolved_at)
      FROM events ${where} ORDER BY id ${q.order === "asc" ? "ASC" : "DESC"} LIMIT ?`;
    return this.statement(sql, q.bulk === true, true).all(...args, q.limit) as string[];
  }

  async countEvents(q: Omit<EventQuery, "limit" | "beforeId" | "afterId" | "order" | "status">): Promise<Record<Status, number>> {
    const { sql: where, args } = this.eventWhere(q);
    const counts: Record<Status, number> = { needs_approval: 0, approved: 0, violation: 0, info: 0 };
    for (const r of this.db.prepare(`SELECT status, COUNT(*) AS n FROM events ${where} GROUP BY status`).all(...args) as Array<{ status: Status; n: number }>) {
      counts[r.status] = r.n;
    }
    return counts;
  }

  async countEventsBy(q: Omit<EventQuery, "limit" | "beforeId" | "afterId" | "order" | "status">, by: CountGroup): Promise<Record<string, Record<Status, number>>> {
    const { sql: where, args } = this.eventWhere(q, true);
    // one pass over the covering indexes of migration 8: (agent_id, status, control), (received_at, status, control)
    const key = by === "control" ? "control" : by === "agent" ? "agent_id" : "date(received_at, '+9 hours')";
    const out: Record<string, Record<Status, number>> = {};
    const rows = this.statement(`SELECT ${key} AS k, status, COUNT(*) AS n FROM events ${where} GROUP BY k, status`, false)
      .all(...args) as Array<{ k: string; status: Status; n: number }>;
    for (const r of rows) (out[r.k] ??= { needs_approval: 0, approved: 0, violation: 0, info: 0 })[r.status] = r.n;
    return out;
  }

  /**
   * A prepared statement per query shape (filters set), kept: a page or an export chunk prepares
   * nothing. Bulk reads (exports) go through a second, read-only connection with a 2 MiB page cache
   * (the main one has SQLite's 16 MiB): walking a million rows would otherwise fill the main cache
   * and grow the server's memory; WAL lets it read while the main connection writes.
   */
  private statement(sql: string, bulk: boolean, pluck = false): Database.Statement {
    const cache = bulk ? this.bulkStatements : this.statements;
    let stmt = cache.get(sql);
    if (!stmt) {
      stmt = (bulk ? this.bulkDb() : this.db).prepare(sql);
      // one column: each row is its value (no object per row)
      if (pluck) stmt.pluck();
      // one per combination of filters and order; the bound only guards against a future dynamic SQL
      if (cache.size < 256) cache.set(sql, stmt);
    }
    return stmt;
  }

  private bulkDb(): Database.Database {
    if (!this.bulk) {
      this.bulk = new Database(this.path, { readonly: true });
      this.bulk.pragma("cache_size = -2048");
      this.bulk.pragma(`busy_timeout = ${this.busyTimeoutMs}`);
    }
    return this.bulk;
  }

  async getEvent(id: number): Promise<StoredEvent | undefined> {
    const r = this.db.prepare(`SELECT * FROM events WHERE id = ?`).get(id) as EventDbRow | undefined;
    return r && eventFromRow(r);
  }

  async resolveEvent(id: number, resolution: string, note: string | null, at: string): Promise<StoredEvent | undefined> {
    const r = this.db.prepare(`UPDATE events SET resolution = ?, note = ?, resolved_at = ? WHERE id = ?`).run(resolution, note, at, id);
    if (r.changes !== 1) return undefined;
    return this.getEvent(id);
  }

  // --- approvals ---------------------------------------------------------------------------
  async createApproval(a: Approval): Promise<void> {
    this.db.prepare(`INSERT INTO approvals (id, control, match, scope, valid_from, valid_until, reason, created_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)`).run(a.id, a.control, JSON.stringify(a.match), JSON.stringify(a.scope),
      a.validFrom, a.validUntil, a.reason, a.createdAt);
  }

  async listApprovals(includeDeleted = false): Promise<ApprovalRecord[]> {
    const sql = `SELECT * FROM approvals ${includeDeleted ? "" : "WHERE deleted_at IS NULL"} ORDER BY created_at, id`;
    return (this.db.prepare(sql).all() as ApprovalRow[]).map(approvalFromRow);
  }

  async deleteApproval(id: string, at: string): Promise<boolean> {
    return this.db.prepare(`UPDATE approvals SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL`).run(at, id).changes === 1;
  }

  // --- policies ----------------------------------------------------------------------------
  async latestPolicy(): Promise<PolicyRecord | undefined> {
    const r = this.db.prepare(`SELECT version, text, created_at FROM policies ORDER BY version DESC LIMIT 1`).get() as
      { version: number; text: string; created_at: string } | undefined;
    return r && { version: r.version, text: r.text, createdAt: r.created_at };
  }

  async insertPolicy(text: string, at: string): Promise<number> {
    const r = this.db.prepare(`INSERT INTO policies (version, text, created_at)
      VALUES ((SELECT COALESCE(MAX(version), 0) + 1 FROM policies), ?, ?) RETURNING version`).get(text, at) as { version: number };
    return r.version;
  }

  // --- ledger (台帳) --------------------------------------------------------------------------
  async listLedger(): Promise<LedgerEntry[]> {
    const rows = this.db.prepare(`SELECT * FROM ledger ORDER BY position, asset_no`).all() as Array<{
      asset_no: string; hostname: string; serial: string; macs: string; location: string; owner: string; registered_at: string; note: string;
    }>;
    return rows.map((r) => ({
      assetNo: r.asset_no, hostname: r.hostname, serial: r.serial, macs: JSON.parse(r.macs) as string[], location: r.location,
      owner: r.owner, registeredAt: r.registered_at, note: r.note,
    }));
  }

  async saveLedger(entries: LedgerEntry[], mode: "replace" | "upsert", at: string): Promise<void> {
    this.db.transaction(() => {
      if (mode === "replace") this.db.prepare(`DELETE FROM ledger`).run();
      const next = (this.db.prepare(`SELECT COALESCE(MAX(position), 0) AS p FROM ledger`).get() as { p: number }).p;
      const stmt = this.db.prepare(`INSERT INTO ledger (asset_no, position, hostname, serial, macs, location, owner, registered_at, note, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (asset_no) DO UPDATE SET hostname = excluded.hostname, serial = excluded.serial, macs = excluded.macs,
          location = excluded.location, owner = excluded.owner, registered_at = excluded.registered_at, note = excluded.note,
          updated_at = excluded.updated_at`);
      entries.forEach((e, i) => stmt.run(e.assetNo, next + i + 1, e.hostname, e.serial, JSON.stringify(e.macs), e.location, e.owner,
        e.registeredAt, e.note, at));
    })();
  }

  async latestEventPerAgent(type: EventType): Promise<StoredEvent[]> {
    return (this.db.prepare(`SELECT * FROM events WHERE id IN (SELECT MAX(id) FROM events WHERE type = ? GROUP BY agent_id)`)
      .all(type) as EventDbRow[]).map(eventFromRow);
  }

  // --- media ledger (媒体台帳) ------------------------------------------------------------------
  async listRegisteredMedia(): Promise<MediaRecord[]> {
    const rows = this.db.prepare(`SELECT * FROM media_ledger WHERE deleted_at IS NULL ORDER BY registered_at, id`).all() as Array<{
      id: string; serial: string; vendor_id: string | null; product_id: string | null; label: string | null; owner: string; note: string | null;
      registered_at: string;
    }>;
    return rows.map((r) => ({
      id: r.id, serial: r.serial, vendorId: r.vendor_id, productId: r.product_id, label: r.label, owner: r.owner, note: r.note,
      registeredAt: r.registered_at,
    }));
  }

  async registerMedium(m: MediaRecord): Promise<void> {
    this.db.prepare(`INSERT INTO media_ledger (id, serial, vendor_id, product_id, label, owner, note, registered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
      .run(m.id, m.serial, m.vendorId, m.productId, m.label, m.owner, m.note, m.registeredAt);
  }

  async deleteRegisteredMedium(id: string, at: string): Promise<boolean> {
    return this.db.prepare(`UPDATE media_ledger SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL`).run(at, id).changes === 1;
  }

  async close(): Promise<void> {
    if (this.bulk?.open) this.bulk.close();
    if (this.db.open) this.db.close();
  }
}
