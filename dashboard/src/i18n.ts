/** 日本語 first; English by a toggle that is remembered (localStorage "kyoka.lang"). */
import { SEVERITY_LABEL as POLICY_SEVERITY, STATUS_LABEL as POLICY_STATUS } from "../../policies/labels.js";
import type { Status } from "../../policies/schema.js";
export type Lang = "ja" | "en";

const KEY = "kyoka.lang";

export function initialLang(): Lang {
  try {
    return localStorage.getItem(KEY) === "en" ? "en" : "ja";
  } catch {
    return "ja";
  }
}

export function rememberLang(lang: Lang): void {
  try {
    localStorage.setItem(KEY, lang);
  } catch {
    /* private mode: the toggle still works for this page */
  }
  document.documentElement.lang = lang;
}

const dict = {
  appName: { ja: "kyoka（許可）", en: "kyoka (許可)" },
  tagline: { ja: "委託先端末の契約条項遵守を証跡で示す", en: "Evidence that contractor PCs keep their contract clauses" },
  login: { ja: "ログイン", en: "Log in" },
  logout: { ja: "ログアウト", en: "Log out" },
  loginId: { ja: "ログインID", en: "Login" },
  password: { ja: "パスワード", en: "Password" },
  orToken: { ja: "または API トークン", en: "or an API token" },
  token: { ja: "API トークン", en: "API token" },
  loginFailed: { ja: "ログインできませんでした", en: "Login failed" },
  language: { ja: "English", en: "日本語" },
  languageLabel: { ja: "表示言語を英語に切り替え", en: "Switch the language to Japanese" },
  navAlerts: { ja: "アラート", en: "Alerts" },
  navPcs: { ja: "端末", en: "PCs" },
  navApprovals: { ja: "甲許可", en: "Approvals" },
  navLedger: { ja: "台帳", en: "Ledgers" },
  navCompliance: { ja: "遵守状況", en: "Compliance" },
  navAudit: { ja: "監査証跡", en: "Audit trail" },
  live: { ja: "ライブ", en: "Live" },
  offline: { ja: "切断", en: "Disconnected" },
  filters: { ja: "絞り込み", en: "Filters" },
  control: { ja: "管理項目", en: "Control" },
  status: { ja: "状態", en: "Status" },
  severity: { ja: "重要度", en: "Severity" },
  pc: { ja: "端末", en: "PC" },
  since: { ja: "期間（開始）", en: "From" },
  until: { ja: "期間（終了）", en: "To" },
  search: { ja: "検索", en: "Search" },
  all: { ja: "すべて", en: "All" },
  apply: { ja: "適用", en: "Apply" },
  clear: { ja: "クリア", en: "Clear" },
  more: { ja: "さらに表示", en: "Load more" },
  noEvents: { ja: "該当するイベントはありません", en: "No matching events" },
  observedAt: { ja: "検知日時", en: "Observed" },
  receivedAt: { ja: "受信日時", en: "Received" },
  type: { ja: "種別", en: "Type" },
  clause: { ja: "条項", en: "Clause" },
  what: { ja: "内容", en: "What" },
  reasons: { ja: "判定理由", en: "Why this status" },
  evidence: { ja: "証跡", en: "Evidence" },
  history: { ja: "対応履歴", en: "History" },
  close: { ja: "閉じる", en: "Close" },
  resolve: { ja: "対応済みにする", en: "Resolve" },
  acknowledge: { ja: "確認済みにする", en: "Acknowledge" },
  note: { ja: "メモ", en: "Note" },
  resolved: { ja: "対応済み", en: "Resolved" },
  acknowledged: { ja: "確認済み", en: "Acknowledged" },
  approveLike: { ja: "同様のものを許可", en: "Approve everything like this" },
  deny: { ja: "却下", en: "Deny" },
  approve: { ja: "許可", en: "Approve" },
  requestPermission: { ja: "許可を申請", en: "Request permission" },
  incidentReport: { ja: "事故報告書（案）", en: "Incident report draft" },
  hostname: { ja: "ホスト名", en: "Hostname" },
  os: { ja: "OS", en: "OS" },
  online: { ja: "稼働中", en: "Online" },
  silent: { ja: "応答なし", en: "Silent" },
  lastSeen: { ja: "最終通信", en: "Last seen" },
  policyVersion: { ja: "ポリシー版", en: "Policy version" },
  openItems: { ja: "未対応", en: "Open items" },
  approvalsInForce: { ja: "有効な甲許可", en: "Approvals in force" },
  validUntil: { ja: "有効期限", en: "Valid until" },
  validFrom: { ja: "開始", en: "Valid from" },
  scope: { ja: "対象", en: "Scope" },
  match: { ja: "条件", en: "Match" },
  reason: { ja: "理由", en: "Reason" },
  pcLedger: { ja: "端末台帳", en: "PC ledger" },
  mediaLedger: { ja: "媒体台帳", en: "Media ledger" },
  assetNo: { ja: "資産番号", en: "Asset no." },
  serial: { ja: "製造番号", en: "Serial" },
  owner: { ja: "管理者", en: "Owner" },
  location: { ja: "設置場所", en: "Location" },
  flags: { ja: "照合結果", en: "Reconciliation" },
  exportCsv: { ja: "CSV をダウンロード", en: "Download CSV" },
  importCsv: { ja: "CSV を取り込む（Shift_JIS 可）", en: "Import CSV (Shift_JIS accepted)" },
  unregisteredPcs: { ja: "台帳に未登録の端末", en: "PCs not in the ledger" },
  loading: { ja: "読み込み中…", en: "Loading…" },
  error: { ja: "エラー", en: "Error" },
  mute: { ja: "通知音を消す", en: "Mute sound" },
  unmute: { ja: "通知音を鳴らす", en: "Unmute sound" },
  newCritical: { ja: "重大なイベント", en: "Critical event" },
  enableNotifications: { ja: "通知を許可", en: "Allow notifications" },
  enableNotificationsLabel: { ja: "重大なイベントのデスクトップ通知を許可する", en: "Allow desktop notifications of critical events" },
  count: { ja: "件", en: "" },
  forbidden: { ja: "この操作の権限がありません", en: "You are not allowed to do this" },
  nothing: { ja: "ありません", en: "None" },
  navRequests: { ja: "申請・甲許可", en: "Requests" },
  organisation: { ja: "組織", en: "Organisation" },
  allOrganisations: { ja: "すべての組織", en: "All organisations" },
  selectRow: { ja: "選択", en: "Select" },
  selectPage: { ja: "表示中の行をすべて選択", en: "Select every row shown" },
  selectAllMatching: { ja: "条件に一致する全件を選択", en: "Select every matching event" },
  selected: { ja: "選択中", en: "Selected" },
  clearSelection: { ja: "選択を解除", en: "Clear selection" },
  baseline: { ja: "ベースライン承認", en: "Baseline" },
  confirm: { ja: "実行", en: "Confirm" },
  cancel: { ja: "キャンセル", en: "Cancel" },
  confirmTitle: { ja: "一括操作の確認", en: "Confirm the bulk action" },
  targetEvents: { ja: "対象イベント", en: "Events" },
  targetNeeds: { ja: "うち甲許可待ち", en: "of which need approval" },
  targetPcs: { ja: "対象端末", en: "PCs" },
  done: { ja: "完了", en: "Done" },
  working: { ja: "処理中…", en: "Working…" },
  pending: { ja: "審査待ちの申請", en: "Pending requests" },
  decided: { ja: "審査済みの申請", en: "Decided requests" },
  recentlyExpired: { ja: "最近期限切れになった甲許可", en: "Recently expired approvals" },
  newRequest: { ja: "甲許可を申請する", en: "Request a permission" },
  submit: { ja: "申請する", en: "Submit" },
  requestedBy: { ja: "申請者", en: "Requested by" },
  requestedAt: { ja: "申請日時", en: "Requested" },
  decision: { ja: "審査結果", en: "Decision" },
  narrow: { ja: "範囲・期間を絞って許可", en: "Approve with a narrower scope or period" },
  denyReason: { ja: "却下の理由", en: "Reason for denying" },
  matchKey: { ja: "条件の項目", en: "Match field" },
  matchValue: { ja: "条件の値", en: "Match value" },
  pcsHint: { ja: "対象端末（Ctrl で複数選択）", en: "PCs (Ctrl for several)" },
  st_pending: { ja: "審査待ち", en: "Pending" },
  st_approved: { ja: "許可", en: "Approved" },
  st_denied: { ja: "却下", en: "Denied" },
  timeline: { ja: "タイムライン", en: "Timeline" },
  inventory: { ja: "インベントリ", en: "Inventory" },
  hardware: { ja: "ハードウェア", en: "Hardware" },
  software: { ja: "ソフトウェア", en: "Software" },
  softwareCount: { ja: "インストール済みソフトウェア", en: "Installed software" },
  model: { ja: "機種", en: "Model" },
  cpu: { ja: "CPU", en: "CPU" },
  memory: { ja: "メモリ", en: "Memory" },
  disks: { ja: "ディスク", en: "Disks" },
  nics: { ja: "ネットワークアダプタ", en: "Network adapters" },
  ledgerEntry: { ja: "台帳の登録", en: "Ledger entry" },
  notInLedger: { ja: "台帳に未登録", en: "Not in the ledger" },
  tags: { ja: "タグ", en: "Tags" },
  perOrganisation: { ja: "組織別", en: "Per organisation" },
  pcsCount: { ja: "端末数", en: "PCs" },
  overTime: { ja: "日別のイベント件数（直近14日）", en: "Events per day (last 14 days)" },
  perControl: { ja: "管理項目別のイベント件数", en: "Events per control" },
  reports: { ja: "報告書", en: "Reports" },
  actor: { ja: "実行者", en: "Actor" },
  role: { ja: "役割", en: "Role" },
  action: { ja: "操作", en: "Action" },
  target: { ja: "対象", en: "Target" },
  at: { ja: "日時", en: "When" },
  details: { ja: "詳細", en: "Details" },
  notAllowed: { ja: "このページを表示する権限がありません", en: "You may not see this page" },
  backToPcs: { ja: "端末一覧へ", en: "Back to PCs" },
  allEvents: { ja: "すべてのイベント", en: "All events" },
  requestSent: { ja: "申請しました", en: "Request submitted" },
  eventsByControl: { ja: "管理項目別の未対応件数", en: "Open items per control" },
} as const;

export type MsgKey = keyof typeof dict;

export function translate(lang: Lang, key: MsgKey): string {
  return dict[key][lang];
}

const capital = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);
const ICON: Record<Status, string> = { violation: "✖", needs_approval: "⚠", approved: "✔", info: "ℹ" };

/** The product's one label table (policies/labels.ts), with icons and English capitals; most urgent first. */
export const STATUS_LABEL: Record<string, { ja: string; en: string; icon: string }> = Object.fromEntries(
  (["violation", "needs_approval", "approved", "info"] as const).map((s) => [s, { ja: POLICY_STATUS[s].ja, en: capital(POLICY_STATUS[s].en), icon: ICON[s] }]),
);

export const SEVERITY_LABEL: Record<string, { ja: string; en: string }> = Object.fromEntries(
  Object.entries(POLICY_SEVERITY).map(([s, l]) => [s, { ja: l.ja, en: capital(l.en) }]),
);

/** Times are shown in Asia/Tokyo whatever the browser's zone. */
const fmt = {
  ja: new Intl.DateTimeFormat("ja-JP", { timeZone: "Asia/Tokyo", dateStyle: "medium", timeStyle: "medium" }),
  en: new Intl.DateTimeFormat("en-GB", { timeZone: "Asia/Tokyo", dateStyle: "medium", timeStyle: "medium" }),
};

export function formatTime(lang: Lang, iso: string | null | undefined): string {
  if (!iso) return "—";
  const t = Date.parse(iso);
  return Number.isNaN(t) ? iso : `${fmt[lang].format(t)}${lang === "en" ? " JST" : ""}`;
}
