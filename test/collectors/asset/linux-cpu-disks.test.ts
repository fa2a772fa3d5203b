/**
 * The Linux CPU and disk readers (agent/collectors/asset/linux-cpu.ts, linux-disks.ts) give the
 * values systeminformation gives for the same input: on this machine's real /proc/cpuinfo, and on
 * a captured-format lsblk document served by a fake `lsblk` to both.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import si from "systeminformation";
import { afterAll, describe, expect, it } from "vitest";
import { cpuMaker, parseCpuinfo, readLinuxCpu, splitModelName } from "../../../agent/collectors/asset/linux-cpu.js";
import { disksFromLsblk, readLinuxDisks } from "../../../agent/collectors/asset/linux-disks.js";
import { shellQuote, withFakeTools } from "../../helpers/fake-tools.js";

const fixtures = fileURLToPath(new URL("../../fixtures/linux/asset/", import.meta.url));
const roots: string[] = [];
afterAll(() => { for (const r of roots) rmSync(r, { recursive: true, force: true }); });
function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), "kyoka-linux-cpu-"));
  roots.push(root);
  for (const [p, v] of Object.entries(files)) {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), v);
  }
  return root;
}

/** /proc/cpuinfo in the x86 kernel's layout (arch/x86/kernel/cpu/proc.c): one block per logical CPU */
function x86Cpuinfo(o: { vendor: string; family: number; model: number; name: string; stepping: number; packages: number; coresPerPackage: number; threadsPerCore: number }): string {
  const blocks: string[] = [];
  let n = 0;
  for (let p = 0; p < o.packages; p++) {
    for (let t = 0; t < o.threadsPerCore; t++) {
      for (let c = 0; c < o.coresPerPackage; c++) {
        blocks.push([
          `processor\t: ${n++}`, `vendor_id\t: ${o.vendor}`, `cpu family\t: ${o.family}`, `model\t\t: ${o.model}`,
          `model name\t: ${o.name}`, `stepping\t: ${o.stepping}`, "microcode\t: 0xf4", "cpu MHz\t\t: 2112.000", "cache size\t: 8192 KB",
          `physical id\t: ${p}`, `siblings\t: ${o.coresPerPackage * o.threadsPerCore}`, `core id\t\t: ${c}`, `cpu cores\t: ${o.coresPerPackage}`,
          "apicid\t\t: 0", "fpu\t\t: yes", "flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr", "bogomips\t: 4199.88",
          "address sizes\t: 39 bits physical, 48 bits virtual", "power management:",
        ].join("\n"));
      }
    }
  }
  return blocks.join("\n\n") + "\n\n";
}
const logical = (n: number, mhz = 2112) => () => Array.from({ length: n }, () => ({ speed: mhz }));

describe("asset: Linux CPU from /proc/cpuinfo", () => {
  it("gives systeminformation's values on this machine's real /proc/cpuinfo", async () => {
    const mine = await readLinuxCpu();
    const theirs = await si.cpu();
    expect(mine).toBeDefined(); // this machine is x86_64
    const pick = (c: object) => {
      const o = c as Record<string, unknown>;
      return Object.fromEntries(["manufacturer", "brand", "vendor", "family", "model", "stepping", "cores", "physicalCores", "processors", "socket"].map((k) => [k, o[k]]));
    };
    expect(pick(mine!)).toEqual(pick(theirs));
    // a model name with "@ x.xxGHz" gives the same speed; without it both are a positive clock (different sources)
    if (readFileSync("/proc/cpuinfo", "utf8").includes("@")) expect(mine!.speed).toBe(theirs.speed);
    else expect(mine!.speed).toBeGreaterThanOrEqual(0);
  });

  it("an Intel laptop with Hyper-Threading: 4 cores, 8 threads, speed from the model name", async () => {
    const root = tree({ "proc/cpuinfo": x86Cpuinfo({ vendor: "GenuineIntel", family: 6, model: 142, name: "Intel(R) Core(TM) i7-8650U CPU @ 1.90GHz", stepping: 10, packages: 1, coresPerPackage: 4, threadsPerCore: 2 }) });
    const cpu = await readLinuxCpu({ root, cpus: logical(8), socket: async () => "BGA1356" });
    expect(cpu).toEqual({
      manufacturer: "Intel", brand: "Core™ i7-8650U", vendor: "Intel", family: "6", model: "142", stepping: "10",
      speed: 1.9, cores: 8, physicalCores: 4, processors: 1, socket: "BGA1356",
    });
  });

  it("a dual-socket Xeon server: sockets from the package ids", async () => {
    const root = tree({ "proc/cpuinfo": x86Cpuinfo({ vendor: "GenuineIntel", family: 6, model: 85, name: "Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz", stepping: 7, packages: 2, coresPerPackage: 20, threadsPerCore: 2 }) });
    const cpu = await readLinuxCpu({ root, cpus: logical(80) });
    expect(cpu).toMatchObject({ manufacturer: "Intel", brand: "Xeon® Gold 6230", cores: 80, physicalCores: 40, processors: 2, speed: 2.1, socket: "" });
  });

  it("an AMD desktop without a clock in its name: speed from cpufreq's base frequency, else the current clock", async () => {
    const info = x86Cpuinfo({ vendor: "AuthenticAMD", family: 25, model: 33, name: "AMD Ryzen 7 5800X 8-Core Processor", stepping: 0, packages: 1, coresPerPackage: 8, threadsPerCore: 2 });
    const withFreq = tree({ "proc/cpuinfo": info, "sys/devices/system/cpu/cpu0/cpufreq/base_frequency": "3800000\n" });
    expect(await readLinuxCpu({ root: withFreq, cpus: logical(16, 2200) })).toMatchObject({
      manufacturer: "AMD", brand: "Ryzen 7 5800X 8-Core Processor", vendor: "AMD", family: "25", model: "33", speed: 3.8, physicalCores: 8, cores: 16,
    });
    const without = tree({ "proc/cpuinfo": info });
    expect((await readLinuxCpu({ root: without, cpus: logical(16, 2200) }))!.speed).toBe(2.2);
  });

  it("answers undefined for a non-x86 /proc/cpuinfo (systeminformation then reads it)", async () => {
    // an ARM board's layout (arch/arm64/kernel/cpuinfo.c): no vendor_id or model name
    const root = tree({ "proc/cpuinfo": "processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\nHardware\t: BCM2835\nRevision\t: c03111\n" });
    expect(await readLinuxCpu({ root })).toBeUndefined();
    await expect(readLinuxCpu({ root: tree({}) })).rejects.toThrow(/ENOENT/);
  });

  it("cleans model names the way systeminformation does", () => {
    expect(splitModelName("Intel(R) Celeron(R) CPU  N3350  @ 1.10GHz")).toEqual({ manufacturer: "Intel", brand: "Celeron® N3350", speed: 1.1 });
    expect(splitModelName("QEMU Virtual CPU version 2.5+")).toEqual({ manufacturer: "QEMU", brand: "Virtual version 2.5+", speed: 0 });
    expect(splitModelName("Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz To Be Filled By O.E.M.")).toMatchObject({ brand: "Xeon® E5-2680 v4", speed: 2.4 });
    expect(cpuMaker("HygonGenuine")).toBe("Hygon");
    expect(cpuMaker("SomethingElse")).toBe("SomethingElse");
    expect(parseCpuinfo("processor : 0\nmodel name : X\n\nprocessor : 1\n")).toHaveLength(2);
  });
});

describe("asset: Linux disks from one lsblk run", () => {
  const fixture = join(fixtures, "lsblk-ablJO.json");
  const pick = (d: object) => {
    const o = d as Record<string, unknown>;
    return Object.fromEntries(["device", "type", "name", "vendor", "size", "serialNum", "firmwareRevision", "interfaceType"].map((k) => [k, o[k]]));
  };

  it("gives systeminformation's disks for the same lsblk output (fake lsblk serving a captured-format document)", async () => {
    const [mine, theirs] = await withFakeTools({ lsblk: `cat ${shellQuote(fixture)}`, smartctl: "exit 1" }, async () =>
      [await readLinuxDisks(), await si.diskLayout()] as const); // both read queue/rotational of the real /sys
    expect(mine.map(pick)).toEqual(theirs.map(pick));
    // what the filter keeps: the NVMe, SATA SSD, USB HDD and stick (models), the unused raw virtio disk and zram (no filesystem, discard);
    // not the mounted virtio root without a model, the empty card reader (size 0), a partition, a loop device, the DVD drive
    expect(mine.map((d) => d.device)).toEqual(["/dev/nvme0n1", "/dev/sda", "/dev/sdb", "/dev/sdc", "/dev/vdb", "/dev/zram0"]);
    expect(mine[0]).toEqual({ device: "/dev/nvme0n1", type: "NVMe", name: "Samsung SSD 980 PRO 1TB", vendor: "Samsung", size: 1000204886016, firmwareRevision: "5B2QGXA7", serialNum: "S5GXNF0R123456A", interfaceType: "PCIe" });
    expect(mine[2]).toMatchObject({ vendor: "Western Digital", interfaceType: "USB", serialNum: "WD-WCC6Y1234567" });
  });

  it("reads the medium from queue/rotational and asks lsblk only for whole devices and the needed columns", async () => {
    const root = tree({ "sys/block/sda/queue/rotational": "1\n", "sys/block/sdc/queue/rotational": "0\n" });
    const calls: string[][] = [];
    const run = async (cmd: string, args: string[]) => { calls.push([cmd, ...args]); return readFileSync(fixture, "utf8"); };
    const disks = await readLinuxDisks({ root, run });
    expect(calls).toEqual([["lsblk", "-abdJ", "-o", "NAME,TYPE,SIZE,MODEL,VENDOR,SERIAL,REV,TRAN,PATH,MOUNTPOINT,LABEL,FSTYPE,PARTTYPE,DISC-MAX"]]);
    expect(disks.find((d) => d.device === "/dev/sda")!.type).toBe("HD");
    expect(disks.find((d) => d.device === "/dev/sdc")!.type).toBe("SSD");
    // no rotational file: by the model name ("SSD" in it), else HD
    expect(disks.find((d) => d.device === "/dev/sdb")!.type).toBe("HD");
  });

  it("gives the same disks as systeminformation on this machine's real lsblk", async () => {
    const mine = await readLinuxDisks();
    const theirs = await si.diskLayout();
    expect(mine.map(pick)).toEqual(theirs.map(pick));
  });

  it("rejects when lsblk fails or prints something else, so the caller can fall back", async () => {
    await expect(readLinuxDisks({ run: async () => { throw new Error("lsblk: unknown column: PATH"); } })).rejects.toThrow(/unknown column/);
    await expect(readLinuxDisks({ run: async () => "not json" })).rejects.toThrow();
    expect(disksFromLsblk('{"blockdevices":[]}', () => "")).toEqual([]);
  });
});
