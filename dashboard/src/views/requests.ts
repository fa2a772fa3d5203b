/**
 * 申請・甲許可: a contractor (or the desk) submits a request; 甲's approver approves it (optionally
 * narrowing the period or the PCs) or denies it with a reason; the approvals in force with their
 * expiry and what they cover; the recently expired ones.
 */
import { useEffect, useState } from "preact/hooks";
import { ApiError, get, may, post, type Me, type Organisation } from "../api.js";
import { controlTitle, type Catalog } from "../catalog.js";
import { html } from "../html.js";
import { formatTime, translate, type Lang } from "../i18n.js";
import { endOfDayJst } from "./bulk.js";
import type { AgentView } from "./pcs.js";

type Scope = { all?: boolean; agents?: string[]; tags?: string[] };
interface Approval { id: string; control: string; match: Record<string, unknown>; scope: Scope; validFrom: string; validUntil: string; reason: string; organisation?: string; createdBy?: string }
interface Request {
  id: string; organisationId: string; control: string; match: Record<string, unknown>; scope: Scope; validFrom: string; validUntil: string; reason: string;
  status: "pending" | "approved" | "denied"; requestedBy: string; requestedAt: string; decidedBy: string | null; decidedAt: string | null; decisionNote: string | null;
}

/** the match field a request names first, per control */
const MATCH_KEYS: Record<string, string[]> = {
  software: ["name", "publisher", "version"], p2p: ["family", "name"], media: ["serial", "vendorId", "productId"],
  network: ["ssid", "cidr", "remoteAddress", "process"], asset: ["component"], agent: ["reason"],
};
const EXPIRED_DAYS = 30;
const day = (iso: string): string => new Date(Date.parse(iso) + 9 * 3_600_000).toISOString().slice(0, 10);

interface Props { lang: Lang; me: Me; catalog: Catalog | null; agents: AgentView[]; orgs: Organisation[]; organisation: string }

export function Requests({ lang, me, catalog, agents, orgs, organisation }: Props) {
  const t = (k: Parameters<typeof translate>[1]) => translate(lang, k);
  const [approvals, setApprovals] = useState<Approval[] | null>(null);
  const [requests, setRequests] = useState<Request[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [msg, setMsg] = useState<string | null>(null);
  const reload = (): void => {
    get<Approval[]>("/api/approvals").then(setApprovals, (e: Error) => setError(e.message));
    get<Request[]>("/api/requests").then(setRequests, (e: Error) => setError(e.message));
  };
  useEffect(reload, []);
  const fail = (e: Error): void => setError(e instanceof ApiError && e.status === 403 ? t("forbidden") : e.message);
  const host = new Map(agents.map((a) => [a.id, a.hostname]));
  const orgName = (id: string | undefined | null): string => (id ? orgs.find((o) => o.id === id)?.name ?? "" : "");
  /** what a scope covers, by host name; PCs this user may not see are counted, never named */
  const scopeText = (s: Scope, org?: string | null): string => {
    if (s.agents) {
      const known = s.agents.filter((a) => host.has(a)).map((a) => host.get(a)!);
      const other = s.agents.length - known.length;
      return [...known, other ? (lang === "ja" ? `他 ${other} 台` : `${other} other PC(s)`) : ""].filter(Boolean).join("、");
    }
    if (s.tags) return `${t("tags")}: ${s.tags.join(", ")}`;
    return org ? `${orgName(org)}（${t("all")}）` : t("all");
  };
  const inOrg = (org: string | null | undefined): boolean => !organisation || org === organisation;
  const now = Date.now();
  const pending = (requests ?? []).filter((r) => r.status === "pending" && inOrg(r.organisationId));
  const decided = (requests ?? []).filter((r) => r.status !== "pending" && inOrg(r.organisationId)).slice(0, 50);
  const inForce = (approvals ?? []).filter((a) => Date.parse(a.validUntil) > now && inOrg(a.organisation));
  const expired = (approvals ?? []).filter((a) => Date.parse(a.validUntil) <= now && Date.parse(a.validUntil) > now - EXPIRED_DAYS * 86_400_000 && inOrg(a.organisation));
  const matchText = (m: Record<string, unknown>): string => Object.entries(m).map(([k, v]) => `${k} = ${String(v)}`).join("; ");

  return html`
    <section aria-labelledby="req-h">
      <h1 id="req-h">${t("navRequests")}</h1>
      ${error ? html`<p role="alert" class="error">${error}</p>` : null}
      ${msg ? html`<p role="status">${msg}</p>` : null}
      ${may.createRequests(me) ? html`<${NewRequest} lang=${lang} catalog=${catalog} agents=${agents.filter((a) => inOrg(a.organisation))}
        open=${me.role === "contractor"} onSent=${() => { setMsg(t("requestSent")); reload(); }} onError=${fail} />` : null}

      <h2>${t("pending")} <span class="muted" data-count="pending">(${pending.length})</span></h2>
      ${requests === null ? html`<p>${t("loading")}</p>` : pending.length === 0 ? html`<p class="muted">${t("nothing")}</p>` : html`
        <div class="scroll"><table class="requests pending">
          <thead><tr><th scope="col">${t("control")}</th><th scope="col">${t("match")}</th><th scope="col">${t("scope")}</th><th scope="col">${t("validUntil")}</th>
            <th scope="col">${t("reason")}</th><th scope="col">${t("requestedBy")}</th>${may.decideRequests(me) ? html`<th scope="col">${t("decision")}</th>` : null}</tr></thead>
          <tbody>${pending.map((r) => html`<tr key=${r.id} data-request-id=${r.id}>
            <td>${controlTitle(catalog, r.control, lang)}</td><td class="mono">${matchText(r.match)}</td><td>${scopeText(r.scope, r.organisationId)}</td>
            <td>${formatTime(lang, r.validFrom)}〜<br />${formatTime(lang, r.validUntil)}</td><td>${r.reason}</td>
            <td>${r.requestedBy}<br /><span class="muted">${formatTime(lang, r.requestedAt)}</span></td>
            ${may.decideRequests(me) ? html`<td><${Decide} lang=${lang} r=${r} host=${host} onDone=${reload} onError=${fail} /></td>` : null}
          </tr>`)}</tbody></table></div>`}

      <h2>${t("decided")}</h2>
      ${decided.length === 0 ? html`<p class="muted">${t("nothing")}</p>` : html`
        <div class="scroll"><table class="requests decided">
          <thead><tr><th scope="col">${t("status")}</th><th scope="col">${t("control")}</th><th scope="col">${t("match")}</th><th scope="col">${t("scope")}</th>
            <th scope="col">${t("requestedBy")}</th><th scope="col">${t("decision")}</th></tr></thead>
          <tbody>${decided.map((r) => html`<tr key=${r.id} data-request-id=${r.id} data-status=${r.status}>
            <td><span class=${`badge ${r.status === "approved" ? "ok" : "warn"}`}>${r.status === "approved" ? "✔" : "✖"} ${t(r.status === "approved" ? "st_approved" : "st_denied")}</span></td>
            <td>${controlTitle(catalog, r.control, lang)}</td><td class="mono">${matchText(r.match)}</td><td>${scopeText(r.scope, r.organisationId)}</td>
            <td>${r.requestedBy}</td><td>${r.decidedBy ?? ""} ${formatTime(lang, r.decidedAt)}${r.decisionNote ? html`<br /><span class="muted">${r.decisionNote}</span>` : null}</td>
          </tr>`)}</tbody></table></div>`}

      <h2>${t("approvalsInForce")} <span class="muted">(${inForce.length})</span></h2>
      ${approvals === null ? html`<p>${t("loading")}</p>` : html`<${ApprovalTable} lang=${lang} catalog=${catalog} rows=${inForce} scopeText=${scopeText} matchText=${matchText} cls="approvals" />`}
      <h2>${t("recentlyExpired")}</h2>
      ${expired.length === 0 ? html`<p class="muted">${t("nothing")}</p>`
        : html`<${ApprovalTable} lang=${lang} catalog=${catalog} rows=${expired} scopeText=${scopeText} matchText=${matchText} cls="approvals expired-list" />`}
    </section>`;
}

function ApprovalTable({ lang, catalog, rows, scopeText, matchText, cls }: {
  lang: Lang; catalog: Catalog | null; rows: Approval[]; scopeText: (s: Scope, org?: string) => string; matchText: (m: Record<string, unknown>) => string; cls: string;
}) {
  const t = (k: Parameters<typeof translate>[1]) => translate(lang, k);
  return html`<div class="scroll"><table class=${cls}>
    <thead><tr><th scope="col">${t("control")}</th><th scope="col">${t("match")}</th><th scope="col">${t("scope")}</th>
      <th scope="col">${t("validFrom")}</th><th scope="col">${t("validUntil")}</th><th scope="col">${t("reason")}</th></tr></thead>
    <tbody>${rows.map((a) => html`<tr key=${a.id}>
      <td>${controlTitle(catalog, a.control, lang)}</td><td class="mono">${matchText(a.match)}</td><td>${scopeText(a.scope, a.organisation)}</td>
      <td>${formatTime(lang, a.validFrom)}</td><td>${formatTime(lang, a.validUntil)}</td><td>${a.reason}</td></tr>`)}</tbody></table></div>`;
}

/** Approve as asked, approve narrowed (period, PCs), or deny with a reason. */
function Decide({ lang, r, host, onDone, onError }: { lang: Lang; r: Request; host: Map<string, string>; onDone: () => void; onError: (e: Error) => void }) {
  const t = (k: Parameters<typeof translate>[1]) => translate(lang, k);
  const [from, setFrom] = useState(day(r.validFrom));
  const [until, setUntil] = useState(day(r.validUntil));
  const [pcs, setPcs] = useState<string[]>(r.scope.agents ?? []);
  const [note, setNote] = useState("");
  const [reason, setReason] = useState("");
  const approve = (narrowed: boolean): void => {
    const body: Record<string, unknown> = {};
    if (narrowed) {
      if (from !== day(r.validFrom)) body.validFrom = new Date(`${from}T00:00:00+09:00`).toISOString();
      if (until !== day(r.validUntil)) body.validUntil = endOfDayJst(until);
      if (r.scope.agents && pcs.length && pcs.length < r.scope.agents.length) body.agents = pcs;
      if (note) body.note = note;
    }
    post(`/api/requests/${r.id}/approve`, body).then(onDone, onError);
  };
  const deny = (): void => {
    post(`/api/requests/${r.id}/deny`, { reason }).then(onDone, onError);
  };
  return html`<div class="decide">
    <button type="button" class="primary" data-action="approve" onClick=${() => approve(false)}>${t("approve")}</button>
    <details><summary>${t("narrow")}</summary>
      <label>${t("validFrom")}<input type="date" name="narrow-from" value=${from} onInput=${(e: Event) => setFrom((e.target as HTMLInputElement).value)} /></label>
      <label>${t("validUntil")}<input type="date" name="narrow-until" value=${until} onInput=${(e: Event) => setUntil((e.target as HTMLInputElement).value)} /></label>
      ${r.scope.agents && r.scope.agents.length > 1 ? html`<fieldset><legend>${t("pc")}</legend>${r.scope.agents.filter((a) => host.has(a)).map((a) => html`
        <label class="check"><input type="checkbox" checked=${pcs.includes(a)} onChange=${() => setPcs(pcs.includes(a) ? pcs.filter((x) => x !== a) : [...pcs, a])} /> ${host.get(a)}</label>`)}</fieldset>` : null}
      <label>${t("note")}<input name="narrow-note" value=${note} onInput=${(e: Event) => setNote((e.target as HTMLInputElement).value)} /></label>
      <button type="button" data-action="approve-narrow" onClick=${() => approve(true)}>${t("approve")}</button>
    </details>
    <details><summary>${t("deny")}</summary>
      <label>${t("denyReason")}<input name="deny-reason" required value=${reason} onInput=${(e: Event) => setReason((e.target as HTMLInputElement).value)} /></label>
      <button type="button" data-action="deny" disabled=${!reason.trim()} onClick=${deny}>${t("deny")}</button>
    </details>
  </div>`;
}

function NewRequest({ lang, catalog, agents, open, onSent, onError }: {
  lang: Lang; catalog: Catalog | null; agents: AgentView[]; open: boolean; onSent: () => void; onError: (e: Error) => void;
}) {
  const t = (k: Parameters<typeof translate>[1]) => translate(lang, k);
  const [control, setControl] = useState("software");
  const [key, setKey] = useState("name");
  const [value, setValue] = useState("");
  const [pcs, setPcs] = useState<string[]>([]);
  const [until, setUntil] = useState(new Date(Date.now() + 90 * 86_400_000).toISOString().slice(0, 10));
  const [reason, setReason] = useState("");
  const controls = catalog ? Object.keys(catalog.controls) : Object.keys(MATCH_KEYS);
  const submit = (ev: Event): void => {
    ev.preventDefault();
    post("/api/requests", {
      control, match: { [key]: value }, ...(pcs.length ? { agents: pcs } : {}), validUntil: endOfDayJst(until), reason,
    }).then(() => { setValue(""); setReason(""); onSent(); }, onError);
  };
  return html`<details class="new-request" open=${open}>
    <summary>${t("newRequest")}</summary>
    <form class="filters" aria-label=${t("newRequest")} onSubmit=${submit}>
      <label>${t("control")}<select name="req-control" value=${control} onChange=${(e: Event) => { const c = (e.target as HTMLSelectElement).value; setControl(c); setKey(MATCH_KEYS[c]?.[0] ?? "name"); }}>
        ${controls.map((c) => html`<option value=${c}>${controlTitle(catalog, c, lang)}</option>`)}</select></label>
      <label>${t("matchKey")}<select name="req-key" value=${key} onChange=${(e: Event) => setKey((e.target as HTMLSelectElement).value)}>
        ${(MATCH_KEYS[control] ?? ["name"]).map((k) => html`<option value=${k}>${k}</option>`)}</select></label>
      <label>${t("matchValue")}<input name="req-value" required value=${value} onInput=${(e: Event) => setValue((e.target as HTMLInputElement).value)} /></label>
      <label>${t("pcsHint")}<select name="req-pcs" multiple size="3" onChange=${(e: Event) => setPcs([...(e.target as HTMLSelectElement).selectedOptions].map((o) => o.value))}>
        ${agents.map((a) => html`<option value=${a.id} selected=${pcs.includes(a.id)}>${a.hostname}</option>`)}</select></label>
      <label>${t("validUntil")}<input type="date" name="req-until" required value=${until} onInput=${(e: Event) => setUntil((e.target as HTMLInputElement).value)} /></label>
      <label>${t("reason")}<input name="req-reason" required value=${reason} onInput=${(e: Event) => setReason((e.target as HTMLInputElement).value)} /></label>
      <button type="submit" class="primary">${t("submit")}</button>
    </form>
  </details>`;
}
