/** The desk's dashboard: one page, hash-routed, 日本語 first. */
import { render } from "preact";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { ApiError, get, login, logout, may, openStream, setApiToken, whoAmI, type Me, type Organisation, type StoredEvent, type StreamMessage } from "./api.js";
import { loadCatalog, typeTitle, type Catalog } from "./catalog.js";
import { html } from "./html.js";
import { initialLang, rememberLang, translate, type Lang } from "./i18n.js";
import { Alerts } from "./views/alerts.js";
import { Audit } from "./views/audit.js";
import { Compliance } from "./views/compliance.js";
import { EventDetail } from "./views/event.js";
import { Ledger } from "./views/ledger.js";
import { Pc } from "./views/pc.js";
import { Pcs, type AgentView } from "./views/pcs.js";
import { Requests } from "./views/requests.js";
import "./styles.css";

type Page = "alerts" | "pcs" | "pc" | "requests" | "ledger" | "compliance" | "audit";
/** the pages in the menu, and who may see each (the server checks again) */
const NAV: Array<{ page: Page; label: Parameters<typeof translate>[1]; allowed: (me: Me) => boolean }> = [
  { page: "alerts", label: "navAlerts", allowed: may.readEvents },
  { page: "pcs", label: "navPcs", allowed: () => true },
  { page: "requests", label: "navRequests", allowed: () => true },
  { page: "ledger", label: "navLedger", allowed: may.readAssets },
  { page: "compliance", label: "navCompliance", allowed: may.readEvents },
  { page: "audit", label: "navAudit", allowed: may.readAudit },
];
/** live events kept in memory for the list (older ones are reached through paging) */
const LIVE_KEEP = 2000;
const ORG_KEY = "kyoka.organisation";

/** #/page[/arg][?query]; the old #/approvals is the requests page */
function routeFromHash(): { page: Page; arg: string } {
  const [path = ""] = location.hash.replace(/^#\/?/, "").split("?");
  const [p = "", arg = ""] = path.split("/");
  const page = (p === "approvals" ? "requests" : p) as Page;
  return { page: page === "pc" || NAV.some((n) => n.page === page) ? page : "alerts", arg: decodeURIComponent(arg) };
}

function Login({ lang, onDone }: { lang: Lang; onDone: (me: Me) => void }) {
  const t = (k: Parameters<typeof translate>[1]) => translate(lang, k);
  const [id, setId] = useState("");
  const [pw, setPw] = useState("");
  const [token, setToken] = useState("");
  const [error, setError] = useState<string | null>(null);
  const submit = async (ev: Event): Promise<void> => {
    ev.preventDefault();
    setError(null);
    try {
      if (token) {
        setApiToken(token.trim());
        const me = await whoAmI();
        if (!me) throw new ApiError(401, t("loginFailed"));
        onDone(me);
      } else {
        onDone(await login(id, pw));
      }
    } catch (err) {
      setApiToken(null);
      setError(err instanceof ApiError && err.status === 401 ? t("loginFailed") : (err as Error).message);
    }
  };
  return html`
    <main class="login">
      <h1>${t("appName")}</h1>
      <p class="muted">${t("tagline")}</p>
      <form onSubmit=${submit}>
        <label>${t("loginId")}<input name="login" autocomplete="username" value=${id} onInput=${(e: Event) => setId((e.target as HTMLInputElement).value)} /></label>
        <label>${t("password")}<input name="password" type="password" autocomplete="current-password" value=${pw} onInput=${(e: Event) => setPw((e.target as HTMLInputElement).value)} /></label>
        <details><summary>${t("orToken")}</summary>
          <label>${t("token")}<input name="token" type="password" autocomplete="off" value=${token} onInput=${(e: Event) => setToken((e.target as HTMLInputElement).value)} /></label>
        </details>
        ${error ? html`<p role="alert" class="error">${error}</p>` : null}
        <button type="submit" class="primary">${t("login")}</button>
      </form>
    </main>`;
}

/** A short two-tone chime for critical events (WebAudio: no sound file to fetch). */
function chime(): void {
  try {
    const ctx = new AudioContext();
    for (const [i, f] of [880, 660].entries()) {
      const o = ctx.createOscillator();
      const g = ctx.createGain();
      o.frequency.value = f;
      g.gain.value = 0.08;
      o.connect(g).connect(ctx.destination);
      o.start(ctx.currentTime + i * 0.18);
      o.stop(ctx.currentTime + i * 0.18 + 0.15);
    }
    setTimeout(() => void ctx.close(), 800);
  } catch {
    /* no audio here */
  }
}

function App() {
  const [lang, setLang] = useState<Lang>(initialLang());
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const [route, setRoute] = useState(routeFromHash());
  const [orgs, setOrgs] = useState<Organisation[]>([]);
  const [organisation, setOrganisation] = useState<string>(() => sessionStorage.getItem(ORG_KEY) ?? "");
  /** routes this server has (GET /api): the link to issue 12's reports when present */
  const [routes, setRoutes] = useState<Set<string>>(new Set());
  const [catalog, setCatalog] = useState<Catalog | null>(null);
  const [agents, setAgents] = useState<AgentView[]>([]);
  // live events: the newest LIVE_KEEP, and how many ever arrived (the alert list takes what is new)
  const [live, setLive] = useState<{ list: StoredEvent[]; total: number }>({ list: [], total: 0 });
  const buffer = useRef<StoredEvent[]>([]);
  const flushTimer = useRef<number | undefined>(undefined);
  /** stream events are applied at most every 250 ms: 200 events/s stay a few renders a second */
  const pushLive = (e: StoredEvent, now = false): void => {
    buffer.current.push(e);
    const flush = (): void => {
      flushTimer.current = undefined;
      const add = buffer.current.splice(0);
      if (add.length) setLive((l) => ({ list: [...l.list, ...add].slice(-LIVE_KEEP), total: l.total + add.length }));
    };
    if (now) {
      if (flushTimer.current) clearTimeout(flushTimer.current);
      flush();
    } else flushTimer.current ??= window.setTimeout(flush, 250);
  };
  const [streamUp, setStreamUp] = useState(false);
  const [selected, setSelected] = useState<StoredEvent | null>(null);
  const [muted, setMuted] = useState(() => localStorage.getItem("kyoka.muted") === "1");
  const mutedRef = useRef(muted);
  /**
   * Desktop notifications for critical events: the permission is asked from a click (Firefox
   * refuses, with an error, a request that no user action started; Chromium quietens it).
   */
  const [notify, setNotify] = useState<NotificationPermission | "unsupported">(() => ("Notification" in window ? Notification.permission : "unsupported"));
  const askNotify = (): void => {
    void Notification.requestPermission().then(setNotify, () => setNotify(Notification.permission));
  };
  const t = (k: Parameters<typeof translate>[1]) => translate(lang, k);

  useEffect(() => rememberLang(lang), [lang]);
  useEffect(() => {
    mutedRef.current = muted;
    localStorage.setItem("kyoka.muted", muted ? "1" : "0");
  }, [muted]);
  useEffect(() => {
    whoAmI().then(setMe, () => setMe(null));
    const onHash = (): void => setRoute(routeFromHash());
    addEventListener("hashchange", onHash);
    return () => removeEventListener("hashchange", onHash);
  }, []);

  useEffect(() => {
    sessionStorage.setItem(ORG_KEY, organisation);
  }, [organisation]);

  useEffect(() => {
    if (!me) return;
    void loadCatalog().then(setCatalog);
    get<AgentView[]>("/api/agents").then(setAgents, () => setAgents([]));
    get<Organisation[]>("/api/organisations").then(setOrgs, () => setOrgs([]));
    get<{ routes: Array<{ method: string; path: string }> }>("/api").then((r) => setRoutes(new Set(r.routes.map((x) => `${x.method} ${x.path}`))), () => undefined);
    if (!may.switchOrganisation(me)) setOrganisation("");
    // a contractor's user has no event stream (stream.read): its pages are PCs and requests
    if (!may.readEvents(me)) return;
    const stop = openStream((m: StreamMessage) => {
      if (m.kind === "event") {
        pushLive(m.event);
        // the event open in the detail changed elsewhere (resolved, approved, denied): show it as it is now
        setSelected((s) => (s && s.id === m.event.id ? m.event : s));
        if (m.event.severity === "critical") {
          if (!mutedRef.current) chime();
          if ("Notification" in window && Notification.permission === "granted") {
            new Notification(translate(initialLang(), "newCritical"), { body: `${m.event.type} ${m.event.articles.join(" ")}`, tag: `kyoka-${m.event.id}` });
          }
        }
      } else {
        setAgents((list) => list.map((a) => (a.id === m.id ? { ...a, online: m.online, lastSeen: m.lastSeen } : a)));
      }
    }, setStreamUp);
    return stop;
  }, [me]);

  const agentMap = useMemo(() => new Map(agents.map((a) => [a.id, a])), [agents]);
  const orgAgents = useMemo(() => (organisation ? agents.filter((a) => a.organisation === organisation) : agents), [agents, organisation]);
  const openItems = useMemo(() => {
    const m = new Map<string, number>();
    for (const e of live.list) if (!e.resolution && (e.status === "needs_approval" || e.status === "violation")) m.set(e.agentId, (m.get(e.agentId) ?? 0) + 1);
    return m;
  }, [live.total]);

  if (me === undefined) return html`<p class="loading">${t("loading")}</p>`;
  if (me === null) return html`<${Login} lang=${lang} onDone=${setMe} />`;
  const langButton = html`<button type="button" class="lang" lang=${lang === "ja" ? "en" : "ja"} title=${t("languageLabel")} onClick=${() => setLang(lang === "ja" ? "en" : "ja")}>${t("language")}</button>`;
  const nav = NAV.filter((n) => n.allowed(me));
  const home = nav[0]!.page;
  const page: Page = route.page === "pc" || nav.some((n) => n.page === route.page) ? route.page : home;
  const current = page === "pc" ? "pcs" : page;
  const events = may.readEvents(me);
  const contractors = orgs.filter((o) => o.kind === "contractor");

  return html`
    <div class="shell">
      <header class="top">
        <a class="brand" href=${`#/${home}`}>${t("appName")}</a>
        <nav aria-label=${lang === "ja" ? "メインメニュー" : "main"}>
          ${nav.map((n) => html`<a href=${`#/${n.page}`} aria-current=${current === n.page ? "page" : undefined}>${t(n.label)}</a>`)}
        </nav>
        ${may.switchOrganisation(me) && contractors.length ? html`<label class="org-switch">${t("organisation")}
          <select name="organisation" value=${organisation} onChange=${(e: Event) => setOrganisation((e.target as HTMLSelectElement).value)}>
            <option value="">${t("allOrganisations")}</option>
            ${contractors.map((o) => html`<option value=${o.id}>${o.name}</option>`)}
          </select></label>` : null}
        ${events ? html`<span class=${`live ${streamUp ? "up" : "down"}`} role="status"><span aria-hidden="true">${streamUp ? "●" : "○"}</span> ${streamUp ? t("live") : t("offline")}</span>
        <button type="button" onClick=${() => setMuted(!muted)} aria-pressed=${muted}>${muted ? t("unmute") : t("mute")}</button>
        ${notify === "default" ? html`<button type="button" class="notify" title=${t("enableNotificationsLabel")} onClick=${askNotify}>${t("enableNotifications")}</button>` : null}` : null}
        ${langButton}
        <span class="who">${me.login} (${me.role}${me.organisationName ? ` · ${me.organisationName}` : ""})</span>
        <button type="button" onClick=${() => { void logout().then(() => setMe(null)); }}>${t("logout")}</button>
      </header>
      <main id="main">
        ${page === "alerts" ? html`<${Alerts} lang=${lang} me=${me} catalog=${catalog} agents=${agentMap} organisation=${organisation} live=${live.list} liveTotal=${live.total} onOpen=${setSelected} />` : null}
        ${page === "pcs" ? html`<${Pcs} lang=${lang} agents=${orgAgents} open=${openItems} orgs=${orgs} />` : null}
        ${page === "pc" ? html`<${Pc} key=${route.arg} lang=${lang} me=${me} catalog=${catalog} id=${route.arg} agent=${agentMap.get(route.arg)} orgs=${orgs} onOpen=${setSelected} />` : null}
        ${page === "requests" ? html`<${Requests} lang=${lang} me=${me} catalog=${catalog} agents=${agents} orgs=${orgs} organisation=${organisation} />` : null}
        ${page === "ledger" ? html`<${Ledger} lang=${lang} />` : null}
        ${page === "compliance" ? html`<${Compliance} lang=${lang} catalog=${catalog} orgs=${orgs} organisation=${organisation} reports=${[...routes].some((r) => r.startsWith("GET /api/reports"))} />` : null}
        ${page === "audit" ? html`<${Audit} lang=${lang} />` : null}
      </main>
      ${selected ? html`<${EventDetail} lang=${lang} me=${me} catalog=${catalog} event=${selected}
        hostname=${agentMap.get(selected.agentId)?.hostname ?? selected.agentId}
        onClose=${() => setSelected(null)}
        onChanged=${(e: StoredEvent) => { setSelected(e); pushLive(e, true); }} />` : null}
      <p class="sr-only" aria-live="polite">${selected ? typeTitle(catalog, selected.type, lang) : ""}</p>
    </div>`;
}

render(html`<${App} />`, document.getElementById("app")!);
