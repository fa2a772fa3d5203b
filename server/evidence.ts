/**
 * Evidence that checks ran (点検の実施記録; 別記2 第12, 個人情報取扱特記事項 第14).
 *
 * The agent sends `agent.check` {control, collector, completedAt, ok, findings, error?} when a
 * collector completed a full check of its control: at most once per collector per day (Asia/Tokyo)
 * plus the first one after each start, and one per control from each compliance snapshot
 * (agent/evidence.ts). The store keeps, in the transaction that stores such an event, one row per
 * PC × control × collector × day with an ok check (`check_evidence`, migration 4); ok: false (the
 * check failed) is stored as an event only and is never evidence. A stopped, uninstalled or failing
 * agent sends nothing, so its days stay without evidence: a report shows them as 未確認, never as
 * passing.
 *
 * Days are calendar days in Asia/Tokyo of the event's observedAt (the agent's clock when it ran
 * the check; a check queued while offline still counts for the day it ran).
 */
import { dayISO, daysBetween, isDay } from "../lib/day.js";
import { CONTROLS, type Control } from "../policies/schema.js";
import type { Dialect } from "./migrations.js";
import type { EventRow, EvidenceQuery, EvidenceRecord, Store } from "./store.js";

/** The controls a PC is checked for (the agent's own health is evidenced by its other events). */
export const CHECKED_CONTROLS: readonly Control[] = CONTROLS.filter((c) => c !== "agent");

const CONTROL_SET: ReadonlySet<string> = new Set(CONTROLS);
/** a collector's name as the agent's registry spells them (anything else is stored as an event only) */
const COLLECTOR_NAME = /^[a-z][a-z0-9_-]{0,63}$/;

/**
 * The evidence row an event makes, if any: only an agent.check whose details say ok: true, with a
 * known control and a collector name (the details were validated at ingest, policies/details.ts).
 */
export function checkEvidence(row: Pick<EventRow, "type" | "details" | "observedAt">): { control: Control; collector: string; day: string } | undefined {
  if (row.type !== "agent.check") return undefined;
  const { control, collector, ok } = row.details;
  if (ok !== true || typeof control !== "string" || !CONTROL_SET.has(control) || typeof collector !== "string" || !COLLECTOR_NAME.test(collector)) return undefined;
  const day = dayISO(row.observedAt);
  // (a time beyond year 9999 has no YYYY-MM-DD day)
  return day && isDay(day) ? { control: control as Control, collector, day } : undefined;
}

/** PostgreSQL numbers its parameters: each `?` becomes `$1`, `$2`, … (the statements here have no `?` in literals). */
export function numberedParams(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

const UPSERT = `INSERT INTO check_evidence (agent_id, control, collector, day, checks, first_at, last_at) VALUES (?, ?, ?, ?, 1, ?, ?)
  ON CONFLICT (agent_id, control, collector, day) DO UPDATE SET checks = check_evidence.checks + 1,
    first_at = CASE WHEN excluded.first_at < check_evidence.first_at THEN excluded.first_at ELSE check_evidence.first_at END,
    last_at = CASE WHEN excluded.last_at > check_evidence.last_at THEN excluded.last_at ELSE check_evidence.last_at END`;

/** Upsert of one evidence row; parameters (agent_id, control, collector, day, first_at, last_at). */
export function evidenceUpsertSql(dialect: Dialect): string {
  return dialect === "postgres" ? numberedParams(UPSERT) : UPSERT;
}

/** The evidence rows of a period (and agents), ordered by agent, control, day, collector. */
export function evidenceSelectSql(dialect: Dialect, q: EvidenceQuery): { sql: string; args: unknown[] } {
  const where = ["day >= ? AND day <= ?"];
  const args: unknown[] = [q.fromDay, q.toDay];
  if (q.agents) {
    where.push(dialect === "postgres" ? "agent_id = ANY(?)" : "agent_id IN (SELECT value FROM json_each(?))");
    args.push(dialect === "postgres" ? [...q.agents] : JSON.stringify(q.agents));
  }
  const sql = `SELECT agent_id, control, collector, day, checks, first_at, last_at FROM check_evidence
    WHERE ${where.join(" AND ")} ORDER BY agent_id, control, day, collector`;
  return { sql: dialect === "postgres" ? numberedParams(sql) : sql, args };
}

/** A selected row as the Store returns it. */
export function evidenceFromRow(r: { agent_id: string; control: string; collector: string; day: string; checks: number | string; first_at: string; last_at: string }): EvidenceRecord {
  return { agentId: r.agent_id, control: r.control as Control, collector: r.collector, day: r.day, checks: Number(r.checks), firstAt: r.first_at, lastAt: r.last_at };
}

/** A period bound: a day (YYYY-MM-DD) or an ISO time (its Asia/Tokyo day). */
export function toDay(bound: string | Date): string {
  if (typeof bound === "string" && isDay(bound)) return bound;
  const day = dayISO(bound);
  if (!day) throw new Error(`not a day or a time: ${String(bound)}`);
  return day;
}

export interface EvidenceDaysQuery {
  /** only these agents (an organisation's); all when absent */
  agentIds?: readonly string[];
  /** first and last day of the period, both included: YYYY-MM-DD, or an ISO time (its Asia/Tokyo day) */
  from: string | Date;
  to: string | Date;
}

/** agentId → control → the days (YYYY-MM-DD, Asia/Tokyo) on which at least one collector completed an ok check. */
export type EvidenceDays = Map<string, Map<Control, Set<string>>>;

/**
 * The days with evidence per PC and control in a period. Agents and controls without any are
 * absent (a report shows them as 未確認 for every day).
 */
export async function evidenceDays(store: Pick<Store, "listEvidence">, q: EvidenceDaysQuery): Promise<EvidenceDays> {
  const rows = await store.listEvidence({ fromDay: toDay(q.from), toDay: toDay(q.to), ...(q.agentIds ? { agents: q.agentIds } : {}) });
  return groupEvidence(rows);
}

export function groupEvidence(rows: Iterable<Pick<EvidenceRecord, "agentId" | "control" | "day">>): EvidenceDays {
  const out: EvidenceDays = new Map();
  for (const r of rows) {
    let perControl = out.get(r.agentId);
    if (!perControl) out.set(r.agentId, (perControl = new Map()));
    let days = perControl.get(r.control);
    if (!days) perControl.set(r.control, (days = new Set()));
    days.add(r.day);
  }
  return out;
}

export interface Coverage {
  /** days in the period with evidence */
  evidenced: number;
  /** days in the period */
  days: number;
  /** the days without evidence (未確認), in order */
  missing: string[];
}

/** Days with evidence / days in the period for one PC × control (days: from evidenceDays). */
export function coverage(days: ReadonlySet<string> | undefined, from: string | Date, to: string | Date): Coverage {
  const all = daysBetween(toDay(from), toDay(to));
  const missing = days ? all.filter((d) => !days.has(d)) : all;
  return { evidenced: all.length - missing.length, days: all.length, missing };
}
