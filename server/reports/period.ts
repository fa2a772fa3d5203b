/**
 * Report periods in Japan's calendar (Asia/Tokyo, UTC+9, no daylight saving): a period is a range
 * of whole days `from`–`to` (both included, YYYY-MM-DD), stored events are selected by their
 * received time from 00:00 JST of `from` to 00:00 JST of the day after `to`.
 */
import { dayISO, isDay } from "../../lib/day.js";
import { InvalidInputError } from "../errors.js";

export const TIME_ZONE = "Asia/Tokyo";
const JST_MS = 9 * 3600_000;
const DAY_MS = 86_400_000;
/** the longest period a report covers */
export const MAX_PERIOD_DAYS = 366;

export const DAY_RE = /^\d{4}-\d{2}-\d{2}$/;

/** The Japanese calendar day of an instant (ISO text or ms). */
export function jstDay(t: string | number | Date): string {
  const day = dayISO(t);
  if (day === undefined) throw new InvalidInputError(`not a time: ${String(t)}`);
  return day;
}

/** 00:00 JST of `day` as a UTC ISO instant. */
export function dayStartIso(day: string): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) - JST_MS).toISOString();
}

export function addDays(day: string, n: number): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) + n * DAY_MS).toISOString().slice(0, 10);
}

/** Days from `a` to `b`, both included (0 when b < a). */
export function dayCount(a: string, b: string): number {
  return Math.max(0, Math.round((Date.parse(`${b}T00:00:00Z`) - Date.parse(`${a}T00:00:00Z`)) / DAY_MS) + 1);
}

export interface Period {
  from: string;
  to: string;
  days: number;
  /** received_at bounds: [since, until) */
  since: string;
  until: string;
}

function validDay(day: string, name: string): string {
  if (!isDay(day)) throw new InvalidInputError(`${name}: not a day YYYY-MM-DD (${JSON.stringify(day)})`);
  return day;
}

export function makePeriod(from: string, to: string): Period {
  validDay(from, "from");
  validDay(to, "to");
  if (to < from) throw new InvalidInputError(`to (${to}) is before from (${from})`);
  const days = dayCount(from, to);
  if (days > MAX_PERIOD_DAYS) throw new InvalidInputError(`the period is ${days} days; at most ${MAX_PERIOD_DAYS}`);
  return { from, to, days, since: dayStartIso(from), until: dayStartIso(addDays(to, 1)) };
}

export type PeriodKind = "day" | "week" | "month";

/**
 * The last complete period of a kind before `now` (JST): yesterday; last week (Monday–Sunday);
 * last month.
 */
export function previousPeriod(kind: PeriodKind, now: Date): Period {
  const today = jstDay(now);
  if (kind === "day") {
    const y = addDays(today, -1);
    return makePeriod(y, y);
  }
  if (kind === "week") {
    const dow = (new Date(`${today}T00:00:00Z`).getUTCDay() + 6) % 7; // Monday 0
    const thisMonday = addDays(today, -dow);
    return makePeriod(addDays(thisMonday, -7), addDays(thisMonday, -1));
  }
  const firstOfThis = `${today.slice(0, 7)}-01`;
  const lastOfPrev = addDays(firstOfThis, -1);
  return makePeriod(`${lastOfPrev.slice(0, 7)}-01`, lastOfPrev);
}
