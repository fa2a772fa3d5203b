/**
 * Evidence that checks ran (server/evidence.ts): agent.check events sent over the real agent
 * protocol to a real server are stored, and the days with an ok check per PC × control come back
 * from the store (Asia/Tokyo days). A failed check is an event, never evidence; a resent event
 * counts once; an agent that sent nothing has no evidence (未確認).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { dayISO, daysBetween } from "../../lib/day.js";
import { checkEvidence, coverage, evidenceDays } from "../../server/evidence.js";
import { SqliteStore } from "../../server/store-sqlite.js";
import { connectAgent, enroll, events, sendEvents, startTestServer, type TestServer } from "./helpers.js";

const dirs: string[] = [];
const servers: TestServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const check = (seq: number, observedAt: string, details: Record<string, unknown>) => ({
  seq, type: "agent.check", observedAt, details: { completedAt: observedAt, findings: 0, ...details },
});

describe("evidence that checks ran", () => {
  it("days are Asia/Tokyo calendar days", () => {
    expect(dayISO("2026-12-01T14:59:59.999Z")).toBe("2026-12-01");
    expect(dayISO("2026-12-01T15:00:00.000Z")).toBe("2026-12-02");
    expect(dayISO("2026-12-01T23:00:00+09:00")).toBe("2026-12-01");
    expect(dayISO("2026-12-01T15:00:00.000Z", "UTC")).toBe("2026-12-01");
    expect(dayISO("not a time")).toBeUndefined();
    expect(daysBetween("2026-11-29", "2026-12-02")).toEqual(["2026-11-29", "2026-11-30", "2026-12-01", "2026-12-02"]);
    expect(daysBetween("2026-12-02", "2026-12-01")).toEqual([]);
    expect(() => daysBetween("2026-02-30", "2026-03-01")).toThrow(/not a day/);
  });

  it("only an ok agent.check with a known control is evidence", () => {
    const at = "2026-12-01T01:00:00.000Z";
    expect(checkEvidence({ type: "agent.check", observedAt: at, details: { control: "p2p", collector: "p2p", ok: true } }))
      .toEqual({ control: "p2p", collector: "p2p", day: "2026-12-01" });
    expect(checkEvidence({ type: "agent.check", observedAt: at, details: { control: "p2p", collector: "p2p", ok: false, error: "ps failed" } })).toBeUndefined();
    expect(checkEvidence({ type: "agent.check", observedAt: at, details: { control: "printer", collector: "x", ok: true } })).toBeUndefined();
    expect(checkEvidence({ type: "agent.started", observedAt: at, details: { control: "p2p", collector: "p2p", ok: true } })).toBeUndefined();
    expect(checkEvidence({ type: "agent.check", observedAt: at, details: { control: "p2p", collector: "P2P <script>", ok: true } })).toBeUndefined();
    expect(checkEvidence({ type: "agent.check", observedAt: "+275760-09-13T00:00:00.000Z", details: { control: "p2p", collector: "p2p", ok: true } })).toBeUndefined();
    expect(checkEvidence({ type: "agent.check", observedAt: "9999-12-31T20:00:00Z", details: { control: "p2p", collector: "p2p", ok: true } })).toBeUndefined();
  });

  it("checks sent by agents are stored as events and as days with evidence per PC × control; failures, resends and silent PCs are not evidence", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kyoka-evidence-"));
    dirs.push(dir);
    const srv = await startTestServer({ dir });
    servers.push(srv);
    const a = await enroll(srv, "pc-checked");
    const b = await enroll(srv, "pc-failing");
    const silent = await enroll(srv, "pc-stopped");
    const ca = await connectAgent(srv, a);
    const cb = await connectAgent(srv, b);

    // pc-checked: p2p on 12-01 and 12-02 (Tokyo; 15:30Z is already the next day there), software by
    // two collectors on 12-01, network twice on 12-01
    const ackA = await sendEvents(ca, [
      check(1, "2026-11-30T23:00:00.000Z", { control: "p2p", collector: "p2p", ok: true, findings: 2 }),
      check(2, "2026-12-01T15:30:00.000Z", { control: "p2p", collector: "p2p", ok: true }),
      check(3, "2026-12-01T01:00:00.000Z", { control: "software", collector: "software", ok: true, findings: 1200 }),
      check(4, "2026-12-01T01:00:05.000Z", { control: "software", collector: "executed", ok: true }),
      check(5, "2026-12-01T02:00:00.000Z", { control: "network", collector: "network", ok: true }),
      check(6, "2026-12-01T08:00:00.000Z", { control: "network", collector: "network", ok: true }),
      check(7, "2026-12-01T02:00:00.000Z", { control: "printers", collector: "x", ok: true }),
    ]);
    expect(ackA.seq).toBe(7);
    expect((ackA.rejected as Array<{ seq: number; path: string }>).map((r) => [r.seq, r.path])).toEqual([[7, "details.control"]]);
    // the same events again (a reconnect resends what was not acked): stored once, counted once
    await sendEvents(ca, [check(5, "2026-12-01T02:00:00.000Z", { control: "network", collector: "network", ok: true })]);

    // pc-failing: its media check failed; it is an event the desk sees, not evidence
    await sendEvents(cb, [check(1, "2026-12-01T01:00:00.000Z", { control: "media", collector: "media", ok: false, error: "udevadm: not found" })]);

    const stored = await events(srv, "?type=agent.check");
    expect(stored).toHaveLength(7);
    expect(stored.every((e) => e.control === "agent" && e.status === "info" && e.articles.includes("別記2 第12"))).toBe(true);
    expect(stored.find((e) => e.agentId === b.agentId)!.details).toMatchObject({ ok: false, error: "udevadm: not found" });

    ca.ws.close();
    cb.ws.close();
    servers.splice(0);
    await srv.stop();

    const store = new SqliteStore(dir);
    try {
      const days = await evidenceDays(store, { from: "2026-11-30", to: "2026-12-03" });
      expect([...days.keys()]).toEqual([a.agentId]);
      const mine = days.get(a.agentId)!;
      expect(Object.fromEntries([...mine].map(([c, d]) => [c, [...d].sort()]))).toEqual({
        p2p: ["2026-12-01", "2026-12-02"],
        software: ["2026-12-01"],
        network: ["2026-12-01"],
      });
      expect(days.get(b.agentId)).toBeUndefined();
      expect(days.get(silent.agentId)).toBeUndefined();

      // the rows keep each collector, how many checks and when
      const rows = await store.listEvidence({ fromDay: "2026-12-01", toDay: "2026-12-01" });
      expect(rows.map((r) => [r.control, r.collector, r.checks, r.firstAt, r.lastAt])).toEqual([
        ["network", "network", 2, "2026-12-01T02:00:00.000Z", "2026-12-01T08:00:00.000Z"],
        ["p2p", "p2p", 1, "2026-11-30T23:00:00.000Z", "2026-11-30T23:00:00.000Z"],
        ["software", "executed", 1, "2026-12-01T01:00:05.000Z", "2026-12-01T01:00:05.000Z"],
        ["software", "software", 1, "2026-12-01T01:00:00.000Z", "2026-12-01T01:00:00.000Z"],
      ]);

      // the period and the agents filter
      const narrow = await evidenceDays(store, { agentIds: [a.agentId, silent.agentId], from: "2026-12-02T00:00:00+09:00", to: "2026-12-02" });
      expect(Object.fromEntries([...narrow.get(a.agentId)!].map(([c, d]) => [c, [...d]]))).toEqual({ p2p: ["2026-12-02"] });
      expect((await evidenceDays(store, { agentIds: [silent.agentId], from: "2026-11-01", to: "2026-12-31" })).size).toBe(0);
      expect((await evidenceDays(store, { agentIds: [], from: "2026-11-01", to: "2026-12-31" })).size).toBe(0);

      // days with evidence / days in the period; the rest are 未確認
      expect(coverage(mine.get("p2p"), "2026-11-30", "2026-12-03")).toEqual({ evidenced: 2, days: 4, missing: ["2026-11-30", "2026-12-03"] });
      expect(coverage(mine.get("media"), "2026-12-01", "2026-12-02")).toEqual({ evidenced: 0, days: 2, missing: ["2026-12-01", "2026-12-02"] });
    } finally {
      await store.close();
    }
  }, 30_000);
});
