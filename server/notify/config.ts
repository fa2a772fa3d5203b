/**
 * The `notifications` section of the server config (kyoka server --config): the SMTP server,
 * and the rules saying which events go to which e-mail addresses and webhooks (メール通知).
 * Validated with zod at start; a wrong config stops the server with one clear line.
 */
import { z } from "zod";
import { Control, EventType, Severity, Status } from "../../policies/schema.js";

const Names = <T extends z.ZodType>(item: T) => z.array(item).min(1).max(100);

export const NotifyMatch = z.strictObject({
  /** any of these statuses (違反, 甲許可待ち …); all when absent */
  status: Names(Status).optional(),
  severity: Names(Severity).optional(),
  control: Names(Control).optional(),
  type: Names(EventType).optional(),
  /** organisations by id or name: only events of their PCs */
  organisation: Names(z.string().min(1).max(200)).optional(),
});
export type NotifyMatch = z.infer<typeof NotifyMatch>;

export const WEBHOOK_FORMATS = ["json", "slack", "teams"] as const;

export const NotifyRule = z.strictObject({
  /** names the rule in mails, logs and failure events */
  name: z.string().min(1).max(100),
  match: NotifyMatch.prefault({}),
  email: z.strictObject({
    to: Names(z.email()),
    cc: Names(z.email()).optional(),
  }).optional(),
  webhook: z.strictObject({
    url: z.url({ protocol: /^https?$/ }),
    /** json: kyoka's own payload; slack: {text, blocks}; teams: a MessageCard */
    format: z.enum(WEBHOOK_FORMATS).default("json"),
    headers: z.record(z.string().min(1).max(100), z.string().max(2000)).optional(),
  }).optional(),
  /** at most maxMessages messages (single or digest) per windowSeconds; more wait for the next digest */
  rateLimit: z.strictObject({
    maxMessages: z.number().int().positive().default(20),
    windowSeconds: z.number().positive().default(3600),
  }).prefault({}),
  /** more than `after` events within windowSeconds: the rest are sent as ONE digest at the window's end */
  digest: z.strictObject({
    after: z.number().int().positive().default(3),
    windowSeconds: z.number().positive().default(60),
    /** a digest lists at most this many events (the rest are counted) */
    maxListed: z.number().int().positive().max(1000).default(50),
  }).prefault({}),
}).refine((r) => r.email || r.webhook, { message: "a rule needs email and/or webhook" });
export type NotifyRule = z.infer<typeof NotifyRule>;

export const SmtpConfig = z.strictObject({
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535).default(587),
  /** true: TLS from the start (port 465); false: STARTTLS when the server offers it */
  secure: z.boolean().default(false),
  /** refuse to send without STARTTLS */
  requireTLS: z.boolean().default(false),
  user: z.string().optional(),
  pass: z.string().optional(),
  /** a file holding the password (not in the config file) */
  passFile: z.string().optional(),
  /** e.g. "kyoka <kyoka@example.lg.jp>" */
  from: z.string().min(3),
  /** connection, greeting and socket timeouts of one try */
  timeoutMs: z.number().int().positive().default(30_000),
  /** a PEM CA file for a private SMTP server's certificate */
  caFile: z.string().optional(),
});
export type SmtpConfig = z.infer<typeof SmtpConfig>;

export const NotificationsConfig = z.strictObject({
  smtp: SmtpConfig.optional(),
  /** the dashboard's address, for links in the messages */
  dashboardUrl: z.url({ protocol: /^https?$/ }).optional(),
  /** each channel's tries (server/delivery/retry.ts); then a failure event agent.delivery_failed */
  retry: z.strictObject({
    attempts: z.number().int().min(1).max(20).default(4),
    baseDelayMs: z.number().int().min(0).default(2_000),
    maxDelayMs: z.number().int().positive().default(60_000),
  }).prefault({}),
  /** webhook timeout per try */
  webhookTimeoutMs: z.number().int().positive().default(10_000),
  /** deliveries waiting at most; more are dropped and logged (ingest never waits) */
  maxQueued: z.number().int().positive().default(1_000),
  rules: z.array(NotifyRule).max(100).default([]),
}).superRefine((c, ctx) => {
  const seen = new Set<string>();
  c.rules.forEach((r, i) => {
    if (seen.has(r.name)) ctx.addIssue({ code: "custom", path: ["rules", i, "name"], message: `two rules are named ${r.name}` });
    seen.add(r.name);
    if (r.email && !c.smtp) ctx.addIssue({ code: "custom", path: ["rules", i, "email"], message: "an e-mail rule needs notifications.smtp" });
  });
  if (c.smtp?.pass && c.smtp.passFile) ctx.addIssue({ code: "custom", path: ["smtp", "passFile"], message: "pass and passFile go alone" });
});
export type NotificationsConfig = z.infer<typeof NotificationsConfig>;
export type NotificationsConfigInput = z.input<typeof NotificationsConfig>;
