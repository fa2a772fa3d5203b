/**
 * One PC: who it is (online, last seen, policy version, organisation, tags), its open items, its
 * inventory (the ledger row with its reconciliation flags, the last hardware snapshot, the last
 * software inventory's counts) and its timeline (its events, newest first, paged by the cursor).
 */
import { useEffect, useState } from "preact/hooks";
import { call, get, may, nextLink, type Me, type Organisation, type StoredEvent } from "../api.js";
import { typeTitle, type Catalog } from "../catalog.js";
import { html } from "../html.js";
import { formatTime, translate, type Lang } from "../i18n.js";
import { isOpenItem } from "./bulk.js";
import { StatusBadge, summary } from "./common.js";
import { OnlineBadge, type AgentView } from "./pcs.js";

const TIMELINE_PAGE = 50;

interface LedgerRow { assetNo: string; location: string; owner: string; flags: string[]; agent: { id: string } | null }
type Rec = Record<string, unknown>;
const rec = (v: unknown): Rec => (v && typeof v === "object" && !Array.isArray(v) ? (v as Rec) : {});
const arr = (v: unknown): Rec[] => (Array.isArray(v) ? (v as Rec[]) : []);
const str = (v: unknown): string => (typeof v === "string" || typeof v === "number" ? String(v) : "");
const gib = (bytes: number): string => `${(bytes / 2 ** 30).toFixed(bytes >= 10 * 2 ** 30 ? 0 : 1)} GiB`;

interface Props { lang: Lang; me: Me; catalog: Catalog | null; agent: AgentView | undefined; id: string; orgs: Organisation[]; onOpen: (e: StoredEvent) => void }

export function Pc({ lang, me, catalog, agent, id, orgs, onOpen }: Props) {
  const t = (k: Parameters<typeof translate>[1]) => translate(lang, k);
  const [timeline, setTimeline] = useState<StoredEvent[] | null>(null);
  const [next, setNext] = useState<string | undefined>();
  const [openItems, setOpenItems] = useState<StoredEvent[] | null>(null);
  const [hw, setHw] = useState<StoredEvent | null | undefined>(undefined);
  const [sw, setSw] = useState<StoredEvent | null | undefined>(undefined);
  const [ledger, setLedger] = useState<LedgerRow | null | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);
  const events = may.readEvents(me);

  // a PC this user may not see (or that does not exist) is never asked about
  const known = agent !== undefined;
  useEffect(() => {
    if (!events || !known) return;
    const q = (extra: string): Promise<StoredEvent[]> => get<StoredEvent[]>(`/api/events?agent=${encodeURIComponent(id)}&${extra}`);
    call<StoredEvent[]>(`/api/events?agent=${encodeURIComponent(id)}&limit=${TIMELINE_PAGE}`).then((r) => {
      setTimeline(r.body);
      setNext(nextLink(r.headers));
    }, (e: Error) => setError(e.message));
    Promise.all([q("status=violation&limit=500"), q("status=needs_approval&limit=500")])
      .then(([v, n]) => setOpenItems([...v, ...n].filter(isOpenItem).sort((a, b) => b.id - a.id)), () => setOpenItems([]));
    q("type=asset.snapshot&limit=1").then((r) => setHw(r[0] ?? null), () => setHw(null));
    q("type=software.inventory&limit=1").then((r) => setSw(r[0] ?? null), () => setSw(null));
    if (may.readAssets(me)) {
      get<{ entries: LedgerRow[] }>("/api/assets").then((v) => setLedger(v.entries.find((e) => e.agent?.id === id) ?? null), () => setLedger(null));
    }
  }, [id, known]);

  const more = (): void => {
    if (!next) return;
    call<StoredEvent[]>(next).then((r) => {
      setTimeline((old) => [...(old ?? []), ...r.body]);
      setNext(nextLink(r.headers));
    }, (e: Error) => setError(e.message));
  };

  if (!agent) return html`<section aria-labelledby="pc-h"><h1 id="pc-h">${t("pc")}</h1><p class="muted">${t("nothing")}</p><p><a href="#/pcs">${t("backToPcs")}</a></p></section>`;
  const inv = rec(hw?.details.inventory);
  const system = rec(inv.system);
  const cpu = rec(inv.cpu);
  const memory = arr(inv.memory).reduce((s, m) => s + (typeof m.size === "number" ? m.size : 0), 0);
  const disks = arr(inv.disks);
  const nics = arr(inv.nics);
  const swd = rec(sw?.details);
  const bySource = rec(swd.bySource);
  const eventRow = (e: StoredEvent) => html`<li key=${e.id} class=${`tl status-${e.status}${e.resolution ? " resolved" : ""}`} data-event-id=${e.id}>
    <time datetime=${e.receivedAt}>${formatTime(lang, e.receivedAt)}</time>
    <${StatusBadge} status=${e.status} lang=${lang} />
    <a href=${`#/event/${e.id}`} onClick=${(ev: Event) => { ev.preventDefault(); onOpen(e); }}>${typeTitle(catalog, e.type, lang)}</a>
    <span class="what">${summary(e)}</span></li>`;

  return html`
    <section aria-labelledby="pc-h" class="pc-page">
      <p><a href="#/pcs">← ${t("backToPcs")}</a></p>
      <h1 id="pc-h">${agent.hostname}</h1>
      ${error ? html`<p role="alert" class="error">${error}</p>` : null}
      <dl class="facts">
        <dt>${t("status")}</dt><dd><${OnlineBadge} a=${agent} lang=${lang} /></dd>
        <dt>${t("lastSeen")}</dt><dd>${formatTime(lang, agent.lastSeen)}</dd>
        <dt>${t("os")}</dt><dd>${agent.os}</dd>
        <dt>${t("policyVersion")}</dt><dd>${agent.policyVersion ?? "—"}</dd>
        <dt>${t("organisation")}</dt><dd>${orgs.find((o) => o.id === agent.organisation)?.name ?? agent.organisation ?? "—"}</dd>
        <dt>${t("tags")}</dt><dd>${agent.tags?.length ? agent.tags.join(", ") : "—"}</dd>
      </dl>
      ${events ? html`
      <div class="pc-grid">
        <div>
          <h2>${t("openItems")} <span class="muted" data-count="open">(${openItems?.length ?? "…"})</span></h2>
          ${openItems === null ? html`<p>${t("loading")}</p>` : openItems.length === 0 ? html`<p class="muted">${t("nothing")}</p>`
            : html`<ul class="timeline open-items">${openItems.map(eventRow)}</ul>`}
          <h2>${t("inventory")}</h2>
          <h3>${t("ledgerEntry")}</h3>
          ${ledger === undefined ? html`<p class="muted">—</p>` : ledger === null ? html`<p><span class="badge warn">${t("notInLedger")}</span></p>` : html`
            <dl class="facts"><dt>${t("assetNo")}</dt><dd>${ledger.assetNo}</dd><dt>${t("location")}</dt><dd>${ledger.location}</dd>
              <dt>${t("owner")}</dt><dd>${ledger.owner}</dd>
              <dt>${t("flags")}</dt><dd>${ledger.flags.length ? ledger.flags.map((f) => html`<span class="badge warn">${f}</span> `) : html`<span class="badge ok">✔</span>`}</dd></dl>`}
          <h3>${t("hardware")}</h3>
          ${hw === undefined ? html`<p>${t("loading")}</p>` : hw === null ? html`<p class="muted">—</p>` : html`
            <dl class="facts hardware">
              <dt>${t("model")}</dt><dd>${[str(system.manufacturer), str(system.model)].filter(Boolean).join(" ") || "—"}</dd>
              <dt>${t("serial")}</dt><dd class="mono">${str(system.serial) || "—"}</dd>
              <dt>${t("cpu")}</dt><dd>${str(cpu.brand) || "—"}${cpu.cores ? ` (${str(cpu.cores)} cores)` : ""}</dd>
              <dt>${t("memory")}</dt><dd>${memory ? gib(memory) : "—"}</dd>
              <dt>${t("disks")}</dt><dd data-count="disks">${disks.length}${disks.length ? ` (${disks.map((d) => gib(Number(d.size) || 0)).join(", ")})` : ""}</dd>
              <dt>${t("nics")}</dt><dd data-count="nics">${nics.length}</dd>
              <dt>${t("receivedAt")}</dt><dd>${formatTime(lang, hw.receivedAt)}</dd>
            </dl>`}
          <h3>${t("software")}</h3>
          ${sw === undefined ? html`<p>${t("loading")}</p>` : sw === null ? html`<p class="muted">—</p>` : html`
            <dl class="facts software">
              <dt>${t("softwareCount")}</dt><dd data-count="software">${str(swd.count)}</dd>
              ${Object.entries(bySource).map(([s, n]) => html`<dt>${s}</dt><dd>${str(n)}</dd>`)}
              <dt>${t("receivedAt")}</dt><dd>${formatTime(lang, sw.receivedAt)}</dd>
            </dl>`}
        </div>
        <div>
          <h2>${t("timeline")}</h2>
          ${timeline === null ? html`<p>${t("loading")}</p>` : timeline.length === 0 ? html`<p class="muted">${t("nothing")}</p>`
            : html`<ol class="timeline all-events">${timeline.map(eventRow)}</ol>`}
          ${next ? html`<button type="button" onClick=${more}>${t("more")}</button>` : null}
        </div>
      </div>` : null}
    </section>`;
}
