/** 甲許可: pending requests (approve / deny) and the approvals in force with their expiry. */
import { useEffect, useState } from "preact/hooks";
import { ApiError, get, post, type Me } from "../api.js";
import { html } from "../html.js";
import { formatTime, translate, type Lang } from "../i18n.js";

interface Approval { id: string; control: string; match: Record<string, unknown>; scope: Record<string, unknown>; validFrom: string; validUntil: string; reason: string }
interface Request { id: string; control: string; match: Record<string, unknown>; reason: string; status: string; validFrom: string; validUntil: string; createdAt?: string }

export function Approvals({ lang, me }: { lang: Lang; me: Me }) {
  const t = (k: Parameters<typeof translate>[1]) => translate(lang, k);
  const [approvals, setApprovals] = useState<Approval[] | null>(null);
  const [requests, setRequests] = useState<Request[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const reload = (): void => {
    get<Approval[]>("/api/approvals").then(setApprovals, (e: Error) => setError(e.message));
    get<Request[]>("/api/requests?status=pending").then(setRequests, () => setRequests(null));
  };
  useEffect(reload, []);
  const canDecide = me.role === "admin" || me.role === "approver";
  const decide = (id: string, what: "approve" | "deny"): void => {
    post(`/api/requests/${id}/${what}`, what === "deny" ? { reason: "却下" } : {}).then(reload,
      (e: Error) => setError(e instanceof ApiError && e.status === 403 ? t("forbidden") : e.message));
  };
  const now = Date.now();
  return html`
    <section aria-labelledby="appr-h">
      <h1 id="appr-h">${t("navApprovals")}</h1>
      ${error ? html`<p role="alert" class="error">${error}</p>` : null}
      ${requests ? html`
        <h2>申請 / ${lang === "ja" ? "審査待ち" : "Pending requests"}</h2>
        ${requests.length === 0 ? html`<p class="muted">${t("nothing")}</p>` : html`
        <table><thead><tr><th scope="col">${t("control")}</th><th scope="col">${t("match")}</th><th scope="col">${t("reason")}</th><th scope="col">${t("validUntil")}</th><th scope="col"></th></tr></thead>
          <tbody>${requests.map((r) => html`<tr key=${r.id}><td>${r.control}</td><td><code>${JSON.stringify(r.match)}</code></td><td>${r.reason}</td>
            <td>${formatTime(lang, r.validUntil)}</td>
            <td>${canDecide ? html`<button type="button" class="primary" onClick=${() => decide(r.id, "approve")}>${t("approve")}</button>
              <button type="button" onClick=${() => decide(r.id, "deny")}>${t("deny")}</button>` : null}</td></tr>`)}</tbody></table>`}` : null}
      <h2>${t("approvalsInForce")}</h2>
      ${approvals === null ? html`<p>${t("loading")}</p>` : html`
      <table class="approvals"><thead><tr><th scope="col">${t("control")}</th><th scope="col">${t("match")}</th><th scope="col">${t("scope")}</th>
        <th scope="col">${t("validFrom")}</th><th scope="col">${t("validUntil")}</th><th scope="col">${t("reason")}</th></tr></thead>
        <tbody>${approvals.map((a) => html`<tr key=${a.id} class=${Date.parse(a.validUntil) <= now ? "expired" : ""}>
          <td>${a.control}</td><td><code>${JSON.stringify(a.match)}</code></td><td><code>${JSON.stringify(a.scope)}</code></td>
          <td>${formatTime(lang, a.validFrom)}</td><td>${formatTime(lang, a.validUntil)}</td><td>${a.reason}</td></tr>`)}</tbody></table>`}
    </section>`;
}
