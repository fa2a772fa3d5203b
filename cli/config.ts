/**
 * Config files for `kyoka server --config` and `kyoka agent --config` (YAML), merged under the flags.
 * The server's schema is in server-config.ts: the agent, which imports this module, does not load
 * the server's report and notification modules (better-sqlite3 among them) for it.
 */
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { z } from "zod";
import { formatIssues } from "../policies/schema.js";
import { UsageError } from "./usage-error.js";
import { defaultStateDir } from "./state-dir.js";

/** A usage error: printed as one line, exit 2 (defined in usage-error.ts, re-exported here). */
export { UsageError };
/** The agent's default state folder (defined in state-dir.ts, re-exported here). */
export { defaultStateDir };

export const AgentConfig = z.strictObject({
  server: z.string().regex(/^wss?:\/\/[^/]+/, "must be ws://HOST:PORT or wss://HOST:PORT"),
  enrollToken: z.string().optional(),
  /** a file holding the enrollment token (not visible in ps, unlike --enroll-token) */
  enrollTokenFile: z.string().optional(),
  stateDir: z.string().default(defaultStateDir()),
  caFile: z.string().optional(),
});
export type AgentConfig = z.infer<typeof AgentConfig>;


function readConfigFile(file: string | undefined): Record<string, unknown> {
  if (!file) return {};
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new UsageError(`--config ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  try {
    const value: unknown = parse(text) ?? {};
    if (typeof value !== "object" || Array.isArray(value)) throw new Error("not a mapping");
    return value as Record<string, unknown>;
  } catch (err) {
    throw new UsageError(`--config ${file}: ${(err as Error).message.split("\n")[0]}`);
  }
}

function defined(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

/** Merge a config file with command-line flags (flags win) and validate. */
export function resolveConfig<T extends z.ZodTypeAny>(schema: T, file: string | undefined, flags: Record<string, unknown>): z.infer<T> {
  const merged = { ...readConfigFile(file), ...defined(flags) };
  const parsed = schema.safeParse(merged);
  if (!parsed.success) throw new UsageError(`${file ? `--config ${file}: ` : ""}${formatIssues(parsed.error)}`);
  return parsed.data;
}
