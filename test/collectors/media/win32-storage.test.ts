/**
 * The Windows media inventory without PowerShell (agent/os/win32/storage.ts), on buffers laid out
 * as Windows lays them out:
 *  - built from Microsoft's documented layouts (learn.microsoft.com, winioctl.h:
 *    STORAGE_DEVICE_NUMBER, VOLUME_DISK_EXTENTS, STORAGE_PROPERTY_QUERY, STORAGE_DEVICE_DESCRIPTOR,
 *    DISK_GEOMETRY_EX; setupapi.h: SP_DEVICE_INTERFACE_DETAIL_DATA_W) for what Wine cannot produce
 *    (a USB stick's vendor/product/serial, bus type 7, its USBSTOR instance id and USB parent);
 *  - captured from Wine 8.0's mountmgr under the Windows node.exe (2026-12-03) where Wine answers.
 * The assembled media are compared with what the PowerShell inventory yields for the same machine
 * (test/fixtures/win32/media/get-disk.json, get-volume.json), and the reader's fallback is driven
 * through injected inventories. The real FFI calls run under Wine in
 * test/e2e/windows-media-wine.test.ts.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { Logger } from "../../../lib/log.js";
import { buildWin32Media, inventoryFromStorage, parseGetDisk, parseGetVolume } from "../../../agent/collectors/media/parse-win32.js";
import type { Medium } from "../../../agent/collectors/media/types.js";
import { Win32MediaReader } from "../../../agent/collectors/media/win32.js";
import { utf16 } from "../../../agent/os/win32/ffi.js";
import {
  ctlCode, IOCTL_DISK_GET_DRIVE_GEOMETRY_EX, IOCTL_STORAGE_GET_DEVICE_NUMBER, IOCTL_STORAGE_QUERY_PROPERTY, IOCTL_VOLUME_GET_VOLUME_DISK_EXTENTS,
  parseDiskGeometryExSize, parseInterfaceDetailPath, parseStorageDeviceDescriptor, parseStorageDeviceNumber, parseVolumeDiskExtents,
  storageDevicePropertyQuery, type RawDisk, type RawVolume, type StorageDeviceDescriptor,
} from "../../../agent/os/win32/storage.js";

const fx = (name: string) => readFileSync(join(import.meta.dirname, "../../fixtures/win32/media", name), "utf8");

/**
 * STORAGE_DEVICE_DESCRIPTOR as USBSTOR returns it: the 40-byte fixed part (Version = Size of the
 * structure, 0x28), then the NUL-terminated ASCII strings its offsets point at (SCSI INQUIRY
 * vendor padded to 8, product to 16, revision 4; the serial from the USB iSerialNumber).
 */
function descriptorBuffer(d: { removable: boolean; bus: number; vendor?: string; product?: string; revision?: string; serial?: string }): Buffer {
  const head = Buffer.alloc(40);
  const strings: Buffer[] = [];
  let off = 40;
  const put = (field: number, s: string | undefined): void => {
    if (s === undefined) return;
    const b = Buffer.from(s + "\0", "latin1");
    head.writeUInt32LE(off, field);
    strings.push(b);
    off += b.length;
  };
  head.writeUInt32LE(40, 0); // Version
  head.writeUInt8(0, 8); // DeviceType: direct-access block device
  head.writeUInt8(d.removable ? 1 : 0, 10);
  put(12, d.vendor);
  put(16, d.product);
  put(20, d.revision);
  put(24, d.serial);
  head.writeUInt32LE(d.bus, 28);
  head.writeUInt32LE(0, 32); // RawPropertiesLength
  const all = Buffer.concat([head, ...strings]);
  all.writeUInt32LE(all.length, 4); // Size
  return all;
}

describe("IOCTL codes and the binary structures", () => {
  it("CTL_CODE gives the documented control codes", () => {
    expect(ctlCode(0x2d, 0x420, 0, 0)).toBe(IOCTL_STORAGE_GET_DEVICE_NUMBER);
    expect(IOCTL_STORAGE_GET_DEVICE_NUMBER).toBe(0x2d1080);
    expect(ctlCode(0x2d, 0x500, 0, 0)).toBe(IOCTL_STORAGE_QUERY_PROPERTY);
    expect(ctlCode(0x56, 0, 0, 0)).toBe(IOCTL_VOLUME_GET_VOLUME_DISK_EXTENTS);
    expect(ctlCode(7, 0x28, 0, 0)).toBe(IOCTL_DISK_GET_DRIVE_GEOMETRY_EX);
    // IOCTL_DISK_GET_LENGTH_INFO needs FILE_READ_ACCESS (1): not usable on a 0-access handle
    expect(ctlCode(7, 0x17, 0, 1)).toBe(0x7405c);
  });

  it("STORAGE_DEVICE_NUMBER: built, and as Wine's mountmgr returned it for C: and \\\\.\\PhysicalDrive0", () => {
    const b = Buffer.alloc(12);
    b.writeUInt32LE(7, 0);
    b.writeUInt32LE(2, 4);
    b.writeUInt32LE(1, 8);
    expect(parseStorageDeviceNumber(b)).toEqual({ deviceType: 7, deviceNumber: 2, partitionNumber: 1 });
    // captured (Wine 8.0): \\.\C: → FILE_DEVICE_DISK, disk 0, partition 1; the disk itself: partition 0
    expect(parseStorageDeviceNumber(Buffer.from("070000000000000001000000", "hex"))).toEqual({ deviceType: 7, deviceNumber: 0, partitionNumber: 1 });
    b.writeUInt32LE(0xffffffff, 8);
    expect(parseStorageDeviceNumber(b)!.partitionNumber).toBeNull();
    expect(parseStorageDeviceNumber(Buffer.alloc(8))).toBeNull();
  });

  it("VOLUME_DISK_EXTENTS: a volume spanning two disks (8-byte aligned extents), and Wine's empty answer", () => {
    const b = Buffer.alloc(8 + 2 * 24);
    b.writeUInt32LE(2, 0);
    b.writeUInt32LE(3, 8);
    b.writeBigInt64LE(1048576n, 16);
    b.writeBigInt64LE(15_626_928_128n, 24);
    b.writeUInt32LE(4, 32);
    b.writeBigInt64LE(0n, 40);
    b.writeBigInt64LE(4096n, 48);
    expect(parseVolumeDiskExtents(b)).toEqual([
      { diskNumber: 3, startingOffset: 1048576, length: 15_626_928_128 },
      { diskNumber: 4, startingOffset: 0, length: 4096 },
    ]);
    // captured (Wine 8.0, \\.\C:): NumberOfDiskExtents 0
    expect(parseVolumeDiskExtents(Buffer.from("00".repeat(32), "hex"))).toEqual([]);
  });

  it("STORAGE_PROPERTY_QUERY for the device descriptor is 12 zero bytes", () => {
    expect(storageDevicePropertyQuery()).toEqual(Buffer.alloc(12));
  });

  it("STORAGE_DEVICE_DESCRIPTOR: a USB stick (strings at their offsets, bus 7), a stick without a serial, and Wine's faked one", () => {
    const stick = parseStorageDeviceDescriptor(descriptorBuffer({ removable: true, bus: 7, vendor: "SanDisk ", product: "Cruzer Blade    ", revision: "1.00", serial: "4C530001234567891234" }));
    expect(stick).toEqual<StorageDeviceDescriptor>({ deviceType: 0, removableMedia: true, vendor: "SanDisk", product: "Cruzer Blade", revision: "1.00", serial: "4C530001234567891234", busType: 7 });
    const noSerial = parseStorageDeviceDescriptor(descriptorBuffer({ removable: true, bus: 7, vendor: "Generic ", product: "STORAGE DEVICE  ", revision: "1.00" }));
    expect(noSerial).toMatchObject({ vendor: "Generic", product: "STORAGE DEVICE", serial: null });
    // an offset past the returned size (a truncated buffer) is not read
    const cut = descriptorBuffer({ removable: true, bus: 7, vendor: "SanDisk ", serial: "4C530001234567891234" });
    expect(parseStorageDeviceDescriptor(cut.subarray(0, 50))!.serial).toBeNull();
    // captured (Wine 8.0, mountmgr's "Faking StorageDeviceProperty data"): Version/Size 0x28,
    // DeviceType FILE_DEVICE_DISK, not removable, no strings, BusTypeScsi
    const wine = Buffer.from("28000000280000000700000000000000000000000000000000000000010000000000000000000000", "hex");
    expect(parseStorageDeviceDescriptor(wine)).toEqual({ deviceType: 7, removableMedia: false, vendor: null, product: null, revision: null, serial: null, busType: 1 });
    expect(parseStorageDeviceDescriptor(Buffer.alloc(8))).toBeNull();
  });

  it("DISK_GEOMETRY_EX → DiskSize (at 24), as Wine returned it", () => {
    // captured (Wine 8.0): 10000 cylinders × 255 × 63 × 512 = 82,252,800,000 bytes
    const wine = Buffer.from("10270000000000000c000000ff0000003f000000000200000020a626130000000000000000000000", "hex");
    expect(parseDiskGeometryExSize(wine)).toBe(82_252_800_000);
    const b = Buffer.alloc(32);
    b.writeBigInt64LE(15_631_122_432n, 24);
    expect(parseDiskGeometryExSize(b)).toBe(15_631_122_432);
    expect(parseDiskGeometryExSize(Buffer.alloc(32))).toBeNull();
  });

  it("SP_DEVICE_INTERFACE_DETAIL_DATA_W: cbSize 8 on x64, the path in UTF-16 from offset 4", () => {
    const path = "\\\\?\\usbstor#disk&ven_sandisk&prod_cruzer_blade&rev_1.00#4c530001234567891234&0#{53f56307-b6bf-11d0-94f2-00a0c91efb8b}";
    const b = Buffer.alloc(8 + 2 * 1024);
    b.writeUInt32LE(8, 0);
    b.write(path, 4, "utf16le");
    expect(parseInterfaceDetailPath(b)).toBe(path);
    expect(parseInterfaceDetailPath(Buffer.alloc(8))).toBeNull();
  });

  it("a Japanese volume label through UTF-16: GetVolumeInformationW's 261-WCHAR buffer, NUL-terminated, stale bytes after", () => {
    const buf = Buffer.alloc(522, 0x41);
    Buffer.from("ＵＳＢメモリ　経理\0", "utf16le").copy(buf);
    expect(utf16(buf)).toBe("ＵＳＢメモリ　経理");
  });
});

/** The machine of test/fixtures/win32/media/get-disk.json + get-volume.json, as the FFI layer reads it. */
function rawMachine(): { volumes: RawVolume[]; disks: RawDisk[] } {
  const vol = (letter: string, driveType: number, label: string | null, fileSystem: string | null, size: number | null, guid: string | null, diskNumber: number | null, volumeError: number | null = null): RawVolume => ({
    letter, driveType, label, fileSystem, volumeError, size, guidPath: guid ? `\\\\?\\Volume{${guid}}\\` : null, diskNumber, diskNumberVia: diskNumber === null ? "error 1" : "device-number",
  });
  const desc = (b: Buffer) => parseStorageDeviceDescriptor(b);
  return {
    volumes: [
      vol("C", 3, "Windows", "NTFS", 999541321728, "1b2c3d4e-0000-0000-0000-100000000000", 0),
      vol("E", 2, "KYOKA", "FAT32", 15626928128, "7f0c6f7a-8d1e-11ef-a1b2-806e6f6e6963", 2),
      vol("F", 2, "SECURE", "exFAT", 31912886272, "7f0c6f7b-8d1e-11ef-a1b2-806e6f6e6963", 3),
      // a card reader's empty slot: ERROR_NOT_READY, its disk reports no size → not a medium
      vol("G", 2, null, null, null, null, 4, 21),
    ],
    disks: [
      {
        number: 0, descriptor: desc(descriptorBuffer({ removable: false, bus: 17, vendor: "NVMe", product: "Samsung SSD 980", serial: "0025_3852_1190_1234." })), size: 1000204886016,
        interfacePath: "\\\\?\\scsi#disk&ven_nvme&prod_samsung_ssd_980#5&2d1e3d40&0&000000#{53f56307-b6bf-11d0-94f2-00a0c91efb8b}",
        instanceId: "SCSI\\DISK&VEN_NVME&PROD_SAMSUNG_SSD_980\\5&2D1E3D40&0&000000", ancestorIds: ["PCI\\VEN_144D&DEV_A80A&SUBSYS_A801144D&REV_00\\4&1a2b3c4d&0&0008"],
      },
      {
        number: 2, descriptor: desc(descriptorBuffer({ removable: true, bus: 7, vendor: "SanDisk ", product: "Cruzer Blade    ", revision: "1.00", serial: "4C530001234567891234" })), size: 15631122432,
        interfacePath: "\\\\?\\usbstor#disk&ven_sandisk&prod_cruzer_blade&rev_1.00#4c530001234567891234&0#{53f56307-b6bf-11d0-94f2-00a0c91efb8b}",
        instanceId: "USBSTOR\\DISK&VEN_SANDISK&PROD_CRUZER_BLADE&REV_1.00\\4C530001234567891234&0",
        ancestorIds: ["USB\\VID_0781&PID_5567\\4C530001234567891234", "USB\\ROOT_HUB30\\4&2F1B2C3D&0&0", "PCI\\VEN_8086&DEV_A36D&SUBSYS_00000000&REV_10\\3&11583659&0&A0"],
      },
      {
        // a card reader behind a composite USB device: USBSTOR → USB\…&MI_00 → USB\VID_05E3&PID_0751
        number: 3, descriptor: desc(descriptorBuffer({ removable: true, bus: 7, vendor: "Generic ", product: "STORAGE DEVICE  ", revision: "1.00" })), size: 31914983424,
        interfacePath: "\\\\?\\usbstor#disk&ven_generic&prod_storage_device&rev_1.00#7&1a2b3c4d&0&0#{53f56307-b6bf-11d0-94f2-00a0c91efb8b}",
        instanceId: "USBSTOR\\DISK&VEN_GENERIC&PROD_STORAGE_DEVICE&REV_1.00\\7&1A2B3C4D&0&0",
        ancestorIds: ["USB\\VID_05E3&PID_0751&MI_00\\8&3B1C2D4E&0&0000", "USB\\VID_05E3&PID_0751\\7&1A2B3C4D&0&2"],
      },
      { number: 4, descriptor: desc(descriptorBuffer({ removable: true, bus: 7, vendor: "Generic ", product: "SD/MMC          " })), size: null, interfacePath: null, instanceId: null, ancestorIds: [] },
    ],
  };
}

describe("the FFI inventory assembled as the PowerShell one is", () => {
  it("the same media as Get-Disk/Get-Volume give for the same machine; the USB ids of a serial-less stick from its devnode ancestor", () => {
    const ffi = buildWin32Media(inventoryFromStorage(rawMachine()));
    const ps = buildWin32Media({ disks: parseGetDisk(fx("get-disk.json")), volumes: parseGetVolume(fx("get-volume.json")), bitlocker: [], usbDeviceIds: fx("usb-device-ids.txt").trim().split(/\r?\n/) });
    expect(ffi.map((m) => m.device)).toEqual(["E:", "F:"]);
    expect(ps.map((m) => m.device)).toEqual(["E:", "F:"]);
    // everything but letter case (Get-Disk's Path is lower case, the instance id upper case) and
    // the serial-less reader's USB ids (PowerShell can only match USB parents by serial)
    const same = (m: Medium) => ({ ...m, serial: m.serial?.toUpperCase() ?? null, vendor: m.vendor?.toUpperCase() ?? null, model: m.model?.toUpperCase() ?? null, vendorId: null, productId: null, encrypted: null });
    expect(ffi.map(same)).toEqual(ps.map(same));
    expect(ffi[0]).toMatchObject({
      key: "E::\\\\?\\Volume{7f0c6f7a-8d1e-11ef-a1b2-806e6f6e6963}\\", disk: "\\\\.\\PhysicalDrive2", vendorId: "0781", productId: "5567", serial: "4C530001234567891234",
      vendor: "SANDISK", model: "CRUZER BLADE", label: "KYOKA", fsType: "FAT32", size: 15626928128, mount: "E:\\", bus: "usb",
    });
    expect(ps[0]).toMatchObject({ vendorId: "0781", productId: "5567" });
    expect(ffi[1]).toMatchObject({ device: "F:", serial: null, vendorId: "05e3", productId: "0751", bus: "usb" });
    expect(ps[1]).toMatchObject({ serial: null, vendorId: null });
  });

  it("disks: friendly name, serial, bus name, USBSTOR identity and the nearest whole USB device", () => {
    const inv = inventoryFromStorage(rawMachine());
    expect(inv.disks.map((d) => [d.number, d.friendlyName, d.busType, d.usbDeviceId])).toEqual([
      [0, "NVMe Samsung SSD 980", "NVMe", null],
      [2, "SanDisk Cruzer Blade", "USB", "USB\\VID_0781&PID_5567\\4C530001234567891234"],
      [3, "Generic STORAGE DEVICE", "USB", "USB\\VID_05E3&PID_0751\\7&1A2B3C4D&0&2"],
      [4, "Generic SD/MMC", "USB", null],
    ]);
    expect(inv.disks[1]!.usbstor).toMatchObject({ vendor: "SANDISK", product: "CRUZER BLADE", serial: "4C530001234567891234" });
    expect(inv.volumes.map((v) => [v.driveLetter, v.driveType])).toEqual([["C", "Fixed"], ["E", "Removable"], ["F", "Removable"]]);
    // the USB devices among the ancestors (not the root hub)
    expect(inv.usbDeviceIds).toEqual(["USB\\VID_0781&PID_5567\\4C530001234567891234", "USB\\VID_05E3&PID_0751&MI_00\\8&3B1C2D4E&0&0000", "USB\\VID_05E3&PID_0751\\7&1A2B3C4D&0&2"]);
  });

  it("a Japanese label stays intact; a locked volume (volume information denied) is kept without label and file system; a fixed USB disk is a medium", () => {
    const raw = rawMachine();
    raw.volumes[1]!.label = utf16(Buffer.from("ＵＳＢメモリ\0", "utf16le"));
    raw.volumes[2] = { ...raw.volumes[2]!, label: null, fileSystem: null, size: null, volumeError: 5 };
    // a USB hard disk is "Fixed" to GetDriveTypeW, USB by its bus
    raw.volumes.push({ letter: "H", driveType: 3, label: "バックアップ", fileSystem: "NTFS", volumeError: null, size: 1_000_000_000, guidPath: null, diskNumber: 5, diskNumberVia: "disk-extents" });
    raw.disks.push({ number: 5, descriptor: parseStorageDeviceDescriptor(descriptorBuffer({ removable: false, bus: 7, vendor: "BUFFALO ", product: "HD-PCFU3", serial: "AB12" })), size: 1_000_204_886_016, interfacePath: null, instanceId: null, ancestorIds: [] });
    const media = buildWin32Media(inventoryFromStorage(raw));
    expect(media.map((m) => [m.device, m.label, m.fsType])).toEqual([["E:", "ＵＳＢメモリ", "FAT32"], ["F:", null, null], ["H:", "バックアップ", "NTFS"]]);
    // F: locked: no volume size → the disk's; H: no volume GUID → keyed by the disk serial
    expect(media[1]!.size).toBe(31914983424);
    expect(media[2]).toMatchObject({ key: "H::AB12", serial: "AB12", bus: "usb", model: "BUFFALO HD-PCFU3" });
  });
});

function recordingLogger(): { log: Logger; warns: string[] } {
  const warns: string[] = [];
  const log = { warn: (_o: unknown, msg?: string) => { warns.push(String(msg)); }, info: () => undefined, debug: () => undefined, error: () => undefined } as unknown as Logger;
  return { log, warns };
}

describe("the reader: the FFI inventory by default, PowerShell only as the fallback", () => {
  const one = [{ key: "E::x", device: "E:" } as Medium];

  it("uses the FFI inventory and never the PowerShell one when it works", async () => {
    let ps = 0;
    const reader = new Win32MediaReader(undefined, { notifier: null, ffiInventory: async () => one, powershellInventory: async () => { ps++; return []; } });
    expect(await reader.list()).toBe(one);
    expect(reader.lastInventorySource).toBe("ffi");
    expect(ps).toBe(0);
  });

  it("falls back to PowerShell when the FFI inventory throws, logging it once", async () => {
    const { log, warns } = recordingLogger();
    let ps = 0;
    const reader = new Win32MediaReader(log, {
      notifier: null,
      ffiInventory: async () => { throw new Error("koffi: cannot load setupapi.dll"); },
      powershellInventory: async () => { ps++; return one; },
    });
    expect(await reader.list()).toBe(one);
    expect(await reader.list()).toBe(one);
    expect(reader.lastInventorySource).toBe("powershell");
    expect(ps).toBe(2);
    expect(warns.filter((w) => /FFI media inventory unavailable/.test(w))).toHaveLength(1);
  });

  it("off Windows the default FFI inventory cannot load (koffi's Win32 layer refuses): the fallback runs", async () => {
    const reader = new Win32MediaReader(undefined, { notifier: null, powershellInventory: async () => one });
    expect(await reader.list()).toBe(one);
    expect(reader.lastInventorySource).toBe("powershell");
  });
});
