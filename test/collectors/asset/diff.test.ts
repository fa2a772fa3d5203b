import { describe, expect, it } from "vitest";
import { diffInventory } from "../../../agent/collectors/asset/diff.js";
import { normalize, type RawInventory } from "../../../agent/collectors/asset/inventory.js";
import { rawLinux, rawMac, rawWindows } from "./helpers.js";

type Rec = Record<string, unknown>;
/** the Windows capture with an edit applied to its raw systeminformation output */
function windowsWith(edit: (raw: RawInventory & Rec) => void) {
  const raw = rawWindows() as RawInventory & Rec;
  edit(raw);
  return normalize(raw);
}
const list = (raw: Rec, key: string) => raw[key] as Rec[];

describe("diffInventory", () => {
  it("reports nothing when nothing changed (every fixture against itself)", () => {
    for (const raw of [rawLinux, rawWindows, rawMac]) expect(diffInventory(normalize(raw()), normalize(raw()))).toEqual([]);
  });

  it("disk replaced: a new serial in the same slot is one 'replaced' change with before and after", () => {
    const before = normalize(rawWindows());
    const after = windowsWith((r) => {
      Object.assign(list(r, "diskLayout")[0]!, { name: "Samsung SSD 990 PRO 1TB", vendor: "Samsung", size: 1000204886016, serialNum: "S6Z1NJ0W123456", firmwareRevision: "4B2QJXD7" });
    });
    const changes = diffInventory(before, after);
    expect(changes).toEqual([{
      component: "disk", change: "replaced", key: "\\\\.\\PHYSICALDRIVE0",
      before: expect.objectContaining({ serial: "8DQPB0ABCDEF", name: "KIOXIA KXG8AZNV512G" }),
      after: expect.objectContaining({ serial: "S6Z1NJ0W123456", name: "Samsung SSD 990 PRO 1TB" }),
    }]);
  });

  it("memory added: a module in a slot that was empty is one 'added' change", () => {
    const before = windowsWith((r) => { list(r, "memLayout").pop(); });
    const after = normalize(rawWindows());
    expect(diffInventory(before, after)).toEqual([{
      component: "memory", change: "added", key: "BANK 2/1", before: null,
      after: expect.objectContaining({ slot: "BANK 2/1", size: 8589934592, serial: "36A1B2D4" }),
    }]);
  });

  it("NIC added: a USB Ethernet adapter is one 'added' change keyed by its MAC", () => {
    const before = normalize(rawWindows());
    const after = windowsWith((r) => {
      list(r, "networkInterfaces").push({
        iface: "イーサネット 2", ifaceName: "Realtek USB GbE Family Controller", mac: "00:e0:4c:68:01:02",
        internal: false, virtual: false, type: "wired", speed: 1000,
      });
    });
    expect(diffInventory(before, after)).toEqual([{
      component: "nic", change: "added", key: "00:e0:4c:68:01:02", before: null,
      after: { iface: "イーサネット 2", name: "Realtek USB GbE Family Controller", mac: "00:e0:4c:68:01:02", type: "wired", virtual: false, speedMbps: 1000 },
    }]);
  });

  it("disks: added, removed, and a disk that moved to another slot is not a change", () => {
    const before = normalize(rawWindows());
    const second = { device: "\\\\.\\PHYSICALDRIVE1", type: "HD", name: "WDC WD10SPZX", size: 1000204886016, serialNum: "WX12A34B5678", firmwareRevision: "01.01A01", interfaceType: "SCSI" };
    const added = windowsWith((r) => { list(r, "diskLayout").push(second); });
    expect(diffInventory(before, added)).toEqual([
      { component: "disk", change: "added", key: "WX12A34B5678", before: null, after: expect.objectContaining({ serial: "WX12A34B5678" }) },
    ]);
    expect(diffInventory(added, before)).toEqual([
      { component: "disk", change: "removed", key: "WX12A34B5678", before: expect.objectContaining({ serial: "WX12A34B5678" }), after: null },
    ]);
    const moved = windowsWith((r) => { list(r, "diskLayout")[0]!.device = "\\\\.\\PHYSICALDRIVE1"; });
    expect(diffInventory(before, moved)).toEqual([]);
  });

  it("disks without serials: same slot, same model and size is unchanged; a different model is replaced", () => {
    const noSerial = (edit: Rec = {}) => windowsWith((r) => { Object.assign(list(r, "diskLayout")[0]!, { serialNum: "" }, edit); });
    expect(diffInventory(noSerial(), noSerial())).toEqual([]);
    expect(diffInventory(noSerial(), noSerial({ name: "Other", size: 1 }))).toMatchObject([{ component: "disk", change: "replaced" }]);
  });

  it("memory: a different size or serial in a slot is replaced; a pulled module is removed", () => {
    const before = normalize(rawWindows());
    const bigger = windowsWith((r) => { Object.assign(list(r, "memLayout")[1]!, { size: 17179869184, serialNum: "99887766", partNum: "M471A2K43EB1-CWE" }); });
    expect(diffInventory(before, bigger)).toEqual([{
      component: "memory", change: "replaced", key: "BANK 2/1",
      before: expect.objectContaining({ size: 8589934592 }), after: expect.objectContaining({ size: 17179869184 }),
    }]);
    const pulled = windowsWith((r) => { list(r, "memLayout").shift(); });
    expect(diffInventory(before, pulled)).toMatchObject([{ component: "memory", change: "removed", key: "BANK 0/0", after: null }]);
  });

  it("NICs: a removed physical NIC is reported; virtual adapters coming and going are not", () => {
    const before = normalize(rawWindows());
    const noWifi = windowsWith((r) => { r.networkInterfaces = list(r, "networkInterfaces").filter((n) => n.iface !== "Wi-Fi"); });
    expect(diffInventory(before, noWifi)).toMatchObject([{ component: "nic", change: "removed", key: "a0:b3:39:ab:cd:ef", after: null }]);
    const noHyperV = windowsWith((r) => { r.networkInterfaces = list(r, "networkInterfaces").filter((n) => n.virtual !== true); });
    expect(diffInventory(before, noHyperV)).toEqual([]);
  });

  it("cpu replaced, baseboard and system replaced, BIOS updated", () => {
    const before = normalize(rawWindows());
    const cpu = windowsWith((r) => { Object.assign(r.cpu as Rec, { brand: "Core™ i7-1365U", model: "186", physicalCores: 10 }); });
    expect(diffInventory(before, cpu)).toMatchObject([{ component: "cpu", change: "replaced", before: { brand: "Core™ i5-1345U" }, after: { brand: "Core™ i7-1365U" } }]);

    const board = windowsWith((r) => { (r.baseboard as Rec).serial = "/5Q2XKZ3/CNCMK0041C0099/"; });
    expect(diffInventory(before, board)).toMatchObject([{ component: "baseboard", change: "replaced", before: { serial: "/5Q2XKZ3/CNCMK0041C00A8/" }, after: { serial: "/5Q2XKZ3/CNCMK0041C0099/" } }]);

    const system = windowsWith((r) => { (r.system as Rec).serial = "7H3LMN4"; });
    expect(diffInventory(before, system)).toMatchObject([{ component: "system", change: "replaced", before: { serial: "5Q2XKZ3" }, after: { serial: "7H3LMN4" } }]);

    const bios = windowsWith((r) => { Object.assign(r.bios as Rec, { version: "1.15.0", releaseDate: "2024-08-20", revision: "1.15" }); });
    expect(diffInventory(before, bios)).toEqual([{
      component: "bios", change: "updated", key: "",
      before: expect.objectContaining({ version: "1.14.1" }), after: expect.objectContaining({ version: "1.15.0" }),
    }]);
  });

  it("several changes at once: one change each", () => {
    const before = normalize(rawWindows());
    const after = windowsWith((r) => {
      list(r, "diskLayout")[0]!.serialNum = "NEWSERIAL0001";
      list(r, "memLayout").push({ size: 8589934592, bank: "BANK 1/2", type: "DDR4", serialNum: "11112222" });
      list(r, "networkInterfaces").push({ iface: "イーサネット 2", ifaceName: "ASIX AX88179", mac: "00:0e:c6:aa:bb:cc", type: "wired" });
      (r.bios as Rec).version = "1.15.0";
    });
    expect(diffInventory(before, after).map((c) => `${c.component}:${c.change}`)).toEqual(["disk:replaced", "memory:added", "nic:added", "bios:updated"]);
  });

  it("a source that could not be read is not reported as everything removed", () => {
    const before = normalize(rawWindows());
    const after = windowsWith((r) => {
      delete r.diskLayout;
      delete r.networkInterfaces;
      r.errors = [{ source: "diskLayout", message: "timed out" }, { source: "networkInterfaces", message: "boom" }];
    });
    expect(diffInventory(before, after)).toEqual([]);
    expect(diffInventory(after, before)).toEqual([]);
  });
});
