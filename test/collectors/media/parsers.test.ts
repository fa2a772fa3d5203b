/** Media parsers on captured-format output from Linux, Windows and macOS (no I/O, any OS). */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseClamscanOutput } from "../../../agent/collectors/media/clamav-parse.js";
import {
  buildDarwinMedia,
  parseDiskutilApfsList,
  parseDiskutilInfo,
  parseDiskutilList,
  parseIoregUsb,
  type DiskutilInfo,
} from "../../../agent/collectors/media/parse-darwin.js";
import {
  detectEncryptionSignature,
  encryptionFromBlkid,
  globToRegExp,
  matchesAny,
  normaliseUsbId,
  parseBlkidExport,
  parseLsblkJson,
  parseMountinfo,
  parseProcPartitions,
} from "../../../agent/collectors/media/parse-linux.js";
import {
  buildWin32Media,
  parseGetBitLockerVolume,
  parseGetDisk,
  parseGetVolume,
  parseManageBdeStatus,
  parseUsbDeviceId,
  parseUsbstorId,
} from "../../../agent/collectors/media/parse-win32.js";
import { parsePlistXml as parsePlist } from "../../../lib/plist.js";

const fx = (os: string, name: string) => readFileSync(join(import.meta.dirname, "../../fixtures", os, "media", name), "utf8");

describe("Linux parsers", () => {
  it("mountinfo: escaped mount points, fuseblk on a loop device, ro mounts", () => {
    const m = parseMountinfo(fx("linux", "mountinfo.txt"));
    expect(m).toHaveLength(6);
    const vfat = m.find((e) => e.source === "/dev/sdb1")!;
    expect(vfat).toMatchObject({ mountPoint: "/media/taro/USB DISK", fsType: "vfat", majorMinor: "8:17" });
    const fuse = m.find((e) => e.fsType === "fuseblk")!;
    expect(fuse).toMatchObject({ source: "/dev/loop0", majorMinor: "7:0", mountPoint: "/tmp/kyoka/exfat" });
    expect(m.find((e) => e.source === "/dev/loop1")!.options).toContain("ro");
    expect(parseMountinfo("")).toEqual([]);
    expect(parseMountinfo("garbage line\n36 35 98:0")).toEqual([]);
  });

  it("/proc/partitions", () => {
    const p = parseProcPartitions(fx("linux", "proc-partitions.txt"));
    expect(p.map((x) => x.name)).toEqual(["vda", "sdb", "sdb1", "loop0"]);
    expect(p[3]).toEqual({ major: 7, minor: 0, blocks: 65536, name: "loop0" });
  });

  it("blkid export: exFAT and LUKS2", () => {
    const ex = parseBlkidExport(fx("linux", "blkid-exfat.txt"));
    expect(ex).toMatchObject({ TYPE: "exfat", LABEL: "KYOKAEX", UUID: "EFDF-F5FB", USAGE: "filesystem" });
    const luks = parseBlkidExport(fx("linux", "blkid-luks.txt"));
    expect(encryptionFromBlkid(luks.TYPE, luks.VERSION)).toBe("luks2");
    expect(encryptionFromBlkid(ex.TYPE)).toBeNull();
    expect(encryptionFromBlkid("BitLocker")).toBe("bitlocker");
    expect(parseBlkidExport("")).toEqual({});
  });

  it("lsblk JSON, new (typed) and old (string) util-linux", () => {
    const d = parseLsblkJson(fx("linux", "lsblk.json"));
    expect(d.find((x) => x.name === "sdb")).toMatchObject({ serial: "4C530001230518104F82", vendor: "SanDisk", tran: "usb", rm: true });
    expect(d.find((x) => x.name === "sdb1")).toMatchObject({ label: "USB DISK", fstype: "vfat", mountpoint: "/media/taro/USB DISK", size: 30751588352 });
    const old = parseLsblkJson(fx("linux", "lsblk-old.json"));
    expect(old.find((x) => x.name === "sdc")).toMatchObject({ rm: true, size: 8053063680, tran: "usb" });
    expect(old.find((x) => x.name === "sdc1")).toMatchObject({ fstype: "exfat", label: "KINGSTON" });
    expect(parseLsblkJson("not json")).toEqual([]);
    expect(parseLsblkJson("{}")).toEqual([]);
  });

  it("encryption signatures: LUKS1/LUKS2 magic at 0, BitLocker -FVE-FS- at 3, plain", () => {
    const luks2 = Buffer.alloc(512);
    Buffer.from([0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe, 0x00, 0x02]).copy(luks2);
    expect(detectEncryptionSignature(luks2)).toBe("luks2");
    luks2[7] = 1;
    expect(detectEncryptionSignature(luks2)).toBe("luks1");
    const bde = Buffer.alloc(512);
    Buffer.from([0xeb, 0x58, 0x90]).copy(bde);
    bde.write("-FVE-FS-", 3, "latin1");
    expect(detectEncryptionSignature(bde)).toBe("bitlocker");
    const fat = Buffer.alloc(512);
    Buffer.from([0xeb, 0x58, 0x90]).copy(fat);
    fat.write("MSDOS5.0", 3, "latin1");
    expect(detectEncryptionSignature(fat)).toBeNull();
    expect(detectEncryptionSignature(new Uint8Array(0))).toBeNull();
  });

  it("treatAsRemovable globs", () => {
    expect(matchesAny(["/dev/loop*"], ["/dev/loop3"])).toBe(true);
    expect(matchesAny(["/dev/loop*"], ["/dev/sda"])).toBe(false);
    expect(matchesAny(["mmcblk?p*"], ["mmcblk0p1"])).toBe(true);
    expect(matchesAny(["/dev/sd[b-z]*"], ["/dev/sda1"])).toBe(false);
    expect(matchesAny(["/dev/sd[b-z]*"], ["/dev/sdc1"])).toBe(true);
    expect(globToRegExp("/dev/*").test("/dev/mapper/x")).toBe(false);
    expect(globToRegExp("/dev/**").test("/dev/mapper/x")).toBe(true);
    expect(matchesAny([], ["/dev/loop0"])).toBe(false);
  });

  it("USB ids normalised to 4 lowercase hex digits", () => {
    expect(normaliseUsbId("0781\n")).toBe("0781");
    expect(normaliseUsbId("0x05AC")).toBe("05ac");
    expect(normaliseUsbId(1921)).toBe("0781");
    expect(normaliseUsbId("0x0781 (SanDisk Corporation)")).toBe("0781");
    expect(normaliseUsbId(null)).toBeNull();
    expect(normaliseUsbId("zz")).toBeNull();
  });
});

describe("clamscan output", () => {
  it("infected: files, signature names (paths with ': ' in them), errors, summary", () => {
    const r = parseClamscanOutput(fx("linux", "clamscan-infected.txt"));
    expect(r.infectedFiles).toEqual([
      { path: "/media/taro/USB DISK/eicar.com", signature: "Test.EICAR.UNOFFICIAL" },
      { path: "/media/taro/USB DISK/docs/report: final.zip", signature: "Win.Test.EICAR_HDB-1" },
    ]);
    expect(r.signatures).toEqual(["Test.EICAR.UNOFFICIAL", "Win.Test.EICAR_HDB-1"]);
    expect(r.errors).toHaveLength(1);
    expect(r.summary).toMatchObject({ knownViruses: 1, scannedFiles: 14, infectedFiles: 2, totalErrors: 1, engineVersion: "1.4.3" });
  });

  it("clean, no database, empty", () => {
    const clean = parseClamscanOutput(fx("linux", "clamscan-clean.txt"));
    expect(clean).toMatchObject({ infectedFiles: [], signatures: [], hasSummary: true });
    expect(clean.summary.scannedFiles).toBe(3);
    const nodb = parseClamscanOutput(fx("linux", "clamscan-nodb.txt"));
    expect(nodb.infectedFiles).toEqual([]);
    expect(nodb.summary.knownViruses).toBe(0);
    expect(parseClamscanOutput("")).toMatchObject({ infectedFiles: [], hasSummary: false });
  });
});

describe("Windows parsers", () => {
  it("USBSTOR PNP device id, both forms", () => {
    expect(parseUsbstorId("USBSTOR\\DISK&VEN_SANDISK&PROD_CRUZER_BLADE&REV_1.00\\4C530001234567891234&0")).toEqual({
      vendor: "SANDISK",
      product: "CRUZER BLADE",
      revision: "1.00",
      serial: "4C530001234567891234",
      instance: "4C530001234567891234&0",
    });
    const path = parseUsbstorId("\\\\?\\usbstor#disk&ven_sandisk&prod_cruzer_blade&rev_1.00#4c530001234567891234&0#{53f56307-b6bf-11d0-94f2-00a0c91efb8b}");
    expect(path).toMatchObject({ vendor: "sandisk", product: "cruzer blade", serial: "4c530001234567891234" });
    // a serial Windows made up (second character '&') is not a device serial
    expect(parseUsbstorId("USBSTOR\\DISK&VEN_GENERIC&PROD_STORAGE_DEVICE&REV_1.00\\7&1A2B3C4D&0&0")!.serial).toBeNull();
    expect(parseUsbstorId("SCSI\\DISK&VEN_NVME\\5&2D1E3D40&0&000000")).toBeNull();
  });

  it("USB parent id → vendor / product id and serial", () => {
    const ids = fx("win32", "usb-device-ids.txt").trim().split(/\r?\n/);
    expect(parseUsbDeviceId(ids[0]!)).toEqual({ vendorId: "0781", productId: "5567", serial: "4C530001234567891234" });
    expect(parseUsbDeviceId(ids[1]!)).toEqual({ vendorId: "05e3", productId: "0751", serial: null });
    expect(parseUsbDeviceId(ids[2]!)).toBeNull();
  });

  it("Get-Disk / Get-Volume / Get-BitLockerVolume JSON", () => {
    const disks = parseGetDisk(fx("win32", "get-disk.json"));
    expect(disks.map((d) => [d.number, d.busType])).toEqual([[0, "NVMe"], [2, "USB"], [3, "USB"]]);
    expect(disks[1]!.usbstor).toMatchObject({ vendor: "sandisk", serial: "4c530001234567891234" });
    const vols = parseGetVolume(fx("win32", "get-volume.json"));
    expect(vols.map((v) => [v.driveLetter, v.driveType, v.fileSystem])).toEqual([["C", "Fixed", "NTFS"], ["E", "Removable", "FAT32"], ["F", "Removable", "exFAT"]]);
    const bl = parseGetBitLockerVolume(fx("win32", "get-bitlockervolume.json"));
    expect(bl.map((b) => [b.mountPoint, b.encrypted, b.protectionOn])).toEqual([["C:", true, true], ["E:", false, false], ["F:", true, true]]);
    // one object is printed bare, not as an array
    expect(parseGetDisk(JSON.stringify({ Number: 5, BusType: 7, Size: 1 }))[0]).toMatchObject({ number: 5, busType: "USB" });
    expect(parseGetDisk("")).toEqual([]);
  });

  it("manage-bde -status: decrypted, encrypted, locked BitLocker To Go", () => {
    const s = parseManageBdeStatus(fx("win32", "manage-bde-status.txt"));
    expect(s.map((v) => v.mountPoint)).toEqual(["C:", "E:", "F:"]);
    expect(s[0]).toMatchObject({ encrypted: true, protectionOn: true, locked: false, method: "XTS-AES 128", percentage: 100 });
    expect(s[1]).toMatchObject({ encrypted: false, protectionOn: false, method: null, percentage: 0 });
    expect(s[2]).toMatchObject({ encrypted: true, locked: true, method: "AES 128" });
    expect(parseManageBdeStatus("")).toEqual([]);
  });

  it("assembled media: removable volumes only, USB ids from the parent, BitLocker To Go encrypted", () => {
    const media = buildWin32Media({
      disks: parseGetDisk(fx("win32", "get-disk.json")),
      volumes: parseGetVolume(fx("win32", "get-volume.json")),
      bitlocker: parseGetBitLockerVolume(fx("win32", "get-bitlockervolume.json")),
      usbDeviceIds: fx("win32", "usb-device-ids.txt").trim().split(/\r?\n/),
    });
    expect(media.map((m) => m.device)).toEqual(["E:", "F:"]);
    expect(media[0]).toMatchObject({
      vendorId: "0781", productId: "5567", serial: "4c530001234567891234", label: "KYOKA", fsType: "FAT32",
      mount: "E:\\", bus: "usb", encrypted: false, encryption: null, disk: "\\\\.\\PhysicalDrive2",
    });
    expect(media[1]).toMatchObject({ serial: null, vendorId: null, encrypted: true, encryption: "bitlocker" });
  });
});

describe("macOS parsers", () => {
  const infos = new Map<string, DiskutilInfo>();
  for (const id of ["disk4", "disk4s1", "disk6", "disk7s1"]) infos.set(id, parseDiskutilInfo(fx("darwin", `diskutil-info-${id}.plist`))!);

  it("plist reader", () => {
    expect(parsePlist('<plist version="1.0"><dict><key>A</key><string>x &amp; y</string><key>B</key><integer>7</integer><key>C</key><true/><key>D</key><array><false/></array></dict></plist>'))
      .toEqual({ A: "x & y", B: 7, C: true, D: [false] });
    expect(() => parsePlist("not a plist")).toThrow();
  });

  it("diskutil info: USB stick and its FAT32 volume", () => {
    expect(infos.get("disk4")).toMatchObject({ busProtocol: "USB", internal: false, removable: true, mediaName: "SanDisk 3.2Gen1", size: 31915507712 });
    expect(infos.get("disk4s1")).toMatchObject({ fsType: "msdos", volumeName: "JOMMI_DJ", mountPoint: "/Volumes/JOMMI_DJ", writable: true, encryption: null });
    expect(infos.get("disk7s1")).toMatchObject({ fsType: "apfs", encryption: true, fileVault: true, apfsPhysicalStores: ["disk6s2"] });
  });

  it("diskutil list / apfs list / ioreg", () => {
    expect(parseDiskutilList(fx("darwin", "diskutil-list-external.plist"))).toEqual([
      { disk: "disk4", volumes: ["disk4s1"] },
      { disk: "disk6", volumes: ["disk6s1", "disk6s2"] },
    ]);
    const apfs = parseDiskutilApfsList(fx("darwin", "diskutil-apfs-list.plist"));
    expect(apfs.find((a) => a.deviceIdentifier === "disk7s1")).toMatchObject({ encryption: true, fileVault: true, physicalStores: ["disk6s2"], container: "disk7" });
    const usb = parseIoregUsb(fx("darwin", "ioreg-usb.plist"));
    expect(usb).toEqual([{ vendorId: "0781", productId: "5581", serial: "4C530001230518104F82", vendor: "USB", product: "SanDisk 3.2Gen1", bsdNames: ["disk4", "disk4s1"] }]);
  });

  it("assembled media: plain FAT32 stick with USB identity; encrypted APFS on a stick through its container", () => {
    const media = buildDarwinMedia(
      parseDiskutilList(fx("darwin", "diskutil-list-external.plist")),
      infos,
      parseDiskutilApfsList(fx("darwin", "diskutil-apfs-list.plist")),
      parseIoregUsb(fx("darwin", "ioreg-usb.plist")),
    );
    const fat = media.find((m) => m.device === "/dev/disk4s1")!;
    expect(fat).toMatchObject({ vendorId: "0781", productId: "5581", serial: "4C530001230518104F82", label: "JOMMI_DJ", fsType: "msdos", mount: "/Volumes/JOMMI_DJ", bus: "usb", encrypted: false, encryption: null });
    const apfs = media.find((m) => m.device === "/dev/disk7s1")!;
    expect(apfs).toMatchObject({ label: "KYOKA SECURE", fsType: "apfs", mount: "/Volumes/KYOKA SECURE", encrypted: true, encryption: "apfs", disk: "/dev/disk6" });
    // the EFI partition has no info captured: listed, encryption unknown, never claimed plain
    expect(media.find((m) => m.device === "/dev/disk6s1")).toMatchObject({ encrypted: null });
  });
});
