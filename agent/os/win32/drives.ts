/**
 * Drive letters through kernel32 (GetLogicalDrives, GetDriveTypeW, GetVolumeInformationW): a few
 * microseconds per call, no process — the cheap change token the media collector polls; the
 * expensive identity read (disk, USB ids, BitLocker) runs only when it changes.
 */
import { utf16, win32 } from "./ffi.js";

export const DRIVE_TYPES = ["unknown", "no-root", "removable", "fixed", "remote", "cdrom", "ramdisk"] as const;

export interface DriveInfo {
  letter: string;
  type: (typeof DRIVE_TYPES)[number];
  /** volume serial (hex), label and file system: only for removable drives (reading them may spin a disk up) */
  serial?: string;
  label?: string;
  fs?: string;
}

/** The letters in a GetLogicalDrives bitmask ("A".."Z"). */
export function lettersOf(mask: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < 26; i++) if (mask & (1 << i)) out.push(String.fromCharCode(65 + i));
  return out;
}

/** Every drive letter with its type; removable ones with their volume serial, label and file system. */
export function listDrives(): DriveInfo[] {
  const w = win32();
  const out: DriveInfo[] = [];
  for (const letter of lettersOf(w.GetLogicalDrives() as number)) {
    const root = `${letter}:\\`;
    const type = DRIVE_TYPES[w.GetDriveTypeW(root) as number] ?? "unknown";
    const d: DriveInfo = { letter, type };
    if (type === "removable") {
      const name = Buffer.alloc(522);
      const fs = Buffer.alloc(522);
      const serial = [0];
      const maxLen = [0];
      const flags = [0];
      if (w.GetVolumeInformationW(root, name, 261, serial, maxLen, flags, fs, 261)) {
        d.serial = (serial[0]! >>> 0).toString(16).padStart(8, "0");
        d.label = utf16(name);
        d.fs = utf16(fs);
      }
    }
    out.push(d);
  }
  return out;
}

/** The change token: letters, types, and removable volumes' serials. */
export function drivesToken(drives: DriveInfo[]): string {
  return drives.map((d) => `${d.letter}:${d.type}${d.serial ? `:${d.serial}` : ""}`).join(",");
}
