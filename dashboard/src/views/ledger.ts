/** Ledgers: the PC ledger (台帳) with reconciliation flags, CSV import (drop a Shift_JIS file) and export; the media ledger. */
import { useEffect, useState } from "preact/hooks";
import { call, get } from "../api.js";
import { html } from "../html.js";
import { formatTime, translate, type Lang } from "../i18n.js";

interface AssetsView {
  entries: Array<{ assetNo: string; hostname: string; serial: string; location: string; owner: string; flags: string[]; agent: { hostname: string; online: boolean } | null }>;
  unregisteredAgents: Array<{ id: string; hostname: string; lastSeen: string | null }>;
}
interface Medium { id: string; serial: string; vendorId: string | null; productId: string | null; label: string | null; owner: string; registeredAt: string }

export function Ledger({ lang }: { lang: Lang }) {
  const t = (k: Parameters<typeof translate>[1]) => translate(lang, k);
  const [assets, setAssets] = useState<AssetsView | null>(null);
  const [media, setMedia] = useState<Medium[] | null>(null);
  const [msg, setMsg] = useState<string | null>(null);
  const reload = (): void => {
    get<AssetsView>("/api/assets").then(setAssets, (e: Error) => setMsg(e.message));
    get<Medium[]>("/api/media").then(setMedia, () => setMedia(null));
  };
  useEffect(reload, []);
  const upload = (file: File): void => {
    file.arrayBuffer().then((buf) => call<{ imported: number; errors: unknown[] }>("/api/assets/import", { method: "POST", raw: buf, contentType: "text/csv" }))
      .then((r) => { setMsg(`${r.body.imported} ${t("count")} ✔`); reload(); }, (e: Error) => setMsg(e.message));
  };
  const download = (): void => {
    call<string>("/api/assets/export").then((r) => {
      const blob = new Blob([r.body as unknown as string], { type: "text/csv" });
      const a = document.createElement("a");
      a.href = URL.createObjectURL(blob);
      a.download = "kyoka-ledger.csv";
      a.click();
    }, (e: Error) => setMsg(e.message));
  };
  return html`
    <section aria-labelledby="ledger-h">
      <h1 id="ledger-h">${t("navLedger")}</h1>
      ${msg ? html`<p role="status">${msg}</p>` : null}
      <h2>${t("pcLedger")}</h2>
      <div class="toolbar">
        <button type="button" onClick=${download}>${t("exportCsv")}</button>
        <label class="drop" onDragOver=${(e: DragEvent) => e.preventDefault()}
          onDrop=${(e: DragEvent) => { e.preventDefault(); const f = e.dataTransfer?.files[0]; if (f) upload(f); }}>
          ${t("importCsv")}
          <input type="file" accept=".csv,text/csv" onChange=${(e: Event) => { const f = (e.target as HTMLInputElement).files?.[0]; if (f) upload(f); }} />
        </label>
      </div>
      ${assets ? html`
        <table><thead><tr><th scope="col">${t("assetNo")}</th><th scope="col">${t("hostname")}</th><th scope="col">${t("serial")}</th>
          <th scope="col">${t("location")}</th><th scope="col">${t("owner")}</th><th scope="col">${t("flags")}</th></tr></thead>
          <tbody>${assets.entries.map((e) => html`<tr key=${e.assetNo}><td>${e.assetNo}</td><td>${e.hostname}</td><td class="mono">${e.serial}</td>
            <td>${e.location}</td><td>${e.owner}</td><td>${e.flags.length ? e.flags.map((f) => html`<span class="badge warn">${f}</span> `) : html`<span class="badge ok">✔</span>`}</td></tr>`)}</tbody></table>
        <h3>${t("unregisteredPcs")}</h3>
        ${assets.unregisteredAgents.length === 0 ? html`<p class="muted">${t("nothing")}</p>` : html`<ul>${assets.unregisteredAgents.map((a) => html`<li>${a.hostname} (${formatTime(lang, a.lastSeen)})</li>`)}</ul>`}
      ` : html`<p>${t("loading")}</p>`}
      <h2>${t("mediaLedger")}</h2>
      ${media ? html`<table><thead><tr><th scope="col">${t("serial")}</th><th scope="col">VID:PID</th><th scope="col">${t("owner")}</th><th scope="col">${t("validFrom")}</th></tr></thead>
        <tbody>${media.map((m) => html`<tr key=${m.id}><td class="mono">${m.serial}</td><td>${m.vendorId ?? "*"}:${m.productId ?? "*"}</td><td>${m.owner}</td><td>${formatTime(lang, m.registeredAt)}</td></tr>`)}</tbody></table>` : null}
    </section>`;
}
