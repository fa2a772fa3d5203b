/**
 * Windows media reader. The identity inventory runs without a process (ffiInventory,
 * agent/os/win32/storage.ts through koffi): GetLogicalDrives/GetDriveTypeW, per volume
 * GetVolumeInformationW (label and file system as UTF-16), GetDiskFreeSpaceExW,
 * GetVolumeNameForVolumeMountPointW and IOCTL_STORAGE_GET_DEVICE_NUMBER on \\.\E: (0 access
 * rights), per disk IOCTL_STORAGE_QUERY_PROPERTY (STORAGE_DEVICE_DESCRIPTOR: vendor, product,
 * serial, bus type) and IOCTL_DISK_GET_DRIVE_GEOMETRY_EX (size), and the disk's device instance id
 * (SetupAPI on GUID_DEVINTERFACE_DISK) and its USB ancestor (CM_Get_Parent, CM_Get_Device_IDW) →
 * USBSTOR vendor/product/serial and USB VID/PID; buildWin32Media (parse-win32.ts) assembles the
 * media. One PowerShell call (Get-Disk, Get-Volume with the disk number of each volume's partition,
 * the present USB device ids) is only the fallback when koffi or the FFI inventory cannot load or
 * throws (logged once). BitLocker To Go is read per volume only when a medium is announced
 * (encryptionOf: the shell property System.Volume.BitLockerProtection through the property system,
 * no process; Win32_EncryptableVolume through PowerShell only when that fails) — until then a
 * volume's encryption is "could not tell" (null), never "plain".
 * The inventory runs only when the drive letters change (changeToken: kernel32, no process) or every
 * 10 minutes — never per poll.
 *
 * Read-only until scanned (setReadOnly, agent/os/win32/disk-readonly.ts): the medium's disk gets
 * the read-only attribute as diskpart's `attributes disk set readonly` sets it
 * (IOCTL_DISK_SET_DISK_ATTRIBUTES, not persisted, read back with IOCTL_DISK_GET_DISK_ATTRIBUTES),
 * then the volume is locked and dismounted so that Windows mounts it again read-only; a clean scan
 * clears the attribute and dismounts again (the collector releases its copy-out watch around it:
 * readOnlyRemounts). A disk read-only before the agent → "already", never made writable. Needs
 * administrator rights (the service runs as LocalSystem): without them, or where the driver does
 * not do it, the Win32 error is reported with "failed" / "not-supported" and the scan runs anyway.
 *
 * Events (watch): disk and volume interface arrival/removal through CM_Register_Notification
 * (agent/os/win32/cfgmgr.ts) kick the collector at once, and again 1 s and 3 s later (the mount
 * manager gives the volume its letter around the arrival); while they are registered the
 * collector's poll is only the safety net. Each arrival's device instance id is parsed (USBSTOR
 * vendor/product/serial) and logged. Removal requests (watchRemoval): a DEVICEHANDLE
 * registration on each mounted volume tells the collector to release its handles when Windows
 * asks to eject it, and to watch again if the eject failed.
 */
import type { Logger } from "../../../lib/log.js";
import { run } from "./exec.js";
import { bitLockerFromShellProperty, buildWin32Media, inventoryFromStorage, jsonList, parseEncryptableVolume, parseGetDisk, parseGetVolume, parseUsbstorId } from "./parse-win32.js";
import type { MediaReader, Medium, ReadOnlyChange, RemovalEvent, VolumeEncryption } from "./types.js";
import { win32 } from "../../os/win32/ffi.js";
import { drivesToken, listDrives } from "../../os/win32/drives.js";
import type { CmNotifyAction, CmNotifyEvent } from "../../os/win32/cfgmgr.js";
import { diskInstanceOfVolume, GUID_DEVINTERFACE_DISK, GUID_DEVINTERFACE_VOLUME, instanceIdOfInterface } from "../../os/win32/cfgmgr.js";
import { readStorage } from "../../os/win32/storage.js";
import { DiskReadOnly, diskNumberOfPath, ffiDiskIo, type DiskIo } from "../../os/win32/disk-readonly.js";

/**
 * The media through the FFI layer (no process): volumes, their disks and the disks' USB identity
 * (agent/os/win32/storage.ts), assembled as the PowerShell inventory is. BitLocker is not read
 * here (see encryptionOf): encryption unknown until announced. Throws when koffi cannot load.
 */
export async function ffiInventory(): Promise<Medium[]> {
  return buildWin32Media(inventoryFromStorage(readStorage())).map((m) => ({ ...m, encrypted: null, encryption: null }));
}

/** Where an inventory came from: the FFI layer, the PowerShell fallback, or a test's injection. */
export type InventorySource = "ffi" | "powershell" | "injected";

/** Device notifications (cfgmgr32 on Windows; a fake in tests). Both throw when unavailable. */
export interface DeviceNotifier {
  /** arrival/removal of the interfaces of these classes; returns the stopper */
  interfaces(classGuids: string[], onEvent: (ev: CmNotifyEvent) => void): () => void;
  /** removal requests of the volume at this letter; returns the stopper */
  volumeRemoval(letter: string, onEvent: (action: CmNotifyAction) => void): () => void;
}

/** The real notifier (loads cfgmgr32 on first use). */
export async function cmDeviceNotifier(log?: Logger): Promise<DeviceNotifier> {
  const cm = await import("../../os/win32/cfgmgr.js");
  const onError = (err: unknown) => log?.error({ err }, "device notification callback failed");
  return {
    interfaces: (guids, onEvent) => {
      const regs = guids.map((g) => cm.cmRegister(cm.interfaceFilter(g), onEvent, onError));
      return () => regs.forEach((r) => r.close());
    },
    volumeRemoval: (letter, onEvent) => cm.watchVolumeRemoval(letter, onEvent, onError),
  };
}

/** The arrival/removal of a device interface, as the reader logs and keeps it. */
export interface DeviceArrival {
  classGuid: string;
  instanceId: string | null;
  /** the disk's USBSTOR identity (a volume's from the disk id embedded in its own) */
  vendor: string | null;
  product: string | null;
  serial: string | null;
}

/** What a notification says about the device (pure: the instance id from the link, then USBSTOR). */
export function arrivalIdentity(ev: CmNotifyEvent): DeviceArrival | null {
  if (!ev.symbolicLink || !ev.classGuid) return null;
  const instanceId = instanceIdOfInterface(ev.symbolicLink);
  const disk = instanceId && ev.classGuid === GUID_DEVINTERFACE_VOLUME ? diskInstanceOfVolume(instanceId) : instanceId;
  const u = disk ? parseUsbstorId(disk) : null;
  return { classGuid: ev.classGuid, instanceId, vendor: u?.vendor ?? null, product: u?.product ?? null, serial: u?.serial ?? null };
}

/** after an arrival/removal the collector is kicked again this much later (the letter comes a moment after) */
const REKICK_MS = [1000, 3000];

export interface Win32MediaReaderOptions {
  /** device notifications (default: cfgmgr32 where the FFI layer loads); null: none (polling only) */
  notifier?: DeviceNotifier | null;
  /** the inventory, replacing both below — tests */
  inventory?: () => Promise<Medium[]>;
  /** the FFI inventory (default: ffiInventory); null: never tried — tests */
  ffiInventory?: (() => Promise<Medium[]>) | null;
  /** the fallback inventory (default: the PowerShell call) — tests */
  powershellInventory?: () => Promise<Medium[]>;
  /** the change token (default: drive letters through kernel32) — tests */
  token?: () => string;
  /** an integer shell property of a path (default: the property system through koffi); null: never tried — tests */
  shellProperty?: ((path: string, name: string) => number | null) | null;
  /** Win32_EncryptableVolume of one drive letter as JSON (default: PowerShell) — tests */
  encryptableVolume?: (letter: string) => Promise<string>;
  /** CreateFileW/DeviceIoControl for read-only until scanned (default: kernel32 through koffi) — tests */
  diskIo?: () => Promise<DiskIo>;
}

const BITLOCKER_PROPERTY = "System.Volume.BitLockerProtection";

/** Win32_EncryptableVolume and its lock status for one drive letter (E:), as one JSON object. */
function encryptableVolumeScript(letter: string): string {
  return `
$ErrorActionPreference = 'SilentlyContinue'
[Console]::OutputEncoding = [System.Text.Encoding]::UTF8
$v = Get-CimInstance -Namespace root/cimv2/Security/MicrosoftVolumeEncryption -ClassName Win32_EncryptableVolume -Filter "DriveLetter='${letter}'"
if ($v) { $l = Invoke-CimMethod -InputObject $v -MethodName GetLockStatus; [pscustomobject]@{ DriveLetter = $v.DriveLetter; ProtectionStatus = $v.ProtectionStatus; ConversionStatus = $v.ConversionStatus; EncryptionMethod = $v.EncryptionMethod; LockStatus = $l.LockStatus } | ConvertTo-Json -Compress }
`;
}

/** The fallback inventory (koffi or the FFI inventory unavailable). */
const SCRIPT = `
$ErrorActionPreference = 'SilentlyContinue'
[Console]::OutputEncoding = [System.Text.Encoding]::UTF8
$disks = @(Get-Disk | Select-Object Number, FriendlyName, SerialNumber, @{n='BusType';e={[string]$_.BusType}}, Size, Path)
$vols = @(foreach ($p in (Get-Partition | Where-Object { $_.DriveLetter })) {
  $v = $p | Get-Volume
  if ($v) { [pscustomobject]@{ DriveLetter = [string]$v.DriveLetter; DiskNumber = $p.DiskNumber; FileSystemLabel = $v.FileSystemLabel; FileSystemType = [string]$v.FileSystemType; Size = $v.Size; DriveType = [string]$v.DriveType; UniqueId = $v.UniqueId } }
})
$usb = @(Get-PnpDevice -PresentOnly | Where-Object { $_.InstanceId -like 'USB\\VID_*' } | ForEach-Object { $_.InstanceId })
[pscustomobject]@{ disks = $disks; volumes = $vols; usb = $usb } | ConvertTo-Json -Depth 4 -Compress
`;

/** A full inventory at least this often even when no drive letter changed. */
const FULL_LIST_MS = 10 * 60_000;

export class Win32MediaReader implements MediaReader {
  private lastToken: string | undefined;
  private cached: { at: number; token: string; media: Medium[] } | undefined;
  private ffi: boolean | undefined;
  private liveSources = new Set<string>();
  private notifier: DeviceNotifier | null | undefined;
  private ffiFailed = false;
  /** where the last inventory came from (null: none yet) */
  lastInventorySource: InventorySource | null = null;
  /** setReadOnly dismounts the volume: the collector releases its handles before making it writable */
  readonly readOnlyRemounts = true;
  private diskReadOnly: Promise<DiskReadOnly> | undefined;
  /** interfaces arrived and not removed: symbolic link → identity */
  readonly arrived = new Map<string, DeviceArrival>();

  constructor(private readonly log?: Logger, private readonly opts: Win32MediaReaderOptions = {}) {
    this.notifier = opts.notifier;
  }

  /** Needs the notifier resolved first (watch() is synchronous): see prepare(). */
  async prepare(): Promise<void> {
    if (this.notifier !== undefined) return;
    try {
      win32();
      this.notifier = await cmDeviceNotifier(this.log);
    } catch {
      this.notifier = null;
    }
  }

  watch(onChange: () => void): () => void {
    const n = this.notifier;
    if (!n) return () => undefined;
    const timers = new Set<NodeJS.Timeout>();
    let stop: () => void;
    try {
      stop = n.interfaces([GUID_DEVINTERFACE_VOLUME, GUID_DEVINTERFACE_DISK], (ev) => {
        if (ev.action !== "interface-arrival" && ev.action !== "interface-removal") return;
        const id = arrivalIdentity(ev);
        if (ev.symbolicLink) {
          if (ev.action === "interface-arrival" && id) this.arrived.set(ev.symbolicLink, id);
          else this.arrived.delete(ev.symbolicLink);
        }
        this.log?.info({ action: ev.action, kind: ev.classGuid === GUID_DEVINTERFACE_DISK ? "disk" : "volume", ...id }, "device notification");
        this.cached = undefined;
        onChange();
        for (const ms of REKICK_MS) {
          const t = setTimeout(() => { timers.delete(t); onChange(); }, ms);
          t.unref?.();
          timers.add(t);
        }
      });
    } catch (err) {
      this.log?.warn({ err }, "CM_Register_Notification unavailable: media are polled (policy.media.pollSeconds)");
      return () => undefined;
    }
    this.liveSources = new Set(["uevent", "mountinfo"]);
    this.log?.info("media: device arrival/removal through CM_Register_Notification; the poll is the safety net");
    return () => {
      stop();
      for (const t of timers) clearTimeout(t);
      this.liveSources = new Set();
    };
  }

  live(): ReadonlySet<string> {
    return this.liveSources;
  }

  watchRemoval(medium: Medium, onEvent: (e: RemovalEvent) => void): () => void {
    const n = this.notifier;
    if (!n || !medium.mount) return () => undefined;
    try {
      return n.volumeRemoval(medium.device, (action) => {
        if (action === "query-remove") onEvent("query-remove");
        else if (action === "query-remove-failed") onEvent("query-remove-failed");
        else if (action === "remove-pending" || action === "remove-complete") onEvent("removed");
      });
    } catch (err) {
      this.log?.warn({ err, device: medium.device }, "no removal requests for this volume (its handles are released when the volume is gone)");
      return () => undefined;
    }
  }

  /**
   * Drive letters, types and removable volumes' serials through kernel32 (no process): the
   * collector polls this; the inventory runs only when it changed.
   */
  /**
   * BitLocker To Go of one medium, read when it is announced (never per poll): the shell property
   * first (no process, no admin rights), Win32_EncryptableVolume (one PowerShell) only when the
   * property cannot be read or says nothing. null: could not tell.
   */
  async encryptionOf(medium: Medium): Promise<VolumeEncryption | null> {
    if (!/^[A-Z]:$/i.test(medium.device)) return null;
    const letter = medium.device.toUpperCase();
    if (this.opts.shellProperty !== null) {
      try {
        const read = this.opts.shellProperty ?? (await import("../../os/win32/shell-property.js")).shellPropertyInteger;
        const e = bitLockerFromShellProperty(read(`${letter}\\`, BITLOCKER_PROPERTY));
        if (e) return e;
      } catch (err) {
        this.log?.debug({ err, device: letter }, "BitLocker shell property unreadable; asking Win32_EncryptableVolume");
      }
    }
    try {
      const text = this.opts.encryptableVolume
        ? await this.opts.encryptableVolume(letter)
        : (await run("powershell.exe", ["-NoProfile", "-NonInteractive", "-Command", encryptableVolumeScript(letter)], { timeoutMs: 60_000 })).stdout;
      return parseEncryptableVolume(text);
    } catch (err) {
      this.log?.warn({ err, device: letter }, "BitLocker state unknown (Win32_EncryptableVolume failed)");
      return null;
    }
  }

  /**
   * Read-only until scanned: the disk's read-only attribute and a dismount of the volume (see the
   * header). A medium without a drive letter or a disk number cannot be: not-supported.
   */
  async setReadOnly(medium: Medium, readOnly: boolean): Promise<ReadOnlyChange> {
    const disk = diskNumberOfPath(medium.disk);
    if (!/^[A-Z]:$/i.test(medium.device) || disk === null) return { ok: false, reason: "not-supported", detail: `no drive letter or disk number (device ${medium.device}, disk ${medium.disk ?? "unknown"})` };
    let d: DiskReadOnly;
    try {
      this.diskReadOnly ??= (this.opts.diskIo ?? ffiDiskIo)().then((io) => new DiskReadOnly(io, { systemDrive: process.env.SystemDrive }));
      d = await this.diskReadOnly;
    } catch (err) {
      this.diskReadOnly = undefined;
      return { ok: false, reason: "not-supported", detail: `the Win32 layer is unavailable: ${(err as Error).message}` };
    }
    const letter = medium.device.toUpperCase();
    try {
      const r = readOnly ? d.setReadOnly(letter, disk) : d.setWritable(letter, disk);
      this.log?.debug({ device: letter, disk, readOnly, result: r }, "disk read-only attribute");
      return r;
    } catch (err) {
      return { ok: false, reason: "failed", detail: `${readOnly ? "read-only" : "writable"}: ${(err as Error).message}` };
    }
  }

  async changeToken(): Promise<string> {
    if (this.opts.token) {
      this.lastToken = this.opts.token();
      return this.lastToken;
    }
    if (this.ffi === undefined) {
      try {
        win32();
        this.ffi = true;
      } catch {
        this.ffi = false;
      }
    }
    // without the FFI layer every poll lists (the token changes every time)
    this.lastToken = this.ffi ? drivesToken(listDrives()) : String(Date.now());
    return this.lastToken;
  }

  async list(): Promise<Medium[]> {
    const token = this.lastToken;
    if (token !== undefined && this.cached && this.cached.token === token && Date.now() - this.cached.at < FULL_LIST_MS) return this.cached.media;
    const media = await this.listNow();
    if (token !== undefined) this.cached = { at: Date.now(), token, media };
    return media;
  }

  private async listNow(): Promise<Medium[]> {
    if (this.opts.inventory) {
      this.lastInventorySource = "injected";
      return this.opts.inventory();
    }
    if (this.opts.ffiInventory !== null) {
      try {
        const media = await (this.opts.ffiInventory ?? ffiInventory)();
        this.lastInventorySource = "ffi";
        return media;
      } catch (err) {
        // logged once: a machine where it fails fails every time
        if (!this.ffiFailed) this.log?.warn({ err }, "FFI media inventory unavailable: falling back to PowerShell (Get-Disk/Get-Volume) for the media inventory");
        this.ffiFailed = true;
      }
    }
    this.lastInventorySource = "powershell";
    return this.opts.powershellInventory ? this.opts.powershellInventory() : this.powershellInventory();
  }

  private async powershellInventory(): Promise<Medium[]> {
    const r = await run("powershell.exe", ["-NoProfile", "-NonInteractive", "-Command", SCRIPT], { timeoutMs: 60_000 });
    if (r.code !== 0) {
      this.log?.warn({ code: r.code, stderr: r.stderr.slice(0, 500) }, "PowerShell media inventory failed; no media listed this cycle");
      return [];
    }
    const doc = jsonList(r.stdout)[0] ?? {};
    const part = (v: unknown): string => JSON.stringify(v ?? []);
    // BitLocker is not in the inventory (see encryptionOf): encryption unknown until announced
    return buildWin32Media({
      disks: parseGetDisk(part(doc.disks)),
      volumes: parseGetVolume(part(doc.volumes)),
      bitlocker: [],
      usbDeviceIds: (Array.isArray(doc.usb) ? doc.usb : [doc.usb]).filter((x): x is string => typeof x === "string"),
    }).map((m) => ({ ...m, encrypted: null, encryption: null }));
  }
}
