/**
 * GET /api/events/counts/by/:group — the compliance charts' counts per status for each control,
 * organisation and day received (Asia/Tokyo), one grouped query each: the same numbers as the
 * per-filter GET /api/events/counts, a day boundary at 15:00 UTC (00:00 JST), the organisation
 * filter narrowing, and the migration-8 indexes in the database.
 */
import Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Control, Status } from "../../policies/schema.js";
import { SqliteStore } from "../../server/store-sqlite.js";
import type { EventRow } from "../../server/store.js";
import { api, startTestServer, type TestServer } from "./helpers.js";

type Counts = Record<Status, number>;
const dir = mkdtempSync(join(tmpdir(), "kyoka-counts-"));
let srv: TestServer;
const A = "agent-a-0000";
const B = "agent-b-0000";
let orgB = "";

/** what was seeded: [agent, control, type, status, receivedAt] */
const SEED: Array<[string, Control, string, Status, string]> = [];
const zero = (): Counts => ({ needs_approval: 0, approved: 0, violation: 0, info: 0 });

beforeAll(async () => {
  const store = new SqliteStore(dir, {});
  for (const [id, hostname] of [[A, "pc-a"], [B, "pc-b"]]) {
    await store.createAgent({ id: id!, secretHash: "x", hostname: hostname!, os: "linux", version: "test", enrolledAt: "2026-11-01T00:00:00.000Z" });
  }
  const types: Array<[Control, string, Status]> = [
    ["software", "software.installed", "needs_approval"], ["software", "software.inventory", "info"], ["network", "network.connection", "violation"],
    ["media", "media.inserted", "approved"], ["agent", "agent.started", "info"],
  ];
  // 2026-12-01 14:59:59.999Z is 23:59 on 12/01 in Tokyo; 15:00:00.000Z is 00:00 on 12/02
  const times = ["2026-11-30T03:00:00.000Z", "2026-12-01T14:59:59.999Z", "2026-12-01T15:00:00.000Z", "2026-12-02T10:00:00.000Z"];
  let n = 0;
  const rows: EventRow[] = [];
  for (const agent of [A, B]) {
    for (let i = 0; i < (agent === A ? 37 : 23); i++) {
      const [control, type, status] = types[(i * 7 + (agent === A ? 0 : 3)) % types.length]!;
      const at = times[i % times.length]!;
      SEED.push([agent, control, type, status, at]);
      rows.push({ agentId: agent, seq: ++n, control, type: type as EventRow["type"], articles: ["別記2 第10"], severity: "medium", status,
        observedAt: at, receivedAt: at, details: { i }, approvalId: null, reasons: [] });
    }
  }
  store.insertEventsSync(rows);
  await store.close();
  srv = await startTestServer({ dir });
  const o = await api<{ id: string }>(srv, "POST", "/api/organisations", { name: "乙B社", kind: "contractor" });
  expect(o.status, JSON.stringify(o.json)).toBe(201);
  orgB = o.json.id;
  expect((await api(srv, "PUT", `/api/agents/${B}/organisation`, { organisation: orgB })).status).toBe(200);
});

afterAll(async () => {
  await srv?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** the expected counts from the seed, grouped by `key` */
function expected(key: (r: (typeof SEED)[number]) => string, only: (r: (typeof SEED)[number]) => boolean = () => true): Record<string, Counts> {
  const out: Record<string, Counts> = {};
  for (const r of SEED.filter(only)) (out[key(r)] ??= zero())[r[3]]++;
  return out;
}

describe("GET /api/events/counts/by/:group", () => {
  it("per control: the seeded numbers, and the same as GET /api/events/counts?control= for each", async () => {
    const r = await api<Record<string, Counts>>(srv, "GET", "/api/events/counts/by/control");
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json).toEqual(expected((x) => x[1]));
    for (const control of ["software", "network", "media", "agent", "p2p"]) {
      const one = await api<Counts>(srv, "GET", `/api/events/counts?control=${control}`);
      expect(r.json[control] ?? zero(), control).toEqual(one.json);
    }
  });

  it("per day received, in Asia/Tokyo: 14:59:59.999Z is the day before 15:00:00.000Z; since/until bound it", async () => {
    const r = await api<Record<string, Counts>>(srv, "GET", "/api/events/counts/by/day");
    const jstDay = (iso: string): string => new Date(Date.parse(iso) + 9 * 3_600_000).toISOString().slice(0, 10);
    expect(r.json).toEqual(expected((x) => jstDay(x[4])));
    expect(Object.keys(r.json).sort()).toEqual(["2026-11-30", "2026-12-01", "2026-12-02"]);
    const bounded = await api<Record<string, Counts>>(srv, "GET", "/api/events/counts/by/day?since=2026-12-01T15:00:00.000Z&until=2026-12-02T15:00:00.000Z");
    expect(bounded.json).toEqual(expected(() => "2026-12-02", (x) => x[4] >= "2026-12-01T15:00:00.000Z"));
    // the same as the per-range count the chart made before, day by day
    const range = await api<Counts>(srv, "GET", "/api/events/counts?since=2026-11-30T15:00:00.000Z&until=2026-12-01T15:00:00.000Z");
    expect(r.json["2026-12-01"]).toEqual(range.json);
  });

  it("per organisation (id); organisation= and the other filters narrow it", async () => {
    const r = await api<Record<string, Counts>>(srv, "GET", "/api/events/counts/by/organisation");
    expect(r.json).toEqual({ default: expected(() => "x", (x) => x[0] === A).x, [orgB]: expected(() => "x", (x) => x[0] === B).x });
    const onlyB = await api<Record<string, Counts>>(srv, "GET", `/api/events/counts/by/control?organisation=${orgB}`);
    expect(onlyB.json).toEqual(expected((x) => x[1], (x) => x[0] === B));
    const bSoftware = await api<Record<string, Counts>>(srv, "GET", `/api/events/counts/by/organisation?organisation=${orgB}&control=software`);
    expect(bSoftware.json).toEqual({ [orgB]: expected(() => "x", (x) => x[0] === B && x[1] === "software").x });
    expect((await api(srv, "GET", "/api/events/counts/by/pc")).status).toBe(400);
  });

  it("the database has migration 8's count indexes, and the old received_at index is replaced", () => {
    const db = new Database(join(dir, "kyoka.db"), { readonly: true });
    const indexes = (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events'`).pluck().all() as string[]);
    db.close();
    expect(indexes).toEqual(expect.arrayContaining(["events_agent_status", "events_received_status"]));
    expect(indexes).not.toContain("events_received");
  });
});
