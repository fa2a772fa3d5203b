/**
 * Read-only until scanned on Windows without a Windows machine: the SET_DISK_ATTRIBUTES /
 * GET_DISK_ATTRIBUTES layouts and the IOCTL codes against Microsoft's documentation, the
 * set → read back → lock → dismount sequence (and its failures) on a recording fake of
 * CreateFileW/DeviceIoControl that behaves as the documentation says, and the real media collector
 * with the real Win32MediaReader on that fake: released after a clean scan, kept after an infected
 * one, never cleared when kyoka did not set it, the Win32 error reported when an IOCTL fails.
 * What Wine answers to the same calls: test/e2e/windows-media-wine.test.ts.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { MediaCollector } from "../../../agent/collectors/media/collector.js";
import type { Medium } from "../../../agent/collectors/media/types.js";
import { Win32MediaReader } from "../../../agent/collectors/media/win32.js";
import {
  CODES_FROM_MACRO, DiskReadOnly, diskNumberOfPath, FSCTL_DISMOUNT_VOLUME, FSCTL_LOCK_VOLUME, GENERIC_READ_WRITE,
  IOCTL_DISK_GET_DISK_ATTRIBUTES, IOCTL_DISK_SET_DISK_ATTRIBUTES, parseGetDiskAttributes, setDiskAttributesInput, type DiskIo,
} from "../../../agent/os/win32/disk-readonly.js";
import { IOCTL_STORAGE_GET_DEVICE_NUMBER } from "../../../agent/os/win32/storage.js";
import { fakeContext, waitFor } from "./helpers.js";

const NAMES: Record<number, string> = {
  [IOCTL_DISK_GET_DISK_ATTRIBUTES]: "GET",
  [IOCTL_DISK_SET_DISK_ATTRIBUTES]: "SET",
  [FSCTL_LOCK_VOLUME]: "LOCK",
  [FSCTL_DISMOUNT_VOLUME]: "DISMOUNT",
  [IOCTL_STORAGE_GET_DEVICE_NUMBER]: "DEVNUM",
};

/**
 * CreateFileW/DeviceIoControl as the documentation describes them, on disks (attributes) and
 * volumes (mounted read-only or not: a dismounted volume is mounted again, with its disk's
 * attribute, at its next access). Records every call; `fail` makes one call return a Win32 error.
 */
class FakeDiskIo implements DiskIo {
  readonly calls: string[] = [];
  readonly disks = new Map<number, { attributes: bigint }>();
  /** letter → disk number, and whether the file system is mounted read-only */
  readonly volumes = new Map<string, { disk: number; mountedReadOnly: boolean; openFiles: number }>();
  /** "open <path>" or an ioctl name ("SET", "GET#2" = the second GET) → Win32 error */
  readonly fail = new Map<string, number>();
  /** SET is accepted but does not change anything (a driver that ignores it) */
  setIgnored = false;
  private handles = new Map<number, string>();
  private next = 100;
  private counts = new Map<string, number>();

  constructor(disks: Record<number, bigint>, volumes: Record<string, number>) {
    disks = { 0: 0n, ...disks };
    volumes = { "C:": 0, ...volumes };
    for (const [n, a] of Object.entries(disks)) this.disks.set(Number(n), { attributes: a });
    for (const [l, d] of Object.entries(volumes)) this.volumes.set(l, { disk: d, mountedReadOnly: ((this.disks.get(d)?.attributes ?? 0n) & 2n) !== 0n, openFiles: 0 });
  }

  open(path: string, access: number): number | { error: number } {
    const short = path.replace(/^\\\\\.\\/, "");
    this.calls.push(`open ${short}${access === GENERIC_READ_WRITE ? " rw" : ` 0x${access.toString(16)}`}`);
    const e = this.fail.get(`open ${short}`);
    if (e !== undefined) return { error: e };
    const h = this.next++;
    this.handles.set(h, short);
    return h;
  }

  ioctl(handle: number, code: number, input: Buffer | null, outSize: number): Buffer | { error: number } {
    const name = NAMES[code] ?? `0x${code.toString(16)}`;
    const n = (this.counts.get(name) ?? 0) + 1;
    this.counts.set(name, n);
    const target = this.handles.get(handle)!;
    const e = this.fail.get(`${name}#${n}`) ?? this.fail.get(name);
    if (name === "SET") {
      // the input as the driver reads it: Version 40, the read-only bit in the mask
      expect(input!.length).toBe(40);
      expect(input!.readUInt32LE(0)).toBe(40);
      expect(input!.readBigUInt64LE(16)).toBe(2n);
      const ro = input!.readBigUInt64LE(8) === 2n;
      this.calls.push(`SET ${target} ro=${ro ? 1 : 0}`);
      if (e !== undefined) return { error: e };
      const d = this.disks.get(Number(/PhysicalDrive(\d+)/.exec(target)![1]))!;
      if (!this.setIgnored) d.attributes = ro ? d.attributes | 2n : d.attributes & ~2n;
      return Buffer.alloc(0);
    }
    this.calls.push(`${name} ${target}`);
    if (e !== undefined) return { error: e };
    if (name === "GET") {
      expect(outSize).toBe(16);
      const d = this.disks.get(Number(/PhysicalDrive(\d+)/.exec(target)![1]))!;
      const b = Buffer.alloc(16);
      b.writeUInt32LE(16, 0);
      b.writeBigUInt64LE(d.attributes, 8);
      return b;
    }
    const v = this.volumes.get(target)!;
    if (name === "DEVNUM") {
      // STORAGE_DEVICE_NUMBER { FILE_DEVICE_DISK, DeviceNumber, PartitionNumber }
      const b = Buffer.alloc(12);
      b.writeUInt32LE(7, 0);
      b.writeUInt32LE(v.disk, 4);
      b.writeUInt32LE(1, 8);
      return b;
    }
    if (name === "LOCK") return v.openFiles > 0 ? { error: 5 } : Buffer.alloc(0);
    if (name === "DISMOUNT") {
      v.openFiles = 0;
      v.mountedReadOnly = ((this.disks.get(v.disk)!.attributes) & 2n) !== 0n;
      return Buffer.alloc(0);
    }
    return { error: 1 };
  }

  close(handle: number): void {
    this.calls.push(`close ${this.handles.get(handle)}`);
    this.handles.delete(handle);
  }

  take(): string[] {
    return this.calls.splice(0);
  }
}

/** The system drive's disk number, read once before the first change. */
const SYSTEM_DISK = ["open C: 0x0", "DEVNUM C:", "close C:"];
/** What one volume's read-only set does on a writable disk 1 holding E:. */
const SET_SEQUENCE = [
  "open PhysicalDrive1 rw", "GET PhysicalDrive1", "SET PhysicalDrive1 ro=1", "GET PhysicalDrive1", "close PhysicalDrive1",
  "open E: rw", "LOCK E:", "DISMOUNT E:", "close E:",
];
const CLEAR_SEQUENCE = [
  "open PhysicalDrive1 rw", "GET PhysicalDrive1", "SET PhysicalDrive1 ro=0", "GET PhysicalDrive1", "close PhysicalDrive1",
  "open E: rw", "LOCK E:", "DISMOUNT E:", "close E:",
];

describe("SET_DISK_ATTRIBUTES / GET_DISK_ATTRIBUTES layouts and the codes", () => {
  it("the IOCTL and FSCTL codes: CTL_CODE as winioctl.h defines them, and the values windows-rs publishes", () => {
    expect(IOCTL_DISK_GET_DISK_ATTRIBUTES).toBe(458992);
    expect(IOCTL_DISK_SET_DISK_ATTRIBUTES).toBe(508148);
    expect(FSCTL_LOCK_VOLUME).toBe(589848);
    expect(FSCTL_DISMOUNT_VOLUME).toBe(589856);
    expect(CODES_FROM_MACRO).toEqual({ get: IOCTL_DISK_GET_DISK_ATTRIBUTES, set: IOCTL_DISK_SET_DISK_ATTRIBUTES, lock: FSCTL_LOCK_VOLUME, dismount: FSCTL_DISMOUNT_VOLUME });
  });

  it("SET_DISK_ATTRIBUTES: 40 bytes, Version 40, Persist FALSE, the read-only bit in Attributes and AttributesMask, reserved zero", () => {
    // DWORD Version | BOOLEAN Persist, BYTE Reserved1[3] | DWORDLONG Attributes | DWORDLONG AttributesMask | DWORD Reserved2[4]
    const on = "28000000" + "00000000" + "0200000000000000" + "0200000000000000" + "00".repeat(16);
    const off = "28000000" + "00000000" + "0000000000000000" + "0200000000000000" + "00".repeat(16);
    expect(setDiskAttributesInput(true).toString("hex")).toBe(on);
    expect(setDiskAttributesInput(false).toString("hex")).toBe(off);
  });

  it("GET_DISK_ATTRIBUTES: Attributes at 8 (read-only 0x2, offline 0x1); too short → null", () => {
    const b = Buffer.alloc(16);
    b.writeUInt32LE(16, 0);
    b.writeBigUInt64LE(2n, 8);
    expect(parseGetDiskAttributes(b)).toEqual({ readOnly: true, offline: false, raw: 2n });
    b.writeBigUInt64LE(1n, 8);
    expect(parseGetDiskAttributes(b)).toEqual({ readOnly: false, offline: true, raw: 1n });
    b.writeBigUInt64LE(3n, 8);
    expect(parseGetDiskAttributes(b)).toMatchObject({ readOnly: true, offline: true });
    expect(parseGetDiskAttributes(b.subarray(0, 12))).toBeNull();
  });

  it("the disk number of a Medium's disk path", () => {
    expect(diskNumberOfPath("\\\\.\\PhysicalDrive2")).toBe(2);
    expect(diskNumberOfPath("\\\\.\\PhysicalDrive12")).toBe(12);
    expect(diskNumberOfPath(null)).toBeNull();
    expect(diskNumberOfPath("/dev/sdb")).toBeNull();
  });
});

describe("DiskReadOnly: the sequence on a recording fake of the Win32 calls", () => {
  it("set: open the disk read/write → read → set → read back → lock and dismount the volume; clear: the same with the bit off", () => {
    const io = new FakeDiskIo({ 1: 0n }, { "E:": 1 });
    const d = new DiskReadOnly(io);
    expect(d.setReadOnly("E:", 1)).toEqual({ ok: true, method: "disk-attribute+dismount" });
    expect(io.take()).toEqual([...SYSTEM_DISK, ...SET_SEQUENCE]);
    expect(io.volumes.get("E:")!.mountedReadOnly).toBe(true);
    expect(d.holding()).toEqual(new Map([[1, ["E:"]]]));
    expect(d.setWritable("E:", 1)).toEqual({ ok: true, method: "disk-attribute+dismount" });
    expect(io.take()).toEqual(CLEAR_SEQUENCE);
    expect(io.disks.get(1)!.attributes).toBe(0n);
    expect(io.volumes.get("E:")!.mountedReadOnly).toBe(false);
    // released: a second clear is refused, and touches nothing
    expect(d.setWritable("E:", 1)).toMatchObject({ ok: false, reason: "failed" });
    expect(io.take()).toEqual([]);
  });

  it("a disk read-only before kyoka: 'already', nothing set, and never cleared; the offline bit is never touched", () => {
    const io = new FakeDiskIo({ 1: 3n }, { "E:": 1 });
    const d = new DiskReadOnly(io);
    expect(d.setReadOnly("E:", 1)).toMatchObject({ ok: false, reason: "already" });
    expect(io.take()).toEqual([...SYSTEM_DISK, "open PhysicalDrive1 rw", "GET PhysicalDrive1", "close PhysicalDrive1"]);
    expect(d.setWritable("E:", 1)).toMatchObject({ ok: false, reason: "failed", detail: expect.stringMatching(/did not make/) });
    expect(io.take()).toEqual([]);
    expect(io.disks.get(1)!.attributes).toBe(3n);
  });

  it("files open on the volume: the lock fails, the dismount is done anyway (else it would stay writable)", () => {
    const io = new FakeDiskIo({ 1: 0n }, { "E:": 1 });
    io.volumes.get("E:")!.openFiles = 2;
    const d = new DiskReadOnly(io);
    expect(d.setReadOnly("E:", 1)).toEqual({ ok: true, method: "disk-attribute+forced-dismount" });
    expect(io.volumes.get("E:")!.mountedReadOnly).toBe(true);
  });

  it("Win32 errors: access denied (no admin rights) → failed with code 5; an IOCTL the driver does not do → not-supported; nothing left read-only", () => {
    const denied = new FakeDiskIo({ 1: 0n }, { "E:": 1 });
    denied.fail.set("open PhysicalDrive1", 5);
    expect(new DiskReadOnly(denied).setReadOnly("E:", 1)).toEqual({ ok: false, reason: "failed", code: 5, detail: "open \\\\.\\PhysicalDrive1 for read/write: Win32 error 5 (access denied)" });

    const unsupported = new FakeDiskIo({ 1: 0n }, { "E:": 1 });
    unsupported.fail.set("SET", 1);
    expect(new DiskReadOnly(unsupported).setReadOnly("E:", 1)).toMatchObject({ ok: false, reason: "not-supported", code: 1, detail: expect.stringMatching(/IOCTL_DISK_SET_DISK_ATTRIBUTES .*Win32 error 1 \(invalid function\)/) });
    expect(unsupported.take().filter((c) => c.startsWith("DISMOUNT"))).toEqual([]);

    // accepted but not applied: the read back disagrees → failed, no dismount
    const ignored = new FakeDiskIo({ 1: 0n }, { "E:": 1 });
    ignored.setIgnored = true;
    expect(new DiskReadOnly(ignored).setReadOnly("E:", 1)).toMatchObject({ ok: false, reason: "failed", detail: expect.stringMatching(/read back read-only off/) });
    expect(ignored.take().filter((c) => c.startsWith("DISMOUNT"))).toEqual([]);

    // the dismount fails: the volume stays writable, so the disk attribute is cleared again
    const stuck = new FakeDiskIo({ 1: 0n }, { "E:": 1 });
    stuck.fail.set("DISMOUNT", 32);
    const d = new DiskReadOnly(stuck);
    expect(d.setReadOnly("E:", 1)).toMatchObject({ ok: false, reason: "failed", code: 32, detail: expect.stringMatching(/sharing violation.*cleared again/) });
    expect(stuck.take().slice(-5)).toEqual(["open PhysicalDrive1 rw", "GET PhysicalDrive1", "SET PhysicalDrive1 ro=0", "GET PhysicalDrive1", "close PhysicalDrive1"]);
    expect(stuck.disks.get(1)!.attributes).toBe(0n);
    expect(d.holding().size).toBe(0);
  });

  it("the disk holding the system drive (C: here, %SystemDrive% in the agent) is never touched", () => {
    const io = new FakeDiskIo({}, { "D:": 0 });
    expect(new DiskReadOnly(io, { systemDrive: "c:" }).setReadOnly("D:", 0)).toMatchObject({ ok: false, reason: "not-supported", detail: expect.stringMatching(/system drive/) });
    expect(io.take()).toEqual(SYSTEM_DISK);
    expect(io.disks.get(0)!.attributes).toBe(0n);
  });

  it("two volumes of one disk: the second joins; the disk is writable again only after the last scan", () => {
    const io = new FakeDiskIo({ 1: 0n }, { "E:": 1, "F:": 1 });
    const d = new DiskReadOnly(io);
    expect(d.setReadOnly("E:", 1).ok).toBe(true);
    expect(d.setReadOnly("F:", 1)).toEqual({ ok: true, method: "disk-attribute+dismount (disk already read-only for E:)" });
    io.take();
    expect(d.setWritable("E:", 1)).toMatchObject({ ok: true, method: expect.stringMatching(/kept for F:/) });
    expect(io.take()).toEqual([]);
    expect(io.disks.get(1)!.attributes).toBe(2n);
    expect(d.setWritable("F:", 1).ok).toBe(true);
    expect(io.disks.get(1)!.attributes).toBe(0n);
  });

  it("a stick pulled while read-only and put back (Persist FALSE: writable again, same disk number): set again, not 'held'", () => {
    const io = new FakeDiskIo({ 1: 0n }, { "E:": 1 });
    const d = new DiskReadOnly(io);
    expect(d.setReadOnly("E:", 1).ok).toBe(true);
    io.disks.get(1)!.attributes = 0n; // the new device comes without the attribute
    io.take();
    expect(d.setReadOnly("E:", 1)).toEqual({ ok: true, method: "disk-attribute+dismount" });
    expect(io.take()).toEqual(SET_SEQUENCE);
    expect(io.disks.get(1)!.attributes).toBe(2n);
  });
});

function medium(mount: string): Medium {
  return {
    key: "E::{vol}", device: "E:", disk: "\\\\.\\PhysicalDrive1", vendorId: "0781", productId: "5581", serial: "4C530001231120115142",
    vendor: "SanDisk", model: "Ultra", label: "USB", fsType: "FAT32", uuid: "{vol}", size: 1 << 30, mount, mountReadOnly: false,
    bus: "usb", encrypted: false, encryption: null, fuse: false,
  };
}

describe("the media collector with the Windows reader: read-only until scanned", () => {
  const dirs: string[] = [];
  const collectors: MediaCollector[] = [];
  afterEach(async () => {
    await Promise.all(collectors.splice(0).map((c) => c.stop()));
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  /**
   * A collector on the real Win32MediaReader with an injected inventory (E: on disk 1) and the fake
   * Win32 calls; the scanner is a script held until the test opens its gate, then reports the
   * medium infected when it holds a file named eicar.com (clamscan's output format).
   */
  async function setup(io: FakeDiskIo, opts: { infected?: boolean } = {}) {
    const tmp = mkdtempSync(join(tmpdir(), "kyoka-win-ro-"));
    dirs.push(tmp);
    const mount = join(tmp, "E");
    const gate = join(tmp, "gate");
    const scanner = join(tmp, "clamscan.sh");
    writeFileSync(scanner, `#!/bin/sh
while [ ! -e '${gate}' ]; do sleep 0.05; done
for a; do d="$a"; done
if [ -e "$d/eicar.com" ]; then echo "$d/eicar.com: Win.Test.EICAR_HDB-1 FOUND"; echo "Scanned files: 1"; exit 1; fi
echo "----------- SCAN SUMMARY -----------"; echo "Scanned files: 1"; exit 0
`);
    chmodSync(scanner, 0o755);
    mkdirSync(mount);
    if (opts.infected) writeFileSync(join(mount, "eicar.com"), "x");
    const reader = new Win32MediaReader(undefined, { notifier: null, inventory: async () => [medium(mount)], token: () => "E:removable", diskIo: async () => io });
    const ctx = fakeContext({ media: { pollSeconds: 1, readOnlyUntilScanned: true, scan: { enabled: true, scanner: "clamscan" } } });
    const c = new MediaCollector({ reader, clamscanPath: scanner, settleMs: 100, copyOut: { stableMs: 100, quietMs: 100, reconcileMs: 3_600_000 } });
    collectors.push(c);
    await c.start(ctx);
    return { ctx, c, mount, open: () => writeFileSync(gate, "") };
  }

  it("clean: read-only (set → read back → lock → dismount) while the scan runs, then cleared and dismounted again → released; the copy-out watch comes back", async () => {
    const io = new FakeDiskIo({ 1: 0n }, { "E:": 1 });
    const { ctx, c, open } = await setup(io);
    await waitFor("the copy-out watch", () => (c.copyOutOf("E::{vol}")?.watching ?? 0) > 0, 10_000);
    // the attribute was set before the watch and the scan started, and holds while the scan runs
    expect(io.take()).toEqual([...SYSTEM_DISK, ...SET_SEQUENCE]);
    expect(io.volumes.get("E:")!.mountedReadOnly).toBe(true);
    expect(ctx.events.filter((e) => e.type === "media.scanned")).toEqual([]);
    open();
    const scanned = await waitFor("media.scanned", () => ctx.events.find((e) => e.type === "media.scanned"), 15_000);
    expect(scanned.details).toMatchObject({ device: "E:", result: "clean", scanner: "clamscan", readOnly: "released" });
    expect(scanned.details).not.toHaveProperty("readOnlyError");
    expect(io.take()).toEqual(CLEAR_SEQUENCE);
    expect(io.disks.get(1)!.attributes).toBe(0n);
    expect(io.volumes.get("E:")!.mountedReadOnly).toBe(false);
    expect(c.copyOutOf("E::{vol}")).toMatchObject({ paused: false });
    expect(c.copyOutOf("E::{vol}")!.watching).toBeGreaterThan(0);
  });

  it("infected: kept read-only — nothing cleared", async () => {
    const io = new FakeDiskIo({ 1: 0n }, { "E:": 1 });
    const { ctx, open } = await setup(io, { infected: true });
    await waitFor("the read-only set", () => io.calls.includes("DISMOUNT E:"), 10_000);
    open();
    const scanned = await waitFor("media.scanned", () => ctx.events.find((e) => e.type === "media.scanned"), 15_000);
    expect(scanned.details).toMatchObject({ result: "infected", signatures: ["Win.Test.EICAR_HDB-1"], readOnly: "kept" });
    expect(io.calls.filter((x) => x.startsWith("SET"))).toEqual(["SET PhysicalDrive1 ro=1"]);
    expect(io.disks.get(1)!.attributes).toBe(2n);
    expect(io.volumes.get("E:")!.mountedReadOnly).toBe(true);
  });

  it("a disk kyoka did not make read-only: 'already', and a clean scan clears nothing", async () => {
    const io = new FakeDiskIo({ 1: 2n }, { "E:": 1 });
    const { ctx, open } = await setup(io);
    await waitFor("the attribute read", () => io.calls.includes("GET PhysicalDrive1"), 10_000);
    open();
    const scanned = await waitFor("media.scanned", () => ctx.events.find((e) => e.type === "media.scanned"), 15_000);
    expect(scanned.details).toMatchObject({ result: "clean", readOnly: "already" });
    expect(io.calls.filter((x) => /^(SET|LOCK|DISMOUNT)/.test(x))).toEqual([]);
    expect(io.disks.get(1)!.attributes).toBe(2n);
  });

  it("no admin rights (the disk opens with access denied): failed with the Win32 error, and the scan still runs", async () => {
    const io = new FakeDiskIo({ 1: 0n }, { "E:": 1 });
    io.fail.set("open PhysicalDrive1", 5);
    const { ctx, open } = await setup(io);
    open();
    const scanned = await waitFor("media.scanned", () => ctx.events.find((e) => e.type === "media.scanned"), 15_000);
    expect(scanned.details).toMatchObject({ result: "clean", readOnly: "failed", readOnlyCode: 5, readOnlyError: "open \\\\.\\PhysicalDrive1 for read/write: Win32 error 5 (access denied)" });
    expect(io.calls).toEqual([...SYSTEM_DISK, "open PhysicalDrive1 rw"]);
  });
});
