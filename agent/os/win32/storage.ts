/**
 * Volumes and disks through kernel32, DeviceIoControl, SetupAPI and cfgmgr32 (koffi): the media
 * identity inventory without a process. The binary structures are parsed by the pure functions
 * below (unit-tested on buffers laid out as Windows documents them); the FFI calls stay thin.
 *
 * Layouts and codes (Microsoft Learn, winioctl.h / ntddstor.h):
 *  - IOCTL_STORAGE_GET_DEVICE_NUMBER = CTL_CODE(IOCTL_STORAGE_BASE 0x2d, 0x420, METHOD_BUFFERED,
 *    FILE_ANY_ACCESS) = 0x2D1080 → STORAGE_DEVICE_NUMBER { DEVICE_TYPE DeviceType; DWORD
 *    DeviceNumber; DWORD PartitionNumber } (12 bytes; DeviceNumber 0xFFFFFFFF for an MPIO path)
 *    — learn.microsoft.com/windows/win32/api/winioctl/ns-winioctl-storage_device_number
 *  - IOCTL_VOLUME_GET_VOLUME_DISK_EXTENTS = CTL_CODE('V' 0x56, 0, METHOD_BUFFERED, FILE_ANY_ACCESS)
 *    = 0x560000 → VOLUME_DISK_EXTENTS { DWORD NumberOfDiskExtents; DISK_EXTENT Extents[] } with
 *    DISK_EXTENT { DWORD DiskNumber; LARGE_INTEGER StartingOffset; LARGE_INTEGER ExtentLength }
 *    (8-byte aligned: the first extent at 8, 24 bytes each)
 *  - IOCTL_STORAGE_QUERY_PROPERTY = CTL_CODE(0x2d, 0x500, METHOD_BUFFERED, FILE_ANY_ACCESS) =
 *    0x2D1400, input STORAGE_PROPERTY_QUERY { STORAGE_PROPERTY_ID PropertyId; STORAGE_QUERY_TYPE
 *    QueryType; BYTE AdditionalParameters[1] } (12 bytes; StorageDeviceProperty = 0,
 *    PropertyStandardQuery = 0) → STORAGE_DEVICE_DESCRIPTOR { DWORD Version; DWORD Size; BYTE
 *    DeviceType; BYTE DeviceTypeModifier; BOOLEAN RemovableMedia; BOOLEAN CommandQueueing; DWORD
 *    VendorIdOffset; DWORD ProductIdOffset; DWORD ProductRevisionOffset; DWORD SerialNumberOffset;
 *    STORAGE_BUS_TYPE BusType; DWORD RawPropertiesLength; BYTE RawDeviceProperties[1] }: the
 *    offsets point from the start of the buffer to NUL-terminated ASCII strings, 0 = absent
 *    — learn.microsoft.com/windows/win32/api/winioctl/ns-winioctl-storage_device_descriptor,
 *    …/ns-winioctl-storage_property_query, …/ni-winioctl-ioctl_storage_query_property
 *  - IOCTL_DISK_GET_DRIVE_GEOMETRY_EX = CTL_CODE(IOCTL_DISK_BASE 7, 0x28, METHOD_BUFFERED,
 *    FILE_ANY_ACCESS) = 0x700A0 → DISK_GEOMETRY_EX { DISK_GEOMETRY Geometry (24 bytes);
 *    LARGE_INTEGER DiskSize (at 24); … } — …/ns-winioctl-disk_geometry_ex. The disk size comes
 *    from here rather than IOCTL_DISK_GET_LENGTH_INFO (0x7405C), which needs FILE_READ_ACCESS:
 *    every IOCTL used here is FILE_ANY_ACCESS, so CreateFileW with 0 access rights suffices — no
 *    admin rights, no read of the medium.
 *  - SP_DEVICE_INTERFACE_DATA { DWORD cbSize; GUID InterfaceClassGuid; DWORD Flags; ULONG_PTR
 *    Reserved } = 32 bytes on x64; SP_DEVICE_INTERFACE_DETAIL_DATA_W { DWORD cbSize; WCHAR
 *    DevicePath[1] } with cbSize 8 on x64 (the path at 4); SP_DEVINFO_DATA { DWORD cbSize; GUID
 *    ClassGuid; DWORD DevInst (at 20); ULONG_PTR Reserved } = 32 bytes (setupapi.h).
 */
import { guidBytes } from "./cfgmgr.js";
import { utf16, win32 } from "./ffi.js";

export const IOCTL_STORAGE_GET_DEVICE_NUMBER = 0x2d1080;
export const IOCTL_VOLUME_GET_VOLUME_DISK_EXTENTS = 0x560000;
export const IOCTL_STORAGE_QUERY_PROPERTY = 0x2d1400;
export const IOCTL_DISK_GET_DRIVE_GEOMETRY_EX = 0x700a0;

export const FILE_DEVICE_DISK = 7;
export const ERROR_NOT_READY = 21;
export const ERROR_NO_MEDIA_IN_DRIVE = 1112;

/** The CTL_CODE macro (winioctl.h): (DeviceType << 16) | (Access << 14) | (Function << 2) | Method. */
export function ctlCode(deviceType: number, fn: number, method: number, access: number): number {
  return ((deviceType << 16) | (access << 14) | (fn << 2) | method) >>> 0;
}

export interface StorageDeviceNumber {
  deviceType: number;
  deviceNumber: number;
  /** 0xFFFFFFFF (not partitionable) → null */
  partitionNumber: number | null;
}

/** STORAGE_DEVICE_NUMBER (12 bytes). */
export function parseStorageDeviceNumber(buf: Buffer): StorageDeviceNumber | null {
  if (buf.length < 12) return null;
  const part = buf.readUInt32LE(8);
  return { deviceType: buf.readUInt32LE(0), deviceNumber: buf.readUInt32LE(4), partitionNumber: part === 0xffffffff ? null : part };
}

export interface DiskExtent {
  diskNumber: number;
  startingOffset: number;
  length: number;
}

/** VOLUME_DISK_EXTENTS: the count, then 24-byte DISK_EXTENTs from offset 8. */
export function parseVolumeDiskExtents(buf: Buffer): DiskExtent[] {
  if (buf.length < 8) return [];
  const n = buf.readUInt32LE(0);
  const out: DiskExtent[] = [];
  for (let i = 0; i < n; i++) {
    const off = 8 + i * 24;
    if (off + 24 > buf.length) break;
    out.push({ diskNumber: buf.readUInt32LE(off), startingOffset: Number(buf.readBigInt64LE(off + 8)), length: Number(buf.readBigInt64LE(off + 16)) });
  }
  return out;
}

/** STORAGE_PROPERTY_QUERY for StorageDeviceProperty / PropertyStandardQuery (12 bytes, zeros). */
export function storageDevicePropertyQuery(): Buffer {
  const q = Buffer.alloc(12);
  q.writeUInt32LE(0, 0); // StorageDeviceProperty
  q.writeUInt32LE(0, 4); // PropertyStandardQuery
  return q;
}

export interface StorageDeviceDescriptor {
  /** SCSI peripheral device type (0 = direct access) */
  deviceType: number;
  removableMedia: boolean;
  vendor: string | null;
  product: string | null;
  revision: string | null;
  serial: string | null;
  /** STORAGE_BUS_TYPE (7 = BusTypeUsb) */
  busType: number;
}

/** The NUL-terminated ASCII string at `off` (0, out of range or cut off by the buffer's end → null), blanks trimmed. */
function asciiAt(buf: Buffer, off: number): string | null {
  if (!off || off === 0xffffffff || off >= buf.length) return null;
  const end = buf.indexOf(0, off);
  if (end < 0) return null;
  const s = buf.toString("latin1", off, end).trim();
  return s || null;
}

/** STORAGE_DEVICE_DESCRIPTOR with its strings (offsets from the buffer's start). */
export function parseStorageDeviceDescriptor(buf: Buffer): StorageDeviceDescriptor | null {
  if (buf.length < 32) return null;
  const size = Math.min(buf.readUInt32LE(4) || buf.length, buf.length);
  const b = buf.subarray(0, size);
  return {
    deviceType: buf.readUInt8(8),
    removableMedia: buf.readUInt8(10) !== 0,
    vendor: asciiAt(b, buf.readUInt32LE(12)),
    product: asciiAt(b, buf.readUInt32LE(16)),
    revision: asciiAt(b, buf.readUInt32LE(20)),
    serial: asciiAt(b, buf.readUInt32LE(24)),
    busType: buf.readUInt32LE(28),
  };
}

/** DISK_GEOMETRY_EX → DiskSize (bytes), or null. */
export function parseDiskGeometryExSize(buf: Buffer): number | null {
  if (buf.length < 32) return null;
  const size = Number(buf.readBigInt64LE(24));
  return size > 0 ? size : null;
}

/** SP_DEVICE_INTERFACE_DETAIL_DATA_W → DevicePath (UTF-16 from offset 4). */
export function parseInterfaceDetailPath(buf: Buffer): string | null {
  if (buf.length < 6) return null;
  return utf16(buf.subarray(4)) || null;
}

/** What the FFI read of one lettered volume found (raw: assembled by the media reader). */
export interface RawVolume {
  letter: string;
  /** GetDriveTypeW: 2 removable, 3 fixed… */
  driveType: number;
  label: string | null;
  fileSystem: string | null;
  /** GetVolumeInformationW's error (GetLastError), when it failed */
  volumeError: number | null;
  /** bytes (GetDiskFreeSpaceExW's total) */
  size: number | null;
  /** \\?\Volume{guid}\ (GetVolumeNameForVolumeMountPointW) */
  guidPath: string | null;
  diskNumber: number | null;
  /** how the disk number was found, or the error of the last attempt */
  diskNumberVia: "device-number" | "disk-extents" | `error ${number}` | null;
}

/** What the FFI read of one disk found. */
export interface RawDisk {
  number: number;
  descriptor: StorageDeviceDescriptor | null;
  size: number | null;
  /** the disk interface's device path (\\?\usbstor#disk&ven_…#{53f56307-…}), from SetupAPI */
  interfacePath: string | null;
  /** the disk's device instance id (USBSTOR\DISK&VEN_…\serial&0) */
  instanceId: string | null;
  /** its ancestors' instance ids, nearest first (USB\VID_0781&PID_5581\serial, …) */
  ancestorIds: string[];
}

/* eslint-disable @typescript-eslint/no-explicit-any */
type Fn = (...args: any[]) => any;
interface StorageApi {
  CreateFileW: Fn;
  DeviceIoControl: Fn;
  CloseHandle: Fn;
  GetLastError: Fn;
  GetDiskFreeSpaceExW: Fn;
  GetVolumeNameForVolumeMountPointW: Fn;
  SetupDiGetClassDevsW: Fn;
  SetupDiEnumDeviceInterfaces: Fn;
  SetupDiGetDeviceInterfaceDetailW: Fn;
  SetupDiDestroyDeviceInfoList: Fn;
  CM_Get_Parent: Fn;
  CM_Get_Device_IDW: Fn;
}
let api: StorageApi | undefined;

/**
 * The functions this file needs (kernel32, setupapi, cfgmgr32). Not CM_Get_Device_Interface_ListW:
 * Wine 8 exports it as a stub that aborts the process when called (measured 2026-12-03: "Unimplemented
 * function cfgmgr32.dll.CM_Get_Device_Interface_ListW"), so the disk interfaces come from SetupAPI.
 */
export function storageApi(): StorageApi {
  if (api) return api;
  const w = win32();
  const k = w.koffi;
  const kernel = k.load("kernel32.dll");
  const setup = k.load("setupapi.dll");
  const cm = k.load("cfgmgr32.dll");
  api = {
    CreateFileW: kernel.func("intptr __stdcall CreateFileW(str16 lpFileName, uint32 dwDesiredAccess, uint32 dwShareMode, void *lpSecurityAttributes, uint32 dwCreationDisposition, uint32 dwFlagsAndAttributes, intptr hTemplateFile)"),
    DeviceIoControl: kernel.func("int __stdcall DeviceIoControl(intptr hDevice, uint32 dwIoControlCode, uint8_t *lpInBuffer, uint32 nInBufferSize, _Out_ uint8_t *lpOutBuffer, uint32 nOutBufferSize, _Out_ uint32 *lpBytesReturned, void *lpOverlapped)"),
    CloseHandle: w.CloseHandle,
    GetLastError: w.GetLastError,
    GetDiskFreeSpaceExW: kernel.func("int __stdcall GetDiskFreeSpaceExW(str16 lpDirectoryName, _Out_ uint64 *lpFreeBytesAvailableToCaller, _Out_ uint64 *lpTotalNumberOfBytes, _Out_ uint64 *lpTotalNumberOfFreeBytes)"),
    GetVolumeNameForVolumeMountPointW: kernel.func("int __stdcall GetVolumeNameForVolumeMountPointW(str16 lpszVolumeMountPoint, _Out_ uint8_t *lpszVolumeName, uint32 cchBufferLength)"),
    SetupDiGetClassDevsW: setup.func("intptr __stdcall SetupDiGetClassDevsW(uint8_t *ClassGuid, str16 Enumerator, intptr hwndParent, uint32 Flags)"),
    SetupDiEnumDeviceInterfaces: setup.func("int __stdcall SetupDiEnumDeviceInterfaces(intptr DeviceInfoSet, void *DeviceInfoData, uint8_t *InterfaceClassGuid, uint32 MemberIndex, _Inout_ uint8_t *DeviceInterfaceData)"),
    SetupDiGetDeviceInterfaceDetailW: setup.func("int __stdcall SetupDiGetDeviceInterfaceDetailW(intptr DeviceInfoSet, uint8_t *DeviceInterfaceData, _Inout_ uint8_t *DeviceInterfaceDetailData, uint32 DeviceInterfaceDetailDataSize, _Out_ uint32 *RequiredSize, _Inout_ uint8_t *DeviceInfoData)"),
    SetupDiDestroyDeviceInfoList: setup.func("int __stdcall SetupDiDestroyDeviceInfoList(intptr DeviceInfoSet)"),
    CM_Get_Parent: cm.func("uint32 __stdcall CM_Get_Parent(_Out_ uint32 *pdnDevInst, uint32 dnDevInst, uint32 ulFlags)"),
    CM_Get_Device_IDW: cm.func("uint32 __stdcall CM_Get_Device_IDW(uint32 dnDevInst, _Out_ uint8_t *Buffer, uint32 BufferLen, uint32 ulFlags)"),
  };
  return api;
}

const INVALID_HANDLE_VALUE = -1;
const FILE_SHARE_READ_WRITE_DELETE = 0x7;
const OPEN_EXISTING = 3;
const DIGCF_PRESENT = 0x2;
const DIGCF_DEVICEINTERFACE = 0x10;
const MAX_DEVICE_ID_LEN = 200;

/** A handle with no access rights (enough for FILE_ANY_ACCESS IOCTLs), or the Win32 error. */
function openNoAccess(a: StorageApi, path: string): number | { error: number } {
  const h = a.CreateFileW(path, 0, FILE_SHARE_READ_WRITE_DELETE, null, OPEN_EXISTING, 0, 0) as number;
  if (!h || h === INVALID_HANDLE_VALUE) return { error: a.GetLastError() as number };
  return h;
}

/** One METHOD_BUFFERED IOCTL: the returned bytes, or the Win32 error. */
function ioctl(a: StorageApi, h: number, code: number, input: Buffer | null, outSize: number): Buffer | { error: number } {
  const out = Buffer.alloc(outSize);
  const got = [0];
  if (!a.DeviceIoControl(h, code, input, input ? input.length : 0, out, outSize, got, null)) return { error: a.GetLastError() as number };
  return out.subarray(0, got[0]);
}

const isBuf = (x: unknown): x is Buffer => Buffer.isBuffer(x);

/** The disk number of the volume at \\.\X: (STORAGE_DEVICE_NUMBER, else the first disk extent). */
function diskNumberOfVolume(a: StorageApi, letter: string): Pick<RawVolume, "diskNumber" | "diskNumberVia"> {
  const h = openNoAccess(a, `\\\\.\\${letter}:`);
  if (typeof h !== "number") return { diskNumber: null, diskNumberVia: `error ${h.error}` };
  try {
    const n = ioctl(a, h, IOCTL_STORAGE_GET_DEVICE_NUMBER, null, 12);
    const dn = isBuf(n) ? parseStorageDeviceNumber(n) : null;
    if (dn && dn.deviceNumber !== 0xffffffff) return { diskNumber: dn.deviceNumber, diskNumberVia: "device-number" };
    const e = ioctl(a, h, IOCTL_VOLUME_GET_VOLUME_DISK_EXTENTS, null, 8 + 24 * 8);
    const first = isBuf(e) ? parseVolumeDiskExtents(e)[0] : undefined;
    if (first) return { diskNumber: first.diskNumber, diskNumberVia: "disk-extents" };
    const err = !isBuf(e) ? e.error : !isBuf(n) ? n.error : 0;
    return { diskNumber: null, diskNumberVia: `error ${err}` };
  } finally {
    a.CloseHandle(h);
  }
}

/** One lettered volume (root "E:\"). */
export function readVolume(letter: string, driveType: number): RawVolume {
  const w = win32();
  const a = storageApi();
  const root = `${letter}:\\`;
  const name = Buffer.alloc(522);
  const fs = Buffer.alloc(522);
  const serial = [0];
  const maxLen = [0];
  const flags = [0];
  let label: string | null = null;
  let fileSystem: string | null = null;
  let volumeError: number | null = null;
  if (w.GetVolumeInformationW(root, name, 261, serial, maxLen, flags, fs, 261)) {
    label = utf16(name) || null;
    fileSystem = utf16(fs) || null;
  } else {
    volumeError = a.GetLastError() as number;
  }
  const free = [0n];
  const total = [0n];
  const totalFree = [0n];
  const size = a.GetDiskFreeSpaceExW(root, free, total, totalFree) ? Number(total[0]) : null;
  const guid = Buffer.alloc(200);
  const guidPath = a.GetVolumeNameForVolumeMountPointW(root, guid, 100) ? utf16(guid) || null : null;
  return { letter, driveType, label, fileSystem, volumeError, size, guidPath, ...diskNumberOfVolume(a, letter) };
}

/** The device instance id of a devnode (CM_Get_Device_IDW), or null. */
function deviceId(a: StorageApi, devInst: number): string | null {
  const buf = Buffer.alloc((MAX_DEVICE_ID_LEN + 1) * 2);
  return a.CM_Get_Device_IDW(devInst, buf, MAX_DEVICE_ID_LEN + 1, 0) === 0 ? utf16(buf) || null : null;
}

export interface DiskInterface {
  path: string;
  number: number;
  instanceId: string | null;
  ancestorIds: string[];
}

/**
 * The present disk interfaces (GUID_DEVINTERFACE_DISK) through SetupAPI, each with its device
 * number (opened with no access rights), its instance id and up to three ancestors' ids (a USB
 * stick: USBSTOR\… → USB\VID_…; a card reader behind a composite device: … → USB\VID_…&MI_00 →
 * USB\VID_…).
 */
export function diskInterfaces(): DiskInterface[] {
  const a = storageApi();
  const guid = guidBytes("53f56307-b6bf-11d0-94f2-00a0c91efb8b");
  const set = a.SetupDiGetClassDevsW(guid, null, 0, DIGCF_PRESENT | DIGCF_DEVICEINTERFACE) as number;
  if (!set || set === INVALID_HANDLE_VALUE) return [];
  const out: DiskInterface[] = [];
  try {
    for (let i = 0; i < 64; i++) {
      const iface = Buffer.alloc(32);
      iface.writeUInt32LE(32, 0);
      if (!a.SetupDiEnumDeviceInterfaces(set, null, guid, i, iface)) break;
      const detail = Buffer.alloc(8 + 2 * 1024);
      detail.writeUInt32LE(8, 0);
      const devinfo = Buffer.alloc(32);
      devinfo.writeUInt32LE(32, 0);
      const required = [0];
      if (!a.SetupDiGetDeviceInterfaceDetailW(set, iface, detail, detail.length, required, devinfo)) continue;
      const path = parseInterfaceDetailPath(detail);
      if (!path) continue;
      const h = openNoAccess(a, path);
      if (typeof h !== "number") continue;
      let number: number | null = null;
      try {
        const n = ioctl(a, h, IOCTL_STORAGE_GET_DEVICE_NUMBER, null, 12);
        number = isBuf(n) ? parseStorageDeviceNumber(n)?.deviceNumber ?? null : null;
      } finally {
        a.CloseHandle(h);
      }
      if (number === null) continue;
      let devInst = devinfo.readUInt32LE(20);
      const instanceId = deviceId(a, devInst);
      const ancestorIds: string[] = [];
      for (let depth = 0; depth < 3; depth++) {
        const parent = [0];
        if (a.CM_Get_Parent(parent, devInst, 0) !== 0 || !parent[0]) break;
        devInst = parent[0];
        const id = deviceId(a, devInst);
        if (!id) break;
        ancestorIds.push(id);
      }
      out.push({ path, number, instanceId, ancestorIds });
    }
  } finally {
    a.SetupDiDestroyDeviceInfoList(set);
  }
  return out;
}

/** One disk by number: its descriptor and size (on the interface path when known, else \\.\PhysicalDriveN). */
export function readDisk(number: number, iface: DiskInterface | undefined): RawDisk {
  const a = storageApi();
  const disk: RawDisk = { number, descriptor: null, size: null, interfacePath: iface?.path ?? null, instanceId: iface?.instanceId ?? null, ancestorIds: iface?.ancestorIds ?? [] };
  const h = openNoAccess(a, iface?.path ?? `\\\\.\\PhysicalDrive${number}`);
  if (typeof h !== "number") return disk;
  try {
    const d = ioctl(a, h, IOCTL_STORAGE_QUERY_PROPERTY, storageDevicePropertyQuery(), 1024);
    if (isBuf(d)) disk.descriptor = parseStorageDeviceDescriptor(d);
    const g = ioctl(a, h, IOCTL_DISK_GET_DRIVE_GEOMETRY_EX, null, 256);
    if (isBuf(g)) disk.size = parseDiskGeometryExSize(g);
  } finally {
    a.CloseHandle(h);
  }
  return disk;
}

/** GetDriveTypeW values the inventory looks at: removable (2) and fixed (3) — a fixed USB disk is still a medium. */
const INVENTORIED = new Set([2, 3]);

/** Every lettered removable/fixed volume and the disks they live on: no process. */
export function readStorage(): { volumes: RawVolume[]; disks: RawDisk[] } {
  const w = win32();
  const volumes: RawVolume[] = [];
  const mask = w.GetLogicalDrives() as number;
  for (let i = 0; i < 26; i++) {
    if (!(mask & (1 << i))) continue;
    const letter = String.fromCharCode(65 + i);
    const type = w.GetDriveTypeW(`${letter}:\\`) as number;
    if (!INVENTORIED.has(type)) continue;
    volumes.push(readVolume(letter, type));
  }
  const numbers = [...new Set(volumes.map((v) => v.diskNumber).filter((n): n is number => n !== null))];
  const ifaces = numbers.length ? diskInterfaces() : [];
  const disks = numbers.map((n) => readDisk(n, ifaces.find((f) => f.number === n)));
  return { volumes, disks };
}
