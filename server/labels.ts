/**
 * How an event reads in Japanese outside the dashboard: notifications (server/notify/) and
 * incident report drafts (server/incident/). Titles and clauses come from the control catalog.
 */
import { catalogEntry } from "../policies/catalog.js";
import type { Details, EventType, Severity, StoredEvent } from "../policies/schema.js";
import { SEVERITY_LABEL, STATUS_LABEL } from "../policies/labels.js";

export { SEVERITY_LABEL, STATUS_LABEL };

/** The catalog's Japanese title of an event type (the type itself when the catalog has none). */
export function eventTitle(type: EventType): string {
  return catalogEntry(type)?.title.ja ?? type;
}

/** `違反・重大` */
export function statusSeverity(e: Pick<StoredEvent, "status" | "severity">): string {
  return `${STATUS_LABEL[e.status].ja}・${SEVERITY_LABEL[e.severity].ja}`;
}

/** The detail fields that say what was found, in the order a reader wants them. */
const SUMMARY_FIELDS: ReadonlyArray<[string, string]> = [
  ["family", "ソフト"], ["name", "名称"], ["version", "版"], ["process", "プロセス"], ["pid", "PID"], ["path", "パス"], ["exe", "実行ファイル"],
  ["label", "ラベル"], ["vendorId", "ベンダーID"], ["productId", "製品ID"], ["serial", "シリアル"], ["mount", "マウント先"], ["result", "検査結果"],
  ["count", "件数"], ["totalBytes", "合計バイト"], ["ssid", "SSID"], ["address", "アドレス"], ["remoteAddress", "接続先"], ["remotePort", "接続先ポート"],
  ["port", "ポート"], ["response", "kyoka の措置"], ["hostname", "ホスト名"], ["pcId", "PC識別子"], ["channel", "経路"], ["target", "宛先"],
  ["error", "エラー"],
];

function scalar(v: unknown): string | undefined {
  if (typeof v === "string") return v.length > 200 ? `${v.slice(0, 200)}…` : v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return undefined;
}

/** `ソフト: Transmission / PID: 4242 / パス: /usr/bin/transmission-daemon` (the fields present, at most `max`). */
export function detailSummary(details: Details, max = 5): string {
  const parts: string[] = [];
  for (const [key, label] of SUMMARY_FIELDS) {
    const v = scalar(details[key]);
    if (v === undefined || v === "") continue;
    parts.push(`${label}: ${v}`);
    if (parts.length >= max) break;
  }
  return parts.join(" / ");
}
