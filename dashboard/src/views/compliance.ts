/**
 * Compliance at a glance: events per status for each control, for each organisation, and per day
 * over the last 14 days, drawn as inline SVG (no chart library) from three grouped counts
 * (GET /api/events/counts/by/control|organisation|day: one query each on the server).
 * Every chart carries its numbers as text too (status never by colour alone).
 */
import { useEffect, useState } from "preact/hooks";
import { download, get, type Organisation } from "../api.js";
import { controlTitle, type Catalog } from "../catalog.js";
import { html } from "../html.js";
import { formatTime, STATUS_LABEL, translate, type Lang } from "../i18n.js";

type Counts = Record<string, number>;
const STATUSES = ["violation", "needs_approval", "approved", "info"] as const;
/** the time chart leaves out "info" (evidence, not findings: it would dwarf the rest) */
const FINDINGS = ["violation", "needs_approval", "approved"] as const;
const COLOURS: Record<string, string> = { violation: "#b00020", needs_approval: "#c77700", approved: "#1d6b2f", info: "#6b87ad" };
const DAYS = 14;
const CONTROLS = ["software", "network", "media", "p2p", "asset", "agent"];
/** short names for the chart labels (the catalog's titles are sentences; they are the bars' tooltips) */
const SHORT: Record<string, { ja: string; en: string }> = {
  software: { ja: "ソフトウェア", en: "Software" }, network: { ja: "ネットワーク", en: "Network" }, media: { ja: "記録媒体", en: "Media" },
  p2p: { ja: "ファイル交換", en: "P2P" }, asset: { ja: "機器・台帳", en: "Hardware" }, agent: { ja: "エージェント", en: "Agent" },
};

/** midnight Asia/Tokyo of the day `back` days ago, as an instant */
function jstMidnight(back: number): Date {
  const now = new Date(Date.now() + 9 * 3_600_000);
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - back) - 9 * 3_600_000);
}

function Legend({ lang, statuses }: { lang: Lang; statuses: readonly string[] }) {
  return html`<ul class="legend">${statuses.map((s) => html`<li><svg width="12" height="12" aria-hidden="true"><rect width="12" height="12" fill=${COLOURS[s]} /></svg>
    <span aria-hidden="true">${STATUS_LABEL[s]!.icon}</span> ${STATUS_LABEL[s]![lang]}</li>`)}</ul>`;
}

/** Horizontal stacked bars, one row per label, with the numbers written at the end of each bar. */
export function StackedBars({ lang, rows, id, title }: { lang: Lang; rows: Array<{ key: string; label: string; hint?: string; counts: Counts }>; id: string; title: string }) {
  const W = 640, LABEL = 150, ROW = 26, NUM = 190;
  const max = Math.max(1, ...rows.map((r) => STATUSES.reduce((s, k) => s + (r.counts[k] ?? 0), 0)));
  const scale = (W - LABEL - NUM) / max;
  const desc = rows.map((r) => `${r.label}: ${STATUSES.map((s) => `${STATUS_LABEL[s]![lang]} ${r.counts[s] ?? 0}`).join(", ")}`).join("; ");
  return html`<svg class="chart" id=${id} viewBox=${`0 0 ${W} ${rows.length * ROW + 4}`} role="img" aria-labelledby=${`${id}-t ${id}-d`}>
    <title id=${`${id}-t`}>${title}</title><desc id=${`${id}-d`}>${desc}</desc>
    ${rows.map((r, i) => {
      let x = LABEL;
      const y = i * ROW + 4;
      return html`<g data-row=${r.key}>
        <text x=${LABEL - 6} y=${y + 15} text-anchor="end" font-size="12">${r.hint ? html`<title>${r.hint}</title>` : null}${r.label}</text>
        ${STATUSES.map((s) => {
          const w = (r.counts[s] ?? 0) * scale;
          const rect = w > 0 ? html`<rect x=${x} y=${y} width=${w} height=${ROW - 8} fill=${COLOURS[s]} data-status=${s} data-value=${r.counts[s] ?? 0}><title>${STATUS_LABEL[s]![lang]} ${r.counts[s]}</title></rect>` : null;
          x += w;
          return rect;
        })}
        <text x=${x + 6} y=${y + 15} font-size="11" fill="#333">${STATUSES.map((s) => `${STATUS_LABEL[s]!.icon}${r.counts[s] ?? 0}`).join(" ")}</text>
      </g>`;
    })}
  </svg>`;
}

/** Vertical stacked bars per day. */
function DayBars({ lang, days, id, title }: { lang: Lang; days: Array<{ label: string; counts: Counts }>; id: string; title: string }) {
  const W = 640, H = 150, BOTTOM = 20, TOP = 14;
  const max = Math.max(1, ...days.map((d) => FINDINGS.reduce((s, k) => s + (d.counts[k] ?? 0), 0)));
  const bw = W / days.length;
  const desc = days.map((d) => `${d.label}: ${FINDINGS.map((s) => `${STATUS_LABEL[s]![lang]} ${d.counts[s] ?? 0}`).join(", ")}`).join("; ");
  return html`<svg class="chart" id=${id} viewBox=${`0 0 ${W} ${H}`} role="img" aria-labelledby=${`${id}-t ${id}-d`}>
    <title id=${`${id}-t`}>${title}</title><desc id=${`${id}-d`}>${desc}</desc>
    <line x1="0" x2=${W} y1=${H - BOTTOM} y2=${H - BOTTOM} stroke="#999" />
    ${days.map((d, i) => {
      let y = H - BOTTOM;
      const total = FINDINGS.reduce((s, k) => s + (d.counts[k] ?? 0), 0);
      return html`<g data-day=${d.label}>
        ${FINDINGS.map((s) => {
          const h = ((d.counts[s] ?? 0) / max) * (H - BOTTOM - TOP);
          y -= h;
          return h > 0 ? html`<rect x=${i * bw + 3} y=${y} width=${bw - 6} height=${h} fill=${COLOURS[s]} data-status=${s} data-value=${d.counts[s]}><title>${d.label} ${STATUS_LABEL[s]![lang]} ${d.counts[s]}</title></rect>` : null;
        })}
        ${total ? html`<text x=${i * bw + bw / 2} y=${y - 3} font-size="10" text-anchor="middle">${total}</text>` : null}
        <text x=${i * bw + bw / 2} y=${H - 6} font-size="10" text-anchor="middle">${d.label}</text>
      </g>`;
    })}
  </svg>`;
}

interface Props { lang: Lang; catalog: Catalog | null; orgs: Organisation[]; organisation: string; reports: boolean }

export function Compliance({ lang, catalog, orgs, organisation, reports }: Props) {
  const t = (k: Parameters<typeof translate>[1]) => translate(lang, k);
  const [byControl, setByControl] = useState<Array<{ key: string; counts: Counts }> | null>(null);
  const [byOrg, setByOrg] = useState<Array<{ key: string; counts: Counts }> | null>(null);
  const [byDay, setByDay] = useState<Array<{ key: string; counts: Counts }> | null>(null);
  const [error, setError] = useState<string | null>(null);
  const controls = catalog ? Object.keys(catalog.controls) : CONTROLS;
  const contractors = orgs.filter((o) => o.kind === "contractor" && (!organisation || o.id === organisation));

  useEffect(() => {
    const base = organisation ? `organisation=${encodeURIComponent(organisation)}&` : "";
    const by = (group: string, q = ""): Promise<Record<string, Counts>> => get<Record<string, Counts>>(`/api/events/counts/by/${group}?${base}${q}`);
    setError(null);
    by("control").then((r) => setByControl(controls.map((c) => ({ key: c, counts: r[c] ?? {} }))), (e: Error) => setError(e.message));
    by("organisation").then((r) => setByOrg(contractors.map((o) => ({ key: o.name, counts: r[o.id] ?? {} }))), () => setByOrg([]));
    // the last 14 days in Asia/Tokyo, oldest first; the server's keys are the days (YYYY-MM-DD, JST)
    const days = Array.from({ length: DAYS }, (_, i) => new Date(jstMidnight(DAYS - 1 - i).getTime() + 9 * 3_600_000).toISOString().slice(0, 10));
    by("day", `since=${jstMidnight(DAYS - 1).toISOString()}&until=${jstMidnight(-1).toISOString()}`)
      .then((r) => setByDay(days.map((d) => ({ key: d.slice(5).replace("-", "/"), counts: r[d] ?? {} }))), (e: Error) => setError(e.message));
  }, [organisation, catalog, orgs]);

  return html`
    <section aria-labelledby="comp-h">
      <h1 id="comp-h">${t("navCompliance")}</h1>
      ${error ? html`<p role="alert" class="error">${error}</p>` : null}
      <${Legend} lang=${lang} statuses=${STATUSES} />
      <h2>${t("perControl")}</h2>
      ${byControl ? html`<${StackedBars} lang=${lang} id="chart-control" title=${t("perControl")}
        rows=${byControl.map((r) => ({ key: r.key, label: SHORT[r.key]?.[lang] ?? r.key, hint: controlTitle(catalog, r.key, lang), counts: r.counts }))} />` : html`<p>${t("loading")}</p>`}
      ${byOrg && byOrg.length ? html`<h2>${t("perOrganisation")}</h2>
        <${StackedBars} lang=${lang} id="chart-org" title=${t("perOrganisation")} rows=${byOrg.map((r) => ({ key: r.key, label: r.key, counts: r.counts }))} />` : null}
      <h2>${t("overTime")}</h2>
      ${byDay ? html`<${DayBars} lang=${lang} id="chart-days" title=${t("overTime")} days=${byDay.map((d) => ({ label: d.key, counts: d.counts }))} />` : html`<p>${t("loading")}</p>`}
      ${reports ? html`<${Reports} lang=${lang} orgs=${orgs} organisation=${organisation} />` : null /* issue 12's reports, when this server has them */}
    </section>`;
}

interface ReportMeta { id: string; from: string; to: string; organisationId: string | null; format: string; createdBy: string; createdAt: string }
const jstDay = (back = 0): string => new Date(Date.now() + 9 * 3_600_000 - back * 86_400_000).toISOString().slice(0, 10);

/** Issue 12's compliance reports: make one for a period (HTML, CSV, PDF, JSON), and the stored ones. */
function Reports({ lang, orgs, organisation }: { lang: Lang; orgs: Organisation[]; organisation: string }) {
  const t = (k: Parameters<typeof translate>[1]) => translate(lang, k);
  const [from, setFrom] = useState(`${jstDay().slice(0, 8)}01`);
  const [to, setTo] = useState(jstDay());
  const [list, setList] = useState<ReportMeta[] | null>(null);
  const [msg, setMsg] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const reload = (): void => void get<ReportMeta[]>("/api/reports?limit=20").then(setList, () => setList([]));
  useEffect(reload, []);
  const make = (format: string): void => {
    const p = new URLSearchParams({ from, to, format });
    if (organisation) p.set("organisation", organisation);
    setBusy(true);
    setMsg(null);
    download(`/api/reports/compliance?${p}`, `kyoka-report.${format}`).then((name) => { setMsg(`✔ ${name}`); setBusy(false); reload(); },
      (e: Error) => { setMsg(`${t("error")}: ${e.message}`); setBusy(false); });
  };
  const orgName = (id: string | null): string => (id ? orgs.find((o) => o.id === id)?.name ?? id : t("allOrganisations"));
  return html`<div class="reports">
    <h2>${t("reports")}</h2>
    <div class="filters" role="group" aria-label=${t("reports")}>
      <label>${t("since")}<input type="date" name="report-from" value=${from} onInput=${(e: Event) => setFrom((e.target as HTMLInputElement).value)} /></label>
      <label>${t("until")}<input type="date" name="report-to" value=${to} onInput=${(e: Event) => setTo((e.target as HTMLInputElement).value)} /></label>
      ${["html", "csv", "pdf", "json"].map((f) => html`<button type="button" data-report=${f} disabled=${busy} onClick=${() => make(f)}>${f.toUpperCase()}</button>`)}
    </div>
    ${msg ? html`<p role="status" class="report-msg">${msg}</p>` : null}
    ${list && list.length ? html`<div class="scroll"><table class="reports-list">
      <thead><tr><th scope="col">${t("since")}</th><th scope="col">${t("until")}</th><th scope="col">${t("organisation")}</th><th scope="col">${t("type")}</th>
        <th scope="col">${t("requestedBy")}</th><th scope="col">${t("at")}</th></tr></thead>
      <tbody>${list.map((r) => html`<tr key=${r.id} data-report-id=${r.id}><td>${r.from}</td><td>${r.to}</td><td>${orgName(r.organisationId)}</td>
        <td><button type="button" class="link" onClick=${() => void download(`/api/reports/${r.id}`, `kyoka-report.${r.format}`).catch((e: Error) => setMsg(e.message))}>${r.format.toUpperCase()}</button></td>
        <td>${r.createdBy}</td><td>${formatTime(lang, r.createdAt)}</td></tr>`)}</tbody></table></div>` : null}
  </div>`;
}
