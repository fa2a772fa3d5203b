/**
 * Scheduled compliance reports (node-cron, Asia/Tokyo) and their delivery.
 *
 * Defaults (server config `reports:`; see DEFAULT_SCHEDULES): daily at 06:00 (yesterday), weekly
 * on Monday at 06:30 (last Monday–Sunday), monthly on the 1st at 07:00 (last month); each as HTML
 * and CSV for the fleet. Every report is stored (service.ts), written to the delivery folder
 * (`<data>/reports` unless `folder` says otherwise) and, when `webhook.url` is set, POSTed there
 * (the report's bytes; headers name it) with retries and backoff (server/delivery/webhook.ts).
 * A delivery that finally fails — the folder cannot be written, or the webhook still refuses after
 * its last try — is recorded as a server-made `agent.delivery_failed` event (catalog), which the
 * desk sees with the other open items.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { nodeCronScheduler, type ScheduledJob, type Scheduler } from "../../lib/cron.js";
import type { Logger } from "../../lib/log.js";
import { isValidSchedule } from "../../lib/cron-due.js";
import { redactUrl, type DeliveryResult } from "../delivery/webhook.js";
import { previousPeriod, TIME_ZONE } from "./period.js";
import { CONTENT_TYPE, ReportFormat, reportFileName, SCHEDULE_PRINCIPAL, type GeneratedReport, type ReportMeta, type Reports } from "./service.js";

const Cron = z.string().min(1).refine(isValidSchedule, "not a cron expression (node-cron: [second] minute hour day month weekday)");

export const ReportSchedule = z.strictObject({
  /** names the schedule (audit trail, file folder, trigger) */
  name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,39}$/, "a name of a-z, 0-9, - and _"),
  cron: Cron,
  /** the period reported: the last complete day, week (Monday–Sunday) or month */
  period: z.enum(["day", "week", "month"]),
  formats: z.array(ReportFormat).min(1).default(["html", "csv"]),
  /** fleet: one report of every organisation; each: that and one per organisation */
  organisations: z.enum(["fleet", "each"]).default("fleet"),
});
export type ReportSchedule = z.infer<typeof ReportSchedule>;

export const DEFAULT_SCHEDULES: ReportSchedule[] = [
  { name: "daily", cron: "0 6 * * *", period: "day", formats: ["html", "csv"], organisations: "fleet" },
  { name: "weekly", cron: "30 6 * * 1", period: "week", formats: ["html", "csv"], organisations: "fleet" },
  { name: "monthly", cron: "0 7 1 * *", period: "month", formats: ["html", "csv"], organisations: "fleet" },
];

/** The server config's `reports:` section. */
export const ReportsConfig = z.strictObject({
  /** false: no scheduled reports (on demand only) */
  enabled: z.boolean().default(true),
  /** the delivery folder; default `<data>/reports` */
  folder: z.string().min(1).optional(),
  /** default: DEFAULT_SCHEDULES */
  schedules: z.array(ReportSchedule).optional(),
  webhook: z.strictObject({
    url: z.url({ protocol: /^https?$/ }),
    /** e.g. an Authorization header the receiver wants */
    headers: z.record(z.string(), z.string()).optional(),
    /** tries in all (default 5) */
    attempts: z.number().int().min(1).max(20).optional(),
    /** the wait before the 2nd try, doubled for each further one (default 1,000 ms) */
    baseDelayMs: z.number().int().min(0).optional(),
    maxDelayMs: z.number().int().min(0).optional(),
    timeoutMs: z.number().int().positive().optional(),
  }).optional(),
});
export type ReportsConfig = z.infer<typeof ReportsConfig>;

/** POST with retries (server/delivery/webhook.ts postWebhook). */
export type PostReport = (req: { url: string; body: Buffer; contentType: string; headers: Record<string, string> }, signal: AbortSignal) => Promise<Pick<DeliveryResult, "ok" | "attempts" | "status" | "error">>;

export interface DeliveryFailure {
  channel: "folder" | "webhook";
  target: string;
  report: ReportMeta;
  schedule: string;
  attempts: number;
  error: string;
}

export interface ReportSchedulerDeps {
  reports: Reports;
  config: ReportsConfig;
  /** `<data>/reports` unless config.folder */
  folder: string;
  log: Logger;
  post: PostReport;
  /** a delivery that finally failed (the server records an agent.delivery_failed event) */
  onFailure(f: DeliveryFailure): Promise<void> | void;
  scheduler?: Scheduler;
  now?: () => Date;
}

export class ReportScheduler {
  private jobs: ScheduledJob[] = [];
  private running = new Set<Promise<unknown>>();
  private readonly abort = new AbortController();

  constructor(private readonly deps: ReportSchedulerDeps) {}

  get schedules(): ReportSchedule[] {
    return this.deps.config.schedules ?? DEFAULT_SCHEDULES;
  }

  start(): void {
    if (!this.deps.config.enabled) {
      this.deps.log.info("scheduled reports disabled (reports.enabled: false)");
      return;
    }
    const scheduler = this.deps.scheduler ?? nodeCronScheduler;
    for (const s of this.schedules) {
      this.jobs.push(scheduler(s.cron, TIME_ZONE, () => { this.track(this.run(s)); }, this.deps.log));
    }
    this.deps.log.info({ schedules: this.schedules.map((s) => `${s.name} ${s.cron} (${s.period})`), folder: this.deps.folder,
      webhook: this.deps.config.webhook ? redactUrl(this.deps.config.webhook.url) : null }, "report schedules started (Asia/Tokyo)");
  }

  private track(p: Promise<unknown>): void {
    this.running.add(p);
    void p.finally(() => this.running.delete(p));
  }

  /** Resolves when every run started so far has finished (tests, stopping). */
  async idle(): Promise<void> {
    while (this.running.size) await Promise.all([...this.running]);
  }

  async stop(): Promise<void> {
    for (const j of this.jobs) j.stop();
    this.jobs = [];
    // a webhook waiting to retry gives up (its delivery is then reported failed)
    this.abort.abort(new Error("server stopping"));
    await this.idle();
  }

  /** One run of a schedule: every format (and organisation), stored, written, posted. Never throws. */
  async run(s: ReportSchedule): Promise<GeneratedReport[]> {
    const now = this.deps.now?.() ?? new Date();
    const period = previousPeriod(s.period, now);
    const out: GeneratedReport[] = [];
    const orgs: Array<string | undefined> = [undefined];
    if (s.organisations === "each") {
      for (const o of this.deps.reports.organisationIds()) orgs.push(o);
    }
    for (const organisation of orgs) {
      for (const format of s.formats) {
        let g: Awaited<ReturnType<Reports["generate"]>>;
        try {
          g = await this.deps.reports.generate(SCHEDULE_PRINCIPAL, { from: period.from, to: period.to, organisation, format }, { remote: null }, `schedule:${s.name}`);
        } catch (err) {
          this.deps.log.error({ err, schedule: s.name, format, organisation }, "scheduled report not generated");
          continue;
        }
        out.push(g);
        await this.deliver(s, g.meta, g.content, g.organisationName);
      }
    }
    return out;
  }

  private async deliver(s: ReportSchedule, meta: ReportMeta, content: Buffer, orgName: string | null): Promise<void> {
    const name = reportFileName(meta, orgName);
    const dir = join(this.deps.folder, s.name);
    const path = join(dir, name);
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await writeFile(path, content, { mode: 0o600 });
      this.deps.log.info({ reportId: meta.id, path }, "report written to the delivery folder");
    } catch (err) {
      await this.failed({ channel: "folder", target: dir, report: meta, schedule: s.name, attempts: 1, error: (err as Error).message });
    }
    const hook = this.deps.config.webhook;
    if (!hook) return;
    const result = await this.deps.post({
      url: hook.url, body: content, contentType: CONTENT_TYPE[meta.format],
      headers: {
        ...hook.headers, "x-kyoka-report-id": meta.id, "x-kyoka-report-sha256": meta.sha256,
        "x-kyoka-report-period": `${meta.from}/${meta.to}`, "x-kyoka-report-file": encodeURIComponent(name), "x-kyoka-schedule": s.name,
      },
    }, this.abort.signal);
    if (result.ok) {
      this.deps.log.info({ reportId: meta.id, url: redactUrl(hook.url), attempts: result.attempts.length }, "report delivered to the webhook");
      return;
    }
    await this.failed({ channel: "webhook", target: redactUrl(hook.url), report: meta, schedule: s.name, attempts: result.attempts.length,
      error: result.error ?? "failed" });
  }

  private async failed(f: DeliveryFailure): Promise<void> {
    this.deps.log.error({ channel: f.channel, target: f.target, reportId: f.report.id, attempts: f.attempts, error: f.error }, "report delivery failed");
    try {
      await this.deps.onFailure(f);
    } catch (err) {
      this.deps.log.error({ err }, "the failed delivery could not be recorded as an event");
    }
  }
}
