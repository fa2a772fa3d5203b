/**
 * The report as one printable HTML page (A4, 日本語): no script, no outside resource — styles inline,
 * charts as inline SVG — so it prints the same in any browser and to PDF (render-pdf.ts). Each
 * organisation starts on a new page (CSS break-before); table headers repeat on every page.
 * Cells carrying a figure have `data-k` (the JSON field), rows `data-agent`/`data-control`, so a
 * reader (or a test) finds each number without parsing the layout.
 */
import { jstTime as jst } from "../../lib/day.js";
import { STATUSES } from "../../policies/schema.js";
import { STATUS_LABEL, VERDICT_LABEL, type ComplianceReport, type OrganisationReport, type Summary, type Verdict } from "./model.js";

const esc = (v: unknown): string => String(v).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
const pct = (a: number, b: number): string => (b === 0 ? "—" : `${((100 * a) / b).toFixed(1)}%`);

const VERDICT_COLOUR: Record<Verdict, string> = { compliant: "#2e7d32", action_required: "#c62828", not_evidenced: "#9e9e9e" };
const VERDICT_ORDER: Verdict[] = ["compliant", "action_required", "not_evidenced"];

/** Clauses the report itself answers to. */
export const REPORT_ARTICLES = ["別記2 第12", "別記2 第15", "個人情報取扱特記事項 第14"];

const CSS = `
@page { size: A4; margin: 14mm 12mm 16mm 12mm; }
* { box-sizing: border-box; }
body { font-family: "IPAGothic", "IPAexGothic", "Noto Sans CJK JP", "Hiragino Sans", "Yu Gothic", sans-serif; font-size: 9.5pt; color: #111; margin: 0; }
h1 { font-size: 17pt; margin: 0 0 4mm; }
h2 { font-size: 13pt; margin: 6mm 0 2mm; border-bottom: 1.5px solid #333; padding-bottom: 1mm; }
h3 { font-size: 11pt; margin: 4mm 0 2mm; }
table { border-collapse: collapse; width: 100%; margin: 2mm 0 4mm; }
th, td { border: 0.6px solid #888; padding: 0.8mm 1.4mm; vertical-align: top; }
th { background: #eee; font-weight: bold; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
thead { display: table-header-group; }
tr { break-inside: avoid; }
.org { break-before: page; }
.meta td:first-child { width: 32mm; background: #f6f6f6; }
.v-compliant { color: #2e7d32; font-weight: bold; }
.v-action_required { color: #c62828; font-weight: bold; }
.v-not_evidenced { color: #555; font-weight: bold; background: #f0f0f0; }
.art { font-size: 8pt; color: #333; }
.note { font-size: 8.5pt; color: #333; }
.charts { display: flex; gap: 6mm; flex-wrap: wrap; }
svg text { font-family: inherit; }
`;

function verdictCell(v: Verdict): string {
  return `<td class="v-${v}" data-k="verdict" data-v="${v}">${esc(VERDICT_LABEL[v].ja)}</td>`;
}

/** A horizontal stacked bar of verdicts with a legend. */
function verdictChart(title: string, counts: Record<Verdict, number>): string {
  const total = VERDICT_ORDER.reduce((s, v) => s + counts[v], 0);
  const w = 300;
  let x = 0;
  const bars = VERDICT_ORDER.map((v) => {
    const bw = total === 0 ? 0 : (w * counts[v]) / total;
    const r = `<rect x="${x.toFixed(1)}" y="22" width="${bw.toFixed(1)}" height="18" fill="${VERDICT_COLOUR[v]}"/>`;
    x += bw;
    return r;
  }).join("");
  const legend = VERDICT_ORDER.map((v, i) =>
    `<rect x="${i * 100}" y="48" width="9" height="9" fill="${VERDICT_COLOUR[v]}"/><text x="${i * 100 + 13}" y="56" font-size="9">${esc(VERDICT_LABEL[v].ja)} ${counts[v]}</text>`).join("");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="64" viewBox="0 0 ${w} 64" role="img" aria-label="${esc(title)}">
<text x="0" y="13" font-size="10" font-weight="bold">${esc(title)}</text>
<rect x="0" y="22" width="${w}" height="18" fill="#eee"/>${bars}${legend}</svg>`;
}

/** Evidence rate per control (days evidenced / days expected) as bars. */
function evidenceChart(s: Summary, titles: Map<string, string>): string {
  const w = 340;
  const label = 120;
  const rows = s.perControl.map((c, i) => {
    const rate = c.expected === 0 ? 0 : c.evidenced / c.expected;
    const y = 22 + i * 16;
    const bw = (w - label - 44) * rate;
    return `<text x="0" y="${y + 10}" font-size="9">${esc(titles.get(c.control) ?? c.control)}</text>
<rect x="${label}" y="${y}" width="${w - label - 44}" height="11" fill="#eee"/><rect x="${label}" y="${y}" width="${bw.toFixed(1)}" height="11" fill="${rate >= 1 ? "#2e7d32" : "#f9a825"}"/>
<text x="${w - 40}" y="${y + 10}" font-size="9">${esc(pct(c.evidenced, c.expected))}</text>`;
  }).join("");
  const h = 22 + s.perControl.length * 16 + 4;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img" aria-label="管理項目別の確認率">
<text x="0" y="13" font-size="10" font-weight="bold">管理項目別の確認率（確認日数／期間日数）</text>${rows}</svg>`;
}

function summaryTable(s: Summary, scope: string): string {
  const cells: Array<[string, string, string]> = [
    ["対象PC", "pcs", String(s.pcs)],
    ["適合 / 要対応 / 未確認（PC）", "verdicts", `${s.verdicts.compliant} / ${s.verdicts.action_required} / ${s.verdicts.not_evidenced}`],
    ["確認日数（PC×管理項目）", "checks", `${s.checks.evidenced} / ${s.checks.expected}（${pct(s.checks.evidenced, s.checks.expected)}）`],
    ...STATUSES.map((st): [string, string, string] => [`事象：${STATUS_LABEL[st].ja}`, `events.${st}`, String(s.events[st])]),
    ["未対応の事象", "openItems", String(s.openItems)],
    ["期間中に有効な甲許可", "approvalsInForce", String(s.approvalsInForce)],
    ["期間中の許可判断（承認・却下）", "approvalsDecided", String(s.approvalsDecided)],
    ["無応答（agent.silent）", "silentEvents", String(s.silentEvents)],
    ["証跡のない期間", "offlineGaps", `${s.offlineGaps}件・延べ${s.offlineDays}日`],
  ];
  return `<table class="meta" data-scope="${esc(scope)}"><tbody>${cells.map(([l, k, v]) => `<tr><td>${esc(l)}</td><td data-k="${k}">${esc(v)}</td></tr>`).join("")}</tbody></table>`;
}

function perControlTable(s: Summary, titles: Map<string, string>, scope: string): string {
  const head = `<tr><th>管理項目</th><th>条項</th><th>確認日数</th><th>確認率</th>${STATUSES.map((st) => `<th>${esc(STATUS_LABEL[st].ja)}</th>`).join("")}<th>未対応</th><th>適合</th><th>要対応</th><th>未確認</th></tr>`;
  const rows = s.perControl.map((c) => `<tr data-scope="${esc(scope)}" data-control="${c.control}"><td>${esc(titles.get(c.control) ?? c.control)}</td><td class="art">${esc(c.articles.join("、"))}</td>
<td class="n" data-k="evidenced">${c.evidenced}/${c.expected}</td><td class="n">${pct(c.evidenced, c.expected)}</td>${STATUSES.map((st) => `<td class="n" data-k="events.${st}">${c.events[st]}</td>`).join("")}
<td class="n" data-k="openItems">${c.openItems}</td>${VERDICT_ORDER.map((v) => `<td class="n" data-k="lines.${v}">${c.verdicts[v]}</td>`).join("")}</tr>`).join("");
  return `<table><thead>${head}</thead><tbody>${rows}</tbody></table>`;
}

function organisationSection(o: OrganisationReport, titles: Map<string, string>): string {
  const head = `<tr><th>PC</th><th>管理項目</th><th>条項</th><th>判定</th><th>確認日数</th>${STATUSES.map((st) => `<th>${esc(STATUS_LABEL[st].ja)}</th>`).join("")}<th>未対応</th><th>有効な甲許可</th><th>許可判断</th></tr>`;
  const rows = o.pcs.map((pc) => pc.controls.map((l, i) => `<tr data-agent="${esc(pc.agentId)}" data-control="${l.control}">
${i === 0 ? `<td rowspan="${pc.controls.length}">${esc(pc.hostname)}<br><span class="art">${esc(pc.agentId)}</span></td>` : ""}<td>${esc(l.title.ja)}</td><td class="art">${esc(l.articles.join("、"))}</td>
${verdictCell(l.verdict)}<td class="n" data-k="daysEvidenced">${l.daysEvidenced}/${l.daysInPeriod}</td>${STATUSES.map((st) => `<td class="n" data-k="events.${st}">${l.events[st]}</td>`).join("")}
<td class="n" data-k="openItems">${l.openItems}</td><td class="n" data-k="approvalsInForce">${l.approvalsInForce}</td><td class="n" data-k="approvalsDecided">${l.approvalsDecided}</td></tr>`).join("")).join("");
  const silentRows = o.pcs.filter((pc) => pc.silent.events.length || pc.silent.gaps.length).map((pc) => `<tr data-agent="${esc(pc.agentId)}">
<td>${esc(pc.hostname)}</td><td class="art">${esc(pc.silent.articles.join("、"))}</td>
<td data-k="silentEvents">${pc.silent.events.map((e) => esc(`${jst(e.at)}（最終受信 ${e.lastSeen ? jst(e.lastSeen) : "不明"}）`)).join("<br>") || "—"}</td>
<td data-k="gaps">${pc.silent.gaps.map((g) => esc(`${g.from}〜${g.to}（${g.days}日）`)).join("<br>") || "—"}</td></tr>`).join("");
  return `<section class="org" data-organisation="${esc(o.id)}">
<h2>組織：${esc(o.name)}</h2>
<div class="charts">${verdictChart("PCの判定", o.summary.verdicts)}${evidenceChart(o.summary, titles)}</div>
${summaryTable(o.summary, `org:${o.id}`)}
<h3>管理項目別</h3>${perControlTable(o.summary, titles, `org:${o.id}`)}
<h3>PC×管理項目</h3>
${o.pcs.length ? `<table><thead>${head}</thead><tbody>${rows}</tbody></table>` : `<p>対象期間にこの組織のPCはありません。</p>`}
<h3>無応答・証跡のない期間</h3>
${silentRows ? `<table><thead><tr><th>PC</th><th>条項</th><th>無応答（agent.silent）</th><th>証跡のない期間</th></tr></thead><tbody>${silentRows}</tbody></table>` : "<p>ありません。</p>"}
</section>`;
}

export function renderHtml(report: ComplianceReport): Buffer {
  const titles = new Map<string, string>(report.controls.map((c) => [c.control, c.title.ja]));
  const scope = report.organisation ? report.organisation.name : "全組織";
  const html = `<!DOCTYPE html>
<html lang="ja"><head><meta charset="utf-8"><title>${esc(`情報セキュリティ対策 実施状況報告書 ${report.period.from}〜${report.period.to}`)}</title>
<style>${CSS}</style></head>
<body>
<h1>情報セキュリティ対策 実施状況報告書</h1>
<table class="meta"><tbody>
<tr><td>対象期間</td><td data-k="period">${esc(report.period.from)} 〜 ${esc(report.period.to)}（${report.period.days}日、日本時間）</td></tr>
<tr><td>対象</td><td data-k="organisation">${esc(scope)}</td></tr>
<tr><td>作成日時</td><td>${esc(jst(report.generatedAt))}（kyoka により自動作成）</td></tr>
<tr><td>根拠条項</td><td class="art">${esc(REPORT_ARTICLES.join("、"))}</td></tr>
</tbody></table>
<p class="note">判定：<b>適合</b>＝期間中すべての日に点検の証跡があり未対応の事象がない。<b>要対応</b>＝未対応の事象（甲許可待ち・違反）がある。
<b>未確認</b>＝期間の一部に点検の証跡がない（エージェント停止・無応答等）。証跡のない期間は適合とはみなさない。</p>
<h2>全体の概要</h2>
<div class="charts">${verdictChart("PCの判定", report.summary.verdicts)}${evidenceChart(report.summary, titles)}</div>
${summaryTable(report.summary, "fleet")}
<h3>管理項目別</h3>
${perControlTable(report.summary, titles, "fleet")}
<h3>管理項目と条項</h3>
<table><thead><tr><th>管理項目</th><th>条項</th></tr></thead><tbody>${report.controls.map((c) => `<tr><td>${esc(c.title.ja)}</td><td class="art">${esc(c.articles.join("、"))}</td></tr>`).join("")}</tbody></table>
${report.organisations.map((o) => organisationSection(o, titles)).join("\n")}
</body></html>
`;
  return Buffer.from(html, "utf8");
}
