/**
 * `kyoka report --from D --to D [--organisation O] [--format F] [--out FILE]`: a compliance report
 * from the server, through its API (GET /api/reports/compliance), so the server stores it, records
 * it in the audit trail and applies the caller's organisation (a desk or contractor token gets its
 * own organisation only). The token: --token-file, else $KYOKA_TOKEN, else `<--data>/admin-token`
 * (on the server's machine). The server: --server, else $KYOKA_SERVER, else http://127.0.0.1:8080.
 * Messages in Japanese by default, English with --lang en.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { UsageError } from "./usage-error.js";

export interface ReportFlags {
  from?: string;
  to?: string;
  organisation?: string;
  format?: string;
  out?: string;
  server?: string;
  tokenFile?: string;
  data?: string;
  lang?: string;
}

type Lang = "ja" | "en";
const MSG = {
  needFrom: { ja: "--from YYYY-MM-DD（期間の初日、日本時間）を指定してください", en: "--from YYYY-MM-DD (first day of the period, Asia/Tokyo) is required" },
  needTo: { ja: "--to YYYY-MM-DD（期間の末日、日本時間）を指定してください", en: "--to YYYY-MM-DD (last day of the period, Asia/Tokyo) is required" },
  badDay: { ja: "は YYYY-MM-DD 形式の日付ではありません", en: "is not a day YYYY-MM-DD" },
  noToken: {
    ja: "トークンがありません: --token-file FILE、環境変数 KYOKA_TOKEN、または --data DIR（admin-token）を指定してください",
    en: "no token: give --token-file FILE, $KYOKA_TOKEN, or --data DIR (its admin-token)",
  },
  unreachable: { ja: "サーバに接続できません", en: "cannot reach the server" },
  refused: { ja: "サーバが報告書の作成を拒否しました", en: "the server refused the report" },
  saved: { ja: "報告書を保存しました", en: "report saved" },
} as const;

const DAY = /^\d{4}-\d{2}-\d{2}$/;

export async function runReport(flags: ReportFlags): Promise<void> {
  const lang: Lang = flags.lang === "en" ? "en" : "ja";
  const t = (k: keyof typeof MSG): string => MSG[k][lang];
  if (!flags.from) throw new UsageError(t("needFrom"));
  if (!flags.to) throw new UsageError(t("needTo"));
  for (const [name, v] of [["--from", flags.from], ["--to", flags.to]] as const) if (!DAY.test(v)) throw new UsageError(`${name} ${v} ${t("badDay")}`);
  const format = flags.format ?? "html";
  const server = (flags.server ?? process.env.KYOKA_SERVER ?? "http://127.0.0.1:8080").replace(/\/+$/, "");
  const token = readToken(flags, t("noToken"));
  const q = new URLSearchParams({ from: flags.from, to: flags.to, format });
  if (flags.organisation) q.set("organisation", flags.organisation);
  let res: Response;
  try {
    res = await fetch(`${server}/api/reports/compliance?${q.toString()}`, { headers: { authorization: `Bearer ${token}` } });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new Error(`${t("unreachable")} (${server}): ${cause?.code ?? cause?.message ?? (err as Error).message}`);
  }
  const body = Buffer.from(await res.arrayBuffer());
  if (!res.ok) {
    let error = body.toString("utf8").slice(0, 500);
    try { error = (JSON.parse(error) as { error?: string }).error ?? error; } catch { /* not JSON */ }
    // 4xx: what was asked is wrong (exit 2); 5xx / 501: the server could not (exit 1)
    const message = `${t("refused")}: HTTP ${res.status}: ${error}`;
    throw res.status >= 500 ? new Error(message) : new UsageError(message);
  }
  const disposition = res.headers.get("content-disposition") ?? "";
  const suggested = /filename="([^"]+)"/.exec(disposition)?.[1] ?? `kyoka-compliance-${flags.from}_${flags.to}.${format}`;
  const out = flags.out ?? suggested;
  if (out === "-") {
    process.stdout.write(body);
    return;
  }
  writeFileSync(out, body);
  const id = res.headers.get("x-kyoka-report-id") ?? "";
  const sha = res.headers.get("x-kyoka-report-sha256") ?? "";
  process.stdout.write(`${t("saved")}: ${resolve(out)} (${body.length} bytes, sha256 ${sha}, id ${id})\n`);
}

function readToken(flags: ReportFlags, missing: string): string {
  if (flags.tokenFile) {
    try {
      return readFileSync(flags.tokenFile, "utf8").trim();
    } catch (err) {
      throw new UsageError(`--token-file ${flags.tokenFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  if (process.env.KYOKA_TOKEN) return process.env.KYOKA_TOKEN.trim();
  if (flags.data) {
    const f = join(flags.data, "admin-token");
    if (existsSync(f)) return readFileSync(f, "utf8").trim();
  }
  throw new UsageError(missing);
}
