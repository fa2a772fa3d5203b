/**
 * Windows media events without a Windows machine: the cfgmgr32 layouts (CM_NOTIFY_FILTER,
 * CM_NOTIFY_EVENT_DATA) and the device instance ids read from an interface's symbolic link, as
 * pure functions; and the media collector driven by an injected notifier (what
 * CM_Register_Notification would call) through the real Win32MediaReader with a fake inventory:
 *  - an arrival brings media.inserted although the poll is an hour away;
 *  - a removal request (query-remove) releases the copy-out watch's handles, a failed removal
 *    watches again and catches up on what was written meanwhile, remove-complete → media.removed.
 * Wine 8 cannot run these paths (its cfgmgr32 has no CM_Register_Notification: README).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { MediaCollector } from "../../../agent/collectors/media/collector.js";
import type { Medium } from "../../../agent/collectors/media/types.js";
import { arrivalIdentity, Win32MediaReader, type DeviceNotifier } from "../../../agent/collectors/media/win32.js";
import {
  CM_NOTIFY_FILTER_SIZE, diskInstanceOfVolume, GUID_DEVINTERFACE_DISK, GUID_DEVINTERFACE_VOLUME, guidBytes, guidString,
  handleFilter, instanceIdOfInterface, interfaceFilter, parseNotifyEventData, type CmNotifyAction, type CmNotifyEvent,
} from "../../../agent/os/win32/cfgmgr.js";
import { parseUsbDeviceId } from "../../../agent/collectors/media/parse-win32.js";
import { fakeContext, waitFor } from "./helpers.js";

const DISK_LINK = "\\\\?\\USBSTOR#Disk&Ven_SanDisk&Prod_Ultra&Rev_1.00#4C530001231120115142&0#{53f56307-b6bf-11d0-94f2-00a0c91efb8b}";
const VOLUME_LINK = "\\\\?\\STORAGE#Volume#_??_USBSTOR#Disk&Ven_SanDisk&Prod_Ultra&Rev_1.00#4C530001231120115142&0#{53f56307-b6bf-11d0-94f2-00a0c91efb8b}#{53f5630d-b6bf-11d0-94f2-00a0c91efb8b}";

/** CM_NOTIFY_EVENT_DATA of an interface event, laid out as Windows passes it. */
function eventData(guid: string, link: string): Buffer {
  const head = Buffer.alloc(24);
  head.writeUInt32LE(0, 0); // CM_NOTIFY_FILTER_TYPE_DEVICEINTERFACE
  guidBytes(guid).copy(head, 8);
  return Buffer.concat([head, Buffer.from(link + "\0", "utf16le")]);
}

describe("cfgmgr32 layouts and device instance ids", () => {
  it("GUIDs in Windows byte order, both ways", () => {
    const b = guidBytes(GUID_DEVINTERFACE_VOLUME);
    expect(b.toString("hex")).toBe("0d63f553bfb6d01194f200a0c91efb8b");
    expect(guidString(b)).toBe(GUID_DEVINTERFACE_VOLUME);
    expect(() => guidBytes("not-a-guid")).toThrow();
  });

  it("CM_NOTIFY_FILTER for an interface class and for a handle", () => {
    const f = interfaceFilter(GUID_DEVINTERFACE_DISK);
    expect(f.length).toBe(CM_NOTIFY_FILTER_SIZE);
    expect(f.readUInt32LE(0)).toBe(416);
    expect(f.readUInt32LE(8)).toBe(0);
    expect(guidString(f, 16)).toBe(GUID_DEVINTERFACE_DISK);
    const h = handleFilter(0x1234);
    expect(h.readUInt32LE(8)).toBe(1);
    expect(h.readBigUInt64LE(16)).toBe(0x1234n);
    expect(handleFilter(-1).readBigUInt64LE(16)).toBe(0xffffffffffffffffn);
  });

  it("CM_NOTIFY_EVENT_DATA → action, class and symbolic link", () => {
    expect(parseNotifyEventData(0, eventData(GUID_DEVINTERFACE_DISK, DISK_LINK))).toEqual({ action: "interface-arrival", classGuid: GUID_DEVINTERFACE_DISK, symbolicLink: DISK_LINK });
    expect(parseNotifyEventData(1, eventData(GUID_DEVINTERFACE_VOLUME, VOLUME_LINK)).symbolicLink).toBe(VOLUME_LINK);
    // a handle event carries no link
    const handleData = Buffer.alloc(16);
    handleData.writeUInt32LE(1, 0);
    expect(parseNotifyEventData(2, handleData)).toEqual({ action: "query-remove" });
    expect(parseNotifyEventData(3, handleData).action).toBe("query-remove-failed");
    expect(() => parseNotifyEventData(42, handleData)).toThrow(/CM_NOTIFY_ACTION 42/);
  });

  it("the instance id behind a disk's and a removable volume's symbolic link, and the USBSTOR identity", () => {
    expect(instanceIdOfInterface(DISK_LINK)).toBe("USBSTOR\\Disk&Ven_SanDisk&Prod_Ultra&Rev_1.00\\4C530001231120115142&0");
    const vol = instanceIdOfInterface(VOLUME_LINK)!;
    expect(vol).toBe("STORAGE\\Volume\\_??_USBSTOR#Disk&Ven_SanDisk&Prod_Ultra&Rev_1.00#4C530001231120115142&0#{53f56307-b6bf-11d0-94f2-00a0c91efb8b}");
    expect(diskInstanceOfVolume(vol)).toBe("USBSTOR\\Disk&Ven_SanDisk&Prod_Ultra&Rev_1.00\\4C530001231120115142&0");
    // a fixed disk's volume has no disk id embedded
    expect(diskInstanceOfVolume("STORAGE\\Volume\\{a2f6a5c9-0000-0000-0000-100000000000}#0000000000100000")).toBeNull();
    expect(instanceIdOfInterface("garbage")).toBeNull();

    const fromDisk = arrivalIdentity({ action: "interface-arrival", classGuid: GUID_DEVINTERFACE_DISK, symbolicLink: DISK_LINK });
    const fromVolume = arrivalIdentity({ action: "interface-arrival", classGuid: GUID_DEVINTERFACE_VOLUME, symbolicLink: VOLUME_LINK });
    for (const id of [fromDisk, fromVolume]) expect(id).toMatchObject({ vendor: "SanDisk", product: "Ultra", serial: "4C530001231120115142" });
    // a stick without a serial: Windows makes one up (second character &)
    const madeUp = arrivalIdentity({ action: "interface-arrival", classGuid: GUID_DEVINTERFACE_DISK, symbolicLink: "\\\\?\\USBSTOR#Disk&Ven_Generic&Prod_Flash_Disk&Rev_8.07#7&2a5c1e4d&0&_&0#{53f56307-b6bf-11d0-94f2-00a0c91efb8b}" });
    expect(madeUp).toMatchObject({ vendor: "Generic", product: "Flash Disk", serial: null });
    // and the USB parent's id gives vendor/product id
    expect(parseUsbDeviceId("USB\\VID_0781&PID_5581\\4C530001231120115142")).toEqual({ vendorId: "0781", productId: "5581", serial: "4C530001231120115142" });
  });
});

/** What CM_Register_Notification would do: the test fires its callbacks. */
class FakeNotifier implements DeviceNotifier {
  iface: ((ev: CmNotifyEvent) => void) | null = null;
  removal = new Map<string, (a: CmNotifyAction) => void>();
  removalStops = 0;
  interfaces(guids: string[], onEvent: (ev: CmNotifyEvent) => void): () => void {
    expect(guids.sort()).toEqual([GUID_DEVINTERFACE_DISK, GUID_DEVINTERFACE_VOLUME].sort());
    this.iface = onEvent;
    return () => { this.iface = null; };
  }
  volumeRemoval(letter: string, onEvent: (a: CmNotifyAction) => void): () => void {
    this.removal.set(letter, onEvent);
    return () => { this.removalStops++; this.removal.delete(letter); };
  }
  arrive(link = DISK_LINK): void {
    this.iface?.({ action: "interface-arrival", classGuid: GUID_DEVINTERFACE_DISK, symbolicLink: link });
  }
}

function medium(mount: string): Medium {
  return {
    key: "E::{vol}", device: "E:", disk: "\\\\.\\PhysicalDrive1", vendorId: "0781", productId: "5581", serial: "4C530001231120115142",
    vendor: "SanDisk", model: "Ultra", label: "USB", fsType: "FAT32", uuid: "{vol}", size: 1 << 30, mount, mountReadOnly: false,
    bus: "usb", encrypted: false, encryption: null, fuse: false,
  };
}

describe("the media collector on Windows device notifications (injected notifier)", () => {
  const dirs: string[] = [];
  const collectors: MediaCollector[] = [];
  afterEach(async () => {
    await Promise.all(collectors.splice(0).map((c) => c.stop()));
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  /** A collector whose poll is an hour away: anything seen sooner came from a notification. */
  async function setup() {
    const mount = mkdtempSync(join(tmpdir(), "kyoka-win-medium-"));
    dirs.push(mount);
    const notifier = new FakeNotifier();
    const state = { media: [] as Medium[], token: "C:fixed" };
    const reader = new Win32MediaReader(undefined, { notifier, inventory: async () => state.media, token: () => state.token });
    const ctx = fakeContext({ media: { pollSeconds: 3600, scan: { enabled: false } } });
    const c = new MediaCollector({ reader, settleMs: 100, safetyPollMs: 3_600_000, copyOut: { stableMs: 100, quietMs: 100, reconcileMs: 3_600_000 } });
    collectors.push(c);
    await c.start(ctx);
    return { mount, notifier, state, reader, ctx, c };
  }

  it("an arrival notification → media.inserted at once (the poll is an hour away); the reader reports itself event-driven", async () => {
    const { notifier, state, reader, ctx, mount } = await setup();
    expect(reader.live()).toEqual(new Set(["uevent", "mountinfo"]));
    expect(notifier.iface).not.toBeNull();
    state.media = [medium(mount)];
    state.token = "C:fixed,E:removable:1234abcd";
    notifier.arrive();
    const ev = await waitFor("media.inserted", () => ctx.events.find((e) => e.type === "media.inserted"), 10_000);
    expect(ev.details).toMatchObject({ device: "E:", vendorId: "0781", productId: "5581", serial: "4C530001231120115142" });
    // the arrival's identity, read from the instance id in the link
    expect([...reader.arrived.values()]).toEqual([expect.objectContaining({ vendor: "SanDisk", product: "Ultra", serial: "4C530001231120115142" })]);
  });

  it("no notification: nothing is seen before the poll", async () => {
    const { state, ctx, mount } = await setup();
    state.media = [medium(mount)];
    state.token = "C:fixed,E:removable:1234abcd";
    await new Promise((r) => setTimeout(r, 500));
    expect(ctx.events.filter((e) => e.type === "media.inserted")).toEqual([]);
  });

  it("query-remove releases the copy-out watch's handles; query-remove-failed watches again and reports what was written meanwhile; remove-complete → media.removed", async () => {
    const { notifier, state, ctx, c, mount } = await setup();
    state.media = [medium(mount)];
    state.token = "C:fixed,E:removable:1234abcd";
    notifier.arrive();
    await waitFor("the copy-out watch", () => (c.copyOutOf("E::{vol}")?.watching ?? 0) > 0, 10_000);
    const request = await waitFor("the removal registration on E:", () => notifier.removal.get("E:"), 10_000);

    request("query-remove");
    // released synchronously, inside the callback (Windows checks for open handles when it returns)
    expect(c.copyOutOf("E::{vol}")).toEqual({ watching: 0, paused: true });
    writeFileSync(join(mount, "while-asked.txt"), "written while Windows asked to eject");

    request("query-remove-failed");
    const out = await waitFor("media.copy_out after the failed removal", () => ctx.events.find((e) => e.type === "media.copy_out"), 10_000);
    expect((out.details.files as { path: string }[]).map((f) => f.path)).toEqual([join(mount, "while-asked.txt")]);
    expect(c.copyOutOf("E::{vol}")).toMatchObject({ paused: false });
    expect(c.copyOutOf("E::{vol}")!.watching).toBeGreaterThan(0);

    request("query-remove");
    state.media = [];
    state.token = "C:fixed";
    request("remove-complete");
    const removed = await waitFor("media.removed", () => ctx.events.find((e) => e.type === "media.removed"), 10_000);
    expect(removed.details).toMatchObject({ device: "E:", serial: "4C530001231120115142" });
    expect(notifier.removalStops).toBe(1);
  });
});
