/**
 * Evidence that checks ran (点検の実施記録; 別記2 第12): the agent's side of server/evidence.ts.
 *
 * A collector calls ctx.checked() when it completed a full check of its control (a software
 * inventory read, a P2P scan over every angle, a network poll, a hardware snapshot, the media
 * enumeration, the process watch started). The recorder turns that into ONE `agent.check` event
 * {control, collector, completedAt, ok: true, findings} per collector per day (Asia/Tokyo), plus
 * the first one after each start of the collector. The supervisor forwards a check only from the
 * collector instance it is running: a failed (backoff), disabled or stopped collector records
 * nothing, and a stopped agent sends nothing, so the server sees those days without evidence.
 *
 * The scheduled compliance snapshot (agent/compliance-schedule.ts) records one check per control
 * per run (source "snapshot"): ok when that control's collectors are running and its section was
 * read, ok: false with the error otherwise (an event the desk sees, never evidence).
 */
import type { Logger } from "../lib/log.js";
import { dayISO } from "../lib/day.js";
import type { Control, NewEvent } from "../policies/schema.js";

/** The control each collector checks (the registry's names, agent/collectors/index.ts). */
export const COLLECTOR_CONTROL: Readonly<Record<string, Control>> = {
  asset: "asset",
  executed: "software",
  media: "media",
  network: "network",
  p2p: "p2p",
  software: "software",
};

/** What a collector says about one completed check. */
export interface CheckResult {
  /** how many events the check raised (0: nothing new) */
  findings?: number;
}

export interface EvidenceRecorderOptions {
  emit: (events: NewEvent[]) => Promise<unknown>;
  log: Logger;
  /** the policy version in force (recorded with each check) */
  policyVersion?: () => number | null;
  now?: () => Date;
}

export interface CheckRecord {
  control: Control;
  collector: string;
  source: "collector" | "snapshot";
  ok: boolean;
  findings?: number;
  error?: string;
  /** more fields for the details (the compliance snapshot's verdict and statuses) */
  extra?: Record<string, unknown>;
}

export class EvidenceRecorder {
  /** collector → the day its last check event was recorded, for this run of that collector */
  private readonly lastDay = new Map<string, string>();
  private readonly log: Logger;
  private readonly now: () => Date;

  constructor(private readonly opts: EvidenceRecorderOptions) {
    this.log = opts.log.child({ component: "evidence" });
    this.now = opts.now ?? (() => new Date());
  }

  /** A (re)started collector: its next completed check is recorded whatever the day. */
  started(collector: string): void {
    this.lastDay.delete(collector);
  }

  /**
   * A collector completed a full check: recorded when it is the collector's first since it
   * started or the first of the day. Returns whether an event was queued.
   */
  async checked(collector: string, result: CheckResult = {}): Promise<boolean> {
    const control = COLLECTOR_CONTROL[collector];
    if (!control) return false; // a collector of no control (tests' stubs)
    const now = this.now();
    const day = dayISO(now)!;
    if (this.lastDay.get(collector) === day) return false;
    this.lastDay.set(collector, day);
    try {
      await this.record({ control, collector, source: "collector", ok: true, ...(result.findings === undefined ? {} : { findings: result.findings }) }, now);
      return true;
    } catch (err) {
      this.lastDay.delete(collector); // try again at the next check
      this.log.error({ err, collector }, "could not queue agent.check");
      return false;
    }
  }

  /** Queue one agent.check as given (the compliance snapshot records each control this way). */
  async record(check: CheckRecord, at: Date = this.now()): Promise<void> {
    const details: Record<string, unknown> = {
      ...check.extra,
      control: check.control, collector: check.collector, completedAt: at.toISOString(), ok: check.ok, source: check.source,
    };
    if (check.findings !== undefined) details.findings = check.findings;
    if (check.error !== undefined) details.error = check.error.slice(0, 4000);
    const version = this.opts.policyVersion?.();
    if (version !== undefined && version !== null) details.policyVersion = version;
    await this.opts.emit([{ type: "agent.check", observedAt: at.toISOString(), details }]);
  }
}
