import { appendFile, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { EventQueue, IMPORTANT, priorityOf, ROUTINE } from "../../agent/queue.js";
import { loadCatalog } from "../../policies/catalog.js";
import { EVENT_TYPES, type NewEvent } from "../../policies/schema.js";
import { captureLog } from "../server/helpers.js";
import { silentLog, tempDir } from "./helpers.js";

const routine = (i: number, pad = ""): NewEvent => ({ type: "asset.snapshot", details: { i, pad } });
const important = (i: number, pad = ""): NewEvent => ({ type: "p2p.running", details: { i, pad } });

let dir: string;
let cleanup: () => Promise<void>;
const queues: EventQueue[] = [];

async function openQueue(opts: Partial<ConstructorParameters<typeof EventQueue>[0]> = {}): Promise<EventQueue> {
  const q = new EventQueue({ stateDir: dir, log: silentLog(), ...opts });
  await q.open();
  queues.push(q);
  return q;
}

async function segFiles(): Promise<string[]> {
  return (await readdir(join(dir, "queue"))).filter((n) => n.endsWith(".seg")).sort();
}

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterEach(async () => {
  for (const q of queues.splice(0)) await q.close();
  await cleanup();
});

describe("priorityOf", () => {
  it("treats info telemetry as routine and needs_approval, violation and agent health as important", () => {
    expect(priorityOf("software.inventory")).toBe(ROUTINE);
    expect(priorityOf("asset.snapshot")).toBe(ROUTINE);
    expect(priorityOf("agent.started")).toBe(ROUTINE);
    expect(priorityOf("software.installed")).toBe(IMPORTANT);
    expect(priorityOf("p2p.running")).toBe(IMPORTANT);
    expect(priorityOf("agent.degraded")).toBe(IMPORTANT);
    expect(priorityOf("agent.stopped")).toBe(IMPORTANT);
  });

  it("reads the catalog's priority: media.scanned and media.inserted (infected / unregistered at the server) are important", () => {
    expect(priorityOf("media.scanned")).toBe(IMPORTANT);
    expect(priorityOf("media.inserted")).toBe(IMPORTANT);
    expect(priorityOf("media.removed")).toBe(ROUTINE);
    for (const t of EVENT_TYPES) expect(priorityOf(t)).toBe(loadCatalog().events[t].priority === "important" ? IMPORTANT : ROUTINE);
  });
});

describe("EventQueue durability", () => {
  it("assigns increasing seqs and reads the same records back after reopening", async () => {
    const q = await openQueue();
    const a = await q.append([routine(1), important(2)]);
    const b = await q.append([routine(3)]);
    expect([...a, ...b].map((e) => e.seq)).toEqual([1, 2, 3]);
    const before = await q.pending(0, 100, 1 << 20);
    await q.close();

    const q2 = await openQueue();
    const after = await q2.pending(0, 100, 1 << 20);
    expect(after).toEqual(before);
    expect(after.map((e) => e.details.i)).toEqual([1, 2, 3]);
    expect(q2.stats()).toMatchObject({ pendingEvents: 3, lastSeq: 3, ackedSeq: 0 });
    expect((await q2.append([routine(4)]))[0]!.seq).toBe(4);
  });

  it("truncates a torn final line after a crash and keeps appending after the last whole record", async () => {
    const q = await openQueue();
    await q.append([routine(1), routine(2), routine(3)]);
    await q.close();
    const [seg] = await segFiles();
    await appendFile(join(dir, "queue", seg!), '{"seq":4,"p":0,"e":{"type":"asset.snap');

    const q2 = await openQueue();
    expect((await q2.pending(0, 100, 1 << 20)).map((e) => e.seq)).toEqual([1, 2, 3]);
    expect((await q2.append([routine(4)]))[0]!.seq).toBe(4);
    await q2.close();

    const text = await readFile(join(dir, "queue", seg!), "utf8");
    expect(text.split("\n").filter(Boolean).map((l) => (JSON.parse(l) as { seq: number }).seq)).toEqual([1, 2, 3, 4]);
    const q3 = await openQueue();
    expect((await q3.pending(0, 100, 1 << 20)).map((e) => e.details.i)).toEqual([1, 2, 3, 4]);
  });

  it("ack forgets and deletes only what is at or below the acked seq", async () => {
    const q = await openQueue({ segmentBytes: 600 });
    for (let i = 1; i <= 50; i++) await q.append([routine(i)]);
    const segsBefore = await segFiles();
    expect(segsBefore.length).toBeGreaterThan(3);

    await q.ack(20);
    expect((await q.pending(0, 1000, 1 << 20)).map((e) => e.seq)).toEqual(Array.from({ length: 30 }, (_, k) => k + 21));
    const segsAfter = await segFiles();
    expect(segsAfter.length).toBeLessThan(segsBefore.length);
    // every remaining segment still holds a record above 20
    for (const s of segsAfter) {
      const seqs = (await readFile(join(dir, "queue", s), "utf8")).split("\n").filter(Boolean).map((l) => (JSON.parse(l) as { seq: number }).seq);
      expect(Math.max(...seqs)).toBeGreaterThan(20);
    }
    await q.ack(10); // an older ack changes nothing
    expect(q.stats()).toMatchObject({ ackedSeq: 20, pendingEvents: 30 });
    await q.close();

    const q2 = await openQueue({ segmentBytes: 600 });
    expect((await q2.pending(0, 1000, 1 << 20)).map((e) => e.seq)).toEqual(Array.from({ length: 30 }, (_, k) => k + 21));
    expect((await q2.pending(45, 1000, 1 << 20)).map((e) => e.seq)).toEqual([46, 47, 48, 49, 50]);
  });

  it("never reuses a seq, even after everything was acked and every segment deleted", async () => {
    const q = await openQueue();
    await q.append([routine(1), routine(2), routine(3), routine(4), routine(5)]);
    await q.ack(5);
    expect(await segFiles()).toEqual([]);
    await q.close();

    const q2 = await openQueue();
    expect(q2.stats()).toMatchObject({ lastSeq: 5, ackedSeq: 5, pendingEvents: 0 });
    expect((await q2.append([routine(6)]))[0]!.seq).toBe(6);
  });

  it("continues after a server ack that is beyond the last seq it queued", async () => {
    const q = await openQueue();
    await q.append([routine(1)]);
    await q.ack(100);
    expect((await q.append([routine(2)]))[0]!.seq).toBe(101);
  });

  it("recovers from a compaction interrupted between the rename and the unlinks: no duplicates, order kept", async () => {
    const { mkdir, writeFile } = await import("node:fs/promises");
    await mkdir(join(dir, "queue"), { recursive: true });
    const line = (seq: number, type = "p2p.running") => JSON.stringify({ seq, p: 1, e: { type, observedAt: "2025-01-01T00:00:00Z", details: { i: seq } } }) + "\n";
    // 00000001.seg is the rewritten segment (2 was compacted away); 00000002.seg is the old one not yet unlinked
    await writeFile(join(dir, "queue", "00000001.seg"), line(1) + line(3));
    await writeFile(join(dir, "queue", "00000002.seg"), line(2, "asset.snapshot") + line(3) + line(4));
    await writeFile(join(dir, "queue", "00000001.seg.compact.tmp"), line(1));
    const q = await openQueue();
    expect((await q.pending(0, 100, 1 << 20)).map((e) => e.seq)).toEqual([1, 3, 4]);
    expect((await q.append([routine(5)]))[0]!.seq).toBe(5);
    expect((await readdir(join(dir, "queue"))).some((n) => n.endsWith(".tmp"))).toBe(false);
  });

  it("pending honours afterSeq, maxCount and maxBytes", async () => {
    const q = await openQueue();
    await q.append(Array.from({ length: 20 }, (_, i) => routine(i + 1)));
    expect((await q.pending(5, 3, 1 << 20)).map((e) => e.seq)).toEqual([6, 7, 8]);
    const small = await q.pending(0, 100, 250);
    expect(small.length).toBeGreaterThanOrEqual(1);
    expect(small.length).toBeLessThan(5);
    expect((await q.pending(0, 100, 1)).length).toBe(1); // always at least one
    expect(await q.pending(20, 100, 1 << 20)).toEqual([]);
  });

  it("refuses invalid and oversized events without failing the batch", async () => {
    const q = await openQueue({ maxEventBytes: 2000 });
    const bad = { type: "nope.nope", details: {} } as unknown as NewEvent;
    const huge = routine(2, "x".repeat(5000));
    const out = await q.append([routine(1), bad, huge, routine(3)]);
    expect(out.map((e) => e.details.i)).toEqual([1, 3]);
    expect(out.map((e) => e.seq)).toEqual([1, 2]);
    expect(q.stats().rejected).toBe(2);
  });

  it("drops an event that breaks the details schema, logging the collector that made it; the rest of the batch is queued", async () => {
    const logs = captureLog();
    const q = await openQueue({ log: logs.log });
    const out = await q.append([
      { type: "software.installed", details: { name: { toString: 1 } } },
      { type: "agent.silent", details: {} },
      { type: "software.installed", details: { name: "ok" } },
    ], { source: "software" });
    expect(out.map((e) => e.details.name)).toEqual(["ok"]);
    const refused = logs.lines.filter((l) => l.collector === "software");
    expect(refused.map((l) => [l.path, l.msg])).toEqual([
      ["details.name", "invalid event from collector software dropped by the queue (not sent)"],
      ["type", "invalid event from collector software dropped by the queue (not sent)"],
    ]);
  });

  it("appends 10,000 events and reads them all back in order after reopening", async () => {
    const q = await openQueue({ segmentBytes: 64 * 1024 });
    for (let b = 0; b < 100; b++) {
      await q.append(Array.from({ length: 100 }, (_, i) => (i % 10 === 0 ? important(b * 100 + i) : routine(b * 100 + i))));
    }
    expect(q.stats()).toMatchObject({ pendingEvents: 10_000, lastSeq: 10_000 });
    await q.close();

    const q2 = await openQueue({ segmentBytes: 64 * 1024 });
    expect(q2.stats()).toMatchObject({ pendingEvents: 10_000, lastSeq: 10_000 });
    const seen: number[] = [];
    let after = 0;
    for (;;) {
      const batch = await q2.pending(after, 500, 512 * 1024);
      if (!batch.length) break;
      for (const e of batch) seen.push(e.details.i as number);
      after = batch.at(-1)!.seq;
    }
    expect(seen).toEqual(Array.from({ length: 10_000 }, (_, i) => i));
    await q2.ack(10_000);
    expect(await segFiles()).toEqual([]);
  });
});

describe("EventQueue when full", () => {
  const pad = "x".repeat(150);
  const opts = { maxBytes: 4000, compactSlackBytes: 0, segmentBytes: 1500 };

  it("sheds new routine events, compacts the oldest routine ones for important events, and never drops an accepted important event", async () => {
    const q = await openQueue(opts);
    // fill with routine events
    let i = 0;
    for (;;) {
      const out = await q.append([routine(++i, pad)]);
      if (out.length === 0) break;
    }
    const routineAccepted = i - 1;
    expect(q.stats().shed.events).toBe(1);
    expect(q.stats().shed.byType).toEqual({ "asset.snapshot": 1 });

    // important events displace the oldest routine ones, one by one
    const imp = await q.append([important(1000, pad)]);
    expect(imp).toHaveLength(1);
    let pending = await q.pending(0, 1000, 1 << 20);
    expect(pending.filter((e) => e.type === "asset.snapshot").map((e) => e.details.i)[0]).toBeGreaterThan(1);
    expect(pending.filter((e) => e.type === "p2p.running")).toHaveLength(1);
    // the kept routine events are the newest ones
    const keptRoutine = pending.filter((e) => e.type === "asset.snapshot").map((e) => e.details.i as number);
    expect(keptRoutine).toEqual(Array.from({ length: keptRoutine.length }, (_, k) => routineAccepted - keptRoutine.length + 1 + k));

    // keep adding important events until no routine event is left, then one more is refused
    let n = 1001;
    const acceptedImportant = [1000];
    for (;;) {
      const out = await q.append([important(n, pad)]);
      if (out.length === 0) break;
      acceptedImportant.push(n++);
    }
    pending = await q.pending(0, 1000, 1 << 20);
    expect(pending.filter((e) => e.type === "asset.snapshot")).toEqual([]);
    expect(pending.map((e) => e.details.i)).toEqual(acceptedImportant);
    expect(q.stats().shed.importantRefused).toBe(1);
    expect(q.stats().shed.events).toBe(1 + routineAccepted + 1);
    expect(q.stats().pendingBytes).toBeLessThanOrEqual(opts.maxBytes);

    // the survivors are on disk, in order, after reopening
    await q.close();
    const q2 = await openQueue(opts);
    expect((await q2.pending(0, 1000, 1 << 20)).map((e) => e.details.i)).toEqual(acceptedImportant);
  });

  it("regression (issue 11): a full queue of routine telemetry keeps an infected media.scanned and sheds routine events for it", async () => {
    const q = await openQueue(opts);
    let i = 0;
    for (;;) {
      const out = await q.append([{ type: "media.removed", details: { device: "/dev/sdb1", i: ++i, pad } }]);
      if (out.length === 0) break;
    }
    expect(q.stats().shed.byType).toEqual({ "media.removed": 1 });
    const scan = await q.append([{ type: "media.scanned", details: { device: "/dev/sdb1", result: "infected", signatures: ["Eicar-Test-Signature"], pad } }]);
    expect(scan).toHaveLength(1);
    const pending = await q.pending(0, 1000, 1 << 20);
    expect(pending.filter((e) => e.type === "media.scanned").map((e) => e.details.result)).toEqual(["infected"]);
    expect(pending.filter((e) => e.type === "media.removed").length).toBeLessThan(i - 1);
    expect(q.stats().shed.events).toBeGreaterThan(1);
  });

  it("reports what it shed once, as agent.degraded, as soon as there is room", async () => {
    const q = await openQueue(opts);
    const accepted: number[] = [];
    for (let i = 1; i <= 40; i++) {
      const out = await q.append([important(i, pad)]);
      if (out.length) accepted.push(out[0]!.seq);
    }
    // queue is full of important events: 2 routine + 1 important refused
    await q.append([routine(100, pad), routine(101, pad)]);
    const refusedBefore = 40 - accepted.length;
    expect(refusedBefore).toBeGreaterThan(0);
    let pending = await q.pending(0, 1000, 1 << 20);
    expect(pending.some((e) => e.type === "agent.degraded")).toBe(false);

    // the server acknowledges a few: now there is room for the report
    await q.ack(accepted[4]!);
    pending = await q.pending(0, 1000, 1 << 20);
    const reports = pending.filter((e) => e.type === "agent.degraded");
    expect(reports).toHaveLength(1);
    expect(reports[0]!.details).toMatchObject({
      reason: "queue_shed",
      shedEvents: refusedBefore + 2,
      byType: { "p2p.running": refusedBefore, "asset.snapshot": 2 },
      importantRefused: refusedBefore,
    });
    expect(reports[0]!.details.shedBytes).toBeGreaterThan(0);

    // reported once: further appends do not repeat it
    await q.ack(reports[0]!.seq);
    await q.append([routine(200)]);
    pending = await q.pending(0, 1000, 1 << 20);
    expect(pending.filter((e) => e.type === "agent.degraded")).toEqual([]);
  });

  it("keeps unreported shed counts across a restart and reports them after it", async () => {
    const q = await openQueue(opts);
    const accepted: number[] = [];
    for (let i = 1; i <= 40; i++) {
      const out = await q.append([important(i, pad)]);
      if (out.length) accepted.push(out[0]!.seq);
    }
    await q.append([routine(100, pad), routine(101, pad), routine(102, pad)]);
    const shed = q.stats().shed.events;
    expect(shed).toBeGreaterThanOrEqual(3);
    await q.close();

    const q2 = await openQueue(opts);
    await q2.ack(accepted[4]!);
    const reports = (await q2.pending(0, 1000, 1 << 20)).filter((e) => e.type === "agent.degraded");
    expect(reports).toHaveLength(1);
    expect(reports[0]!.details).toMatchObject({ reason: "queue_shed", shedEvents: shed, byType: { "asset.snapshot": 3 } });

    // once the report is queued, a third opening does not report again
    await q2.close();
    const q3 = await openQueue(opts);
    await q3.ack(reports[0]!.seq);
    await q3.append([routine(300)]);
    expect((await q3.pending(0, 1000, 1 << 20)).filter((e) => e.type === "agent.degraded")).toEqual([]);
  });
});

describe("the test clock offset (KYOKA_TEST_AGENT_CLOCK_OFFSET_MS, a PC whose clock is wrong)", () => {
  afterEach(() => {
    delete process.env.KYOKA_TEST_AGENT_CLOCK_OFFSET_MS;
  });

  it("shifts every event's observedAt: stamped by the queue and stamped by its collector alike", async () => {
    process.env.KYOKA_TEST_AGENT_CLOCK_OFFSET_MS = String(-86_400_000);
    const q = await openQueue();
    const collectorTime = "2026-12-03T10:00:00.000Z";
    const before = Date.now();
    const [own, stamped] = await q.append([routine(1), { ...important(2), observedAt: collectorTime }]);
    expect(Date.parse(own!.observedAt)).toBeGreaterThanOrEqual(before - 86_400_000 - 5);
    expect(Date.parse(own!.observedAt)).toBeLessThanOrEqual(Date.now() - 86_400_000 + 5);
    expect(stamped!.observedAt).toBe("2026-12-02T10:00:00.000Z");
    // as stored for sending
    expect((await q.pending(0, 10, 1 << 20)).map((e) => e.observedAt)).toEqual([own!.observedAt, "2026-12-02T10:00:00.000Z"]);
  });

  it("no offset: a collector's own stamp is kept as it is", async () => {
    const q = await openQueue();
    const [e] = await q.append([{ ...important(3), observedAt: "2026-12-03T10:00:00.000Z" }]);
    expect(e!.observedAt).toBe("2026-12-03T10:00:00.000Z");
  });
});
