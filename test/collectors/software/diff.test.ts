import { afterEach, describe, expect, it } from "vitest";
import {
  changeToEvent, diffInventory, inventoryEvent, SoftwareCollector, STATE_KEY,
  type InventoryRead, type InventoryReader, type SoftwareItem,
} from "../../../agent/collectors/software/index.js";
import { MemoryState, recordingContext } from "../../helpers/collector-context.js";
import { waitFor } from "./helpers.js";

const item = (name: string, version: string, source: SoftwareItem["source"] = "dpkg", extra: Partial<SoftwareItem> = {}): SoftwareItem => ({
  id: `${source}:${name}`, name, version, source, ...extra,
});
const rec = (...items: SoftwareItem[]): Record<string, SoftwareItem> => Object.fromEntries(items.map((i) => [i.id, i]));

describe("diffInventory", () => {
  it("finds installs, updates (with the previous version) and removals", () => {
    const before = rec(item("a", "1.0"), item("b", "1.0"), item("c", "1.0"));
    const after = rec(item("a", "1.0"), item("b", "2.0"), item("d", "0.1"));
    const changes = diffInventory(before, after);
    expect(changes.map((c) => [c.kind, c.item.name])).toEqual([["removed", "c"], ["updated", "b"], ["installed", "d"]]);
    const ev = changes.map((c) => changeToEvent(c));
    expect(ev[1]).toEqual({ type: "software.updated", details: { name: "b", version: "2.0", previousVersion: "1.0", source: "dpkg", id: "dpkg:b" } });
    expect(ev[0]!.type).toBe("software.removed");
    expect(ev[2]!.type).toBe("software.installed");
  });
  it("no change, no events; a downgrade is an update marked as such", () => {
    expect(diffInventory(rec(item("a", "1")), rec(item("a", "1")))).toEqual([]);
    const [c] = diffInventory(rec(item("a", "2.0")), rec(item("a", "1.0")));
    expect(changeToEvent(c!).details).toMatchObject({ previousVersion: "2.0", version: "1.0", downgrade: true });
  });
  it("the inventory event is bounded and says when it is cut", () => {
    const many = Array.from({ length: 20000 }, (_, k) => item(`package-with-a-long-name-${k}`, `1.${k}-1`));
    const ev = inventoryEvent(many, ["rpm"]);
    const size = Buffer.byteLength(JSON.stringify(ev.details));
    expect(size).toBeLessThanOrEqual(512 * 1024);
    expect(ev.details).toMatchObject({ count: 20000, truncated: true, failedSources: ["rpm"] });
    expect((ev.details.items as unknown[]).length).toBeLessThan(20000);
    const small = inventoryEvent([item("a", "1")]);
    expect(small.details).toMatchObject({ count: 1, truncated: false, items: [{ name: "a", version: "1", source: "dpkg" }] });
  });
});

/** A reader whose answer the test sets. */
class FakeReader implements InventoryReader {
  items: SoftwareItem[] = [];
  failed: InventoryRead["failed"] = [];
  reads = 0;
  async read(): Promise<InventoryRead> {
    this.reads++;
    const failed = new Set(this.failed.map((f) => f.source));
    const sources = [...new Set(this.items.map((i) => i.source))].filter((s) => !failed.has(s));
    return { items: this.items.filter((i) => !failed.has(i.source)), failed: this.failed, read: sources, errors: [], keep: [] };
  }
  watchTargets() {
    return [];
  }
}

describe("SoftwareCollector (fake reader, fake state)", () => {
  const running: SoftwareCollector[] = [];
  afterEach(async () => {
    for (const c of running.splice(0)) await c.stop();
  });
  const collector = (reader: FakeReader, settleTries = 5): SoftwareCollector => {
    const c = new SoftwareCollector({ reader, debounceMs: 10, settleMs: 10, settleTries });
    running.push(c);
    return c;
  };

  it("first run: one inventory event, not one per package", async () => {
    const reader = new FakeReader();
    reader.items = [item("a", "1"), item("b", "2"), item("c", "3")];
    const ctx = recordingContext();
    await collector(reader).start(ctx);
    expect(ctx.events).toHaveLength(1);
    expect(ctx.events[0]).toMatchObject({ type: "software.inventory", details: { count: 3, truncated: false } });
    expect(ctx.state.get(STATE_KEY)).toBeDefined();
  });

  it("changes between reads are reported once each", async () => {
    const reader = new FakeReader();
    reader.items = [item("a", "1"), item("b", "2")];
    const ctx = recordingContext();
    const c = collector(reader);
    await c.start(ctx);
    reader.items = [item("a", "1.1"), item("c", "1")];
    c.trigger();
    await waitFor(() => ctx.events.length >= 4, "three change events");
    expect(ctx.events.slice(1).map((e) => [e.type, e.details.name])).toEqual([
      ["software.removed", "b"], ["software.updated", "a"], ["software.installed", "c"],
    ]);
    // nothing changed: more triggers report nothing more
    const readsBefore = reader.reads;
    c.trigger();
    await waitFor(() => reader.reads > readsBefore, "another read");
    c.trigger();
    await waitFor(() => reader.reads > readsBefore + 1, "another read");
    expect(ctx.events).toHaveLength(4);
  });

  it("restart: what changed while stopped is reported exactly once", async () => {
    const state = new MemoryState();
    const reader = new FakeReader();
    reader.items = [item("a", "1")];
    const ctx1 = recordingContext({}, state);
    const c1 = collector(reader);
    await c1.start(ctx1);
    await c1.stop();
    reader.items = [item("a", "1"), item("new", "5")];
    const ctx2 = recordingContext({}, state);
    const c2 = collector(reader);
    await c2.start(ctx2);
    expect(ctx2.events.map((e) => [e.type, e.details.name])).toEqual([["software.installed", "new"]]);
    await c2.stop();
    const ctx3 = recordingContext({}, state);
    await collector(reader).start(ctx3);
    expect(ctx3.events).toEqual([]);
  });

  it("a failing source keeps its last known rows; the others are reported", async () => {
    const state = new MemoryState();
    const reader = new FakeReader();
    reader.items = [item("a", "1"), item("r", "1", "rpm")];
    await collector(reader).start(recordingContext({}, state));
    reader.items = [item("a", "2"), item("r", "1", "rpm")];
    reader.failed = [{ source: "rpm", message: "rpm: exit 1: error: rpmdb open failed" }];
    const ctx = recordingContext({}, state);
    await collector(reader).start(ctx);
    expect(ctx.events.map((e) => [e.type, e.details.name])).toEqual([["software.updated", "a"]]);
  });

  it("a source that failed at the baseline gets its own inventory when it recovers, not N installs", async () => {
    const state = new MemoryState();
    const reader = new FakeReader();
    reader.items = [item("a", "1"), item("r1", "1", "rpm"), item("r2", "1", "rpm")];
    reader.failed = [{ source: "rpm", message: "timed out" }];
    const ctx1 = recordingContext({}, state);
    await collector(reader).start(ctx1);
    expect(ctx1.events[0]!.details).toMatchObject({ count: 1, failedSources: ["rpm"] });
    reader.failed = [];
    const ctx2 = recordingContext({}, state);
    await collector(reader).start(ctx2);
    expect(ctx2.events.map((e) => e.type)).toEqual(["software.inventory"]);
    expect(ctx2.events[0]!.details).toMatchObject({ count: 2 });
  });

  it("every source failing at the first start is an error (the registry restarts it)", async () => {
    const reader = new FakeReader();
    reader.items = [item("a", "1")];
    reader.failed = [{ source: "dpkg", message: "EACCES" }];
    await expect(collector(reader).start(recordingContext())).rejects.toThrow(/no source could be read/);
  });

  it("waits for half-installed packages to settle before reporting", async () => {
    const reader = new FakeReader();
    reader.items = [item("a", "1")];
    const ctx = recordingContext();
    const c = collector(reader, 1_000_000);
    await c.start(ctx);
    reader.items = [item("a", "2", "dpkg", { state: "unpacked" })];
    c.trigger();
    await waitFor(() => reader.reads >= 3, "a re-read while dpkg is busy");
    reader.items = [item("a", "2")];
    await waitFor(() => ctx.events.length === 2, "the update");
    expect(ctx.events[1]!.details).toMatchObject({ name: "a", version: "2", previousVersion: "1" });
    expect(ctx.events[1]!.details.state).toBeUndefined();
  });
});
