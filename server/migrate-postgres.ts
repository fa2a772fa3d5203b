/**
 * The same numbered migrations (server/migrations.ts) on PostgreSQL: every step not yet recorded in
 * schema_migrations, in order, each in its own transaction with its record; an advisory lock keeps
 * two servers starting together from running a step twice. Refuses a database made by a newer
 * kyoka. (The embedded SQLite store runs the list with migrateSqlite in store-sqlite.ts.)
 */
import type pg from "pg";
import type { Logger } from "../lib/log.js";
import { MIGRATIONS_TABLE, migrationSql, pendingMigrations, SCHEMA_VERSION } from "./migrations.js";

/** pg_advisory_lock key: "kyoka" as an integer */
const LOCK_KEY = 0x6b796f6b61;

export async function migratePostgres(client: pg.ClientBase, log?: Logger): Promise<{ from: number; to: number }> {
  await client.query(`SELECT pg_advisory_lock($1)`, [LOCK_KEY]);
  try {
    await client.query(MIGRATIONS_TABLE);
    const applied = (await client.query<{ version: number }>(`SELECT version FROM schema_migrations`)).rows.map((r) => Number(r.version));
    for (const m of pendingMigrations(applied)) {
      await client.query("BEGIN");
      try {
        await client.query(migrationSql(m, "postgres"));
        await client.query(`INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`, [m.version, m.name, new Date().toISOString()]);
        await client.query("COMMIT");
      } catch (err) {
        await client.query("ROLLBACK");
        throw new Error(`migration ${m.version} (${m.name}) failed on PostgreSQL: ${(err as Error).message}`, { cause: err });
      }
      log?.info({ version: m.version, migration: m.name }, "database migrated");
    }
    return { from: Math.max(0, ...applied), to: SCHEMA_VERSION };
  } finally {
    await client.query(`SELECT pg_advisory_unlock($1)`, [LOCK_KEY]);
  }
}
