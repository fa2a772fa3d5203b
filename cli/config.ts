/** Config files for `kyoka server --config` and `kyoka agent --config` (YAML), merged under the flags. */
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { z } from "zod";
import { ReportsConfig } from "../server/reports/schedule.js";
import { formatIssues } from "../policies/schema.js";
import { NotificationsConfig } from "../server/notify/config.js";
import { UsageError } from "./usage-error.js";
import { defaultStateDir } from "./state-dir.js";

/** A usage error: printed as one line, exit 2 (defined in usage-error.ts, re-exported here). */
export { UsageError };
/** The agent's default state folder (defined in state-dir.ts, re-exported here). */
export { defaultStateDir };

export const ServerConfig = z.strictObject({
  port: z.number().int().min(0).max(65535).default(8080),
  host: z.string().default("127.0.0.1"),
  data: z.string().default("./data"),
  database: z.string().optional(),
  tls: z.strictObject({ cert: z.string(), key: z.string() }).optional(),
  adminToken: z.string().min(16).optional(),
  enrollToken: z.string().min(16).optional(),
  heartbeatSeconds: z.number().positive().optional(),
  /** WebSocket connection caps, hello deadline, ping interval (server/limits.ts) */
  limits: z.strictObject({
    maxConnections: z.number().int().positive(),
    maxConnectionsPerIp: z.number().int().positive(),
    helloTimeoutMs: z.number().int().positive(),
    pingIntervalMs: z.number().int().positive(),
  }).partial().optional(),
  /** failed authentications per address before 429 (server/auth-limit.ts) */
  authLimit: z.strictObject({
    maxFailures: z.number().int().positive(),
    windowMs: z.number().int().positive(),
  }).partial().optional(),
  /** alert notifications (メール通知): SMTP and rules (server/notify/config.ts) */
  notifications: NotificationsConfig.optional(),
  /** scheduled compliance reports: schedules, delivery folder, webhook (server/reports/schedule.ts) */
  reports: ReportsConfig.optional(),
});
export type ServerConfig = z.infer<typeof ServerConfig>;

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
