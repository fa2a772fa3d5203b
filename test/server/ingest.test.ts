import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { Ingest } from "../../server/ingest.js";
import type { EventRow } from "../../server/store.js";
import { SqliteStore } from "../../server/store-sqlite.js";

const log = pino({ level: "silent" });

function row(agentId: string, seq: number | null): EventRow {
  return {
    agentId, seq, control: "software", type: "software.installed", articles: ["別記2 第10"], severity: "medium",
    status: "needs_approval", observedAt: "2025-06-01T00:00:00.000Z", receivedAt: "2025-06-01T00:00:01.000Z",
    details: { name: `pkg-${seq}` }, approvalId: null, reasons: [{ ja: "カタログの既定: 甲許可待ち", en: "catalog default: needs approval" }],
  };
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("Ingest (group commit)", () => {
  it("writes everything submitted in one tick as ONE batch, and calls back only after it", async () => {
    const writes: EventRow[][] = [];
    const ingest = new Ingest((rows) => { writes.push(rows); return rows.map((_, i) => i + 1); }, { log });
    const done: string[] = [];
    ingest.submit([row("a", 1), row("a", 2)], () => done.push("a"));
    ingest.submit([row("b", 1)], () => done.push("b"));
    expect(writes).toHaveLength(0);
    expect(done).toEqual([]);
    await new Promise((r) => setImmediate(r));
    expect(writes).toHaveLength(1);
    expect(writes[0]).toHaveLength(3);
    expect(done).toEqual(["a", "b"]);
  });

  it("flushes at once when maxQueued events wait", () => {
    const writes: number[] = [];
    const ingest = new Ingest((rows) => { writes.push(rows.length); return rows.map(() => null); }, { log, maxQueued: 3 });
    ingest.submit([row("a", 1), row("a", 2)]);
    expect(writes).toEqual([]);
    ingest.submit([row("a", 3)]);
    expect(writes).toEqual([3]);
  });

  it("a failed write calls back with the error (no ack) and later batches still go through", async () => {
    let fail = true;
    const ingest = new Ingest((rows) => { if (fail) throw new Error("disk full"); return rows.map(() => 1); }, { log });
    const results: Array<string | null> = [];
    ingest.submit([row("a", 1)], (err) => results.push(err ? err.message : null));
    await ingest.flush();
    fail = false;
    ingest.submit([row("a", 1)], (err) => results.push(err ? err.message : null));
    await ingest.flush();
    expect(results).toEqual(["disk full", null]);
  });

  it("async writers: submissions during a write go into the next batch", async () => {
    const writes: number[] = [];
    const ingest = new Ingest(async (rows) => {
      writes.push(rows.length);
      await new Promise((r) => setTimeout(r, 20));
      return rows.map(() => 1);
    }, { log });
    let acks = 0;
    ingest.submit([row("a", 1)], () => acks++);
    await new Promise((r) => setImmediate(r));
    ingest.submit([row("a", 2)], () => acks++);
    ingest.submit([row("a", 3)], () => acks++);
    await ingest.flush();
    expect(writes).toEqual([1, 2]);
    expect(acks).toBe(3);
  });

  it("with SQLite: each (agent, seq) stored once, duplicates reported as null, server events (seq null) always stored", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kyoka-ingest-"));
    dirs.push(dir);
    const store = new SqliteStore(dir);
    try {
      const ids = store.insertEventsSync([row("a", 1), row("a", 2), row("a", 1), row("b", 1), row("a", null), row("a", null)]);
      expect(ids.map((i) => i === null)).toEqual([false, false, true, false, false, false]);
      expect(store.insertEventsSync([row("a", 2)])).toEqual([null]);
      expect(await store.maxSeq("a")).toBe(2);
      expect(await store.maxSeq("nobody")).toBe(0);
      expect(await store.queryEvents({ agent: "a", limit: 100 })).toHaveLength(4);
    } finally {
      await store.close();
    }
  });
});
