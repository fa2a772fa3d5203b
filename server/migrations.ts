/**
 * Versioned schema migrations: ONE ordered list, applied at start, each step once, recorded in
 * `schema_migrations (version, name, applied_at)` — a plain table both SQLite and PostgreSQL have
 * (`PRAGMA user_version` mirrors the version on SQLite, for the sqlite3 shell). Each step is plain
 * SQL per dialect; where the dialects agree, `sql` serves both. A PostgreSQL store runs the same
 * list with `postgres ?? sql`.
 *
 * Rules: a step is never edited once released — add a new one. Step 1 is the schema kyoka created
 * with `IF NOT EXISTS` before migrations existed, so a database made by that version is recorded
 * at version 1 without change and then follows the later steps (test/server/migrations.test.ts).
 */

export interface Migration {
  version: number;
  name: string;
  /** SQL for both dialects, unless one of the overrides is given */
  sql?: string;
  sqlite?: string;
  postgres?: string;
}

export type Dialect = "sqlite" | "postgres";

export function migrationSql(m: Migration, dialect: Dialect): string {
  const sql = m[dialect] ?? m.sql;
  if (sql === undefined) throw new Error(`migration ${m.version} (${m.name}) has no SQL for ${dialect}`);
  return sql;
}

/** Creates the bookkeeping table (same text in both dialects). */
export const MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  applied_at TEXT NOT NULL
)`;

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "initial schema (agents, events, approvals, ledger, media_ledger, policies)",
    sqlite: `
CREATE TABLE IF NOT EXISTS agents (
  id TEXT PRIMARY KEY,
  secret_hash TEXT NOT NULL,
  hostname TEXT NOT NULL,
  os TEXT NOT NULL,
  version TEXT NOT NULL,
  tags TEXT NOT NULL DEFAULT '[]',
  enrolled_at TEXT NOT NULL,
  last_seen TEXT,
  revoked_at TEXT,
  policy_version INTEGER,
  online INTEGER NOT NULL DEFAULT 0,
  silent_at TEXT,
  bye_at TEXT
);
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY,
  agent_id TEXT NOT NULL,
  seq INTEGER,
  control TEXT NOT NULL,
  type TEXT NOT NULL,
  articles TEXT NOT NULL,
  severity TEXT NOT NULL,
  status TEXT NOT NULL,
  observed_at TEXT NOT NULL,
  received_at TEXT NOT NULL,
  details TEXT NOT NULL,
  approval_id TEXT,
  resolution TEXT,
  note TEXT,
  resolved_at TEXT,
  UNIQUE (agent_id, seq)
);
-- a control filter is a range on type ('software.' ≤ type < 'software/'), so it needs no index of its own
CREATE INDEX IF NOT EXISTS events_type ON events (type, id);
CREATE INDEX IF NOT EXISTS events_status ON events (status, id);
CREATE INDEX IF NOT EXISTS events_agent ON events (agent_id, id);
CREATE INDEX IF NOT EXISTS events_received ON events (received_at);
CREATE TABLE IF NOT EXISTS approvals (
  id TEXT PRIMARY KEY,
  control TEXT NOT NULL,
  match TEXT NOT NULL,
  scope TEXT NOT NULL,
  valid_from TEXT NOT NULL,
  valid_until TEXT NOT NULL,
  reason TEXT NOT NULL,
  created_at TEXT NOT NULL,
  deleted_at TEXT
);
-- the PC ledger (台帳), server/assets.ts; position keeps the order of the imported file
CREATE TABLE IF NOT EXISTS ledger (
  asset_no TEXT PRIMARY KEY,
  position INTEGER NOT NULL,
  hostname TEXT NOT NULL,
  serial TEXT NOT NULL,
  macs TEXT NOT NULL,
  location TEXT NOT NULL,
  owner TEXT NOT NULL,
  registered_at TEXT NOT NULL,
  note TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
-- the media ledger (媒体台帳), server/media-ledger.ts; deleted records keep their row (deleted_at)
CREATE TABLE IF NOT EXISTS media_ledger (
  id TEXT PRIMARY KEY,
  serial TEXT NOT NULL,
  vendor_id TEXT,
  product_id TEXT,
  label TEXT,
  owner TEXT NOT NULL,
  note TEXT,
  registered_at TEXT NOT NULL,
  deleted_at TEXT
);
CREATE TABLE IF NOT EXISTS policies (
  version INTEGER PRIMARY KEY,
  text TEXT NOT NULL,
  created_at TEXT NOT NULL
);`,
    postgres: `
CREATE TABLE IF NOT EXISTS agents (
  id TEXT PRIMARY KEY,
  secret_hash TEXT NOT NULL,
  hostname TEXT NOT NULL,
  os TEXT NOT NULL,
  version TEXT NOT NULL,
  tags TEXT NOT NULL DEFAULT '[]',
  enrolled_at TEXT NOT NULL,
  last_seen TEXT,
  revoked_at TEXT,
  policy_version INTEGER,
  online INTEGER NOT NULL DEFAULT 0,
  silent_at TEXT,
  bye_at TEXT
);
CREATE TABLE IF NOT EXISTS events (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  agent_id TEXT NOT NULL,
  seq BIGINT,
  control TEXT NOT NULL,
  type TEXT NOT NULL,
  articles TEXT NOT NULL,
  severity TEXT NOT NULL,
  status TEXT NOT NULL,
  observed_at TEXT NOT NULL,
  received_at TEXT NOT NULL,
  details TEXT NOT NULL,
  approval_id TEXT,
  resolution TEXT,
  note TEXT,
  resolved_at TEXT,
  UNIQUE (agent_id, seq)
);
-- a control filter is a range on type ('software.' ≤ type < 'software/'), so it needs no index of its own
CREATE INDEX IF NOT EXISTS events_type ON events (type, id);
CREATE INDEX IF NOT EXISTS events_status ON events (status, id);
CREATE INDEX IF NOT EXISTS events_agent ON events (agent_id, id);
CREATE INDEX IF NOT EXISTS events_received ON events (received_at);
CREATE TABLE IF NOT EXISTS approvals (
  id TEXT PRIMARY KEY,
  control TEXT NOT NULL,
  match TEXT NOT NULL,
  scope TEXT NOT NULL,
  valid_from TEXT NOT NULL,
  valid_until TEXT NOT NULL,
  reason TEXT NOT NULL,
  created_at TEXT NOT NULL,
  deleted_at TEXT
);
-- the PC ledger (台帳), server/assets.ts; position keeps the order of the imported file
CREATE TABLE IF NOT EXISTS ledger (
  asset_no TEXT PRIMARY KEY,
  position INTEGER NOT NULL,
  hostname TEXT NOT NULL,
  serial TEXT NOT NULL,
  macs TEXT NOT NULL,
  location TEXT NOT NULL,
  owner TEXT NOT NULL,
  registered_at TEXT NOT NULL,
  note TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
-- the media ledger (媒体台帳), server/media-ledger.ts; deleted records keep their row (deleted_at)
CREATE TABLE IF NOT EXISTS media_ledger (
  id TEXT PRIMARY KEY,
  serial TEXT NOT NULL,
  vendor_id TEXT,
  product_id TEXT,
  label TEXT,
  owner TEXT NOT NULL,
  note TEXT,
  registered_at TEXT NOT NULL,
  deleted_at TEXT
);
CREATE TABLE IF NOT EXISTS policies (
  version INTEGER PRIMARY KEY,
  text TEXT NOT NULL,
  created_at TEXT NOT NULL
);`,
  },
  {
    version: 2,
    name: "events.reasons: why each event has its status (server/decide.ts), JSON [{ja, en}]",
    sql: `ALTER TABLE events ADD COLUMN reasons TEXT NOT NULL DEFAULT '[]'`,
  },
  {
    version: 3,
    // IF NOT EXISTS: a database made between the enrollment work and migrations already has them
    name: "enrollment: enroll_tokens, agent_enrollments, blocked_pcs (server/enrollment.ts)",
    sql: `
-- enrollment tokens (server/enrollment.ts): only the sha256 of the token is kept
CREATE TABLE IF NOT EXISTS enroll_tokens (
  id TEXT PRIMARY KEY,
  token_hash TEXT NOT NULL UNIQUE,
  name TEXT,
  organisation TEXT,
  max_uses INTEGER,
  uses INTEGER NOT NULL DEFAULT 0,
  expires_at TEXT,
  created_at TEXT NOT NULL,
  last_used_at TEXT,
  deleted_at TEXT
);
-- how each agent enrolled: its PC's hardware identity, the token (NULL: the bootstrap token), from where
CREATE TABLE IF NOT EXISTS agent_enrollments (
  agent_id TEXT PRIMARY KEY,
  pc_id TEXT,
  enroll_token_id TEXT,
  remote TEXT,
  enrolled_at TEXT NOT NULL
);
-- PCs kept out after a revocation, until an admin allows re-enrollment (allowed_at)
CREATE TABLE IF NOT EXISTS blocked_pcs (
  pc_id TEXT NOT NULL,
  agent_id TEXT NOT NULL,
  blocked_at TEXT NOT NULL,
  allowed_at TEXT,
  PRIMARY KEY (pc_id, agent_id)
);`,
  },
  {
    version: 4,
    name: "check_evidence: the days each PC completed a check of each control (agent.check, server/evidence.ts)",
    sql: `
-- one row per PC × control × collector × day (Asia/Tokyo) with at least one ok agent.check, written
-- in the transaction that stores the event; a failed check (ok: false) writes nothing here
CREATE TABLE IF NOT EXISTS check_evidence (
  agent_id TEXT NOT NULL,
  control TEXT NOT NULL,
  collector TEXT NOT NULL,
  day TEXT NOT NULL,
  checks INTEGER NOT NULL,
  first_at TEXT NOT NULL,
  last_at TEXT NOT NULL,
  PRIMARY KEY (agent_id, control, collector, day)
);
CREATE INDEX IF NOT EXISTS check_evidence_day ON check_evidence (day);`,
  },
];

for (let i = 0; i < MIGRATIONS.length; i++) {
  if (MIGRATIONS[i]!.version !== i + 1) throw new Error(`migrations must be numbered 1, 2, 3, … (found ${MIGRATIONS[i]!.version} at ${i + 1})`);
}

export const SCHEMA_VERSION = MIGRATIONS.length;
