/**
 * `kyoka enroll-token create|list|delete`: enrollment tokens in the server's store (the data
 * folder's kyoka.db; the server may be running — SQLite WAL lets both write). The token is printed
 * once, on create; the store keeps only its sha256.
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { pino } from "pino";
import { Enrollment, parseDuration, type EnrollTokenView } from "../server/enrollment.js";
import { DomainError } from "../server/errors.js";
import { SqliteStore } from "../server/store-sqlite.js";
import { UsageError } from "./usage-error.js";

export interface EnrollTokenFlags { data: string; uses?: string; expires?: string; name?: string; organisation?: string; json?: boolean; all?: boolean }

function openStore(data: string): SqliteStore {
  const dir = resolve(data);
  if (!existsSync(join(dir, "kyoka.db"))) {
    throw new UsageError(`--data ${data}: no kyoka.db there (start the server once with this data folder, or give the right --data)`);
  }
  return new SqliteStore(dir);
}

async function withEnrollment<T>(data: string, fn: (e: Enrollment) => Promise<T>): Promise<T> {
  const store = openStore(data);
  try {
    // the CLI's own messages are its output; the domain's log lines are not needed here
    return await fn(new Enrollment({ store, log: pino({ level: "silent" }) }));
  } catch (err) {
    if (err instanceof DomainError) throw new UsageError(err.message);
    throw err;
  } finally {
    await store.close();
  }
}

/** `--uses 3` | `--uses unlimited` */
export function parseUses(text: string | undefined): number | null | undefined {
  if (text === undefined) return undefined;
  if (/^(unlimited|any)$/i.test(text)) return null;
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < 1 || n > 1_000_000) {
    throw new UsageError(`--uses ${text}: a whole number from 1 to 1000000, or "unlimited"`);
  }
  return n;
}

/** `--expires 7d` | `--expires 2027-03-31T00:00:00+09:00` | `--expires never` → ISO time or null */
export function parseExpires(text: string | undefined, now = new Date()): string | null | undefined {
  if (text === undefined) return undefined;
  if (/^never$/i.test(text)) return null;
  const ms = parseDuration(text);
  if (ms !== undefined) return new Date(now.getTime() + ms).toISOString();
  if (/^\d{4}-\d{2}-\d{2}/.test(text) && !Number.isNaN(Date.parse(text))) return new Date(text).toISOString();
  throw new UsageError(`--expires ${text}: a duration (30m, 12h, 7d, 2w), an ISO date/time, or "never"`);
}

function line(t: EnrollTokenView): string {
  const uses = `${t.uses}/${t.maxUses ?? "∞"}`;
  return `${t.id}  ${t.state.padEnd(8)}  uses ${uses.padEnd(9)}  expires ${t.expiresAt ?? "never"}  ${t.name ?? ""}`.trimEnd();
}

export async function runEnrollTokenCreate(flags: EnrollTokenFlags): Promise<void> {
  const input = { uses: parseUses(flags.uses), expiresAt: parseExpires(flags.expires), name: flags.name, organisation: flags.organisation };
  const made = await withEnrollment(flags.data, (e) => e.createToken(input));
  if (flags.json) {
    process.stdout.write(JSON.stringify(made) + "\n");
    return;
  }
  process.stdout.write(
    `${made.token}\n` +
    `  id ${made.id}; uses ${made.maxUses ?? "unlimited"}; expires ${made.expiresAt ?? "never"}\n` +
    `  shown once: only its hash is kept. On the PC: kyoka agent --server … --enroll-token-file FILE (or KYOKA_ENROLL_TOKEN)\n`,
  );
}

export async function runEnrollTokenList(flags: EnrollTokenFlags): Promise<void> {
  const tokens = await withEnrollment(flags.data, (e) => e.listTokens(flags.all));
  if (flags.json) process.stdout.write(JSON.stringify(tokens) + "\n");
  else process.stdout.write(tokens.length ? tokens.map(line).join("\n") + "\n" : "no enrollment tokens (the bootstrap token <data>/enroll-token is not listed)\n");
}

export async function runEnrollTokenDelete(id: string, flags: EnrollTokenFlags): Promise<void> {
  await withEnrollment(flags.data, (e) => e.deleteToken(id));
  process.stdout.write(`enrollment token ${id} deleted: it can no longer be used\n`);
}
