import { describe, expect, it } from "vitest";
import { normalize, type Inventory } from "../../../agent/collectors/asset/inventory.js";
import { assetKeys, assetSerial, isPlaceholderSerial, isPlaceholderUuid, pcId, pcIdentity, physicalMacs } from "../../../agent/collectors/asset/identity.js";
import { rawLinux, rawMac, rawWindows } from "./helpers.js";

function win(edit: (inv: Inventory) => void = () => undefined): Inventory {
  const inv = normalize(rawWindows());
  edit(inv);
  return inv;
}

describe("pcId: stable PC identity", () => {
  it("rule 1: the hardware UUID, whatever its case or braces", () => {
    const a = pcIdentity(win());
    expect(a.basis).toBe("hardware-uuid");
    expect(a.value).toBe("4c4c4544-0051-3210-8058-b5c04f584b5a");
    expect(a.id).toMatch(/^pc-[0-9a-f]{32}$/);
    expect(pcId(win((i) => { i.system.uuid = "{4C4C4544-0051-3210-8058-B5C04F584B5A}"; }))).toBe(a.id);
    // the same hardware seen with another hostname, OS reinstall, new NIC: same id
    expect(pcId(win((i) => { i.os.hostname = "renamed"; i.os.machineId = "new"; i.nics = []; }))).toBe(a.id);
  });

  it("falls back to uuid() when system() has no UUID", () => {
    const id = pcIdentity(win((i) => { i.system.uuid = ""; }));
    expect(id.basis).toBe("hardware-uuid");
    expect(id.value).toBe("4c4c4544-0051-3210-8058-b5c04f584b5a");
  });

  it.each([
    "", "00000000-0000-0000-0000-000000000000", "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF",
    "03000200-0400-0500-0006-000700080009", "00020003-0004-0005-0006-000700080009", "Not Settable", "Not Present", "-",
  ])("rule 2: skips placeholder UUID %j and uses the system serial", (uuid) => {
    expect(isPlaceholderUuid(uuid)).toBe(true);
    const id = pcIdentity(win((i) => { i.system.uuid = uuid; i.hardwareUuid = uuid; }));
    expect(id.basis).toBe("system-serial");
    expect(id.value).toBe("5Q2XKZ3");
  });

  it.each([
    "To Be Filled By O.E.M.", "to be filled by o.e.m.", "Default string", "0", "System Serial Number", "Not Specified",
    "None", "N/A", "0000000000", "   ", "0000-0000-0000-0000-0000-0000-00", "Chassis Serial Number",
  ])("rule 3: skips placeholder system serial %j and uses the baseboard serial", (serial) => {
    expect(isPlaceholderSerial(serial)).toBe(true);
    const id = pcIdentity(win((i) => { i.system.uuid = ""; i.hardwareUuid = ""; i.system.serial = serial; }));
    expect(id.basis).toBe("baseboard-serial");
    expect(id.value).toBe("/5Q2XKZ3/CNCMK0041C00A8/");
  });

  it("rule 4: the sorted set of physical NIC MACs (virtual adapters left out), independent of order", () => {
    const noIds = (i: Inventory) => { i.system.uuid = ""; i.hardwareUuid = ""; i.system.serial = "Default string"; i.baseboard.serial = "Base Board Serial Number"; };
    const id = pcIdentity(win(noIds));
    expect(id.basis).toBe("macs");
    expect(id.value).toBe("a0:b3:39:ab:cd:ef,c4:c6:e6:12:34:56");
    const reversed = pcIdentity(win((i) => { noIds(i); i.nics.reverse(); }));
    expect(reversed.id).toBe(id.id);
    // a VPN adapter appearing does not change it
    const withVpn = pcIdentity(win((i) => { noIds(i); i.nics.push({ iface: "tun0", name: "tun0", mac: "aa:aa:aa:aa:aa:aa", type: "virtual", virtual: true, speedMbps: null }); }));
    expect(withVpn.id).toBe(id.id);
  });

  it("rule 5 and 6: the OS machine id, then the hostname, when the hardware offers nothing", () => {
    const bare = (i: Inventory) => { i.system.uuid = ""; i.hardwareUuid = ""; i.system.serial = ""; i.baseboard.serial = ""; i.nics = []; };
    expect(pcIdentity(win(bare)).basis).toBe("os-machine-id");
    expect(pcIdentity(win((i) => { bare(i); i.os.machineId = ""; })).basis).toBe("hostname");
  });

  it("on this machine's captured VM output: no UUID, serial '-', so the physical MAC", () => {
    const inv = normalize(rawLinux());
    const id = pcIdentity(inv);
    expect(id.basis).toBe("macs");
    expect(id.value).toBe("02:fc:00:00:00:01");
  });

  it("different machines get different ids; the same input always the same id", () => {
    const ids = [normalize(rawLinux()), normalize(rawWindows()), normalize(rawMac())].map(pcId);
    expect(new Set(ids).size).toBe(3);
    expect(pcId(normalize(rawMac()))).toBe(ids[2]);
  });

  it("serial and MACs for the ledger", () => {
    expect(assetKeys(win())).toEqual({ pcId: pcId(win()), serial: "5Q2XKZ3", macs: ["a0:b3:39:ab:cd:ef", "c4:c6:e6:12:34:56"] });
    expect(assetSerial(win((i) => { i.system.serial = "To Be Filled By O.E.M."; }))).toBe("/5Q2XKZ3/CNCMK0041C00A8/");
    expect(physicalMacs(normalize(rawMac()))).toEqual(["36:a1:b2:c3:d4:01", "3c:a6:f6:11:22:33"]);
  });
});
