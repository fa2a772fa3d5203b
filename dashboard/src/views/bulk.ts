/**
 * Bulk work on the alert list (issue 10's routes): resolve many events with one note
 * (POST /api/events/resolve), approve everything like them (one approval per distinct match:
 * GET /api/events/:id/like-this, then POST /api/events/:id/approve-like-this), or accept the
 * open items of their PCs as the baseline (POST /api/baseline). The count is shown before
 * anything is done; nothing is sent until the user confirms.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError, get, getAllPages, may, pooled, post, type Me, type StoredEvent } from "../api.js";
import { html } from "../html.js";
import { translate, type Lang } from "../i18n.js";

type Action = "resolve" | "approve-like" | "baseline";
/** the "all matching" selection is bounded (the resolve route takes at most 100,000) */
const MAX_SELECTION = 100_000;

export function isOpenItem(e: StoredEvent): boolean {
  return !e.resolution && (e.status === "needs_approval" || e.status === "violation");
}

const defaultUntil = (): string => new Date(Date.now() + 90 * 86_400_000).toISOString().slice(0, 10);
/** a date input's day → the end of that day in Asia/Tokyo */
export function endOfDayJst(day: string): string {
  return new Date(`${day}T23:59:59+09:00`).toISOString();
}

interface BulkBarProps {
  lang: Lang;
  me: Me;
  picked: Map<number, StoredEvent>;
  /** how many events match the filters (the counts), null while unknown */
  total: number | null;
  /** the list's query for "all matching" (with a large page size) */
  allQuery: string;
  onPick: (m: Map<number, StoredEvent>) => void;
  onDone: () => void;
}

export function BulkBar({ lang, me, picked, total, allQuery, onPick, onDone }: BulkBarProps) {
  const t = (k: Parameters<typeof translate>[1]) => translate(lang, k);
  const [confirming, setConfirming] = useState<Action | null>(null);
  const [fetching, setFetching] = useState(false);
  const [result, setResult] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const n = picked.size;
  const selectAll = (): void => {
    setFetching(true);
    setError(null);
    getAllPages<StoredEvent>(`/api/events?${allQuery}`, MAX_SELECTION).then((list) => {
      onPick(new Map(list.map((e) => [e.id, e])));
      setFetching(false);
    }, (err: Error) => {
      setError(err.message);
      setFetching(false);
    });
  };
  return html`
    <div class="bulk" role="region" aria-label=${t("selected")}>
      <span class="bulk-count" data-selected=${n}>${t("selected")}: <strong>${n.toLocaleString()}</strong> ${t("count")}</span>
      ${total !== null && total > n ? html`<button type="button" class="link" data-action="select-all" disabled=${fetching} onClick=${selectAll}>
        ${t("selectAllMatching")} (${total.toLocaleString()} ${t("count")})</button>` : null}
      ${n ? html`<button type="button" class="link" onClick=${() => onPick(new Map())}>${t("clearSelection")}</button>` : null}
      ${fetching ? html`<span aria-live="polite">${t("loading")}</span>` : null}
      <span class="bulk-actions">
        ${may.resolve(me) ? html`<button type="button" data-bulk="resolve" disabled=${!n} onClick=${() => setConfirming("resolve")}>${t("resolve")}</button>` : null}
        ${may.manageApprovals(me) ? html`
          <button type="button" data-bulk="approve-like" disabled=${!n} onClick=${() => setConfirming("approve-like")}>${t("approveLike")}</button>
          <button type="button" data-bulk="baseline" disabled=${!n} onClick=${() => setConfirming("baseline")}>${t("baseline")}</button>` : null}
      </span>
      ${result ? html`<span role="status" class="bulk-result">${result}</span>` : null}
      ${error ? html`<span role="alert" class="error">${error}</span>` : null}
      ${confirming ? html`<${Confirm} lang=${lang} action=${confirming} events=${[...picked.values()]}
        onCancel=${() => setConfirming(null)}
        onDone=${(msg: string) => { setConfirming(null); setResult(msg); onPick(new Map()); onDone(); }} />` : null}
    </div>`;
}

interface Draft { control: string; match: Record<string, unknown>; organisation: string }

function Confirm({ lang, action, events, onCancel, onDone }: { lang: Lang; action: Action; events: StoredEvent[]; onCancel: () => void; onDone: (msg: string) => void }) {
  const t = (k: Parameters<typeof translate>[1]) => translate(lang, k);
  const [note, setNote] = useState("");
  const [until, setUntil] = useState(defaultUntil());
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const first = useRef<HTMLTextAreaElement>(null);
  useEffect(() => first.current?.focus(), []);
  const needs = events.filter((e) => e.status === "needs_approval" && !e.resolution);
  const pcs = [...new Set(events.map((e) => e.agentId))];
  const title = action === "resolve" ? t("resolve") : action === "approve-like" ? t("approveLike") : t("baseline");
  const fail = (err: Error): void => {
    setBusy(false);
    setError(err instanceof ApiError && err.status === 403 ? t("forbidden") : err.message);
  };
  const run = async (): Promise<string> => {
    const reason = note.trim() || title;
    if (action === "resolve") {
      const r = await post<{ resolved: number }>("/api/events/resolve", { events: events.map((e) => e.id), resolution: "resolved", note: reason });
      return `${t("resolve")}: ${r.resolved} ${t("count")}`;
    }
    const validUntil = endOfDayJst(until);
    if (action === "baseline") {
      let resolved = 0;
      for (const agent of pcs) resolved += (await post<{ resolved: number }>("/api/baseline", { agent, validUntil, reason })).resolved;
      return `${t("baseline")}: ${resolved} ${t("count")}`;
    }
    // one approval per distinct (control, match, organisation): the first event of each stands for the rest
    const drafts = await pooled(needs, 4, (e) => get<Draft>(`/api/events/${e.id}/like-this`).then((d) => ({ e, d })));
    const groups = new Map<string, StoredEvent>();
    for (const { e, d } of drafts) {
      const key = JSON.stringify([d.control, Object.entries(d.match).sort(), d.organisation]);
      if (!groups.has(key)) groups.set(key, e);
    }
    let resolved = 0;
    for (const e of groups.values()) {
      const d = drafts.find((x) => x.e === e)!.d;
      resolved += (await post<{ resolved: number }>(`/api/events/${e.id}/approve-like-this`, { scope: { organisation: d.organisation }, validUntil, reason })).resolved;
    }
    return `${t("approveLike")}: ${groups.size} / ${resolved} ${t("count")}`;
  };
  const go = (): void => {
    setBusy(true);
    setError(null);
    run().then(onDone, fail);
  };
  const empty = (action === "approve-like" && needs.length === 0) || events.length === 0;
  return html`
    <div class="modal-back">
      <div class="modal" role="dialog" aria-modal="true" aria-labelledby="bulk-h" aria-describedby="bulk-what">
        <h2 id="bulk-h">${t("confirmTitle")}: ${title}</h2>
        <dl class="facts" id="bulk-what">
          <dt>${t("targetEvents")}</dt><dd data-confirm-count=${events.length}><strong>${events.length.toLocaleString()}</strong> ${t("count")}</dd>
          <dt>${t("targetNeeds")}</dt><dd data-confirm-needs=${needs.length}>${needs.length.toLocaleString()} ${t("count")}</dd>
          <dt>${t("targetPcs")}</dt><dd data-confirm-pcs=${pcs.length}>${pcs.length.toLocaleString()}</dd>
        </dl>
        ${action === "baseline" ? html`<p class="muted">${lang === "ja"
          ? "対象端末の甲許可待ちは、選択していないものも含めてすべて承認されます。"
          : "Every open needs-approval item of these PCs is accepted, selected or not."}</p>` : null}
        <label>${action === "resolve" ? t("note") : t("reason")}
          <textarea ref=${first} rows="2" name="bulk-note" value=${note} onInput=${(e: Event) => setNote((e.target as HTMLTextAreaElement).value)}></textarea></label>
        ${action !== "resolve" ? html`<label>${t("validUntil")}<input type="date" name="bulk-until" value=${until}
          onInput=${(e: Event) => setUntil((e.target as HTMLInputElement).value)} /></label>` : null}
        ${error ? html`<p role="alert" class="error">${error}</p>` : null}
        <div class="actions">
          <button type="button" class="primary" data-action="confirm" disabled=${busy || empty} onClick=${go}>${busy ? t("working") : `${t("confirm")} (${(action === "approve-like" ? needs.length : events.length).toLocaleString()} ${t("count")})`}</button>
          <button type="button" data-action="cancel" onClick=${onCancel}>${t("cancel")}</button>
        </div>
      </div>
    </div>`;
}
