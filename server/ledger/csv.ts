/**
 * The PC ledger (台帳) as CSV, the way desks keep it in Excel. Pure: Buffer in, rows out.
 *
 * Import (parseLedgerCsv):
 * - encoding: UTF-8 with or without BOM, UTF-16 with BOM, else Shift_JIS (CP932, what Excel in
 *   Japan writes for "CSV (コンマ区切り)");
 * - RFC 4180: quoted fields with commas, doubled quotes and line breaks; CRLF, LF or CR; a tab
 *   separated file (Excel "Unicode テキスト") when the header has tabs and no commas;
 * - headers in Japanese (資産番号, ホスト名, 製造番号, MACアドレス, 設置場所（作業場所）, 管理者,
 *   登録日, 備考) or English (assetNo, hostname, serial, mac, location, owner, registeredAt, note);
 *   full-width/half-width, case and spaces do not matter; unknown columns are ignored (warning);
 * - a bad row (no 資産番号, bad MAC, bad date, duplicate 資産番号, too many fields) is reported with
 *   the line number it starts on, and every good row is kept. Blank rows are skipped.
 * Export (exportLedgerCsv): UTF-8 with BOM (Excel opens it as UTF-8), CRLF, Japanese headers,
 * MACs separated by ";". A cell starting with = + - @ is prefixed with ' so a spreadsheet does not
 * run it as a formula (CSV injection); import removes that prefix again.
 */
import iconv from "iconv-lite";
import { normalizeMac } from "../../lib/net/mac.js";
import { LedgerEntry, parseLedgerDate } from "../../policies/ledger.js";

export interface LedgerIssue {
  /** 1-based line of the file where the row starts (the header is line 1) */
  line: number;
  message: string;
}

export interface LedgerParseResult {
  rows: LedgerEntry[];
  errors: LedgerIssue[];
  /** not errors: ignored columns and the like */
  warnings: LedgerIssue[];
  encoding: "utf-8" | "utf-8-bom" | "utf-16le" | "utf-16be" | "shift_jis";
}

type Field = keyof LedgerEntry;

/** Column order and headers of an export. */
export const LEDGER_COLUMNS: readonly { field: Field; ja: string; en: string }[] = [
  { field: "assetNo", ja: "資産番号", en: "assetNo" },
  { field: "hostname", ja: "ホスト名", en: "hostname" },
  { field: "serial", ja: "製造番号", en: "serial" },
  { field: "macs", ja: "MACアドレス", en: "mac" },
  { field: "location", ja: "設置場所（作業場所）", en: "location" },
  { field: "owner", ja: "管理者", en: "owner" },
  { field: "registeredAt", ja: "登録日", en: "registeredAt" },
  { field: "note", ja: "備考", en: "note" },
];

const ALIASES: Record<Field, string[]> = {
  assetNo: ["資産番号", "assetNo", "asset_no", "asset number", "管理番号"],
  hostname: ["ホスト名", "hostname", "host", "コンピューター名", "コンピュータ名"],
  serial: ["製造番号", "serial", "serial number", "serialNo", "シリアル番号"],
  macs: ["MACアドレス", "mac", "macs", "mac address", "mac addresses"],
  location: ["設置場所（作業場所）", "設置場所", "作業場所", "location"],
  owner: ["管理者", "owner", "管理責任者"],
  registeredAt: ["登録日", "registeredAt", "registered", "registered_at", "登録年月日"],
  note: ["備考", "note", "notes", "remarks"],
};

/** NFKC (全角→半角, （）→()), lower case, no spaces/underscores/hyphens. */
const headerKey = (h: string): string => h.normalize("NFKC").toLowerCase().replace(/[\s_\-]+/g, "");
const HEADER_TO_FIELD = new Map<string, Field>();
for (const [field, names] of Object.entries(ALIASES) as [Field, string[]][]) {
  for (const n of names) HEADER_TO_FIELD.set(headerKey(n), field);
}

// ---------------------------------------------------------------------------------------------
// Encoding

export function decodeLedger(buf: Buffer): { text: string; encoding: LedgerParseResult["encoding"] } {
  if (buf.length >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) {
    return { text: buf.subarray(3).toString("utf8"), encoding: "utf-8-bom" };
  }
  if (buf.length >= 2 && buf[0] === 0xff && buf[1] === 0xfe) return { text: iconv.decode(buf.subarray(2), "utf-16le"), encoding: "utf-16le" };
  if (buf.length >= 2 && buf[0] === 0xfe && buf[1] === 0xff) return { text: iconv.decode(buf.subarray(2), "utf-16be"), encoding: "utf-16be" };
  try {
    return { text: new TextDecoder("utf-8", { fatal: true }).decode(buf), encoding: "utf-8" };
  } catch {
    // not valid UTF-8: Excel in Japan writes CP932 (Shift_JIS with the Windows extensions)
    return { text: iconv.decode(buf, "cp932"), encoding: "shift_jis" };
  }
}

// ---------------------------------------------------------------------------------------------
// RFC 4180

export interface CsvRecord {
  /** 1-based line the record starts on */
  line: number;
  fields: string[];
}

/** Split CSV text into records. A malformed record is reported and skipped; the rest are kept. */
export function parseCsvRecords(text: string, delimiter = ","): { records: CsvRecord[]; errors: LedgerIssue[] } {
  const records: CsvRecord[] = [];
  const errors: LedgerIssue[] = [];
  let line = 1;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const start = line;
    const fields: string[] = [];
    let field = "";
    let bad: string | undefined;
    let quoted = false;
    let atFieldStart = true;
    let endOfRecord = false;
    while (i < n && !endOfRecord) {
      const c = text[i]!;
      if (quoted) {
        if (c === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
          } else {
            quoted = false;
            i++;
            const next = text[i];
            if (next !== undefined && next !== delimiter && next !== "\r" && next !== "\n") {
              bad ??= `unexpected character after a closing quote`;
            }
          }
          continue;
        }
        if (c === "\r" || c === "\n") {
          line++;
          if (c === "\r" && text[i + 1] === "\n") {
            field += "\r\n";
            i += 2;
            continue;
          }
        }
        field += c;
        i++;
        continue;
      }
      if (c === '"' && atFieldStart) {
        quoted = true;
        atFieldStart = false;
        i++;
      } else if (c === delimiter) {
        fields.push(field);
        field = "";
        atFieldStart = true;
        i++;
      } else if (c === "\r" || c === "\n") {
        i += c === "\r" && text[i + 1] === "\n" ? 2 : 1;
        line++;
        endOfRecord = true;
      } else {
        field += c;
        atFieldStart = false;
        i++;
      }
    }
    if (quoted) bad ??= "a quoted field is not closed";
    fields.push(field);
    if (bad) errors.push({ line: start, message: bad });
    else records.push({ line: start, fields });
  }
  return { records, errors };
}

// ---------------------------------------------------------------------------------------------
// Ledger

const FORMULA_START = /^'*[=+\-@\t\r]/;

/** Remove the ' that exportLedgerCsv put before a formula-like cell. */
function unescapeCell(v: string): string {
  return v.startsWith("'") && FORMULA_START.test(v) ? v.slice(1) : v;
}

function fieldLabel(field: Field): string {
  const c = LEDGER_COLUMNS.find((x) => x.field === field)!;
  return `${c.ja} (${c.en})`;
}

/** Parse a ledger CSV. Bad rows are reported by line; the good rows are returned. */
export function parseLedgerCsv(buf: Buffer): LedgerParseResult {
  const { text, encoding } = decodeLedger(buf);
  const firstLine = text.slice(0, text.search(/\r|\n|$/));
  const delimiter = firstLine.includes("\t") && !firstLine.includes(",") ? "\t" : ",";
  const parsed = parseCsvRecords(text, delimiter);
  const errors: LedgerIssue[] = [...parsed.errors];
  const warnings: LedgerIssue[] = [];
  const rows: LedgerEntry[] = [];
  const records = parsed.records.filter((r) => r.fields.some((f) => f.trim() !== ""));
  const header = records.shift();
  if (!header) {
    errors.push({ line: 1, message: "the file has no header row" });
    return { rows, errors, warnings, encoding };
  }
  const columns: (Field | undefined)[] = header.fields.map((h, idx) => {
    const field = HEADER_TO_FIELD.get(headerKey(h));
    if (!field) {
      if (h.trim() !== "") warnings.push({ line: header.line, message: `column ${idx + 1} "${h.trim()}" is not a ledger column: ignored` });
      return undefined;
    }
    return field;
  });
  const seenField = new Set<Field>();
  columns.forEach((f, idx) => {
    if (!f) return;
    if (seenField.has(f)) {
      warnings.push({ line: header.line, message: `column ${idx + 1} repeats ${fieldLabel(f)}: ignored` });
      columns[idx] = undefined;
    }
    seenField.add(f);
  });
  if (!seenField.has("assetNo")) {
    errors.push({ line: header.line, message: `no ${fieldLabel("assetNo")} column in the header` });
    return { rows, errors, warnings, encoding };
  }

  const firstLineOf = new Map<string, number>();
  for (const rec of records) {
    const problems: string[] = [];
    const values: Partial<Record<Field, string>> = {};
    rec.fields.forEach((raw, idx) => {
      const field = columns[idx];
      const v = unescapeCell(raw.trim());
      if (field) values[field] = v;
      else if (idx >= columns.length && v !== "") {
        problems.push(`${rec.fields.length} fields but the header has ${columns.length}`);
      }
    });
    const assetNo = values.assetNo ?? "";
    if (assetNo === "") problems.push(`${fieldLabel("assetNo")} is empty`);

    const macs: string[] = [];
    for (const token of (values.macs ?? "").split(/[;,\s、，；]+/).filter(Boolean)) {
      const mac = normalizeMac(token);
      if (mac) {
        if (!macs.includes(mac)) macs.push(mac);
      } else problems.push(`MAC address "${token}" is not valid (expected e.g. aa:bb:cc:dd:ee:ff)`);
    }

    let registeredAt = "";
    if (values.registeredAt) {
      const d = parseLedgerDate(values.registeredAt);
      if (d) registeredAt = d;
      else problems.push(`${fieldLabel("registeredAt")} "${values.registeredAt}" is not a date (YYYY-MM-DD or YYYY/MM/DD)`);
    }

    if (assetNo !== "") {
      const first = firstLineOf.get(assetNo);
      if (first !== undefined) problems.push(`${fieldLabel("assetNo")} "${assetNo}" is already on line ${first}`);
    }

    if (problems.length) {
      errors.push({ line: rec.line, message: [...new Set(problems)].join("; ") });
      continue;
    }
    firstLineOf.set(assetNo, rec.line);
    rows.push({
      assetNo,
      hostname: values.hostname ?? "",
      serial: values.serial ?? "",
      macs,
      location: values.location ?? "",
      owner: values.owner ?? "",
      registeredAt,
      note: values.note ?? "",
    });
  }
  errors.sort((a, b) => a.line - b.line);
  return { rows, errors, warnings, encoding };
}

/**
 * One CSV cell as kyoka writes it (the ledger export, the events export): a cell starting with
 * = + - @ (or a tab / CR) gets a leading ' so a spreadsheet shows it instead of running it as a
 * formula; quoted when it holds a comma, quote, line break or leading/trailing space.
 */
export function csvCell(v: string): string {
  const safe = FORMULA_START.test(v) ? `'${v}` : v;
  return /[",\r\n]|^\s|\s$/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/** One CSV record with its CRLF. */
export function csvLine(cells: readonly string[]): string {
  return `${cells.map(csvCell).join(",")}\r\n`;
}

/** What Excel needs to read a CSV file as UTF-8. */
export const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/** The ledger as CSV: UTF-8 with BOM, CRLF, Japanese headers. */
export function exportLedgerCsv(entries: readonly LedgerEntry[]): Buffer {
  const lines = [csvLine(LEDGER_COLUMNS.map((c) => c.ja))];
  for (const e of entries) lines.push(csvLine(LEDGER_COLUMNS.map((c) => (c.field === "macs" ? e.macs.join(";") : e[c.field]))));
  return Buffer.concat([UTF8_BOM, Buffer.from(lines.join(""), "utf8")]);
}
