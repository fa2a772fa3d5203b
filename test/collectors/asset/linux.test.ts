/** Linux NICs from sysfs (agent/collectors/asset/linux.ts) on a fake /sys tree, and on this machine's real one. */
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readLinuxNics } from "../../../agent/collectors/asset/linux.js";
import { normalize } from "../../../agent/collectors/asset/inventory.js";
import { physicalMacs } from "../../../agent/collectors/asset/identity.js";

const root = mkdtempSync(join(tmpdir(), "kyoka-sysfs-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function nic(name: string, device: string, files: Record<string, string>, extraDirs: string[] = []): void {
  const dir = join(root, device, name);
  mkdirSync(dir, { recursive: true });
  for (const [f, v] of Object.entries(files)) writeFileSync(join(dir, f), `${v}\n`);
  for (const d of extraDirs) mkdirSync(join(dir, d));
  mkdirSync(join(root, "class/net"), { recursive: true });
  symlinkSync(join("../..", device, name), join(root, "class/net", name));
}

describe("asset: readLinuxNics (sysfs)", () => {
  nic("lo", "devices/virtual/net", { address: "00:00:00:00:00:00", type: "772", flags: "0x9", operstate: "unknown", mtu: "65536" });
  nic("enp3s0", "devices/pci0000:00/0000:03:00.0/net", { address: "A0:B3:39:AB:CD:EF", type: "1", flags: "0x1003", speed: "1000", operstate: "up", mtu: "1500" });
  nic("eno1", "devices/pci0000:00/0000:00:1f.6/net", { address: "a0:b3:39:00:00:02", type: "1", flags: "0x1002", operstate: "down", mtu: "1500" }); // down, no speed file
  nic("wlp2s0", "devices/pci0000:00/0000:02:00.0/net", { address: "c4:c6:e6:12:34:56", type: "1", flags: "0x1003", operstate: "up" }, ["wireless"]);
  nic("docker0", "devices/virtual/net", { address: "02:42:ac:11:00:01", type: "1", flags: "0x1003", operstate: "down" });

  it("lists every interface, physical or virtual, up or down, in systeminformation's shape", async () => {
    const nics = await readLinuxNics(join(root, "class/net"));
    expect(nics.map((n) => n.iface)).toEqual(["docker0", "eno1", "enp3s0", "lo", "wlp2s0"]);
    const by = new Map(nics.map((n) => [n.iface, n]));
    expect(by.get("lo")).toMatchObject({ internal: true, virtual: true });
    expect(by.get("enp3s0")).toMatchObject({ mac: "A0:B3:39:AB:CD:EF", internal: false, virtual: false, type: "wired", speed: 1000, operstate: "up", mtu: 1500 });
    expect(by.get("eno1")).toMatchObject({ virtual: false, type: "wired", speed: null, operstate: "down" });
    expect(by.get("wlp2s0")).toMatchObject({ virtual: false, type: "wireless", mtu: null });
    expect(by.get("docker0")).toMatchObject({ virtual: true, type: "virtual" });
  });

  it("feeds normalize(): loopback dropped, virtual kept but not a physical MAC, a NIC that is down still counts", async () => {
    const inv = normalize({ networkInterfaces: await readLinuxNics(join(root, "class/net")) });
    expect(inv.nics.map((n) => n.iface)).toEqual(["docker0", "eno1", "enp3s0", "wlp2s0"]);
    expect(physicalMacs(inv)).toEqual(["a0:b3:39:00:00:02", "a0:b3:39:ab:cd:ef", "c4:c6:e6:12:34:56"]);
  });

  it("rejects when the folder cannot be read (the source is then reported as failed)", async () => {
    await expect(readLinuxNics(join(root, "nope"))).rejects.toThrow();
  });

  it.runIf(existsSync("/sys/class/net"))("reads this machine's /sys/class/net", async () => {
    const nics = await readLinuxNics();
    expect(nics.length).toBeGreaterThan(0);
    for (const n of nics) {
      expect(typeof n.iface).toBe("string");
      expect(typeof n.virtual).toBe("boolean");
      expect(n.mac).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$|^$/i);
    }
    if (nics.some((n) => n.iface === "lo")) expect(nics.find((n) => n.iface === "lo")!.internal).toBe(true);
  });
});
