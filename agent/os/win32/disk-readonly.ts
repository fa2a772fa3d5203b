/**
 * Read-only until scanned on Windows (policy media.readOnlyUntilScanned): the medium's whole disk is
 * made read-only the way diskpart's `attributes disk set readonly` does, and its mounted volume is
 * dismounted so that Windows mounts it again, read-only, at its next access; after a clean scan the
 * attribute is cleared the same way and the volume dismounted again so it comes back writable.
 * Persist = FALSE: the attribute lives in the disk driver only, so a stick pulled while read-only is
 * writable again at its next insertion (and after a reboot). A disk that was read-only before
 * kyoka touched it is never made writable by kyoka ("already").
 *
 * Layouts and codes (Microsoft Learn, winioctl.h; the numbers as windows-rs publishes them):
 *  - IOCTL_DISK_GET_DISK_ATTRIBUTES = CTL_CODE(IOCTL_DISK_BASE 7, 0x3c, METHOD_BUFFERED,
 *    FILE_ANY_ACCESS) = 0x700F0 (458992) → GET_DISK_ATTRIBUTES { DWORD Version; DWORD Reserved1;
 *    DWORDLONG Attributes } = 16 bytes, Attributes at 8
 *    — learn.microsoft.com/windows/win32/api/winioctl/ni-winioctl-ioctl_disk_get_disk_attributes,
 *    …/ns-winioctl-get_disk_attributes
 *  - IOCTL_DISK_SET_DISK_ATTRIBUTES = CTL_CODE(7, 0x3d, METHOD_BUFFERED, FILE_READ_ACCESS |
 *    FILE_WRITE_ACCESS) = 0x7C0F4 (508148): needs a handle opened GENERIC_READ | GENERIC_WRITE on
 *    \\.\PhysicalDriveN (administrators / LocalSystem). Input SET_DISK_ATTRIBUTES { DWORD Version;
 *    BOOLEAN Persist; BYTE Reserved1[3]; DWORDLONG Attributes; DWORDLONG AttributesMask; DWORD
 *    Reserved2[4] } = 40 bytes: Version at 0, Persist at 4, Attributes at 8, AttributesMask at 16,
 *    zeros from 20 (reserved and padding) — …/ns-winioctl-set_disk_attributes. That page says
 *    "Version: set to sizeof(GET_DISK_ATTRIBUTES)"; disk drivers check sizeof(SET_DISK_ATTRIBUTES)
 *    (40) and every caller passes 40, so 40 it is.
 *  - DISK_ATTRIBUTE_OFFLINE = 0x1, DISK_ATTRIBUTE_READ_ONLY = 0x2 (both pages); only READ_ONLY is
 *    ever in the mask, so the offline state is never touched.
 *  - FSCTL_LOCK_VOLUME = CTL_CODE(FILE_DEVICE_FILE_SYSTEM 9, 6, METHOD_BUFFERED, FILE_ANY_ACCESS) =
 *    0x90018 and FSCTL_DISMOUNT_VOLUME = CTL_CODE(9, 8, …) = 0x90020 on \\.\X: opened with
 *    FILE_SHARE_READ | FILE_SHARE_WRITE; no buffers. The lock fails while files are open on the
 *    volume; the dismount works "regardless of whether or not the volume is currently in use"
 *    (open handles become invalid); closing the handle unlocks
 *    — …/ni-winioctl-fsctl_lock_volume, …/ni-winioctl-fsctl_dismount_volume.
 *  - The disk holding the system drive (%SystemDrive%: IOCTL_STORAGE_GET_DEVICE_NUMBER on a 0-access
 *    handle, as storage.ts reads it) is never touched, whatever the inventory says.
 *
 * The byte layouts are pure functions (unit-tested on buffers laid out as the pages say); the FFI
 * (DiskIo) is three thin calls, replaced by a recording fake in the tests.
 */
import { ctlCode, IOCTL_STORAGE_GET_DEVICE_NUMBER, parseStorageDeviceNumber } from "./storage.js";

export const IOCTL_DISK_GET_DISK_ATTRIBUTES = 0x700f0;
export const IOCTL_DISK_SET_DISK_ATTRIBUTES = 0x7c0f4;
export const FSCTL_LOCK_VOLUME = 0x90018;
export const FSCTL_DISMOUNT_VOLUME = 0x90020;

export const DISK_ATTRIBUTE_OFFLINE = 0x1n;
export const DISK_ATTRIBUTE_READ_ONLY = 0x2n;
export const GET_DISK_ATTRIBUTES_SIZE = 16;
export const SET_DISK_ATTRIBUTES_SIZE = 40;

/** GENERIC_READ (0x80000000) | GENERIC_WRITE (0x40000000), unsigned (a JS `|` would make it negative) */
export const GENERIC_READ_WRITE = 0xc0000000;

/** Win32 errors that mean "this device or driver does not do that" rather than "refused". */
const NOT_SUPPORTED_ERRORS = new Set([1 /* ERROR_INVALID_FUNCTION */, 50 /* ERROR_NOT_SUPPORTED */, 120 /* ERROR_CALL_NOT_IMPLEMENTED */]);

/** The codes above, from the CTL_CODE macro (a test checks they agree). */
export const CODES_FROM_MACRO = {
  get: ctlCode(7, 0x3c, 0, 0),
  set: ctlCode(7, 0x3d, 0, 1 | 2),
  lock: ctlCode(9, 6, 0, 0),
  dismount: ctlCode(9, 8, 0, 0),
};

/** SET_DISK_ATTRIBUTES for the read-only bit only: set (readOnly) or clear it, never persisted. */
export function setDiskAttributesInput(readOnly: boolean): Buffer {
  const b = Buffer.alloc(SET_DISK_ATTRIBUTES_SIZE);
  b.writeUInt32LE(SET_DISK_ATTRIBUTES_SIZE, 0); // Version
  b.writeUInt8(0, 4); // Persist = FALSE
  b.writeBigUInt64LE(readOnly ? DISK_ATTRIBUTE_READ_ONLY : 0n, 8); // Attributes
  b.writeBigUInt64LE(DISK_ATTRIBUTE_READ_ONLY, 16); // AttributesMask
  return b;
}

export interface DiskAttributes {
  readOnly: boolean;
  offline: boolean;
  /** the whole Attributes field */
  raw: bigint;
}

/** GET_DISK_ATTRIBUTES (16 bytes; Attributes at 8), or null when too short. */
export function parseGetDiskAttributes(buf: Buffer): DiskAttributes | null {
  if (buf.length < GET_DISK_ATTRIBUTES_SIZE) return null;
  const raw = buf.readBigUInt64LE(8);
  return { readOnly: (raw & DISK_ATTRIBUTE_READ_ONLY) !== 0n, offline: (raw & DISK_ATTRIBUTE_OFFLINE) !== 0n, raw };
}

/** \\.\PhysicalDrive2 → 2 (the Medium's `disk`), else null. */
export function diskNumberOfPath(disk: string | null): number | null {
  const m = /^\\\\[.?]\\PhysicalDrive(\d+)$/i.exec(disk ?? "");
  return m ? Number(m[1]) : null;
}

/** The FFI calls (kernel32 through koffi; a recording fake in tests). */
export interface DiskIo {
  /** CreateFileW(path, access, FILE_SHARE_READ | FILE_SHARE_WRITE, OPEN_EXISTING): a handle or the Win32 error */
  open(path: string, access: number): number | { error: number };
  /** DeviceIoControl, METHOD_BUFFERED: the bytes returned or the Win32 error */
  ioctl(handle: number, code: number, input: Buffer | null, outSize: number): Buffer | { error: number };
  close(handle: number): void;
}

/** The real DiskIo: CreateFileW / DeviceIoControl / CloseHandle (agent/os/win32/storage.ts's bindings). Windows only. */
export async function ffiDiskIo(): Promise<DiskIo> {
  const { storageApi } = await import("./storage.js");
  const a = storageApi();
  return {
    open(path, access) {
      const h = a.CreateFileW(path, access, 0x3 /* FILE_SHARE_READ | FILE_SHARE_WRITE */, null, 3 /* OPEN_EXISTING */, 0, 0) as number;
      if (!h || h === -1) return { error: a.GetLastError() as number };
      return h;
    },
    ioctl(handle, code, input, outSize) {
      const out = outSize > 0 ? Buffer.alloc(outSize) : null;
      const got = [0];
      if (!a.DeviceIoControl(handle, code, input, input ? input.length : 0, out, outSize, got, null)) return { error: a.GetLastError() as number };
      return out ? out.subarray(0, got[0]) : Buffer.alloc(0);
    },
    close(handle) {
      a.CloseHandle(handle);
    },
  };
}

export type DiskReadOnlyResult =
  | { ok: true; method: string }
  | { ok: false; reason: "already" | "not-supported" | "failed"; detail: string; code?: number };

const isErr = (x: unknown): x is { error: number } => typeof x === "object" && x !== null && !Buffer.isBuffer(x) && "error" in x;

function win32Text(code: number): string {
  const names: Record<number, string> = { 1: "invalid function", 2: "not found", 5: "access denied", 19: "write protected", 21: "not ready", 32: "sharing violation", 50: "not supported", 87: "invalid parameter", 120: "not implemented" };
  return `Win32 error ${code}${names[code] ? ` (${names[code]})` : ""}`;
}

function failure(what: string, code: number): DiskReadOnlyResult {
  return { ok: false, reason: NOT_SUPPORTED_ERRORS.has(code) ? "not-supported" : "failed", detail: `${what}: ${win32Text(code)}`, code };
}

/**
 * Makes disks read-only and writable again, remembering which it made read-only: a volume's
 * release clears the attribute only when kyoka set it, and only once no other volume of the same
 * disk still waits for its scan.
 */
export class DiskReadOnly {
  /** disk number → the volumes (X:) kyoka holds it read-only for */
  private readonly held = new Map<number, Set<string>>();

  private systemDisk: number | null | undefined;

  constructor(private readonly io: DiskIo, private readonly opts: { systemDrive?: string } = {}) {}

  /** The disk number of the system drive (read once), or null when it cannot be read. */
  private systemDiskNumber(): number | null {
    if (this.systemDisk !== undefined) return this.systemDisk;
    const path = `\\\\.\\${(this.opts.systemDrive ?? "C:").toUpperCase()}`;
    const h = this.io.open(path, 0);
    if (isErr(h)) return (this.systemDisk = null);
    try {
      const b = this.io.ioctl(h, IOCTL_STORAGE_GET_DEVICE_NUMBER, null, 12);
      this.systemDisk = isErr(b) ? null : (parseStorageDeviceNumber(b)?.deviceNumber ?? null);
    } finally {
      this.io.close(h);
    }
    return this.systemDisk;
  }

  /** The volumes kyoka holds read-only, per disk (tests, logs). */
  holding(): Map<number, string[]> {
    return new Map([...this.held].map(([d, s]) => [d, [...s]]));
  }

  private diskPath(disk: number): string {
    return `\\\\.\\PhysicalDrive${disk}`;
  }

  /**
   * On the disk: GET the attribute, then (unless `keepIf` says to stop there) SET the read-only bit
   * and GET it back. Returns what it was before; a read-back that disagrees puts the bit back.
   */
  private change(disk: number, readOnly: boolean, keepIf?: (was: DiskAttributes) => DiskReadOnlyResult | null): DiskReadOnlyResult & { was?: DiskAttributes } {
    const path = this.diskPath(disk);
    const h = this.io.open(path, GENERIC_READ_WRITE);
    if (isErr(h)) return failure(`open ${path} for read/write`, h.error);
    try {
      const before = this.io.ioctl(h, IOCTL_DISK_GET_DISK_ATTRIBUTES, null, GET_DISK_ATTRIBUTES_SIZE);
      if (isErr(before)) return failure(`IOCTL_DISK_GET_DISK_ATTRIBUTES on ${path}`, before.error);
      const was = parseGetDiskAttributes(before);
      if (!was) return { ok: false, reason: "failed", detail: `IOCTL_DISK_GET_DISK_ATTRIBUTES on ${path}: ${before.length} bytes returned` };
      const stop = keepIf?.(was);
      if (stop) return { ...stop, was };
      const set = this.io.ioctl(h, IOCTL_DISK_SET_DISK_ATTRIBUTES, setDiskAttributesInput(readOnly), 0);
      if (isErr(set)) return failure(`IOCTL_DISK_SET_DISK_ATTRIBUTES (read-only ${readOnly ? "on" : "off"}) on ${path}`, set.error);
      const after = this.io.ioctl(h, IOCTL_DISK_GET_DISK_ATTRIBUTES, null, GET_DISK_ATTRIBUTES_SIZE);
      const now = isErr(after) ? null : parseGetDiskAttributes(after);
      if (!now || now.readOnly !== readOnly) {
        // never leave the disk half-changed: put the bit back as it was
        if (was.readOnly !== readOnly) this.io.ioctl(h, IOCTL_DISK_SET_DISK_ATTRIBUTES, setDiskAttributesInput(was.readOnly), 0);
        return isErr(after)
          ? failure(`IOCTL_DISK_GET_DISK_ATTRIBUTES (read back) on ${path}`, after.error)
          : { ok: false, reason: "failed", detail: `${path}: read back ${now ? `read-only ${now.readOnly ? "on" : "off"}` : "nothing"} after setting it ${readOnly ? "on" : "off"}` };
      }
      return { ok: true, method: "disk-attribute", was };
    } finally {
      this.io.close(h);
    }
  }

  /**
   * Lock and dismount the volume at `letter` (E:) so Windows mounts it again with the disk's
   * current attribute. The lock fails while files are open on it; the dismount is done anyway
   * (those handles become invalid) — else the volume would stay writable while reported read-only.
   */
  private remount(letter: string): { ok: true; locked: boolean } | { ok: false; code: number; detail: string } {
    const path = `\\\\.\\${letter}`;
    const h = this.io.open(path, GENERIC_READ_WRITE);
    if (isErr(h)) return { ok: false, code: h.error, detail: `open ${path}: ${win32Text(h.error)}` };
    try {
      const lock = this.io.ioctl(h, FSCTL_LOCK_VOLUME, null, 0);
      const dismount = this.io.ioctl(h, FSCTL_DISMOUNT_VOLUME, null, 0);
      if (isErr(dismount)) return { ok: false, code: dismount.error, detail: `FSCTL_DISMOUNT_VOLUME on ${path}: ${win32Text(dismount.error)}` };
      return { ok: true, locked: !isErr(lock) };
    } finally {
      this.io.close(h);
    }
  }

  /**
   * Make the disk read-only and remount the volume read-only. A disk already read-only is left
   * alone ("already") unless kyoka made it so for another volume of the same disk (then this volume
   * joins, and the disk is released after the last one's scan). A disk kyoka remembers but finds
   * writable is a new device on the same number (the stick was pulled and put back): set again.
   */
  setReadOnly(letter: string, disk: number): DiskReadOnlyResult {
    if (this.systemDiskNumber() === disk) return { ok: false, reason: "not-supported", detail: `${this.diskPath(disk)} holds the system drive: never made read-only` };
    let shared: string[] = [];
    const r = this.change(disk, true, (was) => {
      if (!was.readOnly) {
        this.held.delete(disk);
        return null;
      }
      const holders = this.held.get(disk);
      if (!holders?.size) return { ok: false, reason: "already", detail: `${this.diskPath(disk)} was read-only before kyoka (DISK_ATTRIBUTE_READ_ONLY): left as it is` };
      shared = [...holders];
      return { ok: true, method: "disk-attribute (held)" };
    });
    if (!r.ok) return r;
    const m = this.remount(letter);
    if (!m.ok) {
      // the volume stays writable: do not leave the disk read-only behind it
      if (!shared.length) this.change(disk, false);
      return { ok: false, reason: NOT_SUPPORTED_ERRORS.has(m.code) ? "not-supported" : "failed", detail: `${m.detail}${shared.length ? "" : "; the disk attribute was cleared again"}`, code: m.code };
    }
    const holders = this.held.get(disk) ?? new Set<string>();
    holders.add(letter);
    this.held.set(disk, holders);
    return { ok: true, method: `disk-attribute+${m.locked ? "dismount" : "forced-dismount"}${shared.length ? ` (disk already read-only for ${shared.join(", ")})` : ""}` };
  }

  /** The scan was clean: writable again (once no other volume of the disk waits), never a disk kyoka did not set. */
  setWritable(letter: string, disk: number): DiskReadOnlyResult {
    const holders = this.held.get(disk);
    if (!holders?.has(letter)) return { ok: false, reason: "failed", detail: `kyoka did not make \\\\.\\PhysicalDrive${disk} read-only for ${letter}: left as it is` };
    if (holders.size > 1) {
      holders.delete(letter);
      return { ok: true, method: `disk-attribute kept for ${[...holders].join(", ")} (still scanning)` };
    }
    const r = this.change(disk, false);
    if (!r.ok) return r;
    this.held.delete(disk);
    const m = this.remount(letter);
    if (!m.ok) return { ok: false, reason: "failed", detail: `the disk is writable again but the volume stays read-only until it is mounted again: ${m.detail}`, code: m.code };
    return { ok: true, method: `disk-attribute+${m.locked ? "dismount" : "forced-dismount"}` };
  }
}
