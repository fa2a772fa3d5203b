import { afterEach, describe, expect, it } from "vitest";
import { AssetCollector, STATE_KEY, nodeCronScheduler, type AssetState, type Scheduler } from "../../../agent/collectors/asset/index.js";
import { Inventory, normalize, type RawInventory } from "../../../agent/collectors/asset/inventory.js";
import { pcId } from "../../../agent/collectors/asset/identity.js";
import { MemoryState, recordingContext } from "../../helpers/collector-context.js";
import { rawWindows } from "./helpers.js";

/** A scheduler that records what was scheduled and lets the test fire it. */
function fakeScheduler() {
  const jobs: { expression: string; timezone: string; run: () => void; stopped: boolean }[] = [];
  const scheduler: Scheduler = (expression, timezone, run) => {
    const job = { expression, timezone, run, stopped: false };
    jobs.push(job);
    return { stop: () => { job.stopped = true; } };
  };
  const live = () => jobs.filter((j) => !j.stopped);
  return { scheduler, jobs, live };
}

const NOW = new Date("2024-10-01T03:00:00Z"); // 12:00 JST; last scheduled 09:00 JST = 00:00Z
type Rec = Record<string, unknown>;

function stateWith(inv: Inventory, lastSnapshotAt: string): MemoryState {
  const state = new MemoryState();
  state.data.set(STATE_KEY, JSON.parse(JSON.stringify({ lastSnapshotAt, pcId: pcId(inv), inventory: inv } satisfies AssetState)));
  return state;
}

const collectors: AssetCollector[] = [];
function make(read: () => Promise<RawInventory>, scheduler?: Scheduler, now = () => NOW) {
  const c = new AssetCollector({ read, scheduler, now });
  collectors.push(c);
  return c;
}
afterEach(async () => {
  for (const c of collectors.splice(0)) await c.stop();
});

describe("AssetCollector", () => {
  it("first start: takes a snapshot at once, emits it with pcId and inventory, then persists state", async () => {
    const s = fakeScheduler();
    const ctx = recordingContext({}, new MemoryState(), { order: true });
    await make(async () => rawWindows(), s.scheduler).start(ctx);

    expect(ctx.events).toHaveLength(1);
    const ev = ctx.events[0]!;
    expect(ev.type).toBe("asset.snapshot");
    expect(ev.observedAt).toBe(NOW.toISOString());
    expect(ev.details.pcId).toBe(pcId(normalize(rawWindows())));
    expect(ev.details.pcIdBasis).toBe("hardware-uuid");
    expect(ev.details.hostname).toBe("KYO-PC-0123");
    expect(Inventory.parse(ev.details.inventory).system.serial).toBe("5Q2XKZ3");
    expect(ctx.order).toEqual(["emit:asset.snapshot", `state:${STATE_KEY}`]);
    // a snapshot of every source: a completed check (evidence, agent/evidence.ts)
    expect(ctx.checks).toEqual([{ findings: 0 }]);
    const saved = ctx.state.get<AssetState>(STATE_KEY)!;
    expect(saved.lastSnapshotAt).toBe(NOW.toISOString());
    expect(saved.pcId).toBe(ev.details.pcId);
    // scheduled with the policy's defaults
    expect(s.live().map((j) => [j.expression, j.timezone])).toEqual([["0 9 * * *", "Asia/Tokyo"]]);
  });

  it("restart after a snapshot taken since the last scheduled time: no snapshot on start", async () => {
    const ctx = recordingContext({}, stateWith(normalize(rawWindows()), "2024-10-01T00:00:02.000Z"));
    await make(async () => rawWindows(), fakeScheduler().scheduler).start(ctx);
    expect(ctx.events).toEqual([]);
  });

  it("start after the PC was off at 09:00: catches up, and reports what changed since the last snapshot", async () => {
    const before = normalize(rawWindows());
    (before.memory as unknown[]).pop(); // the second module was not there yesterday
    const ctx = recordingContext({}, stateWith(before, "2024-09-30T00:00:02.000Z"), { order: true });
    await make(async () => rawWindows(), fakeScheduler().scheduler).start(ctx);

    expect(ctx.events.map((e) => e.type)).toEqual(["asset.snapshot", "asset.hardware_changed"]);
    expect(ctx.events[1]!.details).toEqual({
      component: "memory", change: "added", key: "BANK 2/1", before: null,
      after: expect.objectContaining({ slot: "BANK 2/1", serial: "36A1B2D4" }),
      pcId: pcId(before),
    });
    expect(ctx.order).toEqual(["emit:asset.snapshot", "emit:asset.hardware_changed", `state:${STATE_KEY}`]);
  });

  it("each scheduled run compares with the previous snapshot: one event per change", async () => {
    const s = fakeScheduler();
    let raw = rawWindows();
    const ctx = recordingContext();
    const c = make(async () => structuredClone(raw), s.scheduler);
    await c.start(ctx);
    expect(ctx.events).toHaveLength(1);

    // same hardware: a snapshot, no change
    s.live()[0]!.run();
    await c.snapshotNow();
    expect(ctx.events.map((e) => e.type)).toEqual(["asset.snapshot", "asset.snapshot", "asset.snapshot"]);

    // disk replaced and a USB NIC added
    raw = rawWindows();
    ((raw.diskLayout as Rec[])[0]!).serialNum = "S6Z1NJ0W123456";
    (raw.networkInterfaces as Rec[]).push({ iface: "イーサネット 2", ifaceName: "Realtek USB GbE", mac: "00:e0:4c:68:01:02", type: "wired" });
    ctx.events.length = 0;
    s.live()[0]!.run();
    await c.snapshotNow(); // queued behind the scheduled one
    const changes = ctx.events.filter((e) => e.type === "asset.hardware_changed").map((e) => e.details);
    expect(changes).toEqual([
      expect.objectContaining({ component: "disk", change: "replaced", before: expect.objectContaining({ serial: "8DQPB0ABCDEF" }), after: expect.objectContaining({ serial: "S6Z1NJ0W123456" }) }),
      expect.objectContaining({ component: "nic", change: "added", key: "00:e0:4c:68:01:02", before: null }),
    ]);
  });

  it("a source that fails is reported in the snapshot, and does not turn into 'removed' events", async () => {
    const ctx = recordingContext({}, stateWith(normalize(rawWindows()), "2024-09-30T00:00:00.000Z"));
    const read = async (): Promise<RawInventory> => {
      const raw = rawWindows();
      delete raw.diskLayout;
      raw.errors = [{ source: "diskLayout", message: "timed out after 20000 ms" }];
      return raw;
    };
    await make(read, fakeScheduler().scheduler).start(ctx);
    expect(ctx.events.map((e) => e.type)).toEqual(["asset.snapshot"]);
    expect(ctx.events[0]!.details.errors).toEqual([{ source: "diskLayout", message: "timed out after 20000 ms" }]);
    // a snapshot with a source missing is not evidence that the check ran
    expect(ctx.checks).toEqual([]);
  });

  it("reschedules when the policy changes the schedule or timezone; keeps the old one for an invalid schedule", async () => {
    const s = fakeScheduler();
    const ctx = recordingContext({ asset: { schedule: "0 9 * * *" } }, stateWith(normalize(rawWindows()), "2024-10-01T00:00:02.000Z"));
    await make(async () => rawWindows(), s.scheduler).start(ctx);
    expect(s.live().map((j) => j.expression)).toEqual(["0 9 * * *"]);

    ctx.setPolicy({ asset: { schedule: "0 9 * * *" }, heartbeatSeconds: 60 }); // nothing asset-related changed
    expect(s.jobs).toHaveLength(1);

    ctx.setPolicy({ asset: { schedule: "30 12 * * 1-5" } });
    expect(s.live().map((j) => [j.expression, j.timezone])).toEqual([["30 12 * * 1-5", "Asia/Tokyo"]]);
    expect(s.jobs[0]!.stopped).toBe(true);

    ctx.setPolicy({ asset: { schedule: "30 12 * * 1-5", timezone: "UTC" } });
    expect(s.live().map((j) => [j.expression, j.timezone])).toEqual([["30 12 * * 1-5", "UTC"]]);

    ctx.setPolicy({ asset: { schedule: "every day at nine", timezone: "Mars/Olympus" } });
    expect(s.live().map((j) => [j.expression, j.timezone])).toEqual([["30 12 * * 1-5", "UTC"]]);
    expect(s.jobs).toHaveLength(3);
  });

  it("stop() ends the schedule: a late tick takes no snapshot", async () => {
    const s = fakeScheduler();
    const ctx = recordingContext({}, stateWith(normalize(rawWindows()), "2024-10-01T00:00:02.000Z"));
    const c = make(async () => rawWindows(), s.scheduler);
    await c.start(ctx);
    const job = s.live()[0]!;
    await c.stop();
    expect(job.stopped).toBe(true);
    job.run();
    await new Promise((r) => setTimeout(r, 20));
    expect(ctx.events).toEqual([]);
  });

  it("a stored inventory that no longer parses becomes the new baseline (no change events)", async () => {
    const state = new MemoryState();
    state.data.set(STATE_KEY, { lastSnapshotAt: "2024-09-01T00:00:00.000Z", pcId: "pc-old", inventory: { disks: "?" } });
    const ctx = recordingContext({}, state);
    await make(async () => rawWindows(), fakeScheduler().scheduler).start(ctx);
    expect(ctx.events.map((e) => e.type)).toEqual(["asset.snapshot"]);
  });

  it("runs on node-cron's real scheduler", async () => {
    const ctx = recordingContext({ asset: { schedule: "* * * * * *" } }, stateWith(normalize(rawWindows()), new Date().toISOString()));
    const c = make(async () => rawWindows(), nodeCronScheduler, () => new Date());
    await c.start(ctx);
    const until = Date.now() + 20_000;
    while (ctx.events.length < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    await c.stop();
    expect(ctx.events.length).toBeGreaterThanOrEqual(2);
    expect(ctx.events.every((e) => e.type === "asset.snapshot")).toBe(true);
    expect(ctx.failures).toEqual([]);
  });
});
