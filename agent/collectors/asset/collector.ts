/**
 * The asset collector (機器の台帳管理・増設・交換, 別記2 第7): a hardware inventory snapshot on the
 * policy's cron schedule (policy.asset.schedule, timezone), and one `asset.hardware_changed` event
 * per component added, removed or replaced since the previous snapshot.
 *
 * On start it takes a snapshot at once when none was ever taken or the last one is older than the
 * latest scheduled time (the PC was off, or the agent down, at 09:00) — then follows the schedule.
 * A policy change with a new schedule or timezone reschedules.
 */
import type { Collector, CollectorContext } from "../../collector.js";
import type { NewEvent } from "../../../policies/schema.js";
import type { Logger } from "../../../lib/log.js";
import { diffInventory, type Change } from "./diff.js";
import { pcIdentity } from "./identity.js";
import { Inventory, normalize } from "./inventory.js";
import { readSystemInformation, type RawReader } from "./platform.js";
import { DEFAULT_SCHEDULE, DEFAULT_TIMEZONE, isSnapshotDue, isValidSchedule, isValidTimezone } from "../../../lib/cron-due.js";

/** What the collector keeps in ctx.state under STATE_KEY. */
export interface AssetState {
  lastSnapshotAt: string;
  pcId: string;
  inventory: Inventory;
}
export const STATE_KEY = "asset";

import { nodeCronScheduler, type ScheduledJob, type Scheduler } from "../../../lib/cron.js";
export { nodeCronScheduler, type ScheduledJob, type Scheduler };

export interface AssetCollectorOptions {
  read?: RawReader;
  now?: () => Date;
  scheduler?: Scheduler;
}

/** The details of an asset.snapshot event. */
export function snapshotEvent(inv: Inventory, observedAt: string): NewEvent {
  const id = pcIdentity(inv);
  return {
    type: "asset.snapshot",
    observedAt,
    details: { pcId: id.id, pcIdBasis: id.basis, hostname: inv.os.hostname, inventory: inv, errors: inv.errors },
  };
}

/** One asset.hardware_changed event per change: details {component, change, before, after}. */
export function changeEvent(change: Change, pcId: string, observedAt: string): NewEvent {
  return {
    type: "asset.hardware_changed",
    observedAt,
    details: {
      component: change.component,
      change: change.change,
      key: change.key,
      before: change.before,
      after: change.after,
      pcId,
    },
  };
}

export class AssetCollector implements Collector {
  readonly name = "asset";
  private ctx: CollectorContext | undefined;
  private log: Logger | undefined;
  private job: ScheduledJob | undefined;
  private scheduled: { schedule: string; timezone: string } | undefined;
  private offPolicy: (() => void) | undefined;
  /** snapshots run one at a time, in order */
  private chain: Promise<void> = Promise.resolve();
  private stopped = true;

  constructor(private readonly options: AssetCollectorOptions = {}) {}

  async start(ctx: CollectorContext): Promise<void> {
    this.ctx = ctx;
    this.log = ctx.log;
    this.stopped = false;
    this.applySchedule(ctx.policy().asset);
    this.offPolicy = ctx.onPolicy((policy) => this.applySchedule(policy.asset));
    const last = ctx.state.get<AssetState>(STATE_KEY)?.lastSnapshotAt;
    const { schedule, timezone } = this.scheduled!;
    if (isSnapshotDue(last, schedule, timezone, this.now())) {
      this.log.info({ lastSnapshotAt: last ?? null, schedule, timezone }, "asset snapshot due (none since the last scheduled time): taking one now");
      await this.snapshotNow();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.offPolicy?.();
    this.offPolicy = undefined;
    this.job?.stop();
    this.job = undefined;
    this.scheduled = undefined;
    await this.chain.catch(() => undefined);
  }

  /** Take a snapshot now (queued behind one in progress); emits, then persists the state. */
  snapshotNow(): Promise<void> {
    const run = this.chain.then(() => this.takeSnapshot());
    this.chain = run.catch(() => undefined);
    return run;
  }

  private now(): Date {
    return (this.options.now ?? (() => new Date()))();
  }

  private applySchedule(asset: { schedule: string; timezone: string }): void {
    const log = this.log!;
    let { schedule, timezone } = asset;
    if (!isValidSchedule(schedule)) {
      const keep = this.scheduled?.schedule ?? DEFAULT_SCHEDULE;
      log.error({ schedule, using: keep }, "asset.schedule is not a valid cron expression: keeping the previous schedule");
      schedule = keep;
    }
    if (!isValidTimezone(timezone)) {
      const keep = this.scheduled?.timezone ?? DEFAULT_TIMEZONE;
      log.error({ timezone, using: keep }, "asset.timezone is not a known timezone: keeping the previous one");
      timezone = keep;
    }
    if (this.scheduled && this.scheduled.schedule === schedule && this.scheduled.timezone === timezone) return;
    this.job?.stop();
    const scheduler = this.options.scheduler ?? nodeCronScheduler;
    this.job = scheduler(schedule, timezone, () => {
      if (this.stopped) return;
      this.snapshotNow().catch((err: unknown) => this.ctx?.fail(err));
    }, log);
    log.info({ schedule, timezone, previous: this.scheduled ?? null }, "asset snapshots scheduled");
    this.scheduled = { schedule, timezone };
  }

  private async takeSnapshot(): Promise<void> {
    const ctx = this.ctx;
    if (!ctx || this.stopped) return;
    const read = this.options.read ?? readSystemInformation;
    const started = Date.now();
    const inv = normalize(await read());
    const observedAt = this.now().toISOString();
    const id = pcIdentity(inv);
    for (const e of inv.errors) ctx.log.warn({ source: e.source, err: e.message }, "asset source could not be read: reporting the others");

    const events: NewEvent[] = [snapshotEvent(inv, observedAt)];
    const stored = ctx.state.get<AssetState>(STATE_KEY);
    const previous = stored ? Inventory.safeParse(stored.inventory) : undefined;
    if (previous?.success) {
      if (stored!.pcId !== id.id) ctx.log.warn({ before: stored!.pcId, after: id.id }, "pcId changed since the last snapshot");
      const changes = diffInventory(previous.data, inv);
      events.push(...changes.map((c) => changeEvent(c, id.id, observedAt)));
    } else if (stored) {
      ctx.log.warn({ err: previous?.error.message }, "stored asset inventory is unreadable: this snapshot becomes the new baseline");
    }
    await ctx.emit(...events);
    await ctx.state.set<AssetState>(STATE_KEY, { lastSnapshotAt: observedAt, pcId: id.id, inventory: inv });
    // a snapshot of every source is a completed check (evidence); one with a source missing is not
    if (inv.errors.length === 0) ctx.checked({ findings: events.length - 1 });
    ctx.log.info(
      { pcId: id.id, basis: id.basis, changes: events.length - 1, failedSources: inv.errors.map((e) => e.source), ms: Date.now() - started },
      "asset snapshot taken",
    );
  }
}

/** `kyoka snapshot --json`: the hardware section. */