/**
 * Event detail: what, which PC, when (observed / received), the evidence fields of its type, the
 * clause with its title from the catalog, why it has its status (reasons), its history, and the
 * actions the role may take.
 */
import { useState } from "preact/hooks";
import { ApiError, get, post, type Me, type StoredEvent } from "../api.js";
import { controlTitle, typeTitle, type Catalog } from "../catalog.js";
import { html } from "../html.js";
import { formatTime, translate, type Lang } from "../i18n.js";
import { reasonText, SeverityBadge, StatusBadge } from "./common.js";

/** Evidence fields shown first per control (the rest follow as they come). */
const FIELDS: Record<string, string[]> = {
  software: ["name", "version", "previousVersion", "publisher", "source", "arch"],
  p2p: ["family", "name", "pid", "path", "sha256", "ports", "action"],
  media: ["label", "vendorId", "productId", "serial", "serialSource", "mount", "fsType", "encrypted", "result", "files", "registered", "serialConflict"],
  network: ["iface", "address", "cidr", "gateway", "gatewayMac", "ssid", "bssid", "remoteAddress", "remotePort", "process", "pid", "port"],
  asset: ["component", "before", "after", "pcId", "hostname"],
  agent: ["lastSeen", "missedHeartbeats", "reason", "version"],
};

function Value({ v }: { v: unknown }) {
  if (v === null || v === undefined) return html`<span class="muted">—</span>`;
  if (Array.isArray(v) && v.every((x) => x && typeof x === "object")) {
    const cols = [...new Set(v.flatMap((x) => Object.keys(x as object)))].slice(0, 6);
    return html`<table class="inner"><thead><tr>${cols.map((c) => html`<th scope="col">${c}</th>`)}</tr></thead>
      <tbody>${v.slice(0, 200).map((x) => html`<tr>${cols.map((c) => html`<td class="mono">${String((x as Record<string, unknown>)[c] ?? "")}</td>`)}</tr>`)}</tbody></table>`;
  }
  if (typeof v === "object") return html`<code class="mono">${JSON.stringify(v)}</code>`;
  return html`<span class="mono">${String(v)}</span>`;
}

export interface EventDetailProps {
  lang: Lang;
  me: Me;
  catalog: Catalog | null;
  event: StoredEvent;
  hostname: string;
  onClose: () => void;
  onChanged: (e: StoredEvent) => void;
}

export function EventDetail({ lang, me, catalog, event: e, hostname, onClose, onChanged }: EventDetailProps) {
  const t = (k: Parameters<typeof translate>[1]) => translate(lang, k);
  const [note, setNote] = useState("");
  const [error, setError] = useState<string | null>(null);
  const d = e.details as Record<string, unknown>;
  const order = FIELDS[e.control] ?? [];
  const keys = [...order.filter((k) => k in d), ...Object.keys(d).filter((k) => !order.includes(k))];
  const reasons = (e as StoredEvent & { reasons?: unknown[] }).reasons ?? [];
  const canResolve = me.role === "admin" || me.role === "desk";
  const canApprove = me.role === "admin" || me.role === "approver";
  const canRequest = me.role === "contractor";
  const open = !e.resolution && (e.status === "needs_approval" || e.status === "violation");
  // the incident report draft (事故報告書, server/incident/report.ts isIncident): violations and high/critical open items
  const incident = e.status === "violation" || (e.status === "needs_approval" && (e.severity === "critical" || e.severity === "high"));

  const [done, setDone] = useState<string | null>(null);
  const fail = (err: Error): void => setError(err instanceof ApiError && err.status === 403 ? t("forbidden") : err.message);
  const act = (path: string, body: unknown): void => {
    setError(null);
    post<StoredEvent>(path, body).then(onChanged, fail);
  };
  // 甲許可 for 90 days from now unless the approver narrows it (issue 13's routes)
  const until = (): string => new Date(Date.now() + 90 * 86_400_000).toISOString();
  const approveLike = (): void => {
    setError(null);
    post<{ resolved: number }>(`/api/events/${e.id}/approve-like-this`, { scope: { all: true }, validUntil: until(), reason: note || "甲許可" })
      .then((r) => setDone(`${t("approveLike")}: ${r.resolved}`), fail);
  };
  const requestPermission = (): void => {
    setError(null);
    get<{ control: string; match: Record<string, unknown> }>(`/api/events/${e.id}/like-this`)
      .then((draft) => post("/api/requests", { control: draft.control, match: draft.match, agents: [e.agentId],
        validFrom: new Date().toISOString(), validUntil: until(), reason: note || t("requestPermission") }))
      .then(() => setDone(`${t("requestPermission")} ✔`), fail);
  };

  return html`
    <aside class="detail" role="dialog" aria-modal="false" aria-labelledby="detail-h">
      <header>
        <h2 id="detail-h">${typeTitle(catalog, e.type, lang)} <span class="muted">#${e.id}</span></h2>
        <button type="button" onClick=${onClose} aria-label=${t("close")}>×</button>
      </header>
      <p><${StatusBadge} status=${e.status} lang=${lang} /> <${SeverityBadge} severity=${e.severity} lang=${lang} />
        ${e.resolution ? html` <span class="badge resolved">${t("resolved")}: ${e.resolution}</span>` : null}</p>
      <dl class="facts">
        <dt>${t("pc")}</dt><dd><a href=${`#/pc/${e.agentId}`}>${hostname}</a></dd>
        <dt>${t("type")}</dt><dd><code>${e.type}</code></dd>
        <dt>${t("observedAt")}</dt><dd><time datetime=${e.observedAt}>${formatTime(lang, e.observedAt)}</time></dd>
        <dt>${t("receivedAt")}</dt><dd><time datetime=${e.receivedAt}>${formatTime(lang, e.receivedAt)}</time></dd>
        <dt>${t("clause")}</dt><dd class="clause">${e.articles.join("、")}<br /><span class="muted">${controlTitle(catalog, e.control, lang)}</span></dd>
      </dl>
      <h3>${t("reasons")}</h3>
      ${reasons.length ? html`<ul class="reasons">${reasons.map((r) => html`<li>${reasonText(r, lang)}</li>`)}</ul>` : html`<p class="muted">—</p>`}
      <h3>${t("evidence")}</h3>
      <dl class="evidence">${keys.map((k) => html`<dt>${k}</dt><dd><${Value} v=${d[k]} /></dd>`)}</dl>
      ${e.resolution ? html`<h3>${t("history")}</h3><p>${formatTime(lang, e.resolvedAt)} — ${e.resolution}${e.note ? `: ${e.note}` : ""}</p>` : null}
      ${incident ? html`<p class="incident-report">
        <a href=${`/api/events/${e.id}/incident-report?format=html`} target="_blank" rel="noopener" data-action="incident-report">${t("incidentReport")}</a>
        <span class="muted"> (<a href=${`/api/events/${e.id}/incident-report?format=md`} target="_blank" rel="noopener">Markdown</a>)</span></p>` : null}
      ${error ? html`<p role="alert" class="error">${error}</p>` : null}
      ${done ? html`<p role="status">${done}</p>` : null}
      ${open && (canResolve || canApprove || canRequest) ? html`
        <div class="actions">
          <label>${t("note")}<textarea rows="2" value=${note} onInput=${(ev: Event) => setNote((ev.target as HTMLTextAreaElement).value)}></textarea></label>
          ${canResolve ? html`
            <button type="button" data-action="acknowledge" onClick=${() => act(`/api/events/${e.id}/resolve`, { resolution: "acknowledged", note })}>${t("acknowledge")}</button>
            <button type="button" data-action="resolve" onClick=${() => act(`/api/events/${e.id}/resolve`, { resolution: "resolved", note })}>${t("resolve")}</button>` : null}
          ${canApprove && e.status === "needs_approval" ? html`
            <button type="button" class="primary" data-action="approve-like" onClick=${approveLike}>${t("approveLike")}</button>` : null}
          ${canRequest && e.status === "needs_approval" ? html`
            <button type="button" data-action="request" onClick=${requestPermission}>${t("requestPermission")}</button>` : null}
        </div>` : null}
    </aside>`;
}
