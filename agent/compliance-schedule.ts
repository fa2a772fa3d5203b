/**
 * The agent's scheduled compliance snapshot (定期点検; 別記2 第12, 個人情報取扱特記事項 第14), next to
 * the asset collector's scheduled hardware snapshot: on the policy's node-cron schedule
 * (`compliance.schedule`, `compliance.timezone`, default 12:00 Asia/Tokyo), every control the
 * agent runs is read like `kyoka snapshot` does and judged by policies/decide.ts under the policy
 * in force and the approvals the server pushed (agent/compliance.ts). Each control gives one
 * `agent.check` {source: "snapshot", ok, findings (items needing action), verdict, statuses}:
 * ok only when its section was read AND its collectors are running now; a section that failed, or
 * a collector failing or stopped, gives ok: false with the error (never evidence); a control the
 * policy disables gives nothing.
 *
 * A run missed while the PC was off or the agent down happens at the next start (startDelayMs
 * after it, default 2 min, so the collectors start first and a start stays light): the last
 * run's time is kept in the agent's state (`state/compliance.json`), compared with the schedule's
 * latest time (lib/cron-due.ts isSnapshotDue). Runs never overlap.
 */
import type { StateStore } from "./collector.js";
import { nodeCronScheduler, type ScheduledJob, type Scheduler } from "./collectors/asset/index.js";
import { isSnapshotDue, isValidSchedule, isValidTimezone } from "../lib/cron-due.js";
import type { SnapshotDocument } from "./collectors/snapshot-sources.js";
import { evaluateCompliance, type ComplianceReport } from "./compliance.js";
import { loadCatalog } from "../policies/catalog.js";
import { COLLECTOR_CONTROL, type EvidenceRecorder } from "./evidence.js";
import type { CollectorStatus } from "./supervisor.js";
import type { Logger } from "../lib/log.js";
import type { Policy } from "../policies/policy.js";
import type { Approval } from "../policies/schema.js";

export const STATE_KEY = "compliance";

export interface ComplianceState {
  lastRunAt: string;
}

/** The snapshot section of each collector (snapshot-sources.ts names). */
const SECTION_OF: Readonly<Record<string, string>> = { asset: "hardware", media: "media", network: "network", p2p: "p2p", software: "software" };
const SCHEDULED_SECTIONS: ReadonlySet<string> = new Set(Object.values(SECTION_OF));

export interface ComplianceScheduleOptions {
  log: Logger;
  state: StateStore;
  policy: () => Policy;
  policyVersion: () => number | null;
  onPolicy: (listener: (policy: Policy) => void) => () => void;
  evidence: Pick<EvidenceRecorder, "record">;
  /** the supervisor's view of the collectors (which run, which failed) */
  collectors: () => CollectorStatus[];
  /** the approvals (甲許可) the server last pushed to this PC */
  approvals?: () => readonly Approval[];
  agentId?: () => string;
  /** default: takeSnapshot of the sections of the collectors that run */
  snapshot?: (sections: ReadonlySet<string>) => Promise<SnapshotDocument>;
  scheduler?: Scheduler;
  now?: () => Date;
  /** the catch-up run at start waits this long (default 2 min) */
  startDelayMs?: number;
}

export class ComplianceSchedule {
  private readonly log: Logger;
  private job: ScheduledJob | undefined;
  private scheduled: { schedule: string; timezone: string } | undefined;
  private offPolicy: (() => void) | undefined;
  private startTimer: NodeJS.Timeout | undefined;
  private running: Promise<ComplianceReport | undefined> | undefined;
  private stopped = true;

  constructor(private readonly opts: ComplianceScheduleOptions) {
    this.log = opts.log.child({ component: "compliance" });
  }

  private now(): Date {
    return this.opts.now?.() ?? new Date();
  }

  /** Follow the policy's schedule; run once soon when a scheduled run was missed. */
  start(): void {
    this.stopped = false;
    this.apply(this.opts.policy());
    this.offPolicy = this.opts.onPolicy((p) => this.apply(p));
    if (!this.scheduled) return;
    const last = this.opts.state.get<ComplianceState>(STATE_KEY)?.lastRunAt;
    if (isSnapshotDue(last, this.scheduled.schedule, this.scheduled.timezone, this.now())) {
      const delay = this.opts.startDelayMs ?? 120_000;
      this.log.info({ lastRunAt: last ?? null, ...this.scheduled, inMs: delay }, "compliance snapshot missed since the last scheduled time: running it now that the agent started");
      this.startTimer = setTimeout(() => {
        this.startTimer = undefined;
        void this.runNow("start");
      }, delay);
      this.startTimer.unref?.();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.startTimer) clearTimeout(this.startTimer);
    this.startTimer = undefined;
    this.offPolicy?.();
    this.offPolicy = undefined;
    this.job?.stop();
    this.job = undefined;
    this.scheduled = undefined;
    await this.running?.catch(() => undefined);
  }

  private apply(policy: Policy): void {
    const c = policy.compliance;
    if (!c.enabled) {
      if (this.job) this.log.info("compliance snapshots disabled by the policy");
      this.job?.stop();
      this.job = undefined;
      this.scheduled = undefined;
      return;
    }
    if (!isValidSchedule(c.schedule) || !isValidTimezone(c.timezone)) {
      this.log.error({ schedule: c.schedule, timezone: c.timezone, keeping: this.scheduled ?? null }, "compliance.schedule or compliance.timezone is not valid: keeping the previous schedule");
      return;
    }
    if (this.scheduled?.schedule === c.schedule && this.scheduled.timezone === c.timezone) return;
    this.job?.stop();
    this.job = (this.opts.scheduler ?? nodeCronScheduler)(c.schedule, c.timezone, () => void this.runNow("schedule"), this.log);
    this.scheduled = { schedule: c.schedule, timezone: c.timezone };
    this.log.info(this.scheduled, "compliance snapshots scheduled");
  }

  /** Take the compliance snapshot now (one at a time) and record each control's check. */
  runNow(trigger: "schedule" | "start" | "manual" = "manual"): Promise<ComplianceReport | undefined> {
    if (this.stopped) return Promise.resolve(undefined);
    this.running ??= this.run(trigger).catch((err: unknown) => {
      this.log.error({ err }, "compliance snapshot failed: no check recorded this time");
      return undefined;
    }).finally(() => { this.running = undefined; });
    return this.running;
  }

  private async run(trigger: string): Promise<ComplianceReport | undefined> {
    const statuses = this.opts.collectors();
    // only what this agent runs: a collector left out (--collectors) or disabled is not checked
    const live = statuses.filter((s) => s.state !== "disabled");
    const sections = new Set(live.map((s) => SECTION_OF[s.name]).filter((s): s is string => s !== undefined));
    if (sections.size === 0) return undefined;
    const snapshot = this.opts.snapshot ?? (async (s: ReadonlySet<string>) => (await import("./collectors/snapshot-sources.js")).takeSnapshot(s));
    const doc = await snapshot(sections);
    if (this.stopped) return undefined;
    const version = this.opts.policyVersion();
    const report = evaluateCompliance(doc, {
      policy: this.opts.policy(),
      policySource: version === null ? { source: "default" } : { source: "server", version },
      approvals: this.opts.approvals?.() ?? [],
      agent: { id: this.opts.agentId?.() ?? "", tags: [] },
      now: this.now(),
      catalog: loadCatalog(),
      // the controls this schedule records (the executed section is not taken here: the executed
      // collector records its own check, and the snapshot would hash every program running)
      sections: SCHEDULED_SECTIONS,
    });
    const at = this.now();
    for (const c of report.controls) {
      if (!sections.has(c.section) || c.verdict === "off") continue;
      const mine = live.filter((s) => COLLECTOR_CONTROL[s.name] === c.control);
      const notRunning = mine.filter((s) => s.state !== "running");
      const error = c.verdict === "unchecked"
        ? `${c.section}: ${c.error ?? "not read"}`
        : notRunning.length ? notRunning.map((s) => `collector ${s.name} is ${s.state}${s.lastError ? ` (${s.lastError})` : ""}`).join("; ") : undefined;
      const needsAction = c.findings.filter((f) => f.status === "violation" || f.status === "needs_approval").length;
      const counts = { violation: 0, needs_approval: 0, approved: 0, info: 0 };
      for (const f of c.findings) counts[f.status]++;
      await this.opts.evidence.record({
        control: c.control, collector: c.collector, source: "snapshot", ok: error === undefined, findings: needsAction,
        ...(error === undefined ? {} : { error }), extra: { verdict: c.verdict, statuses: counts, trigger },
      }, at);
    }
    await this.opts.state.set<ComplianceState>(STATE_KEY, { lastRunAt: at.toISOString() });
    this.log.info({ trigger, needsAction: report.needsAction, counts: report.counts, verdicts: Object.fromEntries(report.controls.map((c) => [c.control, c.verdict])) }, "compliance snapshot taken");
    return report;
  }
}
