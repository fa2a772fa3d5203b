/**
 * Scheduled reports (server/reports/schedule.ts): the default daily, weekly and monthly schedules
 * fire on node-cron's own scheduler under fake timers (Asia/Tokyo) and write their reports to the
 * delivery folder; webhook delivery to a local HTTP listener — one that fails until the 3rd try
 * (delivered, the bytes as stored), one that always fails (→ an agent.delivery_failed event the
 * desk sees, on a real server); a folder that cannot be written is a failed delivery too.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { defaultPolicyText, parsePolicyText } from "../../policies/policy.js";
import { postWebhook } from "../../server/delivery/webhook.js";
import { ADMIN_TOKEN_PRINCIPAL } from "../../server/people/permissions.js";
import { Workflow } from "../../server/people/workflow.js";
import { checkEvidenceSource } from "../../server/reports/model.js";
import { ReportScheduler, ReportsConfig, type DeliveryFailure, type PostReport } from "../../server/reports/schedule.js";
import { Reports } from "../../server/reports/service.js";
import { ServerState } from "../../server/state.js";
import { SqliteStore } from "../../server/store-sqlite.js";
import { request, startTestServer } from "./helpers.js";
import { seedReportData } from "./reports-seed.js";

const silent = pino({ level: "silent" });

function makeReports() {
  const dir = mkdtempSync(join(tmpdir(), "kyoka-report-schedule-"));
  const store = new SqliteStore(dir, { synchronous: "NORMAL" });
  const text = defaultPolicyText();
  const wf = new Workflow({ db: store.handle, state: new ServerState({ version: 1, policy: parsePolicyText(text), text }), log: silent, dataDir: dir, adminToken: "x".repeat(32) });
  const orgA = wf.createOrganisation(ADMIN_TOKEN_PRINCIPAL, { name: "contractor-a", kind: "contractor" }, {}).id;
  const orgB = wf.createOrganisation(ADMIN_TOKEN_PRINCIPAL, { name: "contractor-b", kind: "contractor" }, {}).id;
  seedReportData(store.path, orgA, orgB);
  const reports = new Reports({ db: store.handle, dbPath: store.path, workflow: wf, log: silent, evidence: checkEvidenceSource });
  return { dir, store, wf, reports, close: async () => { await store.close(); rmSync(dir, { recursive: true, force: true }); } };
}

/** A local webhook receiver: `answer(n)` gives the status of the n-th POST (1-based). */
async function listener(answer: (n: number) => number): Promise<{ url: string; bodies: Buffer[]; headers: Array<Record<string, unknown>>; close(): Promise<void> }> {
  const bodies: Buffer[] = [];
  const headers: Array<Record<string, unknown>> = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      bodies.push(Buffer.concat(chunks));
      headers.push(req.headers);
      res.statusCode = answer(bodies.length);
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook/secret`, bodies, headers,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const fastRetry: PostReport = (req, signal) => postWebhook(req, { signal, retry: { attempts: 3, baseDelayMs: 5, maxDelayMs: 20 } });

describe("report schedules (node-cron under fake timers, Asia/Tokyo)", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("daily at 06:00, monthly on the 1st at 07:00, weekly on Monday at 06:30: each writes its period's reports to the folder", async () => {
    const fx = makeReports();
    const folder = join(fx.dir, "out");
    const failures: DeliveryFailure[] = [];
    // 2026-12-01 05:59:30 JST (a Tuesday)
    vi.useFakeTimers({ now: new Date("2026-11-30T20:59:30Z"), toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"] });
    const sched = new ReportScheduler({
      reports: fx.reports, config: ReportsConfig.parse({}), folder, log: silent, post: async () => ({ ok: true, attempts: [] }),
      onFailure: (f) => { failures.push(f); },
    });
    try {
      sched.start();
      const files = (name: string) => (existsSync(join(folder, name)) ? readdirSync(join(folder, name)).sort() : []);
      await vi.advanceTimersByTimeAsync(20_000);
      await sched.idle();
      expect(files("daily")).toEqual([]);
      await vi.advanceTimersByTimeAsync(20_000); // 06:00:10
      await sched.idle();
      expect(files("daily")).toEqual(["kyoka-compliance-2026-11-30_2026-11-30.csv", "kyoka-compliance-2026-11-30_2026-11-30.html"]);
      expect(files("monthly")).toEqual([]);
      await vi.advanceTimersByTimeAsync(3600_000); // 07:00:10 on the 1st
      await sched.idle();
      expect(files("monthly")).toEqual(["kyoka-compliance-2026-11-01_2026-11-30.csv", "kyoka-compliance-2026-11-01_2026-11-30.html"]);
      const monthly = readFileSync(join(folder, "monthly", "kyoka-compliance-2026-11-01_2026-11-30.html"), "utf8");
      expect(monthly).toContain("未確認");
      expect(files("weekly")).toEqual([]);
      // to Monday 2026-12-07 07:00:10 JST, a day at a time (the daily runs on each; the weekly at 06:30 on the 7th)
      for (let i = 0; i < 6; i++) {
        await vi.advanceTimersByTimeAsync(86_400_000);
        await sched.idle();
      }
      expect(files("weekly")).toEqual(["kyoka-compliance-2026-11-30_2026-12-06.csv", "kyoka-compliance-2026-11-30_2026-12-06.html"]);
      expect(files("daily")).toHaveLength(2 * 7); // 11-30 … 12-06
      // every one is stored and audited as the schedule's
      const listed = fx.reports.list(ADMIN_TOKEN_PRINCIPAL, 1000);
      expect(listed.filter((m) => m.trigger === "schedule:daily")).toHaveLength(14);
      expect(listed.filter((m) => m.trigger === "schedule:monthly").map((m) => [m.from, m.to, m.format]).sort())
        .toEqual([["2026-11-01", "2026-11-30", "csv"], ["2026-11-01", "2026-11-30", "html"]]);
      expect(listed.every((m) => m.createdBy === "server:schedule")).toBe(true);
      const stored = fx.reports.get(ADMIN_TOKEN_PRINCIPAL, listed.find((m) => m.trigger === "schedule:monthly" && m.format === "html")!.id, {});
      expect(stored.content.toString("utf8")).toBe(monthly);
      expect(failures).toEqual([]);
    } finally {
      await sched.stop();
      await fx.close();
    }
  }, 60_000);
});

describe("report delivery", () => {
  let fx: ReturnType<typeof makeReports>;
  beforeAll(() => { fx = makeReports(); });
  afterAll(async () => { await fx.close(); });

  const schedule = { name: "t", cron: "0 6 * * *", period: "month" as const, formats: ["csv" as const], organisations: "fleet" as const };

  it("a webhook that fails until the 3rd try gets the report on the 3rd, byte for byte", async () => {
    const hook = await listener((n) => (n < 3 ? 500 : 200));
    const failures: DeliveryFailure[] = [];
    const sched = new ReportScheduler({
      reports: fx.reports, config: ReportsConfig.parse({ webhook: { url: hook.url, headers: { authorization: "Bearer hook-secret" } } }),
      folder: join(fx.dir, "out"), log: silent, post: fastRetry, onFailure: (f) => { failures.push(f); },
    });
    try {
      const [made] = await sched.run(schedule);
      expect(hook.bodies).toHaveLength(3);
      expect(hook.bodies[2]!.equals(made!.content)).toBe(true);
      expect(hook.headers[2]).toMatchObject({ "content-type": "text/csv; charset=utf-8", authorization: "Bearer hook-secret",
        "x-kyoka-report-id": made!.meta.id, "x-kyoka-report-sha256": made!.meta.sha256 });
      expect(failures).toEqual([]);
    } finally {
      await hook.close();
    }
  });

  it("a webhook that always fails, and a folder that cannot be written, are failed deliveries", async () => {
    const hook = await listener(() => 503);
    const failures: DeliveryFailure[] = [];
    const notADir = join(fx.dir, "a-file");
    writeFileSync(notADir, "x");
    const sched = new ReportScheduler({
      reports: fx.reports, config: ReportsConfig.parse({ webhook: { url: hook.url } }), folder: notADir, log: silent, post: fastRetry,
      onFailure: (f) => { failures.push(f); },
    });
    try {
      await sched.run(schedule);
      expect(hook.bodies).toHaveLength(3);
      expect(failures.map((f) => [f.channel, f.attempts])).toEqual([["folder", 1], ["webhook", 3]]);
      expect(failures[1]!.error).toMatch(/503/);
      expect(failures[1]!.target).not.toContain("secret"); // the URL's path may hold a secret
    } finally {
      await hook.close();
    }
  });

  it("on a server, the failed delivery is an agent.delivery_failed event in the events list (the dashboard)", async () => {
    const hook = await listener(() => 500);
    const runs: Array<() => void> = [];
    const srv = await startTestServer({
      reports: ReportsConfig.parse({ webhook: { url: hook.url, attempts: 2, baseDelayMs: 5 }, schedules: [schedule] }),
      reportScheduler: (_cron, _tz, run) => { runs.push(run); return { stop() {} }; },
    });
    try {
      expect(runs).toHaveLength(1);
      runs[0]!();
      let events: Array<{ type: string; status: string; articles: string[]; details: Record<string, unknown> }> = [];
      for (let i = 0; i < 200 && events.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 50));
        events = (await request<typeof events>(srv, "GET", "/api/events?type=agent.delivery_failed", { token: srv.adminToken })).json;
      }
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ type: "agent.delivery_failed", status: "needs_approval", articles: ["別記2 第15", "別記2 第16"],
        details: { channel: "webhook", attempts: 2, schedule: "t" } });
      expect(hook.bodies).toHaveLength(2);
      // written to the folder all the same
      expect(readdirSync(join(srv.dir, "reports", "t"))).toHaveLength(1);
    } finally {
      await srv.stop();
      await hook.close();
    }
  });
});
