/**
 * The compliance report (定期報告, 別記2 第12・第15; 個人情報取扱特記事項 第14): what kyoka can show a
 * client about a period — fleet summary first, then per organisation and per PC × control:
 *
 *  - checks evidenced: days with evidence that the control's check ran / days in the period (the
 *    PC's days: from its enrollment, until its revocation);
 *  - events by status (received in the period), open items (needs_approval / violation without a
 *    resolution, received before the period's end);
 *  - approvals (甲許可) in force during the period and decided in it (requests approved or denied,
 *    approvals recorded directly);
 *  - silent periods: agent.silent events and offline gaps (runs of days without any evidence);
 *  - a verdict: 要対応 (open items) > 未確認 (a day without evidence) > 適合. A PC or control without
 *    evidence for part of the period is 未確認, never 適合.
 *
 * Every line names its clause: the control's articles in policies/catalog.yaml.
 *
 * Everything is aggregated in SQL (GROUP BY: at most PCs × controls × statuses rows come back),
 * never by loading events: bench/report.ts runs it on 5 million.
 */
import type Database from "better-sqlite3";
import { loadCatalog } from "../../policies/catalog.js";
import { CONTROLS, STATUSES, type Control, type Scope, type Status } from "../../policies/schema.js";
import { scopeCovers } from "../decide.js";
import { addDays, dayCount, dayStartIso, jstDay, makePeriod, TIME_ZONE, type Period } from "./period.js";

/** The controls a report checks (the agent's own health shows as silent periods). */
export const REPORT_CONTROLS = CONTROLS.filter((c): c is Exclude<Control, "agent"> => c !== "agent");
export type ReportControl = (typeof REPORT_CONTROLS)[number];

export type Verdict = "compliant" | "action_required" | "not_evidenced";
export const VERDICT_LABEL: Record<Verdict, { ja: string; en: string }> = {
  compliant: { ja: "適合", en: "compliant" },
  action_required: { ja: "要対応", en: "action required" },
  not_evidenced: { ja: "未確認", en: "not evidenced" },
};
export { STATUS_LABEL } from "../../policies/labels.js";

export type StatusCounts = Record<Status, number>;

/** Days with evidence per PC × control, from the evidence the agents send that their checks ran. */
export interface EvidenceQuery {
  period: Period;
  /** only these agents; null: every agent */
  agentIds: readonly string[] | null;
}
/** One PC × control × day with evidence that the check ran (the day in Asia/Tokyo, YYYY-MM-DD). */
export interface EvidenceDay {
  agentId: string;
  control: string;
  day: string;
}
export type EvidenceSource = (db: Database.Database, q: EvidenceQuery) => Iterable<EvidenceDay>;

export interface ControlLine {
  control: ReportControl;
  title: { ja: string; en: string };
  articles: string[];
  daysEvidenced: number;
  daysInPeriod: number;
  events: StatusCounts;
  openItems: number;
  approvalsInForce: number;
  approvalsDecided: number;
  verdict: Verdict;
}

export interface SilentEvent {
  at: string;
  lastSeen: string | null;
}
export interface OfflineGap {
  from: string;
  to: string;
  days: number;
}

export interface PcReport {
  agentId: string;
  hostname: string;
  enrolledAt: string;
  revokedAt: string | null;
  /** the PC's days in the period (enrolled – revoked) */
  from: string;
  to: string;
  daysInPeriod: number;
  controls: ControlLine[];
  silent: { events: SilentEvent[]; gaps: OfflineGap[]; articles: string[] };
  verdict: Verdict;
}

export interface Summary {
  pcs: number;
  verdicts: Record<Verdict, number>;
  /** PC × control lines by verdict */
  lineVerdicts: Record<Verdict, number>;
  checks: { evidenced: number; expected: number };
  events: StatusCounts;
  openItems: number;
  approvalsInForce: number;
  approvalsDecided: number;
  silentEvents: number;
  offlineGaps: number;
  offlineDays: number;
  perControl: Array<{ control: ReportControl; articles: string[]; evidenced: number; expected: number; events: StatusCounts; openItems: number; verdicts: Record<Verdict, number> }>;
}

export interface OrganisationReport {
  id: string;
  name: string;
  kind: string;
  summary: Summary;
  pcs: PcReport[];
}

export interface ComplianceReport {
  kind: "kyoka.compliance-report";
  version: 1;
  generatedAt: string;
  timeZone: typeof TIME_ZONE;
  period: { from: string; to: string; days: number };
  /** the organisation asked for; null: every organisation (the fleet) */
  organisation: { id: string; name: string } | null;
  controls: Array<{ control: ReportControl; title: { ja: string; en: string }; articles: string[] }>;
  /** where the day-by-day evidence came from */
  evidence: string;
  summary: Summary;
  organisations: OrganisationReport[];
}

const zeroStatus = (): StatusCounts => ({ needs_approval: 0, approved: 0, violation: 0, info: 0 });
const zeroVerdicts = (): Record<Verdict, number> => ({ compliant: 0, action_required: 0, not_evidenced: 0 });

/**
 * Interim evidence until the agents send their own (issue 15, evidence part): a day on which the PC
 * sent any event of the control. Replaced by the agents' check evidence when the server has it.
 */
export const eventDayEvidence: EvidenceSource = (db, q) => {
  const org = q.agentIds ? "AND agent_id IN (SELECT value FROM json_each(?))" : "";
  const args: unknown[] = [q.period.since, q.period.until];
  if (q.agentIds) args.push(JSON.stringify(q.agentIds));
  const rows = db.prepare(`SELECT agent_id AS agentId, control, date(observed_at, '+9 hours') AS day FROM events
    WHERE received_at >= ? AND received_at < ? ${org} GROUP BY agent_id, control, day`).iterate(...args) as IterableIterator<EvidenceDay>;
  return rows;
};

/**
 * The agents' own evidence that a check ran (`agent.check` events kept as days per PC × control in
 * `check_evidence`, server/evidence.ts). On a database without that table: eventDayEvidence.
 */
export const checkEvidenceSource = {
  name: "agent.check",
  source: ((db, q) => {
    const has = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'check_evidence'`).get();
    if (!has) return eventDayEvidence(db, q);
    const org = q.agentIds ? "AND agent_id IN (SELECT value FROM json_each(?))" : "";
    const args: unknown[] = [q.period.from, q.period.to];
    if (q.agentIds) args.push(JSON.stringify(q.agentIds));
    return db.prepare(`SELECT DISTINCT agent_id AS agentId, control, day FROM check_evidence WHERE day >= ? AND day <= ? ${org}`)
      .iterate(...args) as IterableIterator<EvidenceDay>;
  }) as EvidenceSource,
};

interface ApprovalDbRow {
  id: string; control: string; scope: string; valid_from: string; valid_until: string; created_at: string; deleted_at: string | null;
  organisation_id: string | null; request_id: string | null;
}
interface RequestDbRow { id: string; organisation_id: string; control: string; scope: string; decided_at: string }

interface ControlAcc {
  events: StatusCounts;
  days: Set<string>;
  open: number;
}

export interface BuildOptions {
  period: Period;
  /** an organisation id; null: every organisation */
  organisationId: string | null;
  evidence?: { source: EvidenceSource; name: string };
  now?: Date;
}

/** PCs whose events are counted between two turns of the event loop (the server keeps serving). */
const AGENTS_PER_TURN = 10;
/** ids of events read for the open items between two turns */
const OPEN_ID_WINDOW = 100_000;
/** a turn of the event loop */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Build the report from the server's SQLite file, on a connection of its own (a read-only one
 * will do): in one read transaction, so every figure comes from the same snapshot while the server
 * keeps writing (WAL); each step (a day of the index, a window of ids, AGENTS_PER_TURN PCs) gives the event loop a turn.
 */
export async function buildComplianceReport(db: Database.Database, opts: BuildOptions): Promise<ComplianceReport> {
  db.exec("BEGIN");
  try {
    return await buildInSnapshot(db, opts);
  } finally {
    db.exec("COMMIT");
  }
}

async function buildInSnapshot(db: Database.Database, opts: BuildOptions): Promise<ComplianceReport> {
  const { period } = opts;
  const catalog = loadCatalog();
  const controls = REPORT_CONTROLS.map((c) => ({ control: c, title: catalog.controls[c].title, articles: catalog.controls[c].articles }));
  const controlInfo = new Map(controls.map((c) => [c.control, c]));
  const agentArticles = catalog.controls.agent.articles;

  const orgs = (opts.organisationId
    ? db.prepare(`SELECT id, name, kind FROM organisations WHERE id = ?`).all(opts.organisationId)
    : db.prepare(`SELECT id, name, kind FROM organisations ORDER BY name, id`).all()) as Array<{ id: string; name: string; kind: string }>;
  const orgFilter = opts.organisationId ? "AND organisation_id = ?" : "";
  const orgArgs = opts.organisationId ? [opts.organisationId] : [];
  // PCs in scope: enrolled before the period's end, not revoked before its start
  const agents = db.prepare(`SELECT id, hostname, tags, enrolled_at, revoked_at, organisation_id FROM agents
    WHERE enrolled_at < ? AND (revoked_at IS NULL OR revoked_at >= ?) ${orgFilter} ORDER BY hostname, id`)
    .all(period.until, period.since, ...orgArgs) as Array<{ id: string; hostname: string; tags: string; enrolled_at: string; revoked_at: string | null; organisation_id: string }>;
  const agentIds = opts.organisationId ? agents.map((a) => a.id) : null;
  const inAgents = agentIds ? "AND agent_id IN (SELECT value FROM json_each(?))" : "";
  const agentArgs = agentIds ? [JSON.stringify(agentIds)] : [];

  const acc = new Map<string, Map<string, ControlAcc>>();
  const cell = (agentId: string, control: string): ControlAcc => {
    let perAgent = acc.get(agentId);
    if (!perAgent) acc.set(agentId, (perAgent = new Map()));
    let c = perAgent.get(control);
    if (!c) perAgent.set(control, (c = { events: zeroStatus(), days: new Set(), open: 0 }));
    return c;
  };

  // events by status: a GROUP BY per PC on its own index (agent_id, id), bounded by the id range of
  // the period (received_at is indexed): no sort of the whole period's events (bench/report.ts)
  // the id range, a day of the received_at index at a time (each an index-only scan), with a turn between
  const range: { lo: number | null; hi: number | null } = { lo: null, hi: null };
  const dayRange = db.prepare(`SELECT MIN(id) AS lo, MAX(id) AS hi FROM events WHERE received_at >= ? AND received_at < ?`);
  for (let d = period.from; d <= period.to; d = addDays(d, 1)) {
    const r = dayRange.get(dayStartIso(d), dayStartIso(addDays(d, 1))) as { lo: number | null; hi: number | null };
    if (r.lo !== null && (range.lo === null || r.lo < range.lo)) range.lo = r.lo;
    if (r.hi !== null && (range.hi === null || r.hi > range.hi)) range.hi = r.hi;
    await turn();
  }
  if (range.lo !== null && range.hi !== null) {
    const byStatus = db.prepare(`SELECT control AS c, status AS s, COUNT(*) AS n FROM events
      WHERE agent_id = ? AND id >= ? AND id <= ? AND +received_at >= ? AND +received_at < ? GROUP BY control, status`);
    for (const [i, a] of agents.entries()) {
      if (i > 0 && i % AGENTS_PER_TURN === 0) await turn();
      for (const r of byStatus.iterate(a.id, range.lo, range.hi, period.since, period.until) as IterableIterator<{ c: string; s: Status; n: number }>) {
        if (STATUSES.includes(r.s)) cell(a.id, r.c).events[r.s] += r.n;
      }
    }
  }
  // open items: received before the period's end, still open now — the status index (status, id),
  // OPEN_ID_WINDOW ids at a time, with a turn between
  const maxId = (db.prepare(`SELECT MAX(id) AS m FROM events`).get() as { m: number | null }).m ?? 0;
  const open = db.prepare(`SELECT agent_id AS a, control AS c, COUNT(*) AS n FROM events
    WHERE status IN ('needs_approval', 'violation') AND id > ? AND id <= ? AND resolution IS NULL AND received_at < ? ${inAgents}
    GROUP BY agent_id, control`);
  for (let lo = 0; lo < maxId; lo += OPEN_ID_WINDOW) {
    for (const r of open.iterate(lo, lo + OPEN_ID_WINDOW, period.until, ...agentArgs) as IterableIterator<{ a: string; c: string; n: number }>) {
      cell(r.a, r.c).open += r.n;
    }
    await turn();
  }

  // evidence days per PC × control
  const evidence = opts.evidence ?? { source: eventDayEvidence, name: "events" };
  // a day at a time, with a turn between
  for (let d = period.from; d <= period.to; d = addDays(d, 1)) {
    for (const r of evidence.source(db, { period: makePeriod(d, d), agentIds })) {
      if (r.day >= period.from && r.day <= period.to) cell(r.agentId, r.control).days.add(r.day);
    }
    await turn();
  }

  // silent events
  const silent = new Map<string, SilentEvent[]>();
  const silentRows = db.prepare(`SELECT agent_id AS a, observed_at AS at, json_extract(details, '$.lastSeen') AS lastSeen FROM events
    WHERE type = 'agent.silent' AND received_at >= ? AND received_at < ? ${inAgents} ORDER BY id`);
  for (const r of silentRows.iterate(period.since, period.until, ...agentArgs) as IterableIterator<{ a: string; at: string; lastSeen: unknown }>) {
    let list = silent.get(r.a);
    if (!list) silent.set(r.a, (list = []));
    list.push({ at: r.at, lastSeen: typeof r.lastSeen === "string" ? r.lastSeen : null });
  }

  // approvals in force during the period, and those decided in it
  const approvals = db.prepare(`SELECT id, control, scope, valid_from, valid_until, created_at, deleted_at, organisation_id, request_id FROM approvals
    WHERE valid_from < ? AND valid_until >= ? AND created_at < ? AND (deleted_at IS NULL OR deleted_at >= ?)`)
    .all(period.until, period.since, period.until, period.since) as ApprovalDbRow[];
  const direct = (db.prepare(`SELECT id, control, scope, organisation_id, created_at FROM approvals
    WHERE request_id IS NULL AND created_at >= ? AND created_at < ?`).all(period.since, period.until) as Array<{ id: string; control: string; scope: string; organisation_id: string | null }>);
  const decided = db.prepare(`SELECT id, organisation_id, control, scope, decided_at FROM requests
    WHERE status IN ('approved', 'denied') AND decided_at >= ? AND decided_at < ?`).all(period.since, period.until) as RequestDbRow[];
  const parsedApprovals = approvals.map((a) => ({ id: a.id, control: a.control, scope: JSON.parse(a.scope) as Scope, org: a.organisation_id }));
  const parsedDecided = [
    ...decided.map((r) => ({ id: `request:${r.id}`, control: r.control, scope: JSON.parse(r.scope) as Scope, org: r.organisation_id as string | null })),
    ...direct.map((a) => ({ id: `approval:${a.id}`, control: a.control, scope: JSON.parse(a.scope) as Scope, org: a.organisation_id })),
  ];

  const orgReports: OrganisationReport[] = [];
  const orgPcs = new Map<string, PcReport[]>();
  const orgApprovals = new Map<string, { inForce: Set<string>; decided: Set<string> }>();
  const fleetApprovals = { inForce: new Set<string>(), decided: new Set<string>() };

  for (const a of agents) {
    const tags = JSON.parse(a.tags) as string[];
    const who = { id: a.id, tags };
    const from = [period.from, jstDay(a.enrolled_at)].sort().at(-1)!;
    const to = a.revoked_at ? [period.to, jstDay(a.revoked_at)].sort()[0]! : period.to;
    const days = dayCount(from, to);
    const oa = orgApprovals.get(a.organisation_id) ?? { inForce: new Set<string>(), decided: new Set<string>() };
    orgApprovals.set(a.organisation_id, oa);
    const perAgent = acc.get(a.id);
    const lines: ControlLine[] = REPORT_CONTROLS.map((c) => {
      const x = perAgent?.get(c);
      const daysEvidenced = x ? [...x.days].filter((d) => d >= from && d <= to).length : 0;
      const covers = (ap: { control: string; scope: Scope; org: string | null }) =>
        ap.control === c && (ap.org === null || ap.org === a.organisation_id) && scopeCovers(ap.scope, who);
      const inForce = parsedApprovals.filter(covers);
      const dec = parsedDecided.filter(covers);
      for (const ap of inForce) { oa.inForce.add(ap.id); fleetApprovals.inForce.add(ap.id); }
      for (const ap of dec) { oa.decided.add(ap.id); fleetApprovals.decided.add(ap.id); }
      const openItems = x?.open ?? 0;
      const verdict: Verdict = openItems > 0 ? "action_required" : daysEvidenced < days ? "not_evidenced" : "compliant";
      const info = controlInfo.get(c)!;
      return {
        control: c, title: info.title, articles: info.articles, daysEvidenced, daysInPeriod: days, events: x ? { ...x.events } : zeroStatus(),
        openItems, approvalsInForce: inForce.length, approvalsDecided: dec.length, verdict,
      };
    });
    // offline gaps: runs of the PC's days without evidence of any control
    const anyDay = new Set<string>();
    if (perAgent) for (const x of perAgent.values()) for (const d of x.days) anyDay.add(d);
    const gaps: OfflineGap[] = [];
    let gapStart: string | null = null;
    for (let d = from, i = 0; i < days; i++, d = addDays(d, 1)) {
      if (!anyDay.has(d)) gapStart ??= d;
      else if (gapStart !== null) { gaps.push({ from: gapStart, to: addDays(d, -1), days: dayCount(gapStart, addDays(d, -1)) }); gapStart = null; }
    }
    if (gapStart !== null) gaps.push({ from: gapStart, to, days: dayCount(gapStart, to) });
    const verdict: Verdict = lines.some((l) => l.verdict === "action_required") ? "action_required"
      : lines.some((l) => l.verdict === "not_evidenced") ? "not_evidenced" : "compliant";
    const pc: PcReport = {
      agentId: a.id, hostname: a.hostname, enrolledAt: a.enrolled_at, revokedAt: a.revoked_at, from, to, daysInPeriod: days, controls: lines,
      silent: { events: silent.get(a.id) ?? [], gaps, articles: agentArticles }, verdict,
    };
    const list = orgPcs.get(a.organisation_id) ?? [];
    list.push(pc);
    orgPcs.set(a.organisation_id, list);
  }

  for (const o of orgs) {
    const pcs = orgPcs.get(o.id) ?? [];
    // the fleet report leaves out organisations without a PC in the period (甲's own, a new one)
    if (pcs.length === 0 && !opts.organisationId) continue;
    const oa = orgApprovals.get(o.id);
    // approvals restricted to the organisation count even when no PC of it is covered
    const inForce = new Set([...(oa?.inForce ?? []), ...parsedApprovals.filter((a) => a.org === o.id).map((a) => a.id)]);
    const dec = new Set([...(oa?.decided ?? []), ...parsedDecided.filter((a) => a.org === o.id).map((a) => a.id)]);
    orgReports.push({ id: o.id, name: o.name, kind: o.kind, summary: summarise(pcs, controls, inForce.size, dec.size), pcs });
  }
  const allPcs = orgReports.flatMap((o) => o.pcs);
  const fleetInForce = opts.organisationId ? orgReports[0]?.summary.approvalsInForce ?? 0 : new Set([...fleetApprovals.inForce, ...parsedApprovals.map((a) => a.id)]).size;
  const fleetDecided = opts.organisationId ? orgReports[0]?.summary.approvalsDecided ?? 0 : new Set([...fleetApprovals.decided, ...parsedDecided.map((a) => a.id)]).size;
  return {
    kind: "kyoka.compliance-report",
    version: 1,
    generatedAt: (opts.now ?? new Date()).toISOString(),
    timeZone: TIME_ZONE,
    period: { from: period.from, to: period.to, days: period.days },
    organisation: opts.organisationId ? { id: opts.organisationId, name: orgs[0]?.name ?? opts.organisationId } : null,
    controls,
    evidence: evidence.name,
    summary: summarise(allPcs, controls, fleetInForce, fleetDecided),
    organisations: orgReports,
  };
}

function summarise(pcs: PcReport[], controls: ComplianceReport["controls"], approvalsInForce: number, approvalsDecided: number): Summary {
  const s: Summary = {
    pcs: pcs.length, verdicts: zeroVerdicts(), lineVerdicts: zeroVerdicts(), checks: { evidenced: 0, expected: 0 }, events: zeroStatus(), openItems: 0,
    approvalsInForce, approvalsDecided, silentEvents: 0, offlineGaps: 0, offlineDays: 0,
    perControl: controls.map((c) => ({ control: c.control, articles: c.articles, evidenced: 0, expected: 0, events: zeroStatus(), openItems: 0, verdicts: zeroVerdicts() })),
  };
  for (const pc of pcs) {
    s.verdicts[pc.verdict]++;
    s.silentEvents += pc.silent.events.length;
    s.offlineGaps += pc.silent.gaps.length;
    s.offlineDays += pc.silent.gaps.reduce((n, g) => n + g.days, 0);
    pc.controls.forEach((l, i) => {
      const pcs = s.perControl[i]!;
      s.lineVerdicts[l.verdict]++;
      pcs.verdicts[l.verdict]++;
      s.checks.evidenced += l.daysEvidenced;
      s.checks.expected += l.daysInPeriod;
      pcs.evidenced += l.daysEvidenced;
      pcs.expected += l.daysInPeriod;
      s.openItems += l.openItems;
      pcs.openItems += l.openItems;
      for (const st of STATUSES) { s.events[st] += l.events[st]; pcs.events[st] += l.events[st]; }
    });
  }
  return s;
}
