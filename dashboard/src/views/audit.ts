/** The audit trail (GET /api/audit, newest first, paged by nextCursor), filtered; admin, approver and auditor. */
import { useEffect, useState } from "preact/hooks";
import { get } from "../api.js";
import { html } from "../html.js";
import { formatTime, translate, type Lang } from "../i18n.js";

interface AuditRow { seq: number; at: string; actor: string; role: string; action: string; target: string | null; details: Record<string, unknown>; reason: string | null; remote: string | null }
interface Page { rows: AuditRow[]; nextCursor: string | null }

/** the page size: `#/audit?limit=N` (1–1000) or 100 */
function pageSize(): number {
  const n = Number(new URLSearchParams(location.hash.split("?")[1] ?? "").get("limit"));
  return Number.isInteger(n) && n >= 1 && n <= 1000 ? n : 100;
}

export function Audit({ lang }: { lang: Lang }) {
  const t = (k: Parameters<typeof translate>[1]) => translate(lang, k);
  const [filter, setFilter] = useState({ actor: "", action: "", since: "" });
  const [draft, setDraft] = useState(filter);
  const [rows, setRows] = useState<AuditRow[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const path = (c?: string): string => {
    const p = new URLSearchParams({ limit: String(pageSize()) });
    if (filter.actor) p.set("actor", filter.actor);
    if (filter.action) p.set("action", filter.action);
    if (filter.since) p.set("since", new Date(filter.since).toISOString());
    if (c) p.set("cursor", c);
    return `/api/audit?${p}`;
  };
  useEffect(() => {
    setRows(null);
    setError(null);
    get<Page>(path()).then((r) => { setRows(r.rows); setCursor(r.nextCursor); }, (e: Error) => setError(e.message));
  }, [filter]);
  const more = (): void => {
    if (!cursor) return;
    get<Page>(path(cursor)).then((r) => { setRows((old) => [...(old ?? []), ...r.rows]); setCursor(r.nextCursor); }, (e: Error) => setError(e.message));
  };
  const set = (k: keyof typeof draft) => (e: Event) => setDraft({ ...draft, [k]: (e.target as HTMLInputElement).value });
  return html`
    <section aria-labelledby="audit-h">
      <h1 id="audit-h">${t("navAudit")}</h1>
      <form class="filters" aria-label=${t("filters")} onSubmit=${(e: Event) => { e.preventDefault(); setFilter(draft); }}>
        <label>${t("actor")}<input name="audit-actor" value=${draft.actor} onInput=${set("actor")} /></label>
        <label>${t("action")}<input name="audit-action" value=${draft.action} onInput=${set("action")} placeholder="request.approve" /></label>
        <label>${t("since")}<input type="datetime-local" name="audit-since" value=${draft.since} onInput=${set("since")} /></label>
        <button type="submit">${t("apply")}</button>
      </form>
      ${error ? html`<p role="alert" class="error">${error}</p>` : null}
      ${rows === null ? html`<p>${t("loading")}</p>` : rows.length === 0 ? html`<p class="muted">${t("nothing")}</p>` : html`
        <div class="scroll"><table class="audit">
          <thead><tr><th scope="col">#</th><th scope="col">${t("at")}</th><th scope="col">${t("actor")}</th><th scope="col">${t("role")}</th>
            <th scope="col">${t("action")}</th><th scope="col">${t("target")}</th><th scope="col">${t("reason")}</th><th scope="col">${t("details")}</th></tr></thead>
          <tbody>${rows.map((r) => html`<tr key=${r.seq} data-seq=${r.seq} data-action=${r.action}>
            <td>${r.seq}</td><td>${formatTime(lang, r.at)}</td><td>${r.actor}</td><td>${r.role}</td><td><code>${r.action}</code></td>
            <td class="mono">${r.target ?? ""}</td><td>${r.reason ?? ""}</td>
            <td class="mono details">${JSON.stringify(r.details).slice(0, 300)}</td></tr>`)}</tbody>
        </table></div>`}
      ${cursor ? html`<button type="button" data-action="audit-more" onClick=${more}>${t("more")}</button>` : null}
    </section>`;
}
