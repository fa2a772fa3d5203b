/** PCs: online / silent / last seen / policy version / open items, per PC and per organisation. */
import type { Organisation } from "../api.js";
import { html } from "../html.js";
import { formatTime, translate, type Lang } from "../i18n.js";

export interface AgentView {
  id: string;
  hostname: string;
  os: string;
  online: boolean;
  lastSeen: string | null;
  policyVersion: number | null;
  tags?: string[];
  organisation?: string | null;
  revoked?: boolean;
}

export function OnlineBadge({ a, lang }: { a: AgentView; lang: Lang }) {
  const t = (k: Parameters<typeof translate>[1]) => translate(lang, k);
  return a.online ? html`<span class="badge ok"><span aria-hidden="true">●</span> ${t("online")}</span>`
    : html`<span class="badge warn"><span aria-hidden="true">○</span> ${t("silent")}</span>`;
}

interface Props { lang: Lang; agents: AgentView[]; open: Map<string, number>; orgs: Organisation[] }

export function Pcs({ lang, agents, open, orgs }: Props) {
  const t = (k: Parameters<typeof translate>[1]) => translate(lang, k);
  const byOrg = new Map<string, { pcs: number; online: number; open: number }>();
  for (const a of agents) {
    const k = a.organisation ?? "";
    const s = byOrg.get(k) ?? { pcs: 0, online: 0, open: 0 };
    s.pcs++;
    if (a.online) s.online++;
    s.open += open.get(a.id) ?? 0;
    byOrg.set(k, s);
  }
  const orgName = (id: string): string => orgs.find((o) => o.id === id)?.name ?? (id || "—");
  return html`
    <section aria-labelledby="pcs-h">
      <h1 id="pcs-h">${t("navPcs")}</h1>
      <div class="scroll"><table class="pcs">
        <thead><tr><th scope="col">${t("hostname")}</th><th scope="col">${t("status")}</th><th scope="col">${t("lastSeen")}</th>
          <th scope="col">${t("organisation")}</th><th scope="col">${t("os")}</th><th scope="col">${t("policyVersion")}</th><th scope="col">${t("openItems")}</th></tr></thead>
        <tbody>${agents.map((a) => html`
          <tr key=${a.id} data-agent-id=${a.id}>
            <td><a href=${`#/pc/${a.id}`}>${a.hostname}</a></td>
            <td><${OnlineBadge} a=${a} lang=${lang} /></td>
            <td>${formatTime(lang, a.lastSeen)}</td>
            <td>${orgName(a.organisation ?? "")}</td>
            <td>${a.os}</td>
            <td>${a.policyVersion ?? "—"}</td>
            <td>${open.get(a.id) ?? 0}</td>
          </tr>`)}</tbody>
      </table></div>
      <h2>${t("perOrganisation")}</h2>
      <div class="scroll"><table class="per-org">
        <thead><tr><th scope="col">${t("organisation")}</th><th scope="col">${t("pcsCount")}</th><th scope="col">${t("online")}</th><th scope="col">${t("openItems")}</th></tr></thead>
        <tbody>${[...byOrg.entries()].map(([id, s]) => html`<tr key=${id}><td>${orgName(id)}</td><td>${s.pcs}</td><td>${s.online}</td><td>${s.open}</td></tr>`)}</tbody>
      </table></div>
    </section>`;
}
