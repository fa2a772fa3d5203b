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

export interface AddColumn {
  table: string;
  column: string;
  /** the column's type and constraints, the same text in both dialects */
  definition: string;
}

export interface Migration {
  version: number;
  name: string;
  /** SQL for both dialects, unless one of the overrides is given */
  sql?: string;
  sqlite?: string;
  postgres?: string;
  /**
   * Columns added to existing tables BEFORE the SQL runs, each only where the table does not have
   * it yet: a step that numbers what an older kyoka did by hand finds them there (SQLite has no
   * `ADD COLUMN IF NOT EXISTS`, so the runner asks the table; PostgreSQL gets `IF NOT EXISTS`).
   */
  addColumns?: readonly AddColumn[];
}

export type Dialect = "sqlite" | "postgres";

/**
 * The SQL text of one step. `hasColumn` answers for the database being migrated (SQLite); without
 * it every column is added (an empty database), on PostgreSQL with `IF NOT EXISTS`.
 */
export function migrationSql(m: Migration, dialect: Dialect, hasColumn?: (table: string, column: string) => boolean): string {
  const sql = m[dialect] ?? m.sql;
  if (sql === undefined) throw new Error(`migration ${m.version} (${m.name}) has no SQL for ${dialect}`);
  const columns = (m.addColumns ?? [])
    .filter((c) => !hasColumn?.(c.table, c.column))
    .map((c) => `ALTER TABLE ${c.table} ADD COLUMN ${dialect === "postgres" ? "IF NOT EXISTS " : ""}${c.column} ${c.definition};\n`);
  return columns.join("") + sql;
}

/**
 * The steps a database at `applied` (the versions its schema_migrations records) still needs, in
 * order. Refuses a database made by a newer kyoka.
 */
export function pendingMigrations(applied: Iterable<number>): Migration[] {
  const done = new Set(applied);
  const newest = Math.max(0, ...done);
  if (newest > SCHEMA_VERSION) {
    throw new Error(`the database is at schema version ${newest}, newer than this kyoka knows (${SCHEMA_VERSION}): use a newer kyoka`);
  }
  return MIGRATIONS.filter((m) => !done.has(m.version));
}

/** The stored reports (server/reports/service.ts): the same table with each dialect's integer and bytes types. */
function reportsTable(int: string, bytes: string): string {
  return `
CREATE TABLE IF NOT EXISTS reports (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  period_from TEXT NOT NULL,
  period_to TEXT NOT NULL,
  organisation_id TEXT,
  format TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  bytes ${int} NOT NULL,
  content ${bytes} NOT NULL,
  trigger_name TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS reports_created ON reports (created_at);
CREATE INDEX IF NOT EXISTS reports_org ON reports (organisation_id, created_at);`;
}

/** Creates the bookkeeping table (same text in both dialects). */
export const MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  applied_at TEXT NOT NULL
)`;

/** server/people/db.ts: the same text in both dialects */
const PEOPLE_TABLES = `
CREATE TABLE IF NOT EXISTS organisations (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL CHECK (kind IN ('client', 'contractor')),
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
  id TEXT PRIMARY KEY,
  login TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  role TEXT NOT NULL,
  organisation_id TEXT REFERENCES organisations (id),
  created_at TEXT NOT NULL,
  disabled_at TEXT
);
-- sessions and API tokens are stored as SHA-256 of the secret: a stolen database holds no credential
CREATE TABLE IF NOT EXISTS sessions (
  id_hash TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users (id),
  csrf TEXT NOT NULL,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  remote TEXT
);
CREATE TABLE IF NOT EXISTS api_tokens (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users (id),
  name TEXT NOT NULL,
  token_hash TEXT NOT NULL UNIQUE,
  created_at TEXT NOT NULL,
  deleted_at TEXT
);
CREATE TABLE IF NOT EXISTS requests (
  id TEXT PRIMARY KEY,
  organisation_id TEXT NOT NULL,
  control TEXT NOT NULL,
  match TEXT NOT NULL,
  scope TEXT NOT NULL,
  valid_from TEXT NOT NULL,
  valid_until TEXT NOT NULL,
  reason TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied')),
  requested_by TEXT NOT NULL,
  requested_at TEXT NOT NULL,
  decided_by TEXT,
  decided_at TEXT,
  decision_note TEXT,
  approval_id TEXT
);
CREATE INDEX IF NOT EXISTS requests_org ON requests (organisation_id, status);
CREATE INDEX IF NOT EXISTS agents_org ON agents (organisation_id);`;

/** server/people/audit.ts (on SQLite seq is the rowid, as the table was first made; the append-only triggers differ) */
const auditTable = (seqType: "INTEGER" | "BIGINT"): string => `
CREATE TABLE IF NOT EXISTS audit (
  seq ${seqType} PRIMARY KEY,
  at TEXT NOT NULL,
  actor TEXT NOT NULL,
  role TEXT NOT NULL,
  organisation_id TEXT,
  remote TEXT,
  action TEXT NOT NULL,
  target TEXT,
  details TEXT NOT NULL,
  reason TEXT,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_at ON audit (at);
CREATE INDEX IF NOT EXISTS audit_actor ON audit (actor, seq);
CREATE INDEX IF NOT EXISTS audit_action ON audit (action, seq);`;

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
  {
    version: 5,
    // IF NOT EXISTS and addColumns: a database made before this step was numbered already has them
    // (server/people/db.ts created them by hand at every start)
    name: "people: organisations, users, sessions, api_tokens, requests; agents and approvals by organisation (server/people/)",
    addColumns: [
      // existing agents move to the default contractor organisation
      { table: "agents", column: "organisation_id", definition: "TEXT NOT NULL DEFAULT 'default'" },
      // an approval restricted to one organisation, the request it decided, who made it
      { table: "approvals", column: "organisation_id", definition: "TEXT" },
      { table: "approvals", column: "request_id", definition: "TEXT" },
      { table: "approvals", column: "created_by", definition: "TEXT" },
    ],
    sqlite: `${PEOPLE_TABLES}
INSERT OR IGNORE INTO organisations (id, name, kind, created_at) VALUES ('default', 'default', 'contractor', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));`,
    postgres: `${PEOPLE_TABLES}
INSERT INTO organisations (id, name, kind, created_at)
  VALUES ('default', 'default', 'contractor', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
  ON CONFLICT DO NOTHING;`,
  },
  {
    version: 6,
    // IF NOT EXISTS: a database made before this step was numbered already has it (server/people/audit.ts)
    name: "audit: the append-only, hash-chained audit trail (server/people/audit.ts)",
    sqlite: `${auditTable("INTEGER")}
-- append-only: the server never updates or deletes a row (a tamperer with the file can; verify finds it)
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;`,
    postgres: `${auditTable("BIGINT")}
-- append-only: the server never updates or deletes a row
CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the audit trail is append-only';
END
$$;
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit FOR EACH ROW EXECUTE FUNCTION audit_append_only();`,
  },
  {
    version: 7,
    name: "reports: every generated compliance report, its bytes and SHA-256 (server/reports/)",
    sqlite: reportsTable("INTEGER", "BLOB"),
    postgres: reportsTable("BIGINT", "BYTEA"),
  },
  {
    version: 8,
    // GET /api/events/counts/by/:group: the compliance charts count per status for each control,
    // PC (→ organisation) and day in one query each. With 100,000 events the counts read these
    // indexes alone instead of the rows (bench/dashboard.ts, BENCHMARKS.md): per PC and control
    // (also a desk user's organisation, agent_id IN …), and per time range (the day chart); the
    // received_at index gains the two columns and keeps received_at first (the reports' period scans
    // read it as before; the event pages' `+received_at` does not use it)
    name: "events: count indexes (agent, status, control) and (received_at, status, control) for the grouped counts",
    sql: `
CREATE INDEX IF NOT EXISTS events_agent_status ON events (agent_id, status, control);
DROP INDEX IF EXISTS events_received;
CREATE INDEX IF NOT EXISTS events_received_status ON events (received_at, status, control);`,
  },
];

for (let i = 0; i < MIGRATIONS.length; i++) {
  if (MIGRATIONS[i]!.version !== i + 1) throw new Error(`migrations must be numbered 1, 2, 3, … (found ${MIGRATIONS[i]!.version} at ${i + 1})`);
}

export const SCHEMA_VERSION = MIGRATIONS.length;
