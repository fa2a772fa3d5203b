/**
 * Live: the real systeminformation calls on this machine. Every field must be typed (empty values
 * allowed: this may be a VM or container with no serials at all).
 */
import si from "systeminformation";
import { describe, expect, it } from "vitest";
import { assetSnapshotSource, AssetCollector } from "../../../agent/collectors/asset/index.js";
import { Inventory, normalize, SOURCES } from "../../../agent/collectors/asset/inventory.js";
import { pcIdentity } from "../../../agent/collectors/asset/identity.js";
import { readSystemInformation } from "../../../agent/collectors/asset/platform.js";
import { recordingContext } from "../../helpers/collector-context.js";

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
    const ctx = recordingContext();
    const c = new AssetCollector({ scheduler: () => ({ stop: () => undefined }) });
    await c.start(ctx);
    await c.stop();
    expect(ctx.events.map((e) => e.type)).toEqual(["asset.snapshot"]);
    expect(Inventory.safeParse(ctx.events[0]!.details.inventory).success).toBe(true);
  });

  it("the direct Linux readers agree with systeminformation on this machine (CPU, memory, disks, users)", async () => {
    const mine = normalize(await readSystemInformation());
    const [cpu, memLayout, diskLayout, users] = await Promise.all([si.cpu(), si.memLayout(), si.diskLayout(), si.users()]);
    const theirs = normalize({ cpu, memLayout, diskLayout, users });
    // speed: the same when the model name carries it, else from another source (see linux-cpu.ts)
    const { speedGHz: _a, ...myCpu } = mine.cpu;
    const { speedGHz: _b, ...theirCpu } = theirs.cpu;
    expect(myCpu).toEqual(theirCpu);
    expect(mine.memory).toEqual(theirs.memory);
    expect(mine.disks).toEqual(theirs.disks);
    // users: systeminformation guesses the year of a login (who prints none); utmp has the real one
    const noYear = (u: typeof mine.users) => u.map((x) => ({ ...x, date: x.date.slice(5) }));
    expect(noYear(mine.users)).toEqual(noYear(theirs.users));
  });
});
