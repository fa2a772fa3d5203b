/**
 * Alerts (home): newest first, live over /api/stream, filters, counts per status, cursor paging
 * as the list is scrolled (100,000 stored events are never loaded at once).
 */
import { Component } from "preact";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { call, may, nextLink, type Me, type StoredEvent } from "../api.js";
import { typeTitle, type Catalog } from "../catalog.js";
import { html } from "../html.js";
import { formatTime, STATUS_LABEL, translate, type Lang } from "../i18n.js";
import { BulkBar } from "./bulk.js";
import { ResolutionBadge, SeverityBadge, StatusBadge, summary } from "./common.js";
import type { AgentView } from "./pcs.js";

export interface Filters {
  control: string;
  status: string;
  severity: string;
  agent: string;
  from: string;
  to: string;
  q: string;
}

export const EMPTY_FILTERS: Filters = { control: "", status: "", severity: "", agent: "", from: "", to: "", q: "" };
const PAGE = 100;
/** rows kept in the list: live ones push the oldest out (they stay reachable by filters and paging) */
const MAX_ROWS = 1000;

export function query(f: Filters, organisation = "", limit = PAGE): string {
  const p = new URLSearchParams();
  if (organisation) p.set("organisation", organisation);
  if (f.control) p.set("control", f.control);
  if (f.status) p.set("status", f.status);
  if (f.severity) p.set("severity", f.severity);
  if (f.agent) p.set("agent", f.agent);
  if (f.from) p.set("since", new Date(f.from).toISOString());
  if (f.to) p.set("until", new Date(f.to).toISOString());
  if (f.q) p.set("q", f.q);
  p.set("limit", String(limit));
  return p.toString();
}

/** Does a live event belong in the list under these filters? (the server filtered the pages) */
export function passes(e: StoredEvent, f: Filters, hostOf: (id: string) => string, orgOf?: (id: string) => string | null | undefined, organisation = ""): boolean {
  if (organisation && orgOf && orgOf(e.agentId) !== organisation) return false;
  if (f.control && e.control !== f.control) return false;
  if (f.status && e.status !== f.status) return false;
  if (f.severity && e.severity !== f.severity) return false;
  if (f.agent && e.agentId !== f.agent) return false;
  if (f.from && Date.parse(e.receivedAt) < Date.parse(f.from)) return false;
  if (f.to && Date.parse(e.receivedAt) >= Date.parse(f.to)) return false;
  if (f.q) {
    const hay = `${e.type} ${hostOf(e.agentId)} ${JSON.stringify(e.details)}`.toLowerCase();
    if (!hay.includes(f.q.toLowerCase())) return false;
  }
  return true;
}

interface RowProps {
  e: StoredEvent; lang: Lang; catalog: Catalog | null; host: string; onOpen: (e: StoredEvent) => void;
  /** null: this role has no bulk action (no checkbox) */
  checked: boolean | null; onToggle: (e: StoredEvent) => void;
}

/** One alert row; re-rendered only when its event (or the language, catalog or host name) changes. */
class Row extends Component<RowProps> {
  override shouldComponentUpdate(next: RowProps): boolean {
    const p = this.props;
    return next.e !== p.e || next.lang !== p.lang || next.catalog !== p.catalog || next.host !== p.host || next.checked !== p.checked;
  }

  override render({ e, lang, catalog, host, onOpen, checked, onToggle }: RowProps) {
    return html`
      <tr class=${`row status-${e.status}${e.resolution ? " resolved" : ""}`} data-event-id=${e.id} data-type=${e.type} data-agent-id=${e.agentId}>
        ${checked === null ? null : html`<td class="pick"><input type="checkbox" class="pick" checked=${checked} onChange=${() => onToggle(e)}
          aria-label=${`${translate(lang, "selectRow")} #${e.id}`} /></td>`}
        <td><${StatusBadge} status=${e.status} lang=${lang} /><${ResolutionBadge} resolution=${e.resolution} lang=${lang} /></td>
        <td><${SeverityBadge} severity=${e.severity} lang=${lang} /></td>
        <td><time datetime=${e.receivedAt}>${formatTime(lang, e.receivedAt)}</time></td>
        <td>${host}</td>
        <td><a href=${`#/event/${e.id}`} onClick=${(ev: Event) => { ev.preventDefault(); onOpen(e); }}>${typeTitle(catalog, e.type, lang)}</a></td>
        <td class="what">${summary(e)}</td>
        <td class="clause">${e.articles.join("、")}</td>
      </tr>`;
  }
}

export interface AlertsProps {
  lang: Lang;
  me: Me;
  catalog: Catalog | null;
  agents: Map<string, AgentView>;
  /** the per-organisation view (甲 roles): "" for every organisation */
  organisation: string;
  /** the newest live events (at most the App's LIVE_KEEP) */
  live: StoredEvent[];
  /** how many live events ever arrived: the ones not yet taken are the last (liveTotal - taken) */
  liveTotal: number;
  onOpen: (e: StoredEvent) => void;
}

export function Alerts({ lang, me, catalog, agents, organisation, live, liveTotal, onOpen }: AlertsProps) {
  const t = (k: Parameters<typeof translate>[1]) => translate(lang, k);
  const [filters, setFilters] = useState<Filters>(EMPTY_FILTERS);
  const [draft, setDraft] = useState<Filters>(EMPTY_FILTERS);
  const [rows, setRows] = useState<StoredEvent[]>([]);
  const [next, setNext] = useState<string | undefined>();
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [counts, setCounts] = useState<Record<string, number> | null>(null);
  const seen = useRef(new Set<number>());
  const liveSeen = useRef(0);
  const sentinel = useRef<HTMLDivElement>(null);
  const hostOf = (id: string): string => agents.get(id)?.hostname ?? id.slice(0, 8);
  const orgOf = (id: string): string | null | undefined => agents.get(id)?.organisation;
  // bulk selection: the picked events (by id), or every event matching the filters
  const bulk = may.resolve(me) || may.manageApprovals(me);
  const [picked, setPicked] = useState<Map<number, StoredEvent>>(new Map());
  const [reload, setReload] = useState(0);
  const toggle = (e: StoredEvent): void => setPicked((m) => {
    const n = new Map(m);
    if (n.has(e.id)) n.delete(e.id);
    else n.set(e.id, e);
    return n;
  });
  const allShown = rows.length > 0 && rows.every((r) => picked.has(r.id));

  const loadCounts = (f: Filters): void => {
    const p = new URLSearchParams(query(f, organisation));
    p.delete("limit");
    p.delete("status");
    call<Record<string, number>>(`/api/events/counts?${p}`).then((r) => setCounts(r.body), () => setCounts(null));
  };

  // first page on a filter change
  useEffect(() => {
    let cancelled = false;
    setLoading(true);
    setError(null);
    seen.current = new Set();
    liveSeen.current = liveTotal;
    setPicked(new Map());
    call<StoredEvent[]>(`/api/events?${query(filters, organisation)}`).then(
      (r) => {
        if (cancelled) return;
        for (const e of r.body) seen.current.add(e.id);
        setRows(r.body);
        setNext(nextLink(r.headers));
        setLoading(false);
      },
      (err: Error) => {
        if (cancelled) return;
        setError(err.message);
        setLoading(false);
      },
    );
    loadCounts(filters);
    return () => {
      cancelled = true;
    };
  }, [filters, organisation, reload]);

  // live events on top, newest first
  useEffect(() => {
    const fresh = live.slice(Math.max(0, live.length - (liveTotal - liveSeen.current)));
    liveSeen.current = liveTotal;
    // an event seen again is an update (resolved, approved retroactively): replace its row in place
    const updates = new Map(fresh.filter((e) => seen.current.has(e.id)).map((e) => [e.id, e]));
    if (updates.size) setRows((old) => old.map((r) => updates.get(r.id) ?? r));
    const add = fresh.filter((e) => !seen.current.has(e.id) && passes(e, filters, hostOf, orgOf, organisation));
    if (!add.length) return;
    for (const e of add) seen.current.add(e.id);
    setRows((old) => [...add.reverse(), ...old].slice(0, MAX_ROWS));
    setCounts((c) => {
      if (!c) return c;
      const n = { ...c };
      for (const e of add) n[e.status] = (n[e.status] ?? 0) + 1;
      return n;
    });
  }, [liveTotal]);

  const loadMore = (): void => {
    if (!next || loading) return;
    setLoading(true);
    call<StoredEvent[]>(next).then(
      (r) => {
        const add = r.body.filter((e) => !seen.current.has(e.id));
        for (const e of add) seen.current.add(e.id);
        setRows((old) => [...old, ...add]);
        setNext(nextLink(r.headers));
        setLoading(false);
      },
      (err: Error) => {
        setError(err.message);
        setLoading(false);
      },
    );
  };

  // infinite scroll: the next page when the end of the list comes into view
  useEffect(() => {
    const el = sentinel.current;
    if (!el || !next) return;
    const io = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) loadMore();
    });
    io.observe(el);
    return () => io.disconnect();
  }, [next, loading]);

  const controls = useMemo(() => (catalog ? Object.keys(catalog.controls) : ["software", "network", "media", "p2p", "asset", "agent"]), [catalog]);
  const set = (k: keyof Filters) => (ev: Event) => setDraft({ ...draft, [k]: (ev.target as HTMLInputElement).value });

  return html`
    <section aria-labelledby="alerts-h">
      <h1 id="alerts-h">${t("navAlerts")}</h1>
      <div class="counts" role="group" aria-label=${t("status")}>
        ${Object.entries(STATUS_LABEL).map(([s, l]) => html`
          <button type="button" class=${`count status-${s}${filters.status === s ? " active" : ""}`} aria-pressed=${filters.status === s}
            onClick=${() => { const f = { ...filters, status: filters.status === s ? "" : s }; setDraft(f); setFilters(f); }}>
            <span aria-hidden="true">${l.icon}</span> ${l[lang]} <strong data-count=${s}>${counts ? (counts[s] ?? 0).toLocaleString() : "…"}</strong>
          </button>`)}
      </div>
      <form class="filters" aria-label=${t("filters")} onSubmit=${(ev: Event) => { ev.preventDefault(); setFilters(draft); }}>
        <label>${t("control")}
          <select value=${draft.control} onChange=${set("control")}>
            <option value="">${t("all")}</option>
            ${controls.map((c) => html`<option value=${c}>${catalog?.controls[c as keyof Catalog["controls"]]?.title[lang] ?? c}</option>`)}
          </select></label>
        <label>${t("status")}
          <select value=${draft.status} onChange=${set("status")}>
            <option value="">${t("all")}</option>
            ${Object.entries(STATUS_LABEL).map(([s, l]) => html`<option value=${s}>${l[lang]}</option>`)}
          </select></label>
        <label>${t("severity")}
          <select value=${draft.severity} onChange=${set("severity")}>
            <option value="">${t("all")}</option>
            ${["critical", "high", "medium", "low", "info"].map((s) => html`<option value=${s}>${s}</option>`)}
          </select></label>
        <label>${t("pc")}
          <select value=${draft.agent} onChange=${set("agent")}>
            <option value="">${t("all")}</option>
            ${[...agents.entries()].filter(([, a]) => !organisation || a.organisation === organisation).map(([id, a]) => html`<option value=${id}>${a.hostname}</option>`)}
          </select></label>
        <label>${t("since")}<input type="datetime-local" value=${draft.from} onChange=${set("from")} /></label>
        <label>${t("until")}<input type="datetime-local" value=${draft.to} onChange=${set("to")} /></label>
        <label>${t("search")}<input type="search" value=${draft.q} onInput=${set("q")} /></label>
        <button type="submit">${t("apply")}</button>
        <button type="button" onClick=${() => { setDraft(EMPTY_FILTERS); setFilters(EMPTY_FILTERS); }}>${t("clear")}</button>
      </form>
      ${error && html`<p role="alert" class="error">${t("error")}: ${error}</p>`}
      ${bulk ? html`<${BulkBar} lang=${lang} me=${me} picked=${picked} total=${counts ? Object.values(counts).reduce((a, b) => a + b, 0) : null}
        allQuery=${query(filters, organisation, 10_000)} onPick=${setPicked} onDone=${() => setReload((n) => n + 1)} />` : null}
      <div class="scroll">
      <table class="events" aria-describedby="alerts-h">
        <thead><tr>
          ${bulk ? html`<th scope="col" class="pick"><input type="checkbox" class="pick-all" checked=${allShown} aria-label=${t("selectPage")}
            onChange=${() => setPicked(allShown ? new Map() : new Map(rows.map((r) => [r.id, r])))} /></th>` : null}
          <th scope="col">${t("status")}</th><th scope="col">${t("severity")}</th><th scope="col">${t("receivedAt")}</th>
          <th scope="col">${t("pc")}</th><th scope="col">${t("type")}</th><th scope="col">${t("what")}</th><th scope="col">${t("clause")}</th>
        </tr></thead>
        <tbody>
          ${rows.map((e) => html`<${Row} key=${e.id} e=${e} lang=${lang} catalog=${catalog} host=${hostOf(e.agentId)} onOpen=${onOpen}
            checked=${bulk ? picked.has(e.id) : null} onToggle=${toggle} />`)}
        </tbody>
      </table>
      </div>
      ${!loading && rows.length === 0 && !error ? html`<p class="empty">${t("noEvents")}</p>` : null}
      ${loading ? html`<p aria-live="polite">${t("loading")}</p>` : null}
      ${next ? html`<div ref=${sentinel}><button type="button" onClick=${loadMore}>${t("more")}</button></div>` : null}
    </section>`;
}
