/**
 * The agent's scheduled compliance snapshot (agent/compliance-schedule.ts): node-cron's real
 * scheduler driven by fake timers fires it at the policy's time (Asia/Tokyo); a run missed while
 * the PC was off runs at the next start (the last run kept in the agent's state); each control
 * gives one agent.check, ok only when its section was read and its collectors run; with the real
 * snapshot of this PC, a prohibited package is counted.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { ComplianceSchedule, STATE_KEY, type ComplianceScheduleOptions, type ComplianceState } from "../../agent/compliance-schedule.js";
import type { CheckRecord } from "../../agent/evidence.js";
import type { CollectorStatus } from "../../agent/supervisor.js";
import type { SnapshotDocument } from "../../agent/collectors/snapshot-sources.js";
import { Policy } from "../../policies/policy.js";
import { MemoryState } from "../helpers/collector-context.js";
import { silentLog } from "./helpers.js";

const running = (...names: string[]): CollectorStatus[] => names.map((name) => ({ name, state: "running", failures: 0, lastError: undefined }));

/** A snapshot as takeSnapshot gives it: qBittorrent installed, one network, nothing else. */
function doc(): SnapshotDocument {
  return {
    takenAt: new Date().toISOString(), errors: [],
    software: { count: 2, items: [{ id: "dpkg:bash", name: "bash", version: "5.2", source: "dpkg" }, { id: "dpkg:vim", name: "vim", version: "9", source: "dpkg" }] },
    p2p: [{ type: "p2p.installed", family: "qBittorrent", name: "qbittorrent-nox", version: "4.5.2", source: "dpkg" }],
    network: { interfaces: [{ iface: "eth0", mac: null, up: true, loopback: false, addresses: [{ address: "10.1.0.9", prefixlen: 24, cidr: "10.1.0.0/24", family: 4 }], gateway: "10.1.0.1", gatewayMac: null, ssid: null, bssid: null, dns: [] }], routes: [], listening: [], connections: [], errors: [] },
    media: [],
    hardware: { pcId: "x", system: {} },
  };
}

function schedule(opts: Partial<Omit<ComplianceScheduleOptions, "policy" | "state">> & { policy?: unknown; state?: MemoryState; statuses?: CollectorStatus[] } = {}) {
  const { policy: policyInput, state: givenState, statuses, ...extra } = opts;
  const recorded: Array<{ check: CheckRecord; at: Date }> = [];
  const state = givenState ?? new MemoryState();
  const policy = Policy.parse(policyInput ?? {});
  const sections: Array<string[]> = [];
  const s = new ComplianceSchedule({
    log: silentLog(), state, policy: () => policy, policyVersion: () => 3, onPolicy: () => () => undefined,
    evidence: { record: async (check, at) => { recorded.push({ check, at: at ?? new Date() }); } },
    collectors: () => statuses ?? running("asset", "executed", "media", "network", "p2p", "software"),
    snapshot: async (wanted) => { sections.push([...wanted].sort()); return doc(); },
    startDelayMs: 1000,
    ...extra, // (an explicit snapshot: undefined takes the real one)
  });
  return { s, recorded, state, sections };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("scheduled compliance snapshot", () => {
  it("fires at the policy's time in Asia/Tokyo (node-cron under fake timers) and records one check per control", async () => {
    vi.useFakeTimers({ now: new Date("2026-12-03T02:59:58.000Z") }); // 11:59:58 in Tokyo
    const state = new MemoryState();
    await state.set<ComplianceState>(STATE_KEY, { lastRunAt: "2026-12-02T03:00:01.000Z" }); // yesterday's run
    const { s, recorded } = schedule({ state });
    s.start();
    await vi.advanceTimersByTimeAsync(1500);
    expect(recorded).toEqual([]); // not due at start, not yet 12:00
    await vi.advanceTimersByTimeAsync(1500); // 12:00:00.5 in Tokyo
    await vi.waitFor(() => expect(recorded).toHaveLength(5));
    expect(recorded.map((r) => r.check.control)).toEqual(["software", "p2p", "network", "media", "asset"]);
    const p2p = recorded.find((r) => r.check.control === "p2p")!.check;
    expect(p2p).toMatchObject({ collector: "p2p", source: "snapshot", ok: true, findings: 1, extra: { verdict: "needs_action", trigger: "schedule", statuses: { violation: 1, needs_approval: 0, approved: 0, info: 0 } } });
    expect(recorded.find((r) => r.check.control === "software")!.check).toMatchObject({ ok: true, findings: 0, extra: { verdict: "ok" } });
    expect(recorded.find((r) => r.check.control === "network")!.check).toMatchObject({ ok: true, findings: 1 });
    expect(state.get<ComplianceState>(STATE_KEY)!.lastRunAt).toBe(recorded[0]!.at.toISOString());
    expect(Date.parse(recorded[0]!.at.toISOString())).toBeGreaterThanOrEqual(Date.parse("2026-12-03T03:00:00.000Z"));
    // the next day at 12:00 again, not before
    recorded.length = 0;
    await vi.advanceTimersByTimeAsync(23 * 3600_000);
    expect(recorded).toEqual([]);
    await vi.advanceTimersByTimeAsync(3600_000);
    await vi.waitFor(() => expect(recorded).toHaveLength(5));
    await s.stop();
  });

  it("a run missed while the PC was off happens at the next start; none when the last run is after the latest scheduled time", async () => {
    vi.useFakeTimers({ now: new Date("2026-12-03T05:00:00.000Z") }); // 14:00 in Tokyo: today's 12:00 was missed
    const state = new MemoryState();
    await state.set<ComplianceState>(STATE_KEY, { lastRunAt: "2026-12-01T03:00:00.000Z" });
    const missed = schedule({ state });
    missed.s.start();
    expect(missed.recorded).toEqual([]);
    await vi.advanceTimersByTimeAsync(1000); // startDelayMs
    await vi.waitFor(() => expect(missed.recorded).toHaveLength(5));
    expect(missed.recorded[0]!.check.extra).toMatchObject({ trigger: "start" });
    expect(state.get<ComplianceState>(STATE_KEY)!.lastRunAt).toBe("2026-12-03T05:00:01.000Z");
    await missed.s.stop();

    // started again the same afternoon: today's run is done
    const again = schedule({ state });
    again.s.start();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(again.recorded).toEqual([]);
    await again.s.stop();

    // never run at all (a new install): due
    const fresh = schedule();
    fresh.s.start();
    await vi.advanceTimersByTimeAsync(1000);
    await vi.waitFor(() => expect(fresh.recorded).toHaveLength(5));
    await fresh.s.stop();
  });

  it("ok: false for a control whose collector failed or whose section could not be read; nothing for a control the policy disables or the agent does not run", async () => {
    const statuses: CollectorStatus[] = [
      ...running("software", "executed", "asset", "media"),
      { name: "p2p", state: "backoff", failures: 3, lastError: "ps: not found" },
      { name: "network", state: "disabled", failures: 0, lastError: undefined },
    ];
    const { s, recorded, sections } = schedule({
      statuses, policy: { collectors: { network: { enabled: false } } },
      snapshot: async (wanted) => {
        sections.push([...wanted].sort());
        const d = doc();
        delete d.media;
        d.errors.push({ source: "media", message: "lsblk: not found" });
        return d;
      },
    });
    s.start();
    await s.runNow("manual");
    // the disabled network collector's section is not even read
    expect(sections).toEqual([["hardware", "media", "p2p", "software"]]);
    expect(recorded.map((r) => [r.check.control, r.check.ok, r.check.error])).toEqual([
      ["software", true, undefined],
      ["p2p", false, "collector p2p is backoff (ps: not found)"],
      ["media", false, "media: lsblk: not found"],
      ["asset", true, undefined],
    ]);
    await s.stop();
  });

  it("with the real snapshot of this PC: a package the policy prohibits is counted in the software check", async () => {
    const { s, recorded } = schedule({
      policy: { software: { prohibited: [{ name: "bash" }] } },
      statuses: running("software"),
      snapshot: undefined,
    });
    s.start();
    const report = await s.runNow("manual");
    expect(report!.controls.find((c) => c.control === "software")!.checked).toBeGreaterThan(10);
    expect(recorded.map((r) => r.check)).toEqual([
      expect.objectContaining({ control: "software", collector: "software", ok: true, findings: 1, extra: expect.objectContaining({ verdict: "needs_action" }) as unknown }),
    ]);
    await s.stop();
  }, 30_000);
});
