/**
 * When was a scheduled run last due, and is a schedule valid? Used by the agent's asset and
 * compliance snapshots (a run missed while the PC was off happens at the next start) and by the
 * server's report schedules (validation). node-cron 4 can tell the next run but not the previous
 * one, so previousRun() walks back day by day in the schedule's timezone and asks node-cron's own
 * matcher (`task.match`), which keeps the day-of-month / day-of-week / `L` / `#` semantics exactly
 * those of the scheduler that actually fires.
 *
 * Per day it first tests the day's last candidate time (largest hour, minute, second in the
 * expression): in node-cron the time fields and the day fields are independent, so that one test
 * says whether the day matches at all. Cost: one test per day walked plus the candidates of today.
 */
import cron from "node-cron";

export const DEFAULT_SCHEDULE = "0 9 * * *";
export const DEFAULT_TIMEZONE = "Asia/Tokyo";
/** how far back previousRun() looks */
const MAX_DAYS_BACK = 400;

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone, hourCycle: "h23", year: "numeric", month: "numeric", day: "numeric",
      hour: "numeric", minute: "numeric", second: "numeric",
    });
    formatters.set(timeZone, f);
  }
  return f;
}

interface Wall { year: number; month: number; day: number; hour: number; minute: number; second: number }

function wallClock(ms: number, timeZone: string): Wall {
  const p: Record<string, number> = {};
  for (const part of formatter(timeZone).formatToParts(new Date(ms))) {
    if (part.type !== "literal") p[part.type] = Number(part.value);
  }
  return { year: p.year!, month: p.month!, day: p.day!, hour: p.hour! % 24, minute: p.minute!, second: p.second! };
}

/** The instant at which the wall clock in `timeZone` shows the given local time. */
function instantOf(w: Wall, timeZone: string): number {
  const asUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
  let ms = asUtc;
  for (let i = 0; i < 2; i++) {
    const shown = wallClock(ms, timeZone);
    const shownAsUtc = Date.UTC(shown.year, shown.month - 1, shown.day, shown.hour, shown.minute, shown.second);
    ms += asUtc - shownAsUtc;
  }
  return ms;
}

export function isValidTimezone(timeZone: string): boolean {
  try {
    formatter(timeZone);
    return true;
  } catch {
    return false;
  }
}

export function isValidSchedule(expression: string): boolean {
  return cron.validate(expression);
}

/**
 * The latest instant ≤ now at which `expression` fired (or would have fired) in `timeZone`,
 * or null if it did not within ~400 days. Throws on an invalid expression or timezone.
 */
export function previousRun(expression: string, timeZone: string, now: Date): Date | null {
  const fields = cron.parse(expression);
  const desc = (xs: number[]) => [...new Set(xs)].sort((a, b) => b - a);
  const hours = desc(fields.hour);
  const minutes = desc(fields.minute);
  const seconds = desc(fields.second.length ? fields.second : [0]);
  const task = cron.createTask(expression, () => undefined, { timezone: timeZone });
  try {
    const nowMs = now.getTime();
    const today = wallClock(nowMs, timeZone);
    for (let back = 0; back <= MAX_DAYS_BACK; back++) {
      const d = new Date(Date.UTC(today.year, today.month - 1, today.day - back));
      const date = { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
      const last = instantOf({ ...date, hour: hours[0]!, minute: minutes[0]!, second: seconds[0]! }, timeZone);
      if (!task.match(new Date(last))) continue; // this day is not a scheduled day
      if (last <= nowMs) return new Date(last);
      // today, and the day's last run is still ahead: the latest candidate not after now
      for (const hour of hours) {
        for (const minute of minutes) {
          for (const second of seconds) {
            const ms = instantOf({ ...date, hour, minute, second }, timeZone);
            if (ms <= nowMs && task.match(new Date(ms))) return new Date(ms);
          }
        }
      }
    }
    return null;
  } finally {
    void task.destroy();
  }
}

/**
 * Whether a snapshot is due now: never taken; or the last one is older than the latest scheduled
 * time (the PC was off or the agent down then); or it is dated in the future (the clock was
 * set back, so the stored time proves nothing).
 */
export function isSnapshotDue(lastSnapshotAt: string | undefined, expression: string, timeZone: string, now: Date): boolean {
  if (!lastSnapshotAt) return true;
  const last = Date.parse(lastSnapshotAt);
  if (!Number.isFinite(last) || last > now.getTime()) return true;
  const prev = previousRun(expression, timeZone, now);
  return prev !== null && last < prev.getTime();
}
