/**
 * A seeded dataset with known counts for the compliance report tests (test/server/reports.test.ts).
 * Period 2026-11-01 – 2026-11-30 (30 days, Asia/Tokyo). Two contractor organisations:
 *
 *  contractor-a  pc-a1  evidence every day for the 5 controls; 3 software.installed approved, 2 network.attached info → 適合
 *                pc-a2  no evidence 2026-11-10 – 11-16 (the silent week), one agent.silent on 11-10;
 *                       4 media.inserted info                                                          → 未確認 (23/30 each)
 *                pc-a9  enrolled after the period                                                     → not in the report
 *  contractor-b  pc-b1  evidence every day; 2 p2p.running violation (open); 1 software.installed
 *                       needs_approval resolved; 1 software.installed needs_approval open from October → 要対応
 *                pc-b2  enrolled 2026-11-21 (10 days), evidence every day since                        → 適合
 *                pc-b9  revoked before the period                                                    → not in the report
 * Approvals: ap-all (software, every PC, in force all period); ap-a1net (network, pc-a1, recorded
 * directly on 11-05: in force and decided); request rq-b1 (p2p, pc-b1, denied on 11-20: decided).
 */
import Database from "better-sqlite3";
import { catalogEntry } from "../../policies/catalog.js";
import { controlOf, type EventType, type Status } from "../../policies/schema.js";

export const PERIOD = { from: "2026-11-01", to: "2026-11-30" } as const;
export const CONTROLS5 = ["software", "network", "media", "p2p", "asset"] as const;

const jstNoon = (day: string): string => new Date(Date.parse(`${day}T12:00:00+09:00`)).toISOString();

function days(from: string, to: string): string[] {
  const out: string[] = [];
  for (let t = Date.parse(`${from}T00:00:00Z`); t <= Date.parse(`${to}T00:00:00Z`); t += 86_400_000) out.push(new Date(t).toISOString().slice(0, 10));
  return out;
}

export interface Seeded {
  agents: Record<"a1" | "a2" | "a9" | "b1" | "b2" | "b9", string>;
}

export function seedReportData(dbPath: string, orgA: string, orgB: string): Seeded {
  const db = new Database(dbPath);
  db.pragma("busy_timeout = 5000");
  const agents = { a1: "pc-a1", a2: "pc-a2", a9: "pc-a9", b1: "pc-b1", b2: "pc-b2", b9: "pc-b9" };
  let seq = 0;
  db.transaction(() => {
    const addAgent = db.prepare(`INSERT INTO agents (id, secret_hash, hostname, os, version, enrolled_at, revoked_at, organisation_id) VALUES (?, 'x', ?, 'linux', '1', ?, ?, ?)`);
    addAgent.run(agents.a1, "pc-a1", "2026-10-01T00:00:00.000Z", null, orgA);
    addAgent.run(agents.a2, "pc-a2", "2026-10-01T00:00:00.000Z", null, orgA);
    addAgent.run(agents.a9, "pc-a9", "2026-12-01T00:00:00.000Z", null, orgA);
    addAgent.run(agents.b1, "pc-b1", "2026-10-01T00:00:00.000Z", null, orgB);
    addAgent.run(agents.b2, "pc-b2", "2026-11-21T01:00:00.000Z", null, orgB);
    addAgent.run(agents.b9, "pc-b9", "2026-09-01T00:00:00.000Z", "2026-10-15T00:00:00.000Z", orgB);

    const ev = db.prepare(`INSERT INTO events (agent_id, seq, control, type, articles, severity, status, observed_at, received_at, details, resolution, resolved_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    const event = (agent: string, type: EventType, status: Status, day: string, details: Record<string, unknown> = {}, resolution: string | null = null) => {
      const at = jstNoon(day);
      const e = catalogEntry(type);
      ev.run(agent, ++seq, controlOf(type), type, JSON.stringify(e.articles), e.severity, status, at, at, JSON.stringify(details), resolution, resolution ? at : null);
    };
    for (let i = 0; i < 3; i++) event(agents.a1, "software.installed", "approved", "2026-11-03", { name: `pkg${i}` });
    for (let i = 0; i < 2; i++) event(agents.a1, "network.attached", "info", "2026-11-04");
    for (let i = 0; i < 4; i++) event(agents.a2, "media.inserted", "info", "2026-11-02");
    event(agents.a2, "agent.silent", "needs_approval", "2026-11-10", { lastSeen: jstNoon("2026-11-09"), missedHeartbeats: 3 });
    for (let i = 0; i < 2; i++) event(agents.b1, "p2p.running", "violation", "2026-11-18", { name: "qbittorrent-nox" });
    event(agents.b1, "software.installed", "needs_approval", "2026-11-19", { name: "resolved-pkg" }, "dismissed");
    event(agents.b1, "software.installed", "needs_approval", "2026-10-20", { name: "october-pkg" });
    // outside the period: never counted as events of the period
    event(agents.a1, "network.attached", "info", "2026-12-01");
    event(agents.b9, "software.installed", "needs_approval", "2026-10-01");

    const evidence = db.prepare(`INSERT INTO check_evidence (agent_id, control, collector, day, checks, first_at, last_at) VALUES (?, ?, ?, ?, 1, ?, ?)`);
    const evidenced = (agent: string, list: string[]) => {
      for (const d of list) for (const c of CONTROLS5) evidence.run(agent, c, c, d, jstNoon(d), jstNoon(d));
    };
    evidenced(agents.a1, days("2026-10-25", "2026-12-02"));
    evidenced(agents.a2, days(PERIOD.from, PERIOD.to).filter((d) => d < "2026-11-10" || d > "2026-11-16"));
    evidenced(agents.b1, days(PERIOD.from, PERIOD.to));
    evidenced(agents.b2, days("2026-11-21", PERIOD.to));

    const ap = db.prepare(`INSERT INTO approvals (id, control, match, scope, valid_from, valid_until, reason, created_at, organisation_id, request_id)
      VALUES (?, ?, ?, ?, ?, ?, 'r', ?, ?, ?)`);
    ap.run("ap-all", "software", JSON.stringify({ name: "office*" }), JSON.stringify({ all: true }), "2026-10-01T00:00:00.000Z", "2027-01-01T00:00:00.000Z",
      "2026-10-01T00:00:00.000Z", null, null);
    ap.run("ap-a1net", "network", JSON.stringify({ ssid: "office" }), JSON.stringify({ agents: [agents.a1] }), "2026-11-05T00:00:00.000Z", "2027-01-01T00:00:00.000Z",
      "2026-11-05T00:00:00.000Z", orgA, null);
    db.prepare(`INSERT INTO requests (id, organisation_id, control, match, scope, valid_from, valid_until, reason, status, requested_by, requested_at, decided_by, decided_at)
      VALUES ('rq-b1', ?, 'p2p', '{"name":"qbittorrent"}', ?, '2026-11-18T00:00:00.000Z', '2027-01-01T00:00:00.000Z', 'r', 'denied', 'staff-b', '2026-11-18T00:00:00.000Z', 'kou', '2026-11-20T00:00:00.000Z')`)
      .run(orgB, JSON.stringify({ agents: [agents.b1] }));
  })();
  db.close();
  return { agents };
}

/** What the report must show for the seeded data: per PC × control [daysEvidenced, daysInPeriod, events, openItems, inForce, decided, verdict]. */
export const EXPECTED = {
  fleet: {
    pcs: 4, verdicts: { compliant: 2, action_required: 1, not_evidenced: 1 },
    checks: { evidenced: 150 + 115 + 150 + 50, expected: 150 + 150 + 150 + 50 },
    events: { needs_approval: 1, approved: 3, violation: 2, info: 6 },
    openItems: 3, approvalsInForce: 2, approvalsDecided: 2, silentEvents: 1, offlineGaps: 1, offlineDays: 7,
  },
};
