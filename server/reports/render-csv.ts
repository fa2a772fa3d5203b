/**
 * The report as CSV for Excel: UTF-8 with BOM, CRLF, Japanese headers (REPORT_CSV_COLUMNS has the
 * English names), cells escaped as every kyoka CSV (server/ledger/csv.ts). Rows in the report's
 * order: the fleet (全体) total and its per-control lines, then each organisation's (組織) total and
 * per-control lines, then each PC's per-control lines (PC×管理項目). Every line names its clause.
 */
import { csvLine, UTF8_BOM } from "../ledger/csv.js";
import { STATUSES } from "../../policies/schema.js";
import { STATUS_LABEL, VERDICT_LABEL, type ComplianceReport, type Summary, type Verdict } from "./model.js";

interface Row {
  level: "fleet" | "organisation" | "pc";
  organisation?: string;
  organisationId?: string;
  hostname?: string;
  agentId?: string;
  control?: string;
  controlTitle?: string;
  articles: string[];
  verdict?: Verdict;
  daysEvidenced: number;
  daysExpected: number;
  events: Record<string, number>;
  openItems: number;
  approvalsInForce?: number;
  approvalsDecided?: number;
  pcs?: number;
  verdicts?: Record<Verdict, number>;
  silentEvents?: number;
  gaps?: string;
}

const LEVEL_LABEL = { fleet: "全体", organisation: "組織", pc: "PC×管理項目" } as const;
const n = (v: number | undefined): string => (v === undefined ? "" : String(v));

export const REPORT_CSV_COLUMNS: ReadonlyArray<{ ja: string; en: string; value: (r: Row) => string }> = [
  { ja: "区分", en: "level", value: (r) => LEVEL_LABEL[r.level] },
  { ja: "組織", en: "organisation", value: (r) => r.organisation ?? "" },
  { ja: "組織ID", en: "organisationId", value: (r) => r.organisationId ?? "" },
  { ja: "ホスト名", en: "hostname", value: (r) => r.hostname ?? "" },
  { ja: "エージェントID", en: "agentId", value: (r) => r.agentId ?? "" },
  { ja: "管理項目", en: "control", value: (r) => r.control ?? "" },
  { ja: "管理項目名", en: "controlTitle", value: (r) => r.controlTitle ?? "" },
  { ja: "条項", en: "articles", value: (r) => r.articles.join(";") },
  { ja: "判定", en: "verdict", value: (r) => (r.verdict ? VERDICT_LABEL[r.verdict].ja : "") },
  { ja: "確認日数", en: "daysEvidenced", value: (r) => n(r.daysEvidenced) },
  { ja: "期間日数", en: "daysInPeriod", value: (r) => n(r.daysExpected) },
  ...STATUSES.map((s) => ({ ja: STATUS_LABEL[s].ja, en: s, value: (r: Row) => n(r.events[s]) })),
  { ja: "未対応", en: "openItems", value: (r) => n(r.openItems) },
  { ja: "有効な甲許可", en: "approvalsInForce", value: (r) => n(r.approvalsInForce) },
  { ja: "期間中の許可判断", en: "approvalsDecided", value: (r) => n(r.approvalsDecided) },
  { ja: "PC数", en: "pcs", value: (r) => n(r.pcs) },
  { ja: "適合数", en: "compliant", value: (r) => n(r.verdicts?.compliant) },
  { ja: "要対応数", en: "actionRequired", value: (r) => n(r.verdicts?.action_required) },
  { ja: "未確認数", en: "notEvidenced", value: (r) => n(r.verdicts?.not_evidenced) },
  { ja: "無応答", en: "silentEvents", value: (r) => n(r.silentEvents) },
  { ja: "証跡のない期間", en: "offlineGaps", value: (r) => r.gaps ?? "" },
];

function summaryRows(base: Pick<Row, "level" | "organisation" | "organisationId">, s: Summary, allArticles: string[]): Row[] {
  return [
    {
      ...base, articles: allArticles, daysEvidenced: s.checks.evidenced, daysExpected: s.checks.expected, events: s.events, openItems: s.openItems,
      approvalsInForce: s.approvalsInForce, approvalsDecided: s.approvalsDecided, pcs: s.pcs, verdicts: s.verdicts, silentEvents: s.silentEvents,
      gaps: s.offlineGaps ? `${s.offlineGaps}件 ${s.offlineDays}日` : "",
    },
    ...s.perControl.map((c) => ({
      ...base, control: c.control, articles: c.articles, daysEvidenced: c.evidenced, daysExpected: c.expected, events: c.events, openItems: c.openItems,
      verdicts: c.verdicts,
    })),
  ];
}

export function renderCsv(report: ComplianceReport): Buffer {
  const titles = new Map(report.controls.map((c) => [c.control, c.title.ja]));
  const allArticles = [...new Set(report.controls.flatMap((c) => c.articles))];
  const rows: Row[] = summaryRows({ level: "fleet" }, report.summary, allArticles).map((r) => ({ ...r, controlTitle: r.control && titles.get(r.control as never) }));
  for (const o of report.organisations) {
    rows.push(...summaryRows({ level: "organisation", organisation: o.name, organisationId: o.id }, o.summary, allArticles)
      .map((r) => ({ ...r, controlTitle: r.control && titles.get(r.control as never) })));
  }
  for (const o of report.organisations) {
    for (const pc of o.pcs) {
      const gaps = pc.silent.gaps.map((g) => `${g.from}〜${g.to}(${g.days}日)`).join(";");
      for (const l of pc.controls) {
        rows.push({
          level: "pc", organisation: o.name, organisationId: o.id, hostname: pc.hostname, agentId: pc.agentId, control: l.control, controlTitle: l.title.ja,
          articles: l.articles, verdict: l.verdict, daysEvidenced: l.daysEvidenced, daysExpected: l.daysInPeriod, events: l.events, openItems: l.openItems,
          approvalsInForce: l.approvalsInForce, approvalsDecided: l.approvalsDecided, silentEvents: pc.silent.events.length, gaps,
        });
      }
    }
  }
  const text = [csvLine(REPORT_CSV_COLUMNS.map((c) => c.ja)), ...rows.map((r) => csvLine(REPORT_CSV_COLUMNS.map((c) => c.value(r))))].join("");
  return Buffer.concat([UTF8_BOM, Buffer.from(text, "utf8")]);
}
