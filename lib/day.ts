/**
 * Calendar days in a timezone (Asia/Tokyo by default: the clauses' 甲 keeps Japanese days), as
 * `YYYY-MM-DD`. Shared by the agent (one evidence event per control per day, agent/evidence.ts) and
 * the server (the days with evidence, server/evidence.ts; reports).
 */
export const DEFAULT_DAY_TIMEZONE = "Asia/Tokyo";
const TOKYO_OFFSET_MS = 9 * 3600_000; // Japan has no daylight saving time

const formatters = new Map<string, Intl.DateTimeFormat>();

/** The day (`YYYY-MM-DD`) that instant falls on in `timeZone`; undefined for an invalid time. */
export function dayISO(at: Date | string | number, timeZone: string = DEFAULT_DAY_TIMEZONE): string | undefined {
  const ms = typeof at === "number" ? at : typeof at === "string" ? Date.parse(at) : at.getTime();
  if (!Number.isFinite(ms)) return undefined;
  if (timeZone === DEFAULT_DAY_TIMEZONE) {
    const d = new Date(ms + TOKYO_OFFSET_MS);
    return Number.isNaN(d.getTime()) ? undefined : d.toISOString().slice(0, 10);
  }
  let f = formatters.get(timeZone);
  if (!f) {
    // en-CA formats dates as YYYY-MM-DD
    f = new Intl.DateTimeFormat("en-CA", { timeZone, year: "numeric", month: "2-digit", day: "2-digit" });
    formatters.set(timeZone, f);
  }
  return f.format(ms);
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** Whether `s` is a real calendar day `YYYY-MM-DD`. */
export function isDay(s: string): boolean {
  if (!DAY.test(s)) return false;
  const d = new Date(`${s}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === s;
}

/** Every day from `from` to `to`, both included (`YYYY-MM-DD`); empty when to < from. */
export function daysBetween(from: string, to: string): string[] {
  if (!isDay(from) || !isDay(to)) throw new Error(`not a day (YYYY-MM-DD): ${isDay(from) ? to : from}`);
  const out: string[] = [];
  for (let ms = Date.parse(`${from}T00:00:00Z`), end = Date.parse(`${to}T00:00:00Z`); ms <= end; ms += 86_400_000) {
    out.push(new Date(ms).toISOString().slice(0, 10));
  }
  return out;
}

/** An instant as Japanese readers expect it: `2026/12/03 21:00:05 JST` (Asia/Tokyo); the input as is when it is not a time. */
export function jstTime(at: string | number | Date | null | undefined): string {
  if (at === null || at === undefined) return "—";
  const ms = typeof at === "number" ? at : typeof at === "string" ? Date.parse(at) : at.getTime();
  if (!Number.isFinite(ms)) return String(at);
  const s = new Date(ms + TOKYO_OFFSET_MS).toISOString();
  return `${s.slice(0, 4)}/${s.slice(5, 7)}/${s.slice(8, 10)} ${s.slice(11, 19)} JST`;
}
