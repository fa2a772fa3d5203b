/** PCs: online / silent / last seen / policy version / open items, per PC. */
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

export function Pcs({ lang, agents, open, onPick }: { lang: Lang; agents: AgentView[]; open: Map<string, number>; onPick: (id: string) => void }) {
  const t = (k: Parameters<typeof translate>[1]) => translate(lang, k);
  return html`
    <section aria-labelledby="pcs-h">
      <h1 id="pcs-h">${t("navPcs")}</h1>
      <table class="pcs">
        <thead><tr><th scope="col">${t("hostname")}</th><th scope="col">${t("status")}</th><th scope="col">${t("lastSeen")}</th>
          <th scope="col">${t("os")}</th><th scope="col">${t("policyVersion")}</th><th scope="col">${t("openItems")}</th></tr></thead>
        <tbody>${agents.map((a) => html`
          <tr key=${a.id} data-agent-id=${a.id}>
            <td><a href=${`#/alerts?agent=${a.id}`} onClick=${(ev: Event) => { ev.preventDefault(); onPick(a.id); }}>${a.hostname}</a></td>
            <td>${a.online ? html`<span class="badge ok"><span aria-hidden="true">●</span> ${t("online")}</span>` : html`<span class="badge warn"><span aria-hidden="true">○</span> ${t("silent")}</span>`}</td>
            <td>${formatTime(lang, a.lastSeen)}</td>
            <td>${a.os}</td>
            <td>${a.policyVersion ?? "—"}</td>
            <td>${open.get(a.id) ?? 0}</td>
          </tr>`)}</tbody>
      </table>
    </section>`;
}
