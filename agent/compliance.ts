/**
 * The local compliance check (点検): a snapshot of every control (agent/collectors/snapshot-sources.ts)
 * judged under a policy by THE decision the server uses (policies/decide.ts) — per control, what
 * was found and its status, each finding with its clause. `kyoka snapshot` prints it; the agent's
 * scheduled compliance snapshot (agent/compliance-schedule.ts) records it as evidence.
 *
 * What counts as found, per control (the events the collectors would raise on a PC seen for the
 * first time, decided as the server would decide them):
 * - software: each installed package as `software.installed`; only what the policy prohibits is a
 *   finding (the rest is the inventory: 甲許可 concerns changes, which the agent reports as they happen);
 * - p2p: each P2P finding of the scan (installed, present, running, traffic);
 * - network: each attached network the policy does not approve (`network.attached`), each
 *   listening port and outbound connection (`network.listening` / `network.connection`);
 * - media: each medium attached (`media.inserted`, `media.unencrypted` for a plain filesystem). The
 *   media ledger (媒体台帳) is the server's: locally a medium is not judged registered or not;
 * - asset: the hardware inventory (the PC ledger 台帳 is reconciled on the server);
 * - software, programs from outside any package (the `executed` section, 別記2 第10): each program
 *   running now from outside the package/OS index, and each one this PC's agent has seen run
 *   (its state folder), as `software.executed` — once per SHA-256 (per path when it could not be
 *   hashed), decided as the server would (prohibited by hash, signer or name → violation; a 甲許可
 *   by hash, path, signer or name → approved; else needs_approval). The agent's own executable
 *   is never in the section.
 * Approvals (甲許可) are those the server last pushed to this PC (`status.json`), when enrolled.
 *
 * A control whose collector the policy disables is `off`; one whose section could not be read is
 * `unchecked` (未確認) and needs action, like a violation or a pending 甲許可.
 */
import { attachedInterfaces, connectionKey, connectionEvent, listeningEvent, listeningKey, outboundConnections, type ScannedSocket } from "./collectors/network/evaluate.js";
import type { InterfaceState } from "./collectors/network/types.js";
import type { SocketOwner } from "./os/linux/socket-owners.js";
import type { Catalog } from "../policies/catalog.js";
import { decide, STATUS_LABEL } from "../policies/decide.js";
import type { Policy } from "../policies/policy.js";
import type { Approval, Control, Details, EventType, NewEvent, Reason, Severity, Status } from "../policies/schema.js";
import { fileName } from "../policies/matchers/executed.js";

export type Lang = "ja" | "en";
export type Verdict = "ok" | "needs_action" | "off" | "unchecked";

/** The snapshot document (`kyoka snapshot --json` before `compliance` is added). */
export interface SnapshotDoc {
  takenAt: string;
  errors: Array<{ source: string; message: string }>;
  [section: string]: unknown;
}

export interface ComplianceFinding {
  type: EventType;
  status: Status;
  severity: Severity;
  articles: string[];
  /** what was found, e.g. `qBittorrent (qbittorrent-nox 4.5.2)` */
  subject: string;
  /** what it does, e.g. `installed` */
  action: string;
  reasons: Reason[];
  approvalId: string | null;
}

export interface ControlCompliance {
  control: Control;
  /** the snapshot section it was judged from */
  section: string;
  /** the collector the policy enables or disables for it */
  collector: string;
  verdict: Verdict;
  articles: string[];
  title: Reason;
  /** how many items the check looked at (packages, interfaces and sockets, media, …) */
  checked: number;
  error?: string;
  findings: ComplianceFinding[];
}

export interface PolicySource {
  source: "default" | "file" | "server";
  file?: string;
  version?: number | null;
}

export interface ComplianceReport {
  evaluatedAt: string;
  policy: PolicySource;
  /** true when a control needs action: a violation, a 甲許可 pending, or a control not checked */
  needsAction: boolean;
  /** findings per status, over every control */
  counts: Record<Status, number>;
  controls: ControlCompliance[];
}

export interface ComplianceInput {
  policy: Policy;
  policySource: PolicySource;
  /** the approvals (甲許可) in force for this PC, as the server pushed them */
  approvals?: readonly Approval[];
  agent?: { id: string; tags: readonly string[] };
  now?: Date;
  /**
   * the control catalog (policies/catalog.ts loadCatalog(); `kyoka snapshot` takes it from the
   * parse cache, policies/cached.ts, so that this module loads neither yaml nor zod)
   */
  catalog: Catalog;
  /** judge only these snapshot sections (the others are left out of the report); default: all */
  sections?: ReadonlySet<string>;
}

/** Snapshot section → control, and the collector the policy names for it (agent/collectors/index.ts). */
const SECTIONS: ReadonlyArray<{ section: string; control: Control; collector: string }> = [
  { section: "software", control: "software", collector: "software" },
  { section: "p2p", control: "p2p", collector: "p2p" },
  { section: "network", control: "network", collector: "network" },
  { section: "media", control: "media", collector: "media" },
  { section: "hardware", control: "asset", collector: "asset" },
  { section: "executed", control: "software", collector: "executed" },
];

/** A section judged under a title of its own (not its control's): programs from outside packages are one line of the software control. */
const SECTION_TITLE: Readonly<Record<string, EventType>> = { executed: "software.executed" };

type Found = { event: NewEvent; subject: string; action: string; keepIf?: (status: Status) => boolean };

const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : typeof v === "number" ? String(v) : undefined);
const joined = (...parts: unknown[]): string => parts.map(str).filter((p): p is string => p !== undefined).join(" ");
const rec = (v: unknown): Record<string, unknown> => (typeof v === "object" && v !== null && !Array.isArray(v) ? v as Record<string, unknown> : {});
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

function softwareFound(section: unknown): { checked: number; found: Found[] } {
  const items = list(rec(section).items).map(rec);
  return {
    checked: items.length,
    found: items.map((i) => ({
      event: { type: "software.installed", details: { name: i.name, version: i.version ?? null, publisher: i.publisher ?? null, source: i.source ?? null, arch: i.arch ?? null } },
      subject: joined(i.name, i.version),
      action: "installed",
      // the inventory itself is not a finding: only what the policy prohibits
      keepIf: (status) => status === "violation",
    })),
  };
}

const P2P_ACTION: Record<string, string> = { "p2p.installed": "installed", "p2p.present": "found on disk", "p2p.running": "running", "p2p.traffic": "communicating" };

function p2pFound(section: unknown): { checked: number; found: Found[] } {
  const found: Found[] = [];
  for (const raw of list(section).map(rec)) {
    const { type, ...details } = raw;
    if (typeof type !== "string" || !(type in P2P_ACTION)) continue;
    const what = type === "p2p.present" ? str(details.path) : joined(details.name, details.version) || str(details.path);
    const family = str(details.family);
    const subject = family && what && what !== family ? `${family} (${what})` : family ?? what ?? "?";
    found.push({ event: { type: type as EventType, details: details as Details }, subject, action: P2P_ACTION[type]! });
  }
  return { checked: found.length, found };
}

function owner(row: Record<string, unknown>): SocketOwner | undefined {
  return typeof row.pid === "number"
    ? { pid: row.pid, process: str(row.process) ?? "?", exe: str(row.exe) ?? null, uid: null, user: str(row.user) ?? null }
    : undefined;
}

function networkFound(section: unknown): { checked: number; found: Found[] } {
  const net = rec(section);
  const interfaces = list(net.interfaces) as InterfaceState[];
  const listening = list(net.listening).map(rec);
  const connections = list(net.connections).map(rec);
  const found: Found[] = [];
  for (const st of attachedInterfaces(interfaces)) {
    for (const addr of st.addresses) {
      found.push({
        event: { type: "network.attached", details: { iface: st.iface, address: addr.address, cidr: addr.cidr, gateway: st.gateway, gatewayMac: st.gatewayMac, ssid: st.ssid, bssid: st.bssid } },
        subject: `${st.iface} ${addr.cidr}${st.ssid ? ` SSID ${st.ssid}` : ""}${st.gateway ? ` gateway ${st.gateway}` : ""}`,
        action: "attached",
      });
    }
  }
  const seen = new Set<string>();
  for (const row of listening) {
    const s = row as unknown as ScannedSocket;
    const o = owner(row);
    const key = listeningKey(o, s);
    if (seen.has(key)) continue;
    seen.add(key);
    found.push({ event: listeningEvent(s, o), subject: `${o?.process ?? "?"} ${s.protocol}/${s.localPort}`, action: "listening" });
  }
  for (const row of outboundConnections(connections as unknown as ScannedSocket[]) as unknown as Array<Record<string, unknown>>) {
    const s = row as unknown as ScannedSocket;
    const o = owner(row);
    const key = connectionKey(o, s);
    if (seen.has(key)) continue;
    seen.add(key);
    found.push({ event: connectionEvent(s, o), subject: `${o?.process ?? "?"} → ${s.remoteAddress}:${s.remotePort}`, action: "connected" });
  }
  return { checked: interfaces.length + listening.length + connections.length, found };
}

function mediaFound(section: unknown): { checked: number; found: Found[] } {
  const found: Found[] = [];
  const media = list(section).map(rec);
  for (const m of media) {
    const details: Details = {
      device: m.device ?? null, disk: m.disk ?? null, vendorId: m.vendorId ?? null, productId: m.productId ?? null, serial: m.serial ?? null,
      label: m.label ?? null, mount: m.mount ?? null, size: typeof m.size === "number" ? m.size : null,
    };
    const subject = `${joined(m.vendor, m.model, m.label) || str(m.device) || "?"}${str(m.serial) ? ` (serial ${str(m.serial)})` : ""}`;
    found.push({ event: { type: "media.inserted", details }, subject, action: "attached" });
    if (m.encrypted === false) found.push({ event: { type: "media.unencrypted", details }, subject, action: "not encrypted" });
  }
  return { checked: media.length, found };
}

function hardwareFound(section: unknown): { checked: number; found: Found[] } {
  const hw = rec(section);
  return { checked: Object.keys(hw).length, found: [] };
}

/**
 * The executed section: the programs running now, then those the agent has seen that are not
 * running (one finding per SHA-256, or per path for a program it could not hash).
 */
function executedFound(section: unknown): { checked: number; found: Found[] } {
  const ex = rec(section);
  const found: Found[] = [];
  const keys = new Set<string>();
  const take = (row: Record<string, unknown>, action: string): void => {
    const path = str(row.path);
    if (!path) return;
    const sha256 = typeof row.sha256 === "string" && /^[0-9a-f]{64}$/i.test(row.sha256) ? row.sha256.toLowerCase() : null;
    const key = sha256 ?? `path:${path}`;
    if (keys.has(key)) return;
    keys.add(key);
    const details: Details = {
      path, name: str(row.name) ?? fileName(path), sha256,
      ...(typeof row.size === "number" ? { size: row.size } : {}),
      ...(str(row.hashError) ? { hashError: str(row.hashError)! } : {}),
      ...(str(row.signer) ? { signer: str(row.signer)! } : {}),
    };
    found.push({ event: { type: "software.executed", details }, subject: `${path}${sha256 ? ` (SHA-256 ${sha256.slice(0, 16)}…)` : ""}`, action });
  };
  const running = list(ex.running).map(rec);
  for (const r of running) take(r, `running (${typeof r.processes === "number" ? r.processes : 1} process(es))`);
  const seen = list(ex.seen).map(rec);
  for (const r of seen) take({ ...r, sha256: r.sha256 ?? null }, `ran ${typeof r.runs === "number" ? r.runs : 1} time(s) (last ${str(r.lastSeen) ?? "?"})`);
  return { checked: keys.size, found };
}

const FOUND: Record<string, (section: unknown) => { checked: number; found: Found[] }> = {
  software: softwareFound, p2p: p2pFound, network: networkFound, media: mediaFound, hardware: hardwareFound, executed: executedFound,
};

const NEEDS_ACTION: ReadonlySet<Status> = new Set<Status>(["violation", "needs_approval"]);

/** Judge a snapshot under a policy: per control, its findings with status and clause. Pure. */
export function evaluateCompliance(doc: SnapshotDoc, input: ComplianceInput): ComplianceReport {
  const catalog = input.catalog;
  const now = input.now ?? new Date();
  const agent = input.agent ?? { id: "local", tags: [] };
  const counts: Record<Status, number> = { violation: 0, needs_approval: 0, approved: 0, info: 0 };
  const controls: ControlCompliance[] = [];
  for (const { section, control, collector } of SECTIONS) {
    if (input.sections && !input.sections.has(section)) continue;
    const own = SECTION_TITLE[section];
    const base = {
      control, section, collector,
      articles: own ? catalog.events[own].articles : catalog.controls[control].articles,
      title: own ? catalog.events[own].title : catalog.controls[control].title,
    };
    if (input.policy.collectors[collector]?.enabled === false) {
      controls.push({ ...base, verdict: "off", checked: 0, findings: [] });
      continue;
    }
    const error = doc.errors.find((e) => e.source === section);
    if (error || doc[section] === undefined) {
      controls.push({ ...base, verdict: "unchecked", checked: 0, error: error?.message ?? "not read", findings: [] });
      continue;
    }
    const { checked, found } = FOUND[section]!(doc[section]);
    const findings: ComplianceFinding[] = [];
    for (const f of found) {
      const d = decide({ type: f.event.type, details: f.event.details, agent }, { catalog, policy: input.policy, approvals: input.approvals ?? [], now });
      if (f.keepIf && !f.keepIf(d.status)) continue;
      counts[d.status]++;
      findings.push({ type: f.event.type, status: d.status, severity: d.severity, articles: d.articles, subject: f.subject, action: f.action, reasons: d.reasons, approvalId: d.approvalId });
    }
    const verdict: Verdict = findings.some((f) => NEEDS_ACTION.has(f.status)) ? "needs_action" : "ok";
    controls.push({ ...base, verdict, checked, findings });
  }
  return {
    evaluatedAt: now.toISOString(),
    policy: input.policySource,
    needsAction: controls.some((c) => c.verdict === "needs_action" || c.verdict === "unchecked"),
    counts,
    controls,
  };
}

/**
 * The approvals (甲許可) the server pushed to this PC (status.json, LocalStatus) as decide takes
 * them: the server sent only those covering this PC, so their scope is all.
 */
export function pushedApprovals(pushed: unknown): Approval[] {
  if (!Array.isArray(pushed)) return [];
  return pushed
    .filter((a): a is Record<string, unknown> => typeof a === "object" && a !== null && typeof (a as { id?: unknown }).id === "string")
    .map((a) => ({ ...a, scope: { all: true } }) as unknown as Approval);
}

// --- text -----------------------------------------------------------------------------------

const VERDICT_LABEL: Record<Verdict, Reason> = {
  ok: { ja: "問題なし", en: "OK" },
  needs_action: { ja: "要対応", en: "needs action" },
  off: { ja: "対象外（ポリシーで無効）", en: "off (disabled by the policy)" },
  unchecked: { ja: "未確認（読み取れず）", en: "not checked (could not be read)" },
};

const STATUS_ORDER: Status[] = ["violation", "needs_approval", "info", "approved"];

function policyLine(p: PolicySource, lang: Lang): string {
  if (p.source === "file") return lang === "ja" ? `ポリシー: ファイル ${p.file}` : `policy: file ${p.file}`;
  if (p.source === "server") return lang === "ja" ? `ポリシー: サーバーの最新 (版 ${p.version ?? "?"})` : `policy: the server's last (version ${p.version ?? "?"})`;
  return lang === "ja" ? "ポリシー: 既定" : "policy: the default";
}

/** One finding as a line: `違反 個人情報取扱特記事項 第12 第9項: qBittorrent (qbittorrent-nox 4.5.2) installed`. */
export function findingLine(f: ComplianceFinding, lang: Lang): string {
  return `${STATUS_LABEL[f.status][lang]} ${f.articles[0] ?? ""}: ${f.subject} ${f.action}${f.approvalId ? ` (${f.approvalId})` : ""}`;
}

/** The report as the contractor reads it before an audit (日本語 or English). */
export function complianceText(r: ComplianceReport, lang: Lang, takenAt?: string): string {
  const out: string[] = [];
  const when = takenAt ?? r.evaluatedAt;
  out.push(lang === "ja" ? `kyoka 点検 ${when} — ${policyLine(r.policy, lang)}` : `kyoka check ${when} — ${policyLine(r.policy, lang)}`);
  for (const c of r.controls) {
    const head = `[${VERDICT_LABEL[c.verdict][lang]}] ${c.title[lang]} (${c.collector === c.control ? c.control : `${c.control}/${c.collector}`}; ${c.articles.join(", ")})`;
    const approved = c.findings.filter((f) => f.status === "approved").length;
    const tail = c.verdict === "off" ? "" : c.verdict === "unchecked"
      ? (lang === "ja" ? ` — ${c.error}` : ` — ${c.error}`)
      : (lang === "ja" ? ` — ${c.checked} 件を確認${approved ? `、許可済み ${approved} 件` : ""}` : ` — ${c.checked} item(s) checked${approved ? `, ${approved} approved` : ""}`);
    out.push(head + tail);
    const shown = c.findings.filter((f) => f.status !== "approved").sort((a, b) => STATUS_ORDER.indexOf(a.status) - STATUS_ORDER.indexOf(b.status));
    for (const f of shown) out.push(`  ${findingLine(f, lang)}`);
  }
  const n = r.counts;
  if (lang === "ja") {
    out.push(r.needsAction
      ? `結果: 要対応（違反 ${n.violation} 件、甲許可待ち ${n.needs_approval} 件${r.controls.some((c) => c.verdict === "unchecked") ? "、未確認の管理項目あり" : ""}）`
      : "結果: 対応の必要なし");
  } else {
    out.push(r.needsAction
      ? `result: needs action (${n.violation} violation(s), ${n.needs_approval} needing approval${r.controls.some((c) => c.verdict === "unchecked") ? ", a control not checked" : ""})`
      : "result: nothing needs action");
  }
  return out.join("\n") + "\n";
}
