/**
 * One line of the PC ledger (パソコン等の台帳, 個人情報取扱特記事項 第12 第7項): the PCs 乙 has
 * registered for the work. Imported and exported as CSV (server/ledger/csv.ts), matched against
 * live agents (server/ledger/reconcile.ts).
 */
import { z } from "zod";
import { normalizeMac } from "../lib/net/mac.js";

export { normalizeMac };

export const LedgerEntry = z.strictObject({
  /** 資産番号: the key of the ledger */
  assetNo: z.string().min(1),
  /** ホスト名 */
  hostname: z.string(),
  /** 製造番号 (the maker's serial on the chassis label) */
  serial: z.string(),
  /** MACアドレス: lower-case colon form */
  macs: z.array(z.string().regex(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/)),
  /** 設置場所（作業場所） */
  location: z.string(),
  /** 管理者 */
  owner: z.string(),
  /** 登録日: YYYY-MM-DD, or "" */
  registeredAt: z.union([z.iso.date(), z.literal("")]),
  /** 備考 */
  note: z.string(),
});
export type LedgerEntry = z.infer<typeof LedgerEntry>;

/** "2024-04-01", "2024/4/1", "2024/04/01" → "2024-04-01"; undefined when not a real date. */
export function parseLedgerDate(text: string): string | undefined {
  const m = /^(\d{4})[-/](\d{1,2})[-/](\d{1,2})$/.exec(text.trim());
  if (!m) return undefined;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(y, mo - 1, d));
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d) return undefined;
  return `${m[1]}-${String(mo).padStart(2, "0")}-${String(d).padStart(2, "0")}`;
}
