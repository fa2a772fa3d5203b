/**
 * The numbered migrations' PostgreSQL SQL really runs: against the local PostgreSQL (needs the
 * `postgresql` package and a `test` database the `postgres` user reaches without a password, or
 * KYOKA_TEST_PG_URL), a schema of its own per run, migrated from empty, then the main store
 * operations in PostgreSQL's SQL — a batch of events ingested (a repeated batch stored once),
 * events paged by keyset, the people tables, the append-only audit trail — and dropped at the end.
 * There is no PostgreSQL store in this version, so the statements are the SQLite store's, in
 * PostgreSQL's dialect.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migratePostgres } from "../../server/migrate-postgres.js";
import { MIGRATIONS, SCHEMA_VERSION } from "../../server/migrations.js";
import { evidenceFromRow, evidenceSelectSql, evidenceUpsertSql, groupEvidence } from "../../server/evidence.js";

const URL = process.env.KYOKA_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const SCHEMA = `kyoka_test_${process.pid}_${randomBytes(4).toString("hex")}`;
const T = "2026-12-01T00:00:00.000Z";

let client: pg.Client;

beforeAll(async () => {
  client = new pg.Client({ connectionString: URL });
  try {
    await client.connect();
  } catch (err) {
    throw new Error(`PostgreSQL at ${URL} is needed (apt-get install postgresql; a 'test' database the 'postgres' user reaches by trust, or set KYOKA_TEST_PG_URL): ${(err as Error).message}`);
  }
  await client.query(`CREATE SCHEMA ${SCHEMA}`);
  await client.query(`SET search_path TO ${SCHEMA}`);
});

afterAll(async () => {
  if (!client) return;
  await client.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`).catch(() => undefined);
  await client.end();
});

async function count(table: string): Promise<number> {
  return Number((await client.query<{ n: string }>(`SELECT COUNT(*) AS n FROM ${table}`)).rows[0]!.n);
}

/** the SQLite store's event insert (INSERT OR IGNORE) in PostgreSQL's dialect, one statement per batch */
async function insertEvents(rows: Array<{ agentId: string; seq: number | null; type: string; details: unknown }>): Promise<number[]> {
  const values: string[] = [];
  const args: unknown[] = [];
  for (const r of rows) {
    const base = args.length;
    values.push(`(${Array.from({ length: 12 }, (_, i) => `$${base + i + 1}`).join(", ")})`);
    args.push(r.agentId, r.seq, r.type.split(".")[0], r.type, '["別記2 第10"]', "medium", "needs_approval", T, T, JSON.stringify(r.details), null,
      JSON.stringify([{ ja: "カタログの既定: 要承認", en: "catalog default: needs approval" }]));
  }
  const res = await client.query<{ id: string }>(
    `INSERT INTO events (agent_id, seq, control, type, articles, severity, status, observed_at, received_at, details, approval_id, reasons)
     VALUES ${values.join(", ")} ON CONFLICT (agent_id, seq) DO NOTHING RETURNING id`, args);
  return res.rows.map((r) => Number(r.id));
}

describe("PostgreSQL: the numbered migrations and the store's statements", () => {
  it("migrates an empty schema to the newest version, recorded, and a second run changes nothing", async () => {
    expect(await migratePostgres(client)).toEqual({ from: 0, to: SCHEMA_VERSION });
    const versions = (await client.query<{ version: number }>(`SELECT version FROM schema_migrations ORDER BY version`)).rows.map((r) => r.version);
    expect(versions).toEqual(MIGRATIONS.map((m) => m.version));
    expect(await migratePostgres(client)).toEqual({ from: SCHEMA_VERSION, to: SCHEMA_VERSION });
    expect(await count("schema_migrations")).toBe(SCHEMA_VERSION);
    // the people step's default organisation, once
    expect((await client.query(`SELECT id, kind FROM organisations`)).rows).toEqual([{ id: "default", kind: "contractor" }]);
  });

  it("has the count indexes of migration 8 (the old received_at index replaced), used by a grouped count", async () => {
    const indexes = (await client.query<{ indexname: string }>(`SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename = 'events'`, [SCHEMA]))
      .rows.map((r) => r.indexname);
    expect(indexes).toEqual(expect.arrayContaining(["events_agent_status", "events_received_status", "events_type", "events_agent"]));
    expect(indexes).not.toContain("events_received");
    // the compliance chart's count per control, in PostgreSQL's SQL, on an empty table
    expect((await client.query(`SELECT control AS k, status, COUNT(*) AS n FROM events GROUP BY k, status`)).rows).toEqual([]);
  });

  it("refuses a schema made by a newer kyoka", async () => {
    await client.query(`INSERT INTO schema_migrations VALUES ($1, 'from the future', $2)`, [SCHEMA_VERSION + 1, T]);
    await expect(migratePostgres(client)).rejects.toThrow(/newer than this kyoka/);
    await client.query(`DELETE FROM schema_migrations WHERE version = $1`, [SCHEMA_VERSION + 1]);
  });

  it("ingests a batch (a resent batch is stored once) and pages the events by keyset", async () => {
    await client.query(`INSERT INTO agents (id, secret_hash, hostname, os, version, enrolled_at) VALUES ('a1', 'h', 'pc-01', 'linux', '0.1.0', $1)`, [T]);
    const batch = Array.from({ length: 250 }, (_, i) => ({ agentId: "a1", seq: i + 1, type: "software.installed", details: { name: `pkg-${i + 1}`, 名前: "ソフト" } }));
    const ids = await insertEvents(batch);
    expect(ids).toHaveLength(250);
    expect(await insertEvents(batch.slice(200))).toEqual([]);
    // server-made events have no seq: never a conflict
    expect(await insertEvents([{ agentId: "a1", seq: null, type: "agent.silent", details: {} }, { agentId: "a1", seq: null, type: "agent.silent", details: {} }])).toHaveLength(2);
    expect(await count("events")).toBe(252);
    expect(Number((await client.query<{ m: string }>(`SELECT MAX(seq) AS m FROM events WHERE agent_id = 'a1'`)).rows[0]!.m)).toBe(250);

    // keyset pages, newest first, with a control filter as a range on type: every event once
    const seen: number[] = [];
    let before: number | null = null;
    for (;;) {
      const page: Array<{ id: string; details: string; reasons: string }> = (await client.query<{ id: string; details: string; reasons: string }>(
        `SELECT * FROM events WHERE type >= $1 AND type < $2 ${before === null ? "" : "AND id < $3"} ORDER BY id DESC LIMIT 100`,
        before === null ? ["software.", "software/"] : ["software.", "software/", before])).rows;
      if (page.length === 0) break;
      seen.push(...page.map((r) => Number(r.id)));
      before = Number(page[page.length - 1]!.id);
      expect(JSON.parse(page[0]!.details)).toMatchObject({ 名前: "ソフト" });
      expect(JSON.parse(page[0]!.reasons)).toEqual([{ ja: "カタログの既定: 要承認", en: "catalog default: needs approval" }]);
    }
    expect(seen).toEqual([...ids].sort((a, b) => b - a));
    // the dashboard's text search (LIKE with escapes) and the status counts
    const like = (await client.query(`SELECT COUNT(*) AS n FROM events WHERE (type LIKE $1 ESCAPE '\\' OR details LIKE $1 ESCAPE '\\')`, ["%pkg-25%"])).rows[0];
    expect(Number(like.n)).toBe(2); // pkg-25, pkg-250
    expect((await client.query(`SELECT status, COUNT(*)::int AS n FROM events GROUP BY status`)).rows).toEqual([{ status: "needs_approval", n: 252 }]);
    // resolving an event
    await client.query(`UPDATE events SET resolution = 'approved', note = '業務用', resolved_at = $1 WHERE id = $2`, [T, ids[0]]);
    expect((await client.query(`SELECT resolution FROM events WHERE id = $1`, [ids[0]])).rows[0]).toEqual({ resolution: "approved" });
  });

  it("holds the people tables: agents in the default organisation, users, sessions, tokens, requests, approvals by organisation", async () => {
    expect((await client.query(`SELECT organisation_id FROM agents WHERE id = 'a1'`)).rows[0]).toEqual({ organisation_id: "default" });
    await client.query(`INSERT INTO organisations (id, name, kind, created_at) VALUES ('org-a', 'contractor-a', 'contractor', $1)`, [T]);
    await expect(client.query(`INSERT INTO organisations (id, name, kind, created_at) VALUES ('x', 'x', 'vendor', $1)`, [T])).rejects.toThrow(/check constraint/);
    await client.query(`INSERT INTO users (id, login, password_hash, role, organisation_id, created_at) VALUES ('u1', 'kou', 'scrypt$x', 'approver', 'org-a', $1)`, [T]);
    await expect(client.query(`INSERT INTO users (id, login, password_hash, role, organisation_id, created_at) VALUES ('u2', 'kou', 'h', 'desk', NULL, $1)`, [T]))
      .rejects.toThrow(/unique/);
    await expect(client.query(`INSERT INTO users (id, login, password_hash, role, organisation_id, created_at) VALUES ('u3', 'x', 'h', 'desk', 'nowhere', $1)`, [T]))
      .rejects.toThrow(/foreign key/);
    await client.query(`INSERT INTO sessions (id_hash, user_id, csrf, created_at, expires_at) VALUES ($1, 'u1', 'c', $2, '2099-01-01T00:00:00.000Z')`, ["s".repeat(64), T]);
    await client.query(`INSERT INTO api_tokens (id, user_id, name, token_hash, created_at) VALUES ('t1', 'u1', 'ci', $1, $2)`, ["h".repeat(64), T]);
    await client.query(`INSERT INTO requests (id, organisation_id, control, match, scope, valid_from, valid_until, reason, status, requested_by, requested_at)
      VALUES ('r1', 'org-a', 'software', '{"name":"vim"}', '{"agents":["a1"]}', $1, '2026-12-31T00:00:00.000Z', '業務用', 'pending', 'kou', $1)`, [T]);
    const decided = await client.query(`UPDATE requests SET status = 'approved', decided_by = 'kou', decided_at = $1, approval_id = 'ap-1' WHERE id = 'r1' AND status = 'pending'`, [T]);
    expect(decided.rowCount).toBe(1);
    await client.query(`INSERT INTO approvals (id, control, match, scope, valid_from, valid_until, reason, created_at, organisation_id, request_id, created_by)
      VALUES ('ap-1', 'software', '{"name":"vim"}', '{"agents":["a1"]}', $1, '2026-12-31T00:00:00.000Z', '業務用', $1, 'org-a', 'r1', 'kou')`, [T]);
    await client.query(`UPDATE agents SET organisation_id = 'org-a' WHERE id = 'a1'`);
    expect((await client.query(`SELECT a.id FROM agents a JOIN users u ON u.organisation_id = a.organisation_id WHERE u.login = 'kou'`)).rows).toEqual([{ id: "a1" }]);
    expect((await client.query(`SELECT status, approval_id FROM requests WHERE organisation_id = 'org-a'`)).rows).toEqual([{ status: "approved", approval_id: "ap-1" }]);
  });

  it("keeps the audit trail append-only", async () => {
    await client.query(`INSERT INTO audit (seq, at, actor, role, action, details, prev_hash, hash) VALUES (1, $1, 'kou', 'approver', 'request.approve', '{}', $2, $3)`,
      [T, "0".repeat(64), "a".repeat(64)]);
    await expect(client.query(`UPDATE audit SET actor = 'x'`)).rejects.toThrow(/append-only/);
    await expect(client.query(`DELETE FROM audit`)).rejects.toThrow(/append-only/);
    expect(await count("audit")).toBe(1);
  });

  it("keeps the evidence that checks ran (check_evidence): the store's upsert and query in PostgreSQL's dialect", async () => {
    const upsert = evidenceUpsertSql("postgres");
    for (const [agent, control, collector, day, at] of [
      ["a1", "p2p", "p2p", "2026-12-01", "2026-12-01T01:00:00.000Z"],
      ["a1", "p2p", "p2p", "2026-12-01", "2026-12-01T00:30:00.000Z"],
      ["a1", "p2p", "p2p", "2026-12-02", "2026-12-02T01:00:00.000Z"],
      ["a1", "software", "executed", "2026-12-01", "2026-12-01T02:00:00.000Z"],
      ["a2", "network", "network", "2026-12-01", "2026-12-01T03:00:00.000Z"],
    ]) await client.query(upsert, [agent, control, collector, day, at, at]);
    const select = (agents?: string[]) => {
      const { sql, args } = evidenceSelectSql("postgres", { fromDay: "2026-12-01", toDay: "2026-12-01", ...(agents ? { agents } : {}) });
      return client.query<Parameters<typeof evidenceFromRow>[0]>(sql, args).then((r) => r.rows.map(evidenceFromRow));
    };
    const rows = await select(["a1"]);
    expect(rows).toEqual([
      { agentId: "a1", control: "p2p", collector: "p2p", day: "2026-12-01", checks: 2, firstAt: "2026-12-01T00:30:00.000Z", lastAt: "2026-12-01T01:00:00.000Z" },
      { agentId: "a1", control: "software", collector: "executed", day: "2026-12-01", checks: 1, firstAt: "2026-12-01T02:00:00.000Z", lastAt: "2026-12-01T02:00:00.000Z" },
    ]);
    expect([...groupEvidence(await select()).keys()]).toEqual(["a1", "a2"]);
    expect(await select([])).toEqual([]);
  });
});
