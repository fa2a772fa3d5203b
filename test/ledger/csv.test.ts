import iconv from "iconv-lite";
import { describe, expect, it } from "vitest";
import { exportLedgerCsv, parseCsvRecords, parseLedgerCsv } from "../../server/ledger/csv.js";
import { normalizeMac } from "../../lib/net/mac.js";
import { parseLedgerDate, type LedgerEntry } from "../../policies/ledger.js";

const HEADER_JA = "資産番号,ホスト名,製造番号,MACアドレス,設置場所（作業場所）,管理者,登録日,備考";
const entry = (over: Partial<LedgerEntry> = {}): LedgerEntry => ({
  assetNo: "K-0001", hostname: "KYO-PC-0001", serial: "5Q2XKZ3", macs: ["c4:c6:e6:12:34:56"],
  location: "本庁舎3階 情報政策課", owner: "山田 太郎", registeredAt: "2024-04-01", note: "", ...over,
});
const utf8 = (s: string) => Buffer.from(s, "utf8");

describe("exportLedgerCsv / parseLedgerCsv", () => {
  it("round trip: quoted commas, quotes, line breaks, several MACs, Japanese text", () => {
    const entries = [
      entry(),
      entry({ assetNo: "K-0002", hostname: "kyo-mbp-07", serial: "", macs: ["3c:a6:f6:11:22:33", "36:a1:b2:c3:d4:01"], location: "分室, 会議室B", owner: "佐藤 \"さとう\" 花子", registeredAt: "", note: "1行目\n2行目" }),
      entry({ assetNo: "K-0003", macs: [], note: "=HYPERLINK(\"http://x\")", owner: "-", location: " 前後に空白 " }),
    ];
    const buf = exportLedgerCsv(entries);
    expect([...buf.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const text = buf.subarray(3).toString("utf8");
    expect(text.startsWith(HEADER_JA + "\r\n")).toBe(true);
    expect(text.endsWith("\r\n")).toBe(true);
    expect(text).not.toMatch(/[^\r]\n(?![^"]*"(,|\r\n))/); // every record ends with CRLF
    expect(text).toContain("'=HYPERLINK"); // not a formula when opened in Excel
    const back = parseLedgerCsv(buf);
    expect(back.errors).toEqual([]);
    expect(back.encoding).toBe("utf-8-bom");
    expect(back.rows).toEqual(entries.map((e) => ({ ...e, location: e.location.trim() })));
  });

  it("imports a Shift_JIS file with Japanese headers, as Excel in Japan saves it", () => {
    const csv = [
      HEADER_JA,
      "K-0101,KYO-PC-0101,ABC1234,C4-C6-E6-12-34-56,本庁舎２階　総務課,髙橋 一郎,2024/4/1,①番の机",
      "K-0102,KYO-PC-0102,DEF5678,,分庁舎,渡邊 次郎,2024/04/15,",
    ].join("\r\n") + "\r\n";
    const buf = iconv.encode(csv, "Shift_JIS");
    expect(() => new TextDecoder("utf-8", { fatal: true }).decode(buf)).toThrow(); // really not UTF-8
    const r = parseLedgerCsv(buf);
    expect(r.encoding).toBe("shift_jis");
    expect(r.errors).toEqual([]);
    expect(r.rows).toEqual([
      { assetNo: "K-0101", hostname: "KYO-PC-0101", serial: "ABC1234", macs: ["c4:c6:e6:12:34:56"], location: "本庁舎２階　総務課", owner: "髙橋 一郎", registeredAt: "2024-04-01", note: "①番の机" },
      { assetNo: "K-0102", hostname: "KYO-PC-0102", serial: "DEF5678", macs: [], location: "分庁舎", owner: "渡邊 次郎", registeredAt: "2024-04-15", note: "" },
    ]);
  });

  it("a bad MAC row is reported by its line number and the other rows are imported", () => {
    const csv = [
      HEADER_JA,
      "K-1,PC-1,S1,aa:bb:cc:dd:ee:01,,,,",
      "K-2,PC-2,S2,aa:bb:cc:dd:ee:zz,,,,",
      "\"K-3\",PC-3,S3,\"aa:bb:cc:dd:ee:03;AABB.CCDD.EE04\",\"複数行の\r\n備考\",,,",
      "K-4,PC-4,S4,aabbccddee05 aa-bb-cc-dd-ee-06,,,2024/02/30,",
      "K-5,PC-5,S5,,,,,",
    ].join("\r\n");
    const r = parseLedgerCsv(utf8(csv));
    expect(r.rows.map((x) => x.assetNo)).toEqual(["K-1", "K-3", "K-5"]);
    expect(r.rows[1]!.macs).toEqual(["aa:bb:cc:dd:ee:03", "aa:bb:cc:dd:ee:04"]);
    expect(r.rows[1]!.location).toBe("複数行の\r\n備考");
    expect(r.errors).toEqual([
      { line: 3, message: expect.stringContaining('MAC address "aa:bb:cc:dd:ee:zz" is not valid') },
      { line: 6, message: expect.stringContaining('"2024/02/30" is not a date') }, // K-3 spans lines 4-5
    ]);
  });

  it("one normalizeMac (lib/net/mac.ts): a MAC written the macOS way (0:1c:e:ec:5c:0) is 00:1c:0e:ec:5c:00 in the ledger as in network events", () => {
    const r = parseLedgerCsv(utf8(`${HEADER_JA}\r\nK-1,PC-1,S1,0:1c:e:ec:5c:0,,,,\r\n`));
    expect(r.errors).toEqual([]);
    expect(r.rows[0]!.macs).toEqual(["00:1c:0e:ec:5c:00"]);
    expect(normalizeMac("0:1c:e:ec:5c:0")).toBe("00:1c:0e:ec:5c:00");
    expect(normalizeMac("00-1C-0E-EC-5C-00")).toBe("00:1c:0e:ec:5c:00");
    expect(normalizeMac("001c.0eec.5c00")).toBe("00:1c:0e:ec:5c:00");
    expect(normalizeMac("0:1c:e:ec:5c")).toBeUndefined();
    expect(normalizeMac("000:1c:e:ec:5c:0")).toBeUndefined();
  });

  it("BOM handling: UTF-8 with and without BOM read the same; the BOM never sticks to the first header", () => {
    const csv = `${HEADER_JA}\nK-1,PC-1,S1,,,,,\n`;
    const withBom = parseLedgerCsv(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), utf8(csv)]));
    const without = parseLedgerCsv(utf8(csv));
    expect(withBom.encoding).toBe("utf-8-bom");
    expect(without.encoding).toBe("utf-8");
    expect(withBom.errors).toEqual([]);
    expect(withBom.rows).toEqual(without.rows);
    expect(withBom.rows[0]!.assetNo).toBe("K-1");
  });

  it("accepts English headers, in any order, any case, and ignores unknown columns with a warning", () => {
    const csv = "Hostname,assetNo,MAC,registeredAt,Owner,Location,Serial,Note,部署\nPC-9,K-9,AA:BB:CC:DD:EE:09,2024-5-7,o,l,s,n,総務\n";
    const r = parseLedgerCsv(utf8(csv));
    expect(r.errors).toEqual([]);
    expect(r.rows).toEqual([{ assetNo: "K-9", hostname: "PC-9", serial: "s", macs: ["aa:bb:cc:dd:ee:09"], location: "l", owner: "o", registeredAt: "2024-05-07", note: "n" }]);
    expect(r.warnings).toEqual([{ line: 1, message: expect.stringContaining("部署") }]);
  });

  it("reports a duplicate 資産番号, an empty one, and too many fields; skips blank rows", () => {
    const csv = [HEADER_JA, "K-1,A,,,,,,", "", ",B,,,,,,", "K-1,C,,,,,,", "K-2,D,,,,,,,extra", ",,,,,,,"].join("\n");
    const r = parseLedgerCsv(utf8(csv));
    expect(r.rows.map((x) => x.hostname)).toEqual(["A"]);
    expect(r.errors).toEqual([
      { line: 4, message: expect.stringContaining("is empty") },
      { line: 5, message: expect.stringContaining('"K-1" is already on line 2') },
      { line: 6, message: expect.stringContaining("9 fields but the header has 8") },
    ]);
  });

  it("no 資産番号 column: one error, no rows", () => {
    const r = parseLedgerCsv(utf8("ホスト名,製造番号\nPC-1,S1\n"));
    expect(r.rows).toEqual([]);
    expect(r.errors).toEqual([{ line: 1, message: expect.stringContaining("資産番号") }]);
  });

  it("UTF-16 with BOM and tab separators (Excel 'Unicode テキスト')", () => {
    const tsv = "資産番号\tホスト名\r\nK-1\tPC-1\r\n";
    const buf = Buffer.concat([Buffer.from([0xff, 0xfe]), iconv.encode(tsv, "utf-16le")]);
    const r = parseLedgerCsv(buf);
    expect(r.encoding).toBe("utf-16le");
    expect(r.rows).toMatchObject([{ assetNo: "K-1", hostname: "PC-1" }]);
  });
});

describe("parseCsvRecords (RFC 4180)", () => {
  it("quoted commas, doubled quotes, line breaks inside quotes, CRLF/LF/CR, line numbers", () => {
    const { records, errors } = parseCsvRecords('a,"b,c","d ""e"""\r\n"x\ny",z\rlast,');
    expect(errors).toEqual([]);
    expect(records).toEqual([
      { line: 1, fields: ["a", "b,c", 'd "e"'] },
      { line: 2, fields: ["x\ny", "z"] },
      { line: 4, fields: ["last", ""] },
    ]);
  });

  it("a malformed record is reported and skipped; the next record is read", () => {
    const { records, errors } = parseCsvRecords('ok,1\n"bad"x,2\nok,3\n"open,4\n');
    expect(records.map((r) => r.fields[1])).toEqual(["1", "3"]);
    expect(errors).toEqual([
      { line: 2, message: "unexpected character after a closing quote" },
      { line: 4, message: "a quoted field is not closed" },
    ]);
  });
});

describe("parseLedgerDate", () => {
  it.each([["2024-04-01", "2024-04-01"], ["2024/4/1", "2024-04-01"], ["2024/12/31", "2024-12-31"], ["2024-02-29", "2024-02-29"]])("%s → %s", (a, b) => {
    expect(parseLedgerDate(a)).toBe(b);
  });
  it.each(["2023-02-29", "2024-13-01", "24/4/1", "令和6年4月1日", "2024.04.01", ""])("rejects %j", (a) => {
    expect(parseLedgerDate(a)).toBeUndefined();
  });
});
