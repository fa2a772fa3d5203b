/**
 * Live: the real systeminformation calls on this machine. Every field must be typed (empty values
 * allowed: this may be a VM or container with no serials at all).
 */
import { describe, expect, it } from "vitest";
import { assetSnapshotSource, AssetCollector } from "../../../agent/collectors/asset/index.js";
import { Inventory, normalize, SOURCES } from "../../../agent/collectors/asset/inventory.js";
import { pcIdentity } from "../../../agent/collectors/asset/identity.js";
import { readSystemInformation } from "../../../agent/collectors/asset/read.js";
import { fakeContext } from "./helpers.js";

describe("live snapshot on this machine", () => {
  it("reads every source and produces a fully typed inventory", async () => {
    const raw = await readSystemInformation();
    const inv = Inventory.parse(normalize(raw));
    expect(inv.errors).toEqual([]);
    for (const s of SOURCES) expect(raw[s], s).toBeDefined();
    expect(inv.os.hostname).not.toBe("");
    expect(inv.os.platform).not.toBe("");
    expect(inv.cpu.cores).toBeGreaterThan(0);
    expect(inv.memory.reduce((n, m) => n + m.size, 0)).toBeGreaterThan(0);
    expect(inv.nics.every((n) => n.mac === "" || /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(n.mac))).toBe(true);
    expect(inv.nics.some((n) => n.iface === "lo")).toBe(false);
    expect(pcIdentity(inv).id).toMatch(/^pc-[0-9a-f]{32}$/);
    // two snapshots of an unchanged machine: same id
    expect(pcIdentity(normalize(await readSystemInformation())).id).toBe(pcIdentity(inv).id);
  });

  it("the `kyoka snapshot --json` hardware section is JSON with pcId and the inventory", async () => {
    expect(assetSnapshotSource.name).toBe("hardware");
    const section = JSON.parse(JSON.stringify(await assetSnapshotSource.snapshot())) as Record<string, unknown>;
    expect(section.pcId).toMatch(/^pc-[0-9a-f]{32}$/);
    const { pcId: _id, pcIdBasis: _basis, ...inv } = section;
    expect(Inventory.safeParse(inv).success).toBe(true);
  });

  it("the collector with the real reader emits a snapshot on first start", async () => {
    const ctx = fakeContext();
    const c = new AssetCollector({ scheduler: () => ({ stop: () => undefined }) });
    await c.start(ctx);
    await c.stop();
    expect(ctx.events.map((e) => e.type)).toEqual(["asset.snapshot"]);
    expect(Inventory.safeParse(ctx.events[0]!.details.inventory).success).toBe(true);
  });
});
