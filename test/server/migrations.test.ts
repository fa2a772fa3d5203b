/**
 * Versioned migrations (server/migrations.ts): a database made by the version before migrations
 * (test/fixtures/server/schema-v0.sql, the old CREATE statements) migrates keeping every row;
 * migrating is recorded and idempotent; a newer database is refused; file modes are owner-only.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { MIGRATIONS, migrationSql, SCHEMA_VERSION } from "../../server/migrations.js";
import { AuditLog, readAuditRows, verifyAuditRows } from "../../server/people/audit.js";
import { PeopleDb } from "../../server/people/db.js";
import { SqliteStore } from "../../server/store-sqlite.js";

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "kyoka-migrate-"));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const OLD_SCHEMA = readFileSync(new URL("../fixtures/server/schema-v0.sql", import.meta.url), "utf8");
const OLD_PEOPLE_SCHEMA = readFileSync(new URL("../fixtures/server/schema-people-by-hand.sql", import.meta.url), "utf8");
const PEOPLE_TABLES = ["agents", "approvals", "organisations", "users", "sessions", "api_tokens", "requests", "audit"];
const T = "2025-06-01T00:00:00.000Z";

/** A database as the previous kyoka left it: old schema, rows in every table. */
function oldDatabase(dir: string): Record<string, number> {
  const db = new Database(join(dir, "kyoka.db"));
  db.pragma("journal_mode = WAL");
  db.exec(OLD_SCHEMA);
  db.prepare(`INSERT INTO agents (id, secret_hash, hostname, os, version, tags, enrolled_at, last_seen, online) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
    .run("a1", "h", "pc-01", "linux", "0.1.0", '["lab"]', T, T, 0);
  const ev = db.prepare(`INSERT INTO events (agent_id, seq, control, type, articles, severity, status, observed_at, received_at, details, approval_id)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  for (let i = 1; i <= 500; i++) ev.run("a1", i, "software", "software.installed", '["別記2 第10"]', "medium", "needs_approval", T, T, JSON.stringify({ name: `pkg-${i}` }), null);
  ev.run("a1", null, "agent", "agent.silent", '["別記2 第16"]', "high", "needs_approval", T, T, "{}", null);
  db.prepare(`INSERT INTO approvals (id, control, match, scope, valid_from, valid_until, reason, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
    .run("ap-1", "software", '{"name":"vim"}', '{"all":true}', T, "2026-01-01T00:00:00.000Z", "業務用", T);
  db.prepare(`INSERT INTO ledger (asset_no, position, hostname, serial, macs, location, owner, registered_at, note, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
    .run("A-001", 1, "pc-01", "SN1", '["00:1c:0e:ec:5c:00"]', "本庁舎", "山田", "2025-04-01", "", T);
  db.prepare(`INSERT INTO media_ledger (id, serial, owner, registered_at) VALUES (?, ?, ?, ?)`).run("m-1", "4C53", "山田", T);
  db.prepare(`INSERT INTO policies (version, text, created_at) VALUES (?, ?, ?)`).run(1, "heartbeatSeconds: 30\n", T);
  const counts: Record<string, number> = {};
  for (const t of ["agents", "events", "approvals", "ledger", "media_ledger", "policies"]) {
    counts[t] = (db.prepare(`SELECT COUNT(*) AS n FROM ${t}`).get() as { n: number }).n;
  }
  db.close();
  return counts;
}

/**
 * A database as kyoka left it before the people and audit tables were numbered migrations: the
 * steps before them recorded, the people/audit tables and columns made by hand (the old SQL), rows in each.
 */
function peopleDatabase(dir: string): Record<string, number> {
  oldDatabase(dir);
  const db = new Database(join(dir, "kyoka.db"));
  db.exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`);
  // the numbered steps before the people step, as the previous kyoka ran them
  const before = MIGRATIONS.slice(0, MIGRATIONS.findIndex((m) => m.name.startsWith("people:")));
  expect(before.length).toBeGreaterThanOrEqual(3);
  for (const m of before) {
    db.exec(migrationSql(m, "sqlite"));
    db.prepare(`INSERT INTO schema_migrations VALUES (?, ?, ?)`).run(m.version, m.name, T);
  }
  db.pragma(`user_version = ${before.length}`);
  db.exec(OLD_PEOPLE_SCHEMA);
  db.prepare(`INSERT INTO organisations (id, name, kind, created_at) VALUES (?, ?, ?, ?)`).run("org-a", "contractor-a", "contractor", T);
  db.prepare(`UPDATE agents SET organisation_id = 'org-a' WHERE id = 'a1'`).run();
  db.prepare(`INSERT INTO users (id, login, password_hash, role, organisation_id, created_at) VALUES (?, ?, ?, ?, ?, ?)`)
    .run("u1", "kou", "scrypt$x", "approver", "org-a", T);
  db.prepare(`INSERT INTO sessions (id_hash, user_id, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`).run("s".repeat(64), "u1", "c", T, "2099-01-01T00:00:00.000Z");
  db.prepare(`INSERT INTO api_tokens (id, user_id, name, token_hash, created_at) VALUES (?, ?, ?, ?, ?)`).run("t1", "u1", "ci", "h".repeat(64), T);
  db.prepare(`INSERT INTO requests (id, organisation_id, control, match, scope, valid_from, valid_until, reason, status, requested_by, requested_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run("r1", "org-a", "software", '{"name":"vim"}', '{"agents":["a1"]}', T, "2026-12-31T00:00:00.000Z", "業務用", "pending", "kou", T);
  db.prepare(`UPDATE approvals SET organisation_id = 'org-a', request_id = 'r1', created_by = 'kou' WHERE id = 'ap-1'`).run();
  const audit = new AuditLog(db, dir);
  for (let i = 1; i <= 3; i++) {
    audit.append({ actor: "kou", role: "approver", organisationId: "org-a", remote: "127.0.0.1", action: "request.create", target: `r${i}`, details: { i }, reason: null }, T);
  }
  const counts: Record<string, number> = {};
  for (const t of PEOPLE_TABLES) counts[t] = (db.prepare(`SELECT COUNT(*) AS n FROM ${t}`).get() as { n: number }).n;
  db.close();
  return counts;
}

describe("migrations", () => {
  it("are numbered 1…N, and each has SQL for SQLite and PostgreSQL", () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1));
    for (const m of MIGRATIONS) {
      expect(migrationSql(m, "sqlite")).toMatch(/\S/);
      expect(migrationSql(m, "postgres")).toMatch(/\S/);
    }
  });

  it("a database made by the version before migrations keeps every row, and its events get reasons []", async () => {
    const dir = tempDir();
    const before = oldDatabase(dir);
    expect(before.events).toBe(501);
    const store = new SqliteStore(dir);
    const events = await store.queryEvents({ limit: 10_000 });
    expect(events).toHaveLength(501);
    expect(events.find((e) => e.seq === 1)).toMatchObject({ details: { name: "pkg-1" }, reasons: [], status: "needs_approval" });
    expect(await store.listAgents()).toMatchObject([{ id: "a1", hostname: "pc-01", tags: ["lab"] }]);
    expect(await store.listApprovals()).toMatchObject([{ id: "ap-1", match: { name: "vim" } }]);
    expect(await store.listLedger()).toMatchObject([{ assetNo: "A-001", macs: ["00:1c:0e:ec:5c:00"] }]);
    expect(await store.listRegisteredMedia()).toMatchObject([{ id: "m-1", serial: "4C53" }]);
    expect(await store.latestPolicy()).toMatchObject({ version: 1 });
    expect(await store.maxSeq("a1")).toBe(500);
    // new rows carry their reasons
    await store.insertEvents([{ agentId: "a1", seq: 501, control: "agent", type: "agent.started", articles: [], severity: "info", status: "info",
      observedAt: T, receivedAt: T, details: {}, approvalId: null, reasons: [{ ja: "カタログの既定: 情報", en: "catalog default: info" }] }]);
    expect((await store.queryEvents({ limit: 1 }))[0]!.reasons).toEqual([{ ja: "カタログの既定: 情報", en: "catalog default: info" }]);
    await store.close();

    const db = new Database(join(dir, "kyoka.db"), { readonly: true });
    expect((db.prepare(`SELECT version FROM schema_migrations ORDER BY version`).all() as Array<{ version: number }>).map((r) => r.version))
      .toEqual(MIGRATIONS.map((m) => m.version));
    expect(db.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
    for (const [t, n] of Object.entries(before)) {
      expect((db.prepare(`SELECT COUNT(*) AS n FROM ${t}`).get() as { n: number }).n, t).toBe(t === "events" ? n + 1 : n);
    }
    db.close();
  });

  it("a database whose people and audit tables were made before they were numbered (5, 6) upgrades keeping every row", async () => {
    const dir = tempDir();
    const before = peopleDatabase(dir);
    expect(before).toMatchObject({ organisations: 2, users: 1, sessions: 1, api_tokens: 1, requests: 1, audit: 3 });
    const store = new SqliteStore(dir);
    const people = new PeopleDb(store.handle);
    expect(people.listOrganisations().map((o) => o.id).sort()).toEqual(["default", "org-a"]);
    expect(people.userByLogin("kou")).toMatchObject({ id: "u1", organisationId: "org-a" });
    expect(people.agentOrganisation("a1")).toBe("org-a");
    expect(people.getRequest("r1")).toMatchObject({ status: "pending", scope: { agents: ["a1"] } });
    expect(people.getToken("t1")).toMatchObject({ name: "ci", deletedAt: null });
    expect(verifyAuditRows(readAuditRows(store.handle))).toMatchObject({ ok: true, rows: 3 });
    // the audit trail stays append-only
    expect(() => store.handle.prepare(`DELETE FROM audit`).run()).toThrow(/append-only/);
    await store.close();

    const db = new Database(join(dir, "kyoka.db"), { readonly: true });
    expect((db.prepare(`SELECT version FROM schema_migrations ORDER BY version`).all() as Array<{ version: number }>).map((r) => r.version))
      .toEqual(MIGRATIONS.map((m) => m.version));
    for (const [t, n] of Object.entries(before)) expect((db.prepare(`SELECT COUNT(*) AS n FROM ${t}`).get() as { n: number }).n, t).toBe(n);
    expect(db.prepare(`SELECT organisation_id, request_id, created_by FROM approvals`).get()).toEqual({ organisation_id: "org-a", request_id: "r1", created_by: "kou" });
    db.close();
  });

  it("a database from before migrations gets the people tables: its agents in the default organisation", async () => {
    const dir = tempDir();
    oldDatabase(dir);
    const store = new SqliteStore(dir);
    const people = new PeopleDb(store.handle);
    expect(people.listOrganisations()).toMatchObject([{ id: "default", kind: "contractor" }]);
    expect(people.agentOrganisation("a1")).toBe("default");
    expect(people.listUsers()).toEqual([]);
    await store.close();
  });

  it("are applied once: opening again changes nothing and records nothing new", async () => {
    const dir = tempDir();
    await new SqliteStore(dir).close();
    const stamp = (): unknown[] => {
      const db = new Database(join(dir, "kyoka.db"), { readonly: true });
      const rows = db.prepare(`SELECT * FROM schema_migrations ORDER BY version`).all();
      db.close();
      return rows;
    };
    const first = stamp();
    expect(first).toHaveLength(SCHEMA_VERSION);
    await new SqliteStore(dir).close();
    expect(stamp()).toEqual(first);
  });

  it("a database from a newer kyoka is refused, not damaged", () => {
    const dir = tempDir();
    const db = new Database(join(dir, "kyoka.db"));
    db.exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`);
    db.prepare(`INSERT INTO schema_migrations VALUES (?, ?, ?)`).run(SCHEMA_VERSION + 1, "from the future", T);
    db.close();
    expect(() => new SqliteStore(dir)).toThrow(/newer than this kyoka/);
  });
});

describe("data folder and database file modes (they hold the ledgers' personal data)", () => {
  it("creates the data folder 0700 and kyoka.db, -wal and -shm 0600, whatever the umask", async () => {
    const parent = tempDir();
    const dir = join(parent, "data");
    const old = process.umask(0o022);
    try {
      const store = new SqliteStore(dir);
      await store.insertEvents([{ agentId: "a", seq: 1, control: "agent", type: "agent.started", articles: [], severity: "info", status: "info",
        observedAt: T, receivedAt: T, details: {}, approvalId: null, reasons: [] }]);
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      for (const f of ["kyoka.db", "kyoka.db-wal", "kyoka.db-shm"]) expect(statSync(join(dir, f)).mode & 0o777, f).toBe(0o600);
      await store.close();
    } finally {
      process.umask(old);
    }
  });

  it("tightens an existing folder and database left 0755 / 0644 by an older version", async () => {
    const dir = tempDir();
    oldDatabase(dir);
    const { chmodSync } = await import("node:fs");
    chmodSync(dir, 0o755);
    chmodSync(join(dir, "kyoka.db"), 0o644);
    const store = new SqliteStore(dir);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, "kyoka.db")).mode & 0o777).toBe(0o600);
    await store.close();
  });
});
