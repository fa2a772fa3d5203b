import { describe, expect, it } from "vitest";
import { Inventory, normalize } from "../../../agent/collectors/asset/inventory.js";
import { rawLinux, rawMac, rawWindows } from "./helpers.js";

describe("normalize: systeminformation output → Inventory", () => {
  it("reads the captured Linux VM output: empty strings where the VM has nothing", () => {
    const inv = Inventory.parse(normalize(rawLinux()));
    expect(inv.errors).toEqual([]);
    expect(inv.system).toMatchObject({ manufacturer: "", model: "Docker Container", serial: "", uuid: "", sku: "", virtual: true, virtualHost: "KVM" });
    expect(inv.bios).toEqual({ vendor: "", version: "", releaseDate: "", revision: "", serial: "" });
    expect(inv.baseboard.serial).toBe("");
    expect(inv.cpu).toMatchObject({ manufacturer: "AMD", brand: "EPYC", cores: 2, physicalCores: 2, processors: 1 });
    expect(inv.memory).toEqual([
      { slot: "", size: 25276063744, type: "", clockSpeedMHz: 0, formFactor: "", manufacturer: "", partNum: "", serial: "" },
    ]);
    expect(inv.disks).toEqual([]);
    // loopback dropped; eth0 kept as physical
    expect(inv.nics).toEqual([{ iface: "eth0", name: "eth0", mac: "02:fc:00:00:00:01", type: "wired", virtual: false, speedMbps: null }]);
    expect(inv.os).toMatchObject({ platform: "linux", distro: "Debian GNU/Linux", hostname: "vm", uefi: false, machineId: "3d1219c7c4c5404aaa1f6d2a48adfda4" });
    expect(inv.hardwareUuid).toBe("");
    expect(inv.users).toEqual([]);
  });

  it("reads a Windows machine: Japanese adapter names, virtual adapters marked, MACs in one form", () => {
    const inv = Inventory.parse(normalize(rawWindows()));
    expect(inv.errors).toEqual([]);
    expect(inv.system).toMatchObject({ manufacturer: "Dell Inc.", model: "Latitude 5440", serial: "5Q2XKZ3", uuid: "4c4c4544-0051-3210-8058-b5c04f584b5a" });
    expect(inv.bios).toMatchObject({ vendor: "Dell Inc.", version: "1.14.1", releaseDate: "2024-05-13" });
    expect(inv.memory.map((m) => [m.slot, m.size, m.serial])).toEqual([
      ["BANK 0/0", 8589934592, "36A1B2C3"],
      ["BANK 2/1", 8589934592, "36A1B2D4"],
    ]);
    expect(inv.disks).toEqual([{
      device: "\\\\.\\PHYSICALDRIVE0", type: "SSD", name: "KIOXIA KXG8AZNV512G", vendor: "Toshiba", size: 512105932800,
      serial: "8DQPB0ABCDEF", firmware: "1104AN00", interfaceType: "SCSI",
    }]);
    expect(inv.nics.map((n) => [n.iface, n.mac, n.virtual])).toEqual([
      ["イーサネット", "c4:c6:e6:12:34:56", false],
      ["Wi-Fi", "a0:b3:39:ab:cd:ef", false],
      ["vEthernet (Default Switch)", "00:15:5d:01:02:03", true],
      ["ローカル エリア接続", "00:09:0f:aa:00:01", true], // "Virtual Network Adapter" in the description
    ]);
    expect(inv.os).toMatchObject({ platform: "Windows", distro: "Microsoft Windows 11 Pro", build: "22631", hostname: "KYO-PC-0123", uefi: true, machineId: "6f1c2b7e-3d4a-4f5b-9e8d-2c1a0b9f8e7d" });
    expect(inv.users).toEqual([{ user: "tanaka", tty: "console", date: "2024-10-01", time: "08:55", ip: "" }]);
  });

  it("reads a macOS machine: unified memory, Apple's virtual interfaces marked", () => {
    const inv = Inventory.parse(normalize(rawMac()));
    expect(inv.errors).toEqual([]);
    expect(inv.system).toMatchObject({ manufacturer: "Apple Inc.", model: "Mac14,5", serial: "C02XK1ABMD6T", uuid: "8a3c1f2e-4b5d-5e6f-9a0b-1c2d3e4f5a6b" });
    expect(inv.memory).toHaveLength(1);
    expect(inv.memory[0]).toMatchObject({ slot: "0", size: 34359738368, type: "LPDDR5", clockSpeedMHz: 0 });
    expect(inv.disks[0]).toMatchObject({ device: "disk0", serial: "0ba01234c5d6e7f8" });
    expect(inv.nics.map((n) => [n.iface, n.virtual])).toEqual([
      ["en0", false], ["en1", false], ["bridge0", true], ["awdl0", true], ["utun0", true],
    ]);
    expect(inv.nics.find((n) => n.iface === "utun0")!.mac).toBe("");
    expect(inv.users).toHaveLength(2);
  });

  it("keeps the sources that were read and names the ones that failed", () => {
    const raw = rawWindows();
    delete raw.diskLayout;
    raw.errors = [{ source: "diskLayout", message: "Get-CimInstance: access denied" }];
    delete raw.users; // missing without an error: recorded as not collected
    const inv = Inventory.parse(normalize(raw));
    expect(inv.disks).toEqual([]);
    expect(inv.errors).toEqual([
      { source: "diskLayout", message: "Get-CimInstance: access denied" },
      { source: "users", message: "not collected" },
    ]);
    expect(inv.system.serial).toBe("5Q2XKZ3");
    expect(inv.memory).toHaveLength(2);
  });

  it("drops empty memory slots and tells repeated slot labels apart", () => {
    const raw = rawWindows();
    raw.memLayout = [
      { size: 8589934592, bank: "ChannelA-DIMM0", type: "DDR4", serialNum: "A" },
      { size: 0, bank: "ChannelA-DIMM1", type: "Empty" },
      { size: 8589934592, bank: "P0 CHANNEL A", type: "DDR5", serialNum: "B" },
      { size: 8589934592, bank: "P0 CHANNEL A", type: "DDR5", serialNum: "C" },
    ];
    const inv = normalize(raw);
    expect(inv.memory.map((m) => [m.slot, m.serial])).toEqual([["ChannelA-DIMM0", "A"], ["P0 CHANNEL A", "B"], ["P0 CHANNEL A#2", "C"]]);
  });

  it("never throws on odd shapes: wrong types become empty values", () => {
    const inv = normalize({
      system: { serial: 12345, uuid: null, virtual: "yes" },
      bios: "garbage",
      baseboard: null,
      cpu: { cores: "8", speed: -1 },
      memLayout: { size: 1024, bank: "only one, not an array" },
      diskLayout: [null, 3],
      networkInterfaces: { iface: "eth1", mac: "AA-BB-CC-DD-EE-FF" },
      osInfo: [],
      uuid: {},
      users: "nobody",
      errors: [],
    });
    expect(Inventory.safeParse(inv).success).toBe(true);
    expect(inv.system.serial).toBe("12345");
    expect(inv.system.virtual).toBe(false);
    expect(inv.cpu.cores).toBe(8);
    expect(inv.cpu.speedGHz).toBe(0);
    expect(inv.memory).toHaveLength(1);
    expect(inv.disks).toHaveLength(2);
    expect(inv.nics[0]!.mac).toBe("aa:bb:cc:dd:ee:ff");
    expect(inv.errors).toEqual([]);
  });
});
