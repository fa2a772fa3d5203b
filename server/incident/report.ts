/**
 * Incident report drafts (事故報告書（案）, 別記2 第16; 個人情報取扱特記事項 第16): for one
 * critical event, what happened, on which PC (its ledger line), the user and the medium, when it
 * was detected and when the server received it, what kyoka did (process terminated, medium kept
 * read-only… — from the event's details), the clauses, the PC's events in the hour around it, and
 * the parts 乙 fills in (原因, 再発防止策). Japanese; HTML (printable) or Markdown.
 *
 * `gatherIncident` reads; `renderIncidentHtml` / `renderIncidentMarkdown` are pure.
 */
import { jstTime } from "../../lib/day.js";
import { loadCatalog } from "../../policies/catalog.js";
import type { LedgerEntry } from "../../policies/ledger.js";
import { controlOf, type Details, type StoredEvent } from "../../policies/schema.js";
import { detailSummary, eventTitle, SEVERITY_LABEL, STATUS_LABEL, statusSeverity } from "../labels.js";
import type { AgentRecord, Store } from "../store.js";

/** The events an incident report is drafted for: violations, and open high/critical ones. */
export function isIncident(e: Pick<StoredEvent, "status" | "severity">): boolean {
  return e.status === "violation" || (e.status === "needs_approval" && (e.severity === "critical" || e.severity === "high"));
}

/** The related events: this long before and after the event (observed time). */
export const RELATED_WINDOW_MS = 30 * 60_000;
const RELATED_MAX = 200;

export interface IncidentReport {
  event: StoredEvent;
  generatedAt: string;
  agent: Pick<AgentRecord, "id" | "hostname" | "os" | "version" | "enrolledAt"> | null;
  organisation: string | null;
  ledger: LedgerEntry | null;
  /** who was using the PC: the event's own user, else those logged on in the last asset snapshot before it */
  users: { names: string[]; source: "event" | "snapshot" | null; snapshotAt?: string };
  medium: Array<[string, string]>;
  actions: string[];
  related: StoredEvent[];
  relatedTruncated: boolean;
}

export interface IncidentSources {
  store: Store;
  /** the ledger line of a PC (台帳), if it is in the ledger */
  ledgerOf(agentId: string): Promise<LedgerEntry | null>;
  organisationName(agentId: string): string | null;
}

const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : typeof v === "number" ? String(v) : undefined);

const MEDIUM_FIELDS: ReadonlyArray<[string, string]> = [
  ["label", "ラベル"], ["vendorId", "ベンダーID"], ["productId", "製品ID"], ["serial", "シリアル番号"], ["serialSource", "シリアルの取得元"],
  ["device", "デバイス"], ["disk", "ディスク"], ["mount", "マウント先"], ["registered", "媒体台帳"],
];

function mediumOf(e: StoredEvent): Array<[string, string]> {
  const d: Details = controlOf(e.type) === "media" ? e.details
    : typeof e.details.medium === "object" && e.details.medium !== null ? e.details.medium as Details : {};
  const out: Array<[string, string]> = [];
  for (const [key, label] of MEDIUM_FIELDS) {
    const v = d[key];
    if (key === "registered" && typeof v === "boolean") out.push([label, v ? "登録済み" : "未登録"]);
    else if (str(v)) out.push([label, str(v)!]);
  }
  return out;
}

const READ_ONLY: Record<string, string> = {
  enforced: "ウイルスチェックが終わるまで記録媒体を読み取り専用にしました。",
  kept: "ウイルスチェックで問題が見つかったため、記録媒体を読み取り専用のまま保持しました（書き込み不可）。",
  released: "ウイルスチェックが正常に終わったため、記録媒体を書き込み可能に戻しました。",
  already: "記録媒体は接続時から読み取り専用でした。",
  "not-supported": "この OS では記録媒体を読み取り専用にできないため、書き込み可能なまま検査しました。",
  failed: "記録媒体を読み取り専用にできませんでした（書き込み可能なまま）。",
};

/** What kyoka did, from the event's details (the agent records its response there). */
export function actionsOf(e: StoredEvent): string[] {
  const d = e.details;
  const out: string[] = [];
  const proc = [str(d.name) ?? str(d.process) ?? str(d.family), str(d.pid) ? `PID ${str(d.pid)}` : undefined].filter(Boolean).join("、");
  if (d.response === "terminated") out.push(`ポリシーに従い、プロセス${proc ? `（${proc}）` : ""}を強制終了しました${str(d.signal) ? `（${str(d.signal)}）` : ""}。`);
  else if (d.response === "terminate_failed") out.push(`ポリシーに従いプロセス${proc ? `（${proc}）` : ""}の強制終了を試みましたが、失敗しました${str(d.error) ? `: ${str(d.error)}` : ""}。`);
  else if (str(d.response)) out.push(`エージェントの措置: ${str(d.response)}`);
  if (str(d.readOnly) && READ_ONLY[str(d.readOnly)!]) out.push(READ_ONLY[str(d.readOnly)!]!);
  if (d.result === "infected") {
    const sigs = Array.isArray(d.signatures) ? d.signatures.filter((s): s is string => typeof s === "string") : [];
    out.push(`ウイルスチェックでウイルスを検出しました${sigs.length ? `（${sigs.slice(0, 5).join("、")}）` : ""}${str(d.scanner) ? `（検査: ${str(d.scanner)}）` : ""}。`);
  }
  if (!out.length) out.push("自動の措置はありません（検知と記録のみ。措置はポリシーの設定によります）。");
  out.push(`検知をサーバーへ送信し、${jstTime(e.receivedAt)} に記録しました（判定: ${statusSeverity(e)}）。`);
  if (e.resolution) out.push(`対応記録: ${e.resolution}${e.note ? `（${e.note}）` : ""}${e.resolvedAt ? ` — ${jstTime(e.resolvedAt)}` : ""}`);
  return out;
}

/** Everything the draft shows, read from the store (the caller checked the event may be seen). */
export async function gatherIncident(src: IncidentSources, event: StoredEvent, now = new Date()): Promise<IncidentReport> {
  const { store } = src;
  const agent = (await store.getAgent(event.agentId)) ?? null;
  const observed = Date.parse(event.observedAt);
  const received = Date.parse(event.receivedAt);
  const center = Number.isFinite(observed) ? observed : received;
  // received-time bounds wide enough for events sent late from the PC's queue; then by observed time
  const rows = await store.queryEvents({
    agents: [event.agentId], since: new Date(Math.min(center, received) - RELATED_WINDOW_MS).toISOString(),
    until: new Date(Math.max(center, received) + RELATED_WINDOW_MS + 86_400_000).toISOString(), order: "asc", limit: 5000,
  });
  const near = rows.filter((r) => r.id !== event.id && Math.abs(Date.parse(r.observedAt) - center) <= RELATED_WINDOW_MS && r.type !== "agent.check")
    .sort((a, b) => a.observedAt.localeCompare(b.observedAt) || a.id - b.id);

  let users: IncidentReport["users"] = { names: [], source: null };
  const own = str(event.details.user) ?? (event.details.uid !== undefined && event.details.uid !== null ? `uid ${String(event.details.uid)}` : undefined);
  if (own) users = { names: [own], source: "event" };
  else {
    const snaps = await store.queryEvents({ agents: [event.agentId], type: "asset.snapshot", until: new Date(received + 1).toISOString(), limit: 1 });
    const snap = snaps[0];
    const list = snap && Array.isArray(snap.details.users) ? snap.details.users : [];
    const names = [...new Set(list.map((u) => (typeof u === "object" && u !== null ? str((u as Details).user) : undefined)).filter((n): n is string => !!n))];
    if (snap && names.length) users = { names, source: "snapshot", snapshotAt: snap.observedAt };
  }

  return {
    event, generatedAt: now.toISOString(),
    agent: agent && { id: agent.id, hostname: agent.hostname, os: agent.os, version: agent.version, enrolledAt: agent.enrolledAt },
    organisation: src.organisationName(event.agentId),
    ledger: await src.ledgerOf(event.agentId),
    users, medium: mediumOf(event), actions: actionsOf(event),
    related: near.slice(0, RELATED_MAX), relatedTruncated: near.length > RELATED_MAX,
  };
}

// --- the document, once as neutral blocks, then HTML or Markdown ---------------------------------

type Block =
  | { k: "h1" | "h2" | "p" | "note"; text: string }
  | { k: "fields"; rows: Array<[string, string]> }
  | { k: "list"; items: string[] }
  | { k: "table"; head: string[]; rows: string[][] }
  | { k: "fill"; lines: number; hint: string }
  | { k: "pre"; text: string };

function blocks(r: IncidentReport): Block[] {
  const e = r.event;
  const title = eventTitle(e.type);
  const controlTitle = loadCatalog().controls[controlOf(e.type)]?.title.ja ?? controlOf(e.type);
  const hostname = r.agent?.hostname ?? e.agentId;
  const summary = detailSummary(e.details, 8);
  const fields = Object.entries(e.details).filter(([, v]) => typeof v !== "object" || v === null).map(([k, v]): [string, string] => [k, String(v)]);
  const ledger = r.ledger;
  return [
    { k: "h1", text: "事故報告書（案）" },
    { k: "fields", rows: [
      ["件名", `${title}（${hostname}）`], ["作成日時", `${jstTime(r.generatedAt)}（kyoka が自動作成した下書き）`],
      ["報告者（乙）", "＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿"], ["報告先（甲）", "＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿"],
      ["報告日", "＿＿＿＿年＿＿月＿＿日"], ["イベントID", `${e.id}`],
    ] },
    { k: "note", text: "この文書は kyoka が記録した証跡から作成した下書きです。「乙記入」の欄を記入し、内容を確認のうえ甲へ報告してください（別記2 第16、個人情報取扱特記事項 第16）。" },

    { k: "h2", text: "1. 事故の概要（何が起きたか）" },
    { k: "p", text: `${hostname} で「${title}」を検知しました。${summary ? `（${summary}）` : ""}` },
    { k: "fields", rows: [
      ["種別", `${title}（${e.type}）`], ["管理項目", controlTitle], ["判定", `${STATUS_LABEL[e.status].ja}（重大度: ${SEVERITY_LABEL[e.severity].ja}）`],
      ...(e.reasons.length ? [["判定理由", e.reasons.map((x) => x.ja).join(" / ")] as [string, string]] : []),
    ] },

    { k: "h2", text: "2. 対象PC" },
    { k: "fields", rows: [
      ["ホスト名", hostname], ["エージェントID", e.agentId], ["組織（乙）", r.organisation ?? "—"],
      ["OS / kyoka の版", r.agent ? `${r.agent.os} / ${r.agent.version}` : "—"],
      ...(ledger ? [
        ["台帳: 資産番号", ledger.assetNo], ["台帳: ホスト名", ledger.hostname || "—"], ["台帳: 製造番号", ledger.serial || "—"],
        ["台帳: 設置場所", ledger.location || "—"], ["台帳: 管理者", ledger.owner || "—"],
      ] as Array<[string, string]> : [["台帳", "台帳（個人情報取扱特記事項 第12 第7項）に登録されていません"] as [string, string]]),
    ] },

    { k: "h2", text: "3. 利用者と記録媒体" },
    { k: "fields", rows: [
      ["利用者", r.users.names.length
        ? `${r.users.names.join("、")}${r.users.source === "snapshot" ? `（${jstTime(r.users.snapshotAt)} の資産情報でログオン中のユーザー）` : ""}`
        : "記録なし（＿＿＿＿＿＿＿＿ 乙記入）"],
      ...(r.medium.length ? r.medium.map(([k, v]): [string, string] => [`記録媒体: ${k}`, v]) : [["記録媒体", "該当なし"] as [string, string]]),
    ] },

    { k: "h2", text: "4. 日時" },
    { k: "fields", rows: [
      ["検知日時（PC の時計）", jstTime(e.observedAt)], ["受信日時（サーバー）", jstTime(e.receivedAt)],
      ["甲への第一報", "＿＿＿＿年＿＿月＿＿日 ＿＿時＿＿分（乙記入）"],
    ] },

    { k: "h2", text: "5. kyoka による措置" },
    { k: "list", items: r.actions },

    { k: "h2", text: "6. 該当条項" },
    { k: "list", items: e.articles.map((a) => `${a} — ${controlTitle}`) },

    { k: "h2", text: "7. 前後1時間の関連イベント（同じPC）" },
    r.related.length
      ? { k: "table", head: ["検知日時", "種別", "判定", "内容", "ID"], rows: r.related.map((x) => [
        jstTime(x.observedAt), eventTitle(x.type), statusSeverity(x), detailSummary(x.details, 3), String(x.id),
      ]) }
      : { k: "p", text: "前後30分に、このPCの他のイベントはありません。" },
    ...(r.relatedTruncated ? [{ k: "note", text: `先頭 ${RELATED_MAX} 件のみ表示しています。` } as Block] : []),

    { k: "h2", text: "8. 原因（乙記入）" },
    { k: "fill", lines: 5, hint: "なぜ起きたか: 経緯、関係者、規程との関係" },
    { k: "h2", text: "9. 再発防止策（乙記入）" },
    { k: "fill", lines: 5, hint: "何をいつまでに、誰が: 技術的対策、教育、手順の見直し" },
    { k: "h2", text: "10. 影響範囲・対応状況（乙記入）" },
    { k: "fill", lines: 3, hint: "個人情報・機密情報の漏えいの有無、対象者への連絡、現在の状況" },

    { k: "h2", text: "付録: 証跡（イベントの詳細）" },
    ...(fields.length ? [{ k: "fields", rows: fields } as Block] : []),
    { k: "pre", text: JSON.stringify(e.details, null, 2) },
  ];
}

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

export function renderIncidentHtml(r: IncidentReport): string {
  const body = blocks(r).map((b) => {
    switch (b.k) {
      case "h1": return `<h1>${esc(b.text)}</h1>`;
      case "h2": return `<h2>${esc(b.text)}</h2>`;
      case "p": return `<p>${esc(b.text)}</p>`;
      case "note": return `<p class="note">${esc(b.text)}</p>`;
      case "fields": return `<table class="fields">${b.rows.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join("")}</table>`;
      case "list": return `<ul>${b.items.map((i) => `<li>${esc(i)}</li>`).join("")}</ul>`;
      case "table": return `<table class="grid"><thead><tr>${b.head.map((h) => `<th>${esc(h)}</th>`).join("")}</tr></thead><tbody>${
        b.rows.map((row) => `<tr>${row.map((c) => `<td>${esc(c)}</td>`).join("")}</tr>`).join("")}</tbody></table>`;
      case "fill": return `<div class="fill" aria-label="${esc(b.hint)}"><p class="hint">${esc(b.hint)}</p>${"<div class=\"line\"></div>".repeat(b.lines)}</div>`;
      case "pre": return `<pre>${esc(b.text)}</pre>`;
    }
  }).join("\n");
  return `<!doctype html>
<html lang="ja">
<head><meta charset="utf-8"><title>事故報告書（案） イベント ${r.event.id}</title>
<style>
@page { size: A4; margin: 18mm 16mm; }
body { font-family: "Noto Sans CJK JP", "Yu Gothic", "Hiragino Sans", sans-serif; font-size: 10.5pt; line-height: 1.6; color: #000; max-width: 180mm; margin: 0 auto; }
h1 { font-size: 18pt; text-align: center; border-bottom: 2px solid #000; padding-bottom: 4pt; }
h2 { font-size: 12pt; border-left: 4pt solid #333; padding-left: 6pt; margin-top: 14pt; break-after: avoid; }
table { border-collapse: collapse; width: 100%; margin: 4pt 0; }
th, td { border: 1px solid #777; padding: 2pt 5pt; vertical-align: top; text-align: left; word-break: break-all; }
table.fields th { width: 32%; background: #f0f0f0; font-weight: normal; }
table.grid th { background: #f0f0f0; }
tr { break-inside: avoid; }
.note { font-size: 9pt; color: #333; border: 1px dashed #999; padding: 4pt; }
.fill .hint { font-size: 9pt; color: #555; margin: 0; }
.fill .line { border-bottom: 1px solid #999; height: 18pt; }
pre { font-size: 8pt; background: #f7f7f7; border: 1px solid #ccc; padding: 4pt; white-space: pre-wrap; word-break: break-all; }
</style></head>
<body>
${body}
</body>
</html>
`;
}

const md = (s: string): string => s.replace(/\|/g, "\\|").replace(/\r?\n/g, " ");

export function renderIncidentMarkdown(r: IncidentReport): string {
  return blocks(r).map((b) => {
    switch (b.k) {
      case "h1": return `# ${b.text}\n`;
      case "h2": return `## ${b.text}\n`;
      case "p": return `${b.text}\n`;
      case "note": return `> ${b.text}\n`;
      case "fields": return `| 項目 | 内容 |\n| --- | --- |\n${b.rows.map(([k, v]) => `| ${md(k)} | ${md(v)} |`).join("\n")}\n`;
      case "list": return `${b.items.map((i) => `- ${i}`).join("\n")}\n`;
      case "table": return `| ${b.head.map(md).join(" | ")} |\n| ${b.head.map(() => "---").join(" | ")} |\n${b.rows.map((row) => `| ${row.map(md).join(" | ")} |`).join("\n")}\n`;
      case "fill": return `（${b.hint}）\n\n${"＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿\n\n".repeat(b.lines)}`;
      case "pre": return `\`\`\`json\n${b.text.replace(/```/g, "`\u200b``")}\n\`\`\`\n`;
    }
  }).join("\n");
}
