/**
 * Export of stored events (GET /api/events/export): any number of events, oldest first, in
 * constant memory. The store is read in keyset chunks (`id > last id of the previous chunk`), so
 * no query holds a read transaction open for the whole export and an event stored meanwhile is
 * either in it once or not at all; the caller pulls one chunk at a time (a Readable made from the
 * generator only asks for the next chunk when the socket has drained).
 *
 * CSV: UTF-8 with BOM, CRLF, Japanese headers (English in the second column of EVENT_COLUMNS),
 * cells escaped as the ledger export does (server/ledger/csv.ts: formula cells neutralised).
 * NDJSON: one event per line, as GET /api/events shows it — from the store's lines
 * (Store.queryEventLines: the stored JSON text passed through, no row object, no parse and
 * stringify per event) when it has them.
 */
import type { StoredEvent } from "../policies/schema.js";
import { csvLine, UTF8_BOM } from "./ledger/csv.js";
import type { EventQuery, Store } from "./store.js";

export const EXPORT_CHUNK = 1000;
/** rows per piece of text handed to the socket */
const OUT_ROWS = 50;

export type EventFilter = Omit<EventQuery, "limit" | "beforeId" | "afterId" | "order" | "bulk">;

const text = (v: unknown): string => (v === null || v === undefined ? "" : String(v));

/** `reasons` as one cell, one reason per line (a reason is a string, or {ja, en} shown as "ja / en"). */
function reasonsCell(v: unknown): string {
  if (!Array.isArray(v)) return "";
  return v.map((r) => (typeof r === "string" ? r : r && typeof r === "object" ? Object.values(r as Record<string, unknown>).map(text).join(" / ") : text(r)))
    .join("\n");
}

/** The CSV columns: Japanese header, English name, value. */
export const EVENT_COLUMNS: ReadonlyArray<{ ja: string; en: string; value: (e: StoredEvent) => string }> = [
  { ja: "ID", en: "id", value: (e) => String(e.id) },
  { ja: "受信日時", en: "receivedAt", value: (e) => e.receivedAt },
  { ja: "発生日時", en: "observedAt", value: (e) => e.observedAt },
  { ja: "エージェントID", en: "agentId", value: (e) => e.agentId },
  { ja: "連番", en: "seq", value: (e) => text(e.seq) },
  { ja: "管理項目", en: "control", value: (e) => e.control },
  { ja: "種別", en: "type", value: (e) => e.type },
  { ja: "条項", en: "articles", value: (e) => e.articles.join(";") },
  { ja: "重大度", en: "severity", value: (e) => e.severity },
  { ja: "状態", en: "status", value: (e) => e.status },
  { ja: "理由", en: "reasons", value: (e) => reasonsCell((e as { reasons?: unknown }).reasons) },
  { ja: "甲許可ID", en: "approvalId", value: (e) => text(e.approvalId) },
  { ja: "対応", en: "resolution", value: (e) => text(e.resolution) },
  { ja: "対応メモ", en: "note", value: (e) => text(e.note) },
  { ja: "対応日時", en: "resolvedAt", value: (e) => text(e.resolvedAt) },
  { ja: "詳細", en: "details", value: (e) => JSON.stringify(e.details) },
];

/** Rows read in keyset chunks after `afterId` (the id of the previous chunk's last row), until a short chunk. */
async function* keysetChunks<T>(read: (afterId: number) => Promise<T[]>, idOf: (row: T) => number, chunk: number): AsyncGenerator<T[]> {
  let afterId = 0;
  for (;;) {
    const rows = await read(afterId);
    if (rows.length === 0) return;
    yield rows;
    if (rows.length < chunk) return;
    afterId = idOf(rows[rows.length - 1]!);
  }
}

/** Every event matching `filter`, oldest first, `chunk` rows per store query. */
export function eventChunks(store: Store, filter: EventFilter, chunk = EXPORT_CHUNK): AsyncGenerator<StoredEvent[]> {
  return keysetChunks((afterId) => store.queryEvents({ ...filter, afterId, order: "asc", limit: chunk, bulk: true }), (e) => e.id, chunk);
}

/** The export as text chunks (one per store chunk), ready for Readable.from. */
export async function* exportEvents(store: Store, filter: EventFilter, format: "csv" | "ndjson"): AsyncGenerator<Buffer> {
  const queryLines = store.queryEventLines?.bind(store);
  if (format === "ndjson" && queryLines) {
    const read = (afterId: number): Promise<string[]> => queryLines({ ...filter, afterId, order: "asc", limit: EXPORT_CHUNK, bulk: true });
    for await (const lines of keysetChunks(read, (line) => (JSON.parse(line) as { id: number }).id, EXPORT_CHUNK)) {
      for (let i = 0; i < lines.length; i += OUT_ROWS) yield Buffer.from(`${lines.slice(i, i + OUT_ROWS).join("\n")}\n`, "utf8");
    }
    return;
  }
  if (format === "csv") yield Buffer.concat([UTF8_BOM, Buffer.from(csvLine(EVENT_COLUMNS.map((c) => c.ja)), "utf8")]);
  for await (const rows of eventChunks(store, filter)) {
    // pieces of OUT_ROWS rows: a text of a few tens of KB stays in V8's young generation, where
    // one text per 1,000 rows (~1 MB as UTF-16) would land in the large-object space, which only
    // a full GC frees — the server's RSS would grow by tens of MB during a long export
    for (let i = 0; i < rows.length; i += OUT_ROWS) {
      let out = "";
      const end = Math.min(rows.length, i + OUT_ROWS);
      if (format === "csv") for (let j = i; j < end; j++) out += csvLine(EVENT_COLUMNS.map((c) => c.value(rows[j]!)));
      else for (let j = i; j < end; j++) out += `${JSON.stringify(rows[j])}\n`;
      yield Buffer.from(out, "utf8");
    }
  }
}
