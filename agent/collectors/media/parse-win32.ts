/**
 * Windows parsers (no I/O): USBSTOR / USB PNP device ids, `Get-Disk | ConvertTo-Json`,
 * `Get-Volume` / `Get-Partition` JSON, `Get-BitLockerVolume | ConvertTo-Json` and
 * `manage-bde -status` (BitLocker To Go).
 */
import { normaliseUsbId } from "./parse-linux.js";
import type { RawDisk, RawVolume } from "../../os/win32/storage.js";
import type { Medium, VolumeEncryption } from "./types.js";

export interface UsbstorId {
  vendor: string | null;
  product: string | null;
  revision: string | null;
  /** the device's own serial; null when Windows made one up (second character `&`) */
  serial: string | null;
  /** the instance id as given (serial as Windows knows it, real or made up) */
  instance: string | null;
}

/**
 * `USBSTOR\DISK&VEN_SANDISK&PROD_CRUZER_BLADE&REV_1.00\4C530001234567891234&0`, or the
 * Get-Disk Path form `\\?\usbstor#disk&ven_sandisk&prod_cruzer_blade&rev_1.00#4c53…&0#{guid}`.
 */
export function parseUsbstorId(id: string): UsbstorId | null {
  const norm = id.replace(/^\\\\\?\\/, "").replace(/#/g, "\\");
  const m = /^USBSTOR\\[^&\\]+((?:&[^\\]*)?)\\([^\\{]+)/i.exec(norm);
  if (!m) return null;
  const fields: Record<string, string> = {};
  for (const part of m[1]!.split("&")) {
    const kv = /^(VEN|PROD|REV)_(.*)$/i.exec(part);
    if (kv) fields[kv[1]!.toUpperCase()] = kv[2]!.replace(/_+/g, " ").trim();
  }
  const instance = m[2]!;
  const serialPart = instance.replace(/&\d+$/, "");
  const madeUp = serialPart.length > 1 && serialPart[1] === "&";
  return {
    vendor: fields.VEN || null,
    product: fields.PROD || null,
    revision: fields.REV || null,
    serial: madeUp || !serialPart ? null : serialPart,
    instance,
  };
}

/** `USB\VID_0781&PID_5567\4C530001234567891234` → vendor/product id and serial. */
export function parseUsbDeviceId(id: string): { vendorId: string; productId: string; serial: string | null } | null {
  const m = /^USB\\VID_([0-9A-F]{4})&PID_([0-9A-F]{4})(?:&[^\\]*)?\\(.+)$/i.exec(id.trim());
  if (!m) return null;
  const inst = m[3]!;
  const madeUp = inst.length > 1 && inst[1] === "&";
  return { vendorId: m[1]!.toLowerCase(), productId: m[2]!.toLowerCase(), serial: madeUp ? null : inst };
}

/** ConvertTo-Json prints one object bare and several as an array. */
export function jsonList(text: string): Record<string, unknown>[] {
  const t = text.replace(/^\uFEFF/, "").trim();
  if (!t) return [];
  let v: unknown;
  try {
    v = JSON.parse(t);
  } catch {
    return [];
  }
  const list = Array.isArray(v) ? v : [v];
  return list.filter((x): x is Record<string, unknown> => !!x && typeof x === "object");
}

function s(v: unknown): string | null {
  if (typeof v === "string") return v.trim() || null;
  if (typeof v === "number") return String(v);
  return null;
}

function n(v: unknown): number | null {
  return typeof v === "number" && Number.isFinite(v) ? v : typeof v === "string" && /^\d+$/.test(v) ? Number(v) : null;
}

/** STORAGE_BUS_TYPE numbers as Get-Disk serialises them on Windows PowerShell 5.1. */
export const BUS_TYPES: Record<number, string> = {
  1: "SCSI", 2: "ATAPI", 3: "ATA", 4: "1394", 5: "SSA", 6: "Fibre Channel", 7: "USB", 8: "RAID",
  9: "iSCSI", 10: "SAS", 11: "SATA", 12: "SD", 13: "MMC", 14: "Virtual", 15: "File Backed Virtual",
  16: "Storage Spaces", 17: "NVMe",
};

export interface WinDisk {
  number: number;
  friendlyName: string | null;
  serial: string | null;
  busType: string | null;
  size: number | null;
  path: string | null;
  usbstor: UsbstorId | null;
  /** the disk's own USB device (USB\VID_…&PID_…\serial) when known directly (the FFI inventory: its devnode ancestor) */
  usbDeviceId?: string | null;
}

/** `Get-Disk | ConvertTo-Json` */
export function parseGetDisk(text: string): WinDisk[] {
  const out: WinDisk[] = [];
  for (const d of jsonList(text)) {
    const number = n(d.Number ?? d.DiskNumber);
    if (number == null) continue;
    const bus = typeof d.BusType === "number" ? BUS_TYPES[d.BusType] ?? String(d.BusType) : s(d.BusType);
    const path = s(d.Path);
    out.push({
      number,
      friendlyName: s(d.FriendlyName) ?? s(d.Model),
      serial: s(d.SerialNumber),
      busType: bus,
      size: n(d.Size),
      path,
      usbstor: path ? parseUsbstorId(path) : null,
    });
  }
  return out;
}

export interface WinVolume {
  driveLetter: string | null;
  diskNumber: number | null;
  label: string | null;
  fileSystem: string | null;
  size: number | null;
  driveType: string | null;
  uniqueId: string | null;
}

/** DriveType numbers of Get-Volume / Win32_Volume. */
export const DRIVE_TYPES: Record<number, string> = { 0: "Unknown", 1: "Invalid", 2: "Removable", 3: "Fixed", 4: "Remote", 5: "CD-ROM", 6: "RAM" };

/** `Get-Volume | ConvertTo-Json` (optionally with a DiskNumber property added by the reader). */
export function parseGetVolume(text: string): WinVolume[] {
  return jsonList(text).map((v) => {
    const letter = s(v.DriveLetter);
    return {
      driveLetter: letter ? (/^\d+$/.test(letter) ? String.fromCharCode(Number(letter)) : letter.slice(0, 1)).toUpperCase() : null,
      diskNumber: n(v.DiskNumber),
      label: s(v.FileSystemLabel),
      fileSystem: s(v.FileSystemType) ?? s(v.FileSystem),
      size: n(v.Size),
      driveType: typeof v.DriveType === "number" ? DRIVE_TYPES[v.DriveType] ?? null : s(v.DriveType),
      uniqueId: s(v.UniqueId),
    };
  });
}

export interface BitLockerStatus {
  /** "E:" */
  mountPoint: string;
  /** fully / partially encrypted, or encryption in progress */
  encrypted: boolean;
  conversionStatus: string | null;
  protectionOn: boolean | null;
  locked: boolean | null;
  method: string | null;
  percentage: number | null;
}

const VOLUME_STATUS: Record<number, string> = {
  0: "FullyDecrypted", 1: "FullyEncrypted", 2: "EncryptionInProgress", 3: "DecryptionInProgress",
  4: "EncryptionPaused", 5: "DecryptionPaused",
};

/** `Get-BitLockerVolume | ConvertTo-Json` */
export function parseGetBitLockerVolume(text: string): BitLockerStatus[] {
  const out: BitLockerStatus[] = [];
  for (const v of jsonList(text)) {
    const mp = s(v.MountPoint);
    if (!mp) continue;
    const status = typeof v.VolumeStatus === "number" ? VOLUME_STATUS[v.VolumeStatus] ?? null : s(v.VolumeStatus);
    const prot = typeof v.ProtectionStatus === "number" ? v.ProtectionStatus === 1 : s(v.ProtectionStatus) ? /^on$/i.test(s(v.ProtectionStatus)!) : null;
    const lock = typeof v.LockStatus === "number" ? v.LockStatus === 1 : s(v.LockStatus) ? /^locked$/i.test(s(v.LockStatus)!) : null;
    const pct = n(v.EncryptionPercentage);
    out.push({
      mountPoint: mp.replace(/\\$/, "").toUpperCase(),
      encrypted: status != null ? status !== "FullyDecrypted" : (pct ?? 0) > 0,
      conversionStatus: status,
      protectionOn: prot,
      locked: lock,
      method: typeof v.EncryptionMethod === "number" ? String(v.EncryptionMethod) : s(v.EncryptionMethod),
      percentage: pct,
    });
  }
  return out;
}

/**
 * `manage-bde -status` text: a block per volume, `Volume E: [LABEL]` then indented
 * `Key:  value` lines. A locked BitLocker To Go medium shows "Unknown" sizes and Lock Status Locked.
 */
export function parseManageBdeStatus(text: string): BitLockerStatus[] {
  const out: BitLockerStatus[] = [];
  let cur: (BitLockerStatus & { fields: Record<string, string> }) | null = null;
  const finish = (): void => {
    if (!cur) return;
    const f = cur.fields;
    const conv = f["conversion status"] ?? null;
    cur.conversionStatus = conv;
    cur.encrypted = conv ? !/fully decrypted/i.test(conv) : false;
    cur.protectionOn = f["protection status"] ? /protection on/i.test(f["protection status"]) : null;
    cur.locked = f["lock status"] ? /^locked/i.test(f["lock status"]) : null;
    cur.method = f["encryption method"] && !/^none$/i.test(f["encryption method"]) ? f["encryption method"] : null;
    const pct = f["percentage encrypted"] ? /([\d.]+)%/.exec(f["percentage encrypted"]) : null;
    cur.percentage = pct ? Number(pct[1]) : null;
    if (cur.locked && !conv) cur.encrypted = true;
    const { fields: _fields, ...rest } = cur;
    out.push(rest);
    cur = null;
  };
  for (const raw of text.split(/\r?\n/)) {
    const vol = /^Volume ([A-Za-z]:)/.exec(raw.trim());
    if (vol) {
      finish();
      cur = { mountPoint: vol[1]!.toUpperCase(), encrypted: false, conversionStatus: null, protectionOn: null, locked: null, method: null, percentage: null, fields: {} };
      continue;
    }
    if (!cur) continue;
    const kv = /^\s+([A-Za-z][A-Za-z ]+?):\s+(.*\S)\s*$/.exec(raw);
    if (kv) cur.fields[kv[1]!.toLowerCase()] = kv[2]!;
  }
  finish();
  return out;
}

export interface Win32Inventory {
  disks: WinDisk[];
  volumes: WinVolume[];
  bitlocker: BitLockerStatus[];
  /** PNP instance ids of present USB devices (USB\VID_…&PID_…\serial) */
  usbDeviceIds: string[];
}

/**
 * Assemble media from the Windows inventory: one Medium per lettered volume on a USB / SD / MMC
 * disk or a volume whose DriveType is Removable. Vendor and product id come from the USB parent
 * whose instance serial matches the USBSTOR serial.
 */
export function buildWin32Media(inv: Win32Inventory): Medium[] {
  const usb = inv.usbDeviceIds.map(parseUsbDeviceId).filter((u): u is NonNullable<typeof u> => !!u);
  const out: Medium[] = [];
  for (const v of inv.volumes) {
    if (!v.driveLetter) continue;
    const disk = inv.disks.find((d) => d.number === v.diskNumber) ?? null;
    const removableBus = disk?.busType ? /^(USB|SD|MMC)$/i.test(disk.busType) : false;
    if (!removableBus && v.driveType !== "Removable") continue;
    const serial = disk?.usbstor?.serial ?? disk?.serial ?? null;
    const direct = disk?.usbDeviceId ? parseUsbDeviceId(disk.usbDeviceId) : null;
    const parent = direct ?? (serial ? usb.find((u) => u.serial && u.serial.toUpperCase() === serial.toUpperCase()) : undefined);
    const letter = `${v.driveLetter}:`;
    const bl = inv.bitlocker.find((b) => b.mountPoint === letter);
    out.push({
      key: `${letter}:${v.uniqueId ?? serial ?? ""}`,
      device: letter,
      disk: disk ? `\\\\.\\PhysicalDrive${disk.number}` : null,
      vendorId: normaliseUsbId(parent?.vendorId ?? null),
      productId: normaliseUsbId(parent?.productId ?? null),
      serial,
      vendor: disk?.usbstor?.vendor ?? null,
      model: disk?.usbstor?.product ?? disk?.friendlyName ?? null,
      label: v.label,
      fsType: v.fileSystem,
      uuid: v.uniqueId,
      size: v.size ?? disk?.size ?? null,
      mount: bl?.locked ? null : `${letter}\\`,
      mountReadOnly: false,
      bus: disk?.busType?.toLowerCase() ?? null,
      encrypted: bl ? bl.encrypted : v.fileSystem ? false : null,
      encryption: bl?.encrypted ? "bitlocker" : null,
      fuse: false,
    });
  }
  return out;
}

/**
 * The shell property System.Volume.BitLockerProtection (what Explorer reads to draw the lock; no
 * admin rights needed). Its values are not documented by Microsoft; as Explorer's own verbs use
 * them (HKCR\Drive\shell\unlock-bde AppliesTo …:=6, manage-bde's "turn on" …:=2) and as scripts
 * report them: 1 on, 2 off, 3 encrypting, 4 decrypting, 5 on with protection suspended, 6 locked;
 * 0/empty: the volume cannot be BitLocker-protected (or the property is unknown).
 */
export function bitLockerFromShellProperty(value: number | null): VolumeEncryption | null {
  const src = "shell-property" as const;
  switch (value) {
    case 1: return { encrypted: true, encryption: "bitlocker", bitlocker: { state: "on", locked: false, source: src } };
    case 2: return { encrypted: false, encryption: null, bitlocker: { state: "off", locked: false, source: src } };
    case 3: return { encrypted: true, encryption: "bitlocker", bitlocker: { state: "encrypting", locked: false, source: src } };
    case 4: return { encrypted: true, encryption: "bitlocker", bitlocker: { state: "decrypting", locked: false, source: src } };
    case 5: return { encrypted: true, encryption: "bitlocker", bitlocker: { state: "suspended", locked: false, source: src } };
    case 6: return { encrypted: true, encryption: "bitlocker", bitlocker: { state: "locked", locked: true, source: src } };
    case null: case 0: return null;
    default: return { encrypted: null, encryption: null, bitlocker: { state: `unknown (${value})`, locked: null, source: src } };
  }
}

const CONVERSION = ["off", "on", "encrypting", "decrypting", "paused", "paused"] as const;

/**
 * The fallback: `Get-CimInstance … Win32_EncryptableVolume -Filter "DriveLetter='E:'"` with its
 * GetLockStatus result, as one JSON object (ProtectionStatus 0 off / 1 on / 2 unknown,
 * ConversionStatus 0 fully decrypted … 5 decryption paused, LockStatus 0 unlocked / 1 locked).
 * A locked volume reports no conversion status.
 */
export function parseEncryptableVolume(text: string): VolumeEncryption | null {
  const v = jsonList(text)[0];
  if (!v) return null;
  const conversion = n(v.ConversionStatus);
  const protection = n(v.ProtectionStatus);
  const lock = n(v.LockStatus);
  const src = "Win32_EncryptableVolume" as const;
  if (lock === 1) return { encrypted: true, encryption: "bitlocker", bitlocker: { state: "locked", locked: true, source: src } };
  if (conversion === null) return { encrypted: null, encryption: null, bitlocker: { state: "unknown", locked: lock === 0 ? false : null, source: src } };
  const encrypted = conversion !== 0;
  let state: string = CONVERSION[conversion] ?? `unknown (${conversion})`;
  if (conversion === 1 && protection === 0) state = "suspended";
  return { encrypted, encryption: encrypted ? "bitlocker" : null, bitlocker: { state, locked: lock === 0 ? false : null, source: src } };
}

/**
 * The FFI inventory (agent/os/win32/storage.ts: GetVolumeInformationW, STORAGE_DEVICE_NUMBER,
 * STORAGE_DEVICE_DESCRIPTOR, SetupAPI/cfgmgr32 instance ids) as the Win32Inventory that
 * buildWin32Media assembles — the same shapes the PowerShell inventory yields:
 *  - a volume whose GetVolumeInformationW failed with ERROR_NOT_READY (21) or
 *    ERROR_NO_MEDIA_IN_DRIVE (1112) is an empty slot (a card reader without a card) unless its disk
 *    reports a size: Get-Partition lists no partition there either. Any other failure (a locked
 *    BitLocker To Go volume) keeps the volume, without label and file system;
 *  - a disk's friendly name is vendor + product as the descriptor gives them (Get-Disk's
 *    FriendlyName), its bus the STORAGE_BUS_TYPE name (7 → USB), its USBSTOR identity from the
 *    device instance id (else the interface path), its USB device the nearest USB\VID_ ancestor
 *    that is not one interface of a composite device (&MI_).
 */
export function inventoryFromStorage(raw: { volumes: RawVolume[]; disks: RawDisk[] }): Win32Inventory {
  const disks: WinDisk[] = raw.disks.map((d) => {
    const desc = d.descriptor;
    const name = [desc?.vendor, desc?.product].filter(Boolean).join(" ").trim();
    const usbIds = d.ancestorIds.filter((id) => /^USB\\VID_/i.test(id));
    return {
      number: d.number,
      friendlyName: name || null,
      serial: desc?.serial ?? null,
      busType: desc ? BUS_TYPES[desc.busType] ?? String(desc.busType) : null,
      size: d.size,
      path: d.interfacePath,
      usbstor: (d.instanceId ? parseUsbstorId(d.instanceId) : null) ?? (d.interfacePath ? parseUsbstorId(d.interfacePath) : null),
      usbDeviceId: usbIds.find((id) => !/&MI_[0-9A-F]{2}/i.test(id)) ?? null,
    };
  });
  const volumes: WinVolume[] = [];
  for (const v of raw.volumes) {
    const disk = raw.disks.find((d) => d.number === v.diskNumber);
    if ((v.volumeError === 21 || v.volumeError === 1112) && !disk?.size) continue;
    volumes.push({
      driveLetter: v.letter.toUpperCase(),
      diskNumber: v.diskNumber,
      label: v.label,
      fileSystem: v.fileSystem,
      size: v.size,
      driveType: DRIVE_TYPES[v.driveType] ?? null,
      uniqueId: v.guidPath,
    });
  }
  const usbDeviceIds = [...new Set(raw.disks.flatMap((d) => d.ancestorIds.filter((id) => /^USB\\VID_/i.test(id))))];
  return { disks, volumes, bitlocker: [], usbDeviceIds };
}
