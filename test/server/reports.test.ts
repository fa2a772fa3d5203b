/**
 * Compliance reports (server/reports/) on a real server with a seeded dataset of known counts
 * (reports-seed.ts): the numbers in JSON, CSV and HTML; the silent PC is 未確認; the CSV parses back
 * with its columns; the PDF (Chromium, poppler's pdfinfo/pdftotext) has pages and the clauses; a
 * stored report comes back byte-identical; the audit trail has generation and download; a
 * contractor-side user gets only its organisation's report.
 *
 * `kyoka report` (dist/cli/main.js: build first) against the same server.
 *
 * Needs: chromium and poppler-utils (scripts/setup.sh --test installs them). Starts a browser: run
 * under `flock /tmp/kyoka-test.lock`.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseCsvRecords } from "../../server/ledger/csv.js";
import type { ComplianceReport, ControlLine, PcReport } from "../../server/reports/model.js";
import { REPORT_CSV_COLUMNS } from "../../server/reports/render-csv.js";
import { run } from "../helpers/kyoka.js";
import { request, startTestServer, type TestServer } from "./helpers.js";
import { EXPECTED, PERIOD, seedReportData, type Seeded } from "./reports-seed.js";

let srv: TestServer;
let seeded: Seeded;
const tokens: Record<string, string> = {};
let orgA = "";
let orgB = "";
const PASSWORD = "correct horse battery";

async function get(path: string, token = srv.adminToken): Promise<{ status: number; headers: Headers; body: Buffer }> {
  const res = await fetch(new URL(path, srv.url), { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}
const q = (format: string, extra = "") => `/api/reports/compliance?from=${PERIOD.from}&to=${PERIOD.to}&format=${format}${extra}`;

beforeAll(async () => {
  srv = await startTestServer({ reportScheduler: () => ({ stop() {} }) });
  const admin = (m: string, p: string, b?: unknown) => request<any>(srv, m, p, { token: srv.adminToken, body: b });
  for (const name of ["contractor-a", "contractor-b"]) expect((await admin("POST", "/api/organisations", { name, kind: "contractor" })).status).toBe(201);
  const orgs = (await admin("GET", "/api/organisations")).json as Array<{ id: string; name: string }>;
  orgA = orgs.find((o) => o.name === "contractor-a")!.id;
  orgB = orgs.find((o) => o.name === "contractor-b")!.id;
  for (const [login, role, organisation] of [["desk-a", "desk", "contractor-a"], ["staff-a", "contractor", "contractor-a"]] as const) {
    expect((await admin("POST", "/api/users", { login, password: PASSWORD, role, organisation })).status).toBe(201);
    const l = await request<any>(srv, "POST", "/api/login", { body: { login, password: PASSWORD } });
    const cookie = String(l.headers["set-cookie"]).split(";")[0]!;
    const t = await request<any>(srv, "POST", "/api/tokens", { body: { name: "t" }, headers: { cookie, "x-csrf-token": l.json.csrfToken } });
    tokens[login] = t.json.token as string;
  }
  seeded = seedReportData(join(srv.dir, "kyoka.db"), orgA, orgB);
}, 60_000);

afterAll(async () => {
  await srv?.stop();
});

const pc = (r: ComplianceReport, id: string): PcReport => r.organisations.flatMap((o) => o.pcs).find((p) => p.agentId === id)!;
const line = (r: ComplianceReport, id: string, control: string): ControlLine => pc(r, id).controls.find((l) => l.control === control)!;

describe("compliance report: the seeded numbers", () => {
  let report: ComplianceReport;
  beforeAll(async () => {
    const r = await get(q("json"));
    expect(r.status, r.body.toString()).toBe(200);
    expect(r.headers.get("content-type")).toMatch(/^application\/json/);
    report = JSON.parse(r.body.toString("utf8")) as ComplianceReport;
  });

  it("JSON: fleet summary first, then organisations and PCs × controls, each with its clause", () => {
    expect(Object.keys(report).indexOf("summary")).toBeLessThan(Object.keys(report).indexOf("organisations"));
    expect(report.period).toEqual({ from: PERIOD.from, to: PERIOD.to, days: 30 });
    expect(report.evidence).toBe("agent.check");
    expect(report.summary).toMatchObject(EXPECTED.fleet);
    expect(report.organisations.map((o) => o.name)).toEqual(["contractor-a", "contractor-b"]);
    const [a, b] = report.organisations;
    expect(a!.pcs.map((p) => p.agentId)).toEqual([seeded.agents.a1, seeded.agents.a2]);
    expect(b!.pcs.map((p) => p.agentId)).toEqual([seeded.agents.b1, seeded.agents.b2]);
    expect(a!.summary).toMatchObject({ pcs: 2, verdicts: { compliant: 1, action_required: 0, not_evidenced: 1 }, checks: { evidenced: 265, expected: 300 },
      events: { needs_approval: 0, approved: 3, violation: 0, info: 6 }, openItems: 0, approvalsInForce: 2, approvalsDecided: 1, silentEvents: 1, offlineDays: 7 });
    expect(b!.summary).toMatchObject({ pcs: 2, verdicts: { compliant: 1, action_required: 1, not_evidenced: 0 }, checks: { evidenced: 200, expected: 200 },
      events: { needs_approval: 1, approved: 0, violation: 2, info: 0 }, openItems: 3, approvalsInForce: 1, approvalsDecided: 1, silentEvents: 0 });
    for (const l of [...a!.pcs, ...b!.pcs].flatMap((p) => p.controls)) expect(l.articles.length).toBeGreaterThan(0);
    expect(line(report, seeded.agents.a1, "software").articles).toEqual(["別記2 第10"]);
    expect(line(report, seeded.agents.b1, "p2p").articles).toEqual(["個人情報取扱特記事項 第12 第9項", "別記2 第17"]);
  });

  it("per PC × control: days evidenced, events, open items, approvals, verdict", () => {
    expect(line(report, seeded.agents.a1, "software")).toMatchObject({ daysEvidenced: 30, daysInPeriod: 30, events: { approved: 3 }, openItems: 0,
      approvalsInForce: 1, approvalsDecided: 0, verdict: "compliant" });
    expect(line(report, seeded.agents.a1, "network")).toMatchObject({ daysEvidenced: 30, events: { info: 2 }, approvalsInForce: 1, approvalsDecided: 1, verdict: "compliant" });
    expect(line(report, seeded.agents.b1, "p2p")).toMatchObject({ daysEvidenced: 30, events: { violation: 2 }, openItems: 2, approvalsInForce: 0,
      approvalsDecided: 1, verdict: "action_required" });
    expect(line(report, seeded.agents.b1, "software")).toMatchObject({ events: { needs_approval: 1 }, openItems: 1, approvalsInForce: 1, verdict: "action_required" });
    expect(pc(report, seeded.agents.b2)).toMatchObject({ from: "2026-11-21", to: PERIOD.to, daysInPeriod: 10, verdict: "compliant" });
    expect(line(report, seeded.agents.b2, "asset")).toMatchObject({ daysEvidenced: 10, daysInPeriod: 10, verdict: "compliant" });
  });

  it("the PC silent for a week is 未確認 (not evidenced) on every control, never compliant", () => {
    const silent = pc(report, seeded.agents.a2);
    expect(silent.verdict).toBe("not_evidenced");
    for (const l of silent.controls) expect(l).toMatchObject({ daysEvidenced: 23, daysInPeriod: 30, openItems: 0, verdict: "not_evidenced" });
    expect(silent.silent.gaps).toEqual([{ from: "2026-11-10", to: "2026-11-16", days: 7 }]);
    expect(silent.silent.events).toHaveLength(1);
    expect(silent.silent.articles).toEqual(["別記2 第16"]);
  });

  it("CSV: UTF-8 with BOM, parses back with its columns, the same numbers", async () => {
    const r = await get(q("csv"));
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toMatch(/^text\/csv/);
    expect([...r.body.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const { records, errors } = parseCsvRecords(r.body.subarray(3).toString("utf8"));
    expect(errors).toEqual([]);
    const header = records[0]!.fields;
    expect(header).toEqual(REPORT_CSV_COLUMNS.map((c) => c.ja));
    const rows = records.slice(1).map((rec) => Object.fromEntries(header.map((h, i) => [REPORT_CSV_COLUMNS.find((c) => c.ja === h)!.en, rec.fields[i] ?? ""])));
    expect(rows.every((row) => Object.keys(row).length === header.length)).toBe(true);
    const fleet = rows[0]!;
    expect(fleet).toMatchObject({ level: "全体", control: "", pcs: "4", compliant: "2", actionRequired: "1", notEvidenced: "1", daysEvidenced: "465",
      daysInPeriod: "500", needs_approval: "1", approved: "3", violation: "2", info: "6", openItems: "3", approvalsInForce: "2", approvalsDecided: "2", silentEvents: "1" });
    const silentLines = rows.filter((row) => row.level === "PC×管理項目" && row.agentId === seeded.agents.a2);
    expect(silentLines).toHaveLength(5);
    for (const row of silentLines) expect(row).toMatchObject({ verdict: "未確認", daysEvidenced: "23", daysInPeriod: "30", offlineGaps: "2026-11-10〜2026-11-16(7日)" });
    expect(rows.find((row) => row.agentId === seeded.agents.b1 && row.control === "p2p")).toMatchObject({
      verdict: "要対応", violation: "2", openItems: "2", approvalsDecided: "1", articles: "個人情報取扱特記事項 第12 第9項;別記2 第17", organisation: "contractor-b" });
    expect(rows.filter((row) => row.level === "組織").map((row) => row.organisation)).toEqual([...Array(6).fill("contractor-a"), ...Array(6).fill("contractor-b")]);
    for (const row of rows) expect(row.articles, JSON.stringify(row)).not.toBe("");
  });

  it("HTML: printable A4 in Japanese with inline SVG charts and page breaks; the same numbers", async () => {
    const r = await get(q("html"));
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toMatch(/^text\/html/);
    const html = r.body.toString("utf8");
    expect(html).toMatch(/<html lang="ja">/);
    expect(html).toContain("size: A4");
    expect(html).toContain("break-before: page");
    expect(html.match(/<svg /g)!.length).toBeGreaterThanOrEqual(6); // 2 charts for the fleet and each organisation
    expect(html).not.toMatch(/<script|src="http|href="http/);
    const fleetCell = (k: string) => new RegExp(`data-scope="fleet"[\\s\\S]*?data-k="${k.replace(".", "\\.")}">([^<]*)<`).exec(html)?.[1];
    expect(fleetCell("pcs")).toBe("4");
    expect(fleetCell("verdicts")).toBe("2 / 1 / 1");
    expect(fleetCell("checks")).toBe("465 / 500（93.0%）");
    expect(fleetCell("events.violation")).toBe("2");
    expect(fleetCell("events.info")).toBe("6");
    expect(fleetCell("openItems")).toBe("3");
    expect(fleetCell("approvalsInForce")).toBe("2");
    expect(fleetCell("approvalsDecided")).toBe("2");
    const pcRow = (agent: string, control: string) => new RegExp(`<tr data-agent="${agent}" data-control="${control}">([\\s\\S]*?)</tr>`).exec(html)![1]!;
    const cell = (row: string, k: string) => new RegExp(`data-k="${k.replace(".", "\\.")}"[^>]*>([^<]*)<`).exec(row)?.[1];
    for (const c of ["software", "network", "media", "p2p", "asset"]) {
      const row = pcRow(seeded.agents.a2, c);
      expect(cell(row, "verdict")).toBe("未確認");
      expect(cell(row, "daysEvidenced")).toBe("23/30");
    }
    const p2p = pcRow(seeded.agents.b1, "p2p");
    expect([cell(p2p, "verdict"), cell(p2p, "events.violation"), cell(p2p, "openItems"), cell(p2p, "approvalsDecided")]).toEqual(["要対応", "2", "2", "1"]);
    expect(p2p).toContain("個人情報取扱特記事項 第12 第9項、別記2 第17");
    expect(html).toContain("2026-11-10〜2026-11-16（7日）");
  });

  it("PDF: the HTML printed by Chromium has pages and the clause texts", async () => {
    const r = await get(q("pdf"));
    expect(r.status, r.body.toString().slice(0, 300)).toBe(200);
    expect(r.headers.get("content-type")).toBe("application/pdf");
    expect(r.body.subarray(0, 5).toString()).toBe("%PDF-");
    const dir = mkdtempSync(join(tmpdir(), "kyoka-report-pdf-"));
    try {
      const file = join(dir, "r.pdf");
      writeFileSync(file, r.body);
      const info = execFileSync("pdfinfo", [file], { encoding: "utf8" });
      const pages = Number(/^Pages:\s+(\d+)/m.exec(info)?.[1]);
      expect(pages).toBeGreaterThanOrEqual(3); // the summary, then one page (at least) per organisation
      expect(info).toMatch(/Page size:.*\(A4\)/);
      const text = execFileSync("pdftotext", ["-layout", file, "-"], { encoding: "utf8" });
      for (const clause of ["別記2 第10", "別記2 第15", "個人情報取扱特記事項 第12 第9項", "別記2 第16"]) expect(text).toContain(clause);
      expect(text).toContain("未確認");
      expect(text).toContain("実施状況報告書");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe("stored reports", () => {
  it("each generated report is listed with its period, organisation, format, SHA-256 and bytes, and fetched again byte-identical", async () => {
    const made = await get(q("html"));
    const id = made.headers.get("x-kyoka-report-id")!;
    const sha = createHash("sha256").update(made.body).digest("hex");
    expect(made.headers.get("x-kyoka-report-sha256")).toBe(sha);
    const list = (await request<any[]>(srv, "GET", "/api/reports", { token: srv.adminToken })).json;
    expect(list.find((m) => m.id === id)).toMatchObject({ from: PERIOD.from, to: PERIOD.to, organisationId: null, format: "html", sha256: sha,
      bytes: made.body.length, trigger: "request", createdBy: "admin-token" });
    const again = await get(`/api/reports/${id}`);
    expect(again.status).toBe(200);
    expect(again.body.equals(made.body)).toBe(true);
    expect(again.headers.get("content-type")).toBe(made.headers.get("content-type"));
    expect(again.headers.get("content-disposition")).toContain(`kyoka-compliance-${PERIOD.from}_${PERIOD.to}.html`);
    expect((await get(`/api/reports/no-such-report`)).status).toBe(404);
    // the audit trail: the generation and every download
    await get(`/api/reports/${id}`);
    const audit = (await request<any>(srv, "GET", "/api/audit?action=report&limit=100", { token: srv.adminToken })).json.rows as Array<{ action: string; target: string; details: { sha256?: string } }>;
    expect(audit.filter((row) => row.target === id).map((row) => row.action).sort()).toEqual(["report.download", "report.download", "report.generate"]);
    expect(audit.find((row) => row.target === id && row.action === "report.generate")!.details.sha256).toBe(sha);
  });

  it("bad periods and formats are refused with the field named", async () => {
    const bad = async (path: string) => (await request<any>(srv, "GET", path, { token: srv.adminToken })).json?.error as string;
    expect(await bad(`/api/reports/compliance?from=2026-11-31&to=2026-12-01`)).toMatch(/from/);
    expect(await bad(`/api/reports/compliance?from=2026-12-01&to=2026-11-01`)).toMatch(/before/);
    expect(await bad(`/api/reports/compliance?from=2026-11-01&to=2026-11-02&format=docx`)).toMatch(/format/);
    expect((await request(srv, "GET", `/api/reports/compliance?from=2026-11-01&to=2026-11-02&organisation=nobody`, { token: srv.adminToken })).status).toBe(404);
  });
});

describe("organisations", () => {
  it("a contractor-side user gets its own organisation's report only", async () => {
    for (const who of ["desk-a", "staff-a"]) {
      const r = await get(q("json"), tokens[who]);
      expect(r.status, r.body.toString()).toBe(200);
      const report = JSON.parse(r.body.toString()) as ComplianceReport;
      expect(report.organisation).toEqual({ id: orgA, name: "contractor-a" });
      expect(report.organisations.map((o) => o.name)).toEqual(["contractor-a"]);
      expect(report.summary).toMatchObject({ pcs: 2, openItems: 0, checks: { evidenced: 265, expected: 300 } });
      expect(r.body.toString()).not.toContain(seeded.agents.b1);
      expect((await get(q("json", "&organisation=contractor-b"), tokens[who])).status).toBe(403);
      expect((await get(q("json", `&organisation=${orgA}`), tokens[who])).status).toBe(200);
      const list = (await request<any[]>(srv, "GET", "/api/reports", { token: tokens[who] })).json;
      expect(list.length).toBeGreaterThan(0);
      expect(list.every((m) => m.organisationId === orgA)).toBe(true);
      // a fleet report is not theirs: 403, like every route of data that is not their organisation's
      const fleet = (await request<any[]>(srv, "GET", "/api/reports", { token: srv.adminToken })).json.find((m) => m.organisationId === null)!;
      expect((await get(`/api/reports/${fleet.id}`, tokens[who])).status).toBe(403);
    }
    // 甲 (the admin) may ask for one organisation
    const b = JSON.parse((await get(q("json", "&organisation=contractor-b"))).body.toString()) as ComplianceReport;
    expect(b.organisations.map((o) => o.id)).toEqual([orgB]);
    expect(b.summary).toMatchObject({ pcs: 2, openItems: 3, approvalsInForce: 1, approvalsDecided: 1 });
  });
});

describe("kyoka report (the command line, through the API)", () => {
  it("--help; saves the report the server stored; a refusal is exit 2 in Japanese; a missing flag names it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kyoka-report-cli-"));
    try {
      const help = run(["report", "--help"]);
      expect((await help.exited).code).toBe(0);
      expect(help.stdout()).toMatch(/--from <day>[\s\S]*--organisation[\s\S]*--format[\s\S]*--out/);
      const adminFile = join(dir, "admin");
      writeFileSync(adminFile, srv.adminToken);
      const out = join(dir, "r.csv");
      const ok = run(["report", "--from", PERIOD.from, "--to", PERIOD.to, "--format", "csv", "--out", out, "--server", srv.url, "--token-file", adminFile, "--lang", "en"]);
      expect((await ok.exited).code, ok.stderr()).toBe(0);
      const id = /id ([0-9a-f-]{36})/.exec(ok.stdout())?.[1];
      expect(ok.stdout()).toMatch(/^report saved: /);
      const stored = await get(`/api/reports/${id}`);
      expect(readFileSync(out).equals(stored.body)).toBe(true);
      const deskFile = join(dir, "desk");
      writeFileSync(deskFile, tokens["desk-a"]!);
      const refused = run(["report", "--from", PERIOD.from, "--to", PERIOD.to, "--organisation", "contractor-b", "--server", srv.url, "--token-file", deskFile, "--out", join(dir, "x")]);
      expect((await refused.exited).code).toBe(2);
      expect(refused.stderr()).toMatch(/サーバが報告書の作成を拒否しました: HTTP 403/);
      const missing = run(["report", "--to", PERIOD.to, "--lang", "en"]);
      expect((await missing.exited).code).toBe(2);
      expect(missing.stderr()).toMatch(/--from YYYY-MM-DD/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
