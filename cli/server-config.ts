/** `kyoka server --config`'s schema (YAML, merged under the flags by config.ts resolveConfig). */
import { z } from "zod";
import { ReportsConfig } from "../server/reports/schedule.js";
import { NotificationsConfig } from "../server/notify/config.js";

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
