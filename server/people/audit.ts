/**
 * The audit trail: every login, request, decision, approval, resolution, policy change, token and
 * user change — who (actor, role, organisation), when, from where (remote address), what (action,
 * target, details) and why (reason). Append-only and hash-chained: each row's hash is
 *
 *   sha256(prevHash + "\n" + canonicalJson(row without its hash))
 *
 * with prevHash of the first row = 64 zeros and canonical JSON = keys sorted at every level, no
 * spaces. Rows are numbered 1, 2, 3, … without gaps. `verifyAuditRows` walks the chain and names
 * the first row that was changed (its hash no longer matches), inserted (its prevHash is not the
 * hash of the row before it, or its number is out of sequence) or deleted (a number is missing).
 * Deleting the newest rows leaves a shorter valid chain: the head (number and hash of the last row)
 * is also written to `<data>/audit-head` after every append, and verify compares the two.
 * The table and its append-only triggers are migration 6 in server/migrations.ts.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type Database from "better-sqlite3";

export const GENESIS_HASH = "0".repeat(64);

export interface AuditInput {
  actor: string;
  role: string;
  organisationId: string | null;
  remote: string | null;
  action: string;
  target: string | null;
  details: Record<string, unknown>;
  reason: string | null;
}

export interface AuditRow extends AuditInput {
  seq: number;
  at: string;
  prevHash: string;
  hash: string;
}

/** JSON with object keys sorted at every level (arrays keep their order). */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(",")}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(",")}}`;
}

export function rowHash(prevHash: string, row: Omit<AuditRow, "hash">): string {
  const body = {
    seq: row.seq, at: row.at, actor: row.actor, role: row.role, organisationId: row.organisationId, remote: row.remote,
    action: row.action, target: row.target, details: row.details, reason: row.reason, prevHash: row.prevHash,
  };
  return createHash("sha256").update(`${prevHash}\n${canonicalJson(body)}`).digest("hex");
}

interface AuditDbRow {
  seq: number; at: string; actor: string; role: string; organisation_id: string | null; remote: string | null; action: string;
  target: string | null; details: string; reason: string | null; prev_hash: string; hash: string;
}

function fromDb(r: AuditDbRow): AuditRow {
  let details: Record<string, unknown>;
  try {
    details = JSON.parse(r.details) as Record<string, unknown>;
  } catch {
    details = { unparseable: r.details };
  }
  return {
    seq: r.seq, at: r.at, actor: r.actor, role: r.role, organisationId: r.organisation_id, remote: r.remote, action: r.action,
    target: r.target, details, reason: r.reason, prevHash: r.prev_hash, hash: r.hash,
  };
}

export interface AuditHead {
  seq: number;
  hash: string;
}

export type VerifyResult =
  | { ok: true; rows: number; head: AuditHead | null }
  | { ok: false; rows: number; seq: number; problem: "changed" | "inserted" | "deleted" | "truncated"; message: string };

/** Walk the chain (rows in seq order); `head` from the audit-head file when there is one. */
export function verifyAuditRows(rows: Iterable<AuditRow>, head?: AuditHead | null): VerifyResult {
  let prevHash = GENESIS_HASH;
  let expected = 1;
  let count = 0;
  let last: AuditRow | undefined;
  for (const row of rows) {
    count++;
    if (row.seq > expected) {
      return { ok: false, rows: count, seq: expected, problem: "deleted",
        message: `audit row ${expected}${row.seq - expected > 1 ? `–${row.seq - 1}` : ""} deleted (row ${row.seq} follows row ${expected - 1})` };
    }
    if (row.seq < expected) {
      return { ok: false, rows: count, seq: row.seq, problem: "inserted", message: `audit row ${row.seq} inserted out of sequence (expected ${expected})` };
    }
    if (row.prevHash !== prevHash) {
      return { ok: false, rows: count, seq: row.seq, problem: "inserted",
        message: `audit row ${row.seq} inserted or its predecessor replaced: its previous hash does not match row ${row.seq - 1}` };
    }
    if (rowHash(prevHash, row) !== row.hash) {
      return { ok: false, rows: count, seq: row.seq, problem: "changed", message: `audit row ${row.seq} changed: its content no longer matches its hash` };
    }
    prevHash = row.hash;
    expected++;
    last = row;
  }
  if (head && head.seq > 0) {
    if (!last || last.seq < head.seq) {
      return { ok: false, rows: count, seq: (last?.seq ?? 0) + 1, problem: "truncated",
        message: `audit rows ${(last?.seq ?? 0) + 1}–${head.seq} deleted: the trail ends at row ${last?.seq ?? 0} but the head file says ${head.seq}` };
    }
    const atHead = last.seq === head.seq ? last : undefined;
    if (atHead && atHead.hash !== head.hash) {
      return { ok: false, rows: count, seq: head.seq, problem: "changed", message: `audit row ${head.seq} changed: its hash differs from the head file` };
    }
  }
  return { ok: true, rows: count, head: last ? { seq: last.seq, hash: last.hash } : null };
}

export function readHeadFile(dataDir: string): AuditHead | null {
  const path = join(dataDir, "audit-head");
  if (!existsSync(path)) return null;
  const m = /^(\d+) ([0-9a-f]{64})\s*$/.exec(readFileSync(path, "utf8"));
  return m ? { seq: Number(m[1]), hash: m[2]! } : null;
}

/** Every row of the audit table in chain order (a read-only handle will do). */
export function* readAuditRows(db: Database.Database): Generator<AuditRow> {
  for (const r of db.prepare(`SELECT * FROM audit ORDER BY seq`).iterate() as IterableIterator<AuditDbRow>) yield fromDb(r);
}

export interface AuditQuery {
  since?: string;
  actor?: string;
  action?: string;
  /** rows with seq below this (newest first paging) */
  before?: number;
  limit: number;
}

/** The audit table on a better-sqlite3 handle. `append` must run inside the caller's transaction when it records a change. */
export class AuditLog {
  private readonly insert: Database.Statement;
  private readonly lastStmt: Database.Statement;

  constructor(private readonly db: Database.Database, private readonly dataDir: string | undefined) {
    this.insert = db.prepare(`INSERT INTO audit (seq, at, actor, role, organisation_id, remote, action, target, details, reason, prev_hash, hash)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    this.lastStmt = db.prepare(`SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1`);
  }

  append(input: AuditInput, at = new Date().toISOString()): AuditRow {
    const last = this.lastStmt.get() as { seq: number; hash: string } | undefined;
    const base: Omit<AuditRow, "hash"> = { ...input, seq: (last?.seq ?? 0) + 1, at, prevHash: last?.hash ?? GENESIS_HASH };
    const row: AuditRow = { ...base, hash: rowHash(base.prevHash, base) };
    this.insert.run(row.seq, row.at, row.actor, row.role, row.organisationId, row.remote, row.action, row.target,
      JSON.stringify(row.details), row.reason, row.prevHash, row.hash);
    if (this.dataDir) {
      const head = `${row.seq} ${row.hash}\n`;
      // written when the transaction commits (or at once outside one)
      if (this.db.inTransaction) this.pendingHead = head;
      else writeFileSync(join(this.dataDir, "audit-head"), head, { mode: 0o600 });
    }
    return row;
  }

  private pendingHead: string | undefined;

  /** After a transaction that appended: write the head file. */
  flushHead(): void {
    if (this.pendingHead && this.dataDir) {
      writeFileSync(join(this.dataDir, "audit-head"), this.pendingHead, { mode: 0o600 });
      this.pendingHead = undefined;
    }
  }

  /** A transaction rolled back: forget the head it would have written. */
  dropHead(): void {
    this.pendingHead = undefined;
  }

  query(q: AuditQuery): AuditRow[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.since) { where.push("at >= ?"); args.push(q.since); }
    if (q.actor) { where.push("actor = ?"); args.push(q.actor); }
    if (q.action) {
      // `request` matches request.create, request.approve, …
      where.push("(action = ? OR action LIKE ?)");
      args.push(q.action, `${q.action.replace(/[%_\\]/g, "\\$&")}.%`);
    }
    if (q.before) { where.push("seq < ?"); args.push(q.before); }
    args.push(q.limit);
    const sql = `SELECT * FROM audit ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY seq DESC LIMIT ?`;
    return (this.db.prepare(sql.replace("action LIKE ?", "action LIKE ? ESCAPE '\\'")).all(...args) as AuditDbRow[]).map(fromDb);
  }

  /** Every row in chain order (for verify). */
  all(): Generator<AuditRow> {
    return readAuditRows(this.db);
  }

  verify(): VerifyResult {
    return verifyAuditRows(this.all(), this.dataDir ? readHeadFile(this.dataDir) : null);
  }
}
