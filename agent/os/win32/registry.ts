/**
 * The registry through the W API (UTF-16 end to end): open, list subkeys, read the values an
 * Uninstall entry needs with RegQueryValueExW, and change notification (RegNotifyChangeKeyValue
 * in asynchronous mode with an event, waited on by the one shared waiter — see waiter.ts).
 *
 * Failures keep their Win32 code: "access denied" (5) is never confused with "absent" (2), unlike
 * reg.exe, whose exit 1 means both.
 */
import {
  ERROR_FILE_NOT_FOUND, ERROR_MORE_DATA, ERROR_NO_MORE_ITEMS, ERROR_SUCCESS, KEY_READ, KEY_WOW64_64KEY,
  REG_NOTIFY_CHANGE_LAST_SET, REG_NOTIFY_CHANGE_NAME, utf16, win32, Win32Error,
} from "./ffi.js";

export const REG_SZ = 1;
export const REG_EXPAND_SZ = 2;
export const REG_BINARY = 3;
export const REG_DWORD = 4;
export const REG_MULTI_SZ = 7;
export const REG_QWORD = 11;

/** An open key. close() it when done. */
export class RegKey {
  private closed = false;
  constructor(readonly handle: number, readonly path: string) {}

  /** Open `root\sub` (64-bit view). undefined when it does not exist; other failures throw Win32Error. */
  static open(root: number, sub: string, label = sub): RegKey | undefined {
    const w = win32();
    const out = [0];
    const rc = w.RegOpenKeyExW(root, sub, 0, KEY_READ | KEY_WOW64_64KEY, out) as number;
    if (rc === ERROR_FILE_NOT_FOUND) return undefined;
    if (rc !== ERROR_SUCCESS) throw new Win32Error("RegOpenKeyExW", rc, label);
    return new RegKey(out[0]!, label);
  }

  /** Names of the direct subkeys. */
  subkeys(): string[] {
    const w = win32();
    const names: string[] = [];
    const buf = Buffer.alloc(512); // key names are at most 255 characters
    for (let i = 0; ; i++) {
      const len = [256];
      const rc = w.RegEnumKeyExW(this.handle, i, buf, len, null, null, null, null) as number;
      if (rc === ERROR_NO_MORE_ITEMS) break;
      if (rc !== ERROR_SUCCESS) throw new Win32Error("RegEnumKeyExW", rc, this.path);
      names.push(utf16(buf, len[0]));
    }
    return names;
  }

  /** One value: a string for REG_SZ/EXPAND_SZ/MULTI_SZ (joined by \n), a number for DWORD/QWORD; undefined when absent. */
  value(name: string): string | number | undefined {
    const w = win32();
    let buf = Buffer.alloc(512);
    for (let attempt = 0; attempt < 3; attempt++) {
      const type = [0];
      const size = [buf.length];
      const rc = w.RegQueryValueExW(this.handle, name, null, type, buf, size) as number;
      if (rc === ERROR_FILE_NOT_FOUND) return undefined;
      if (rc === ERROR_MORE_DATA) {
        buf = Buffer.alloc(size[0]! + 2);
        continue;
      }
      if (rc !== ERROR_SUCCESS) throw new Win32Error("RegQueryValueExW", rc, `${this.path}\\${name}`);
      return decodeValue(type[0]!, buf.subarray(0, size[0]));
    }
    throw new Win32Error("RegQueryValueExW", ERROR_MORE_DATA, `${this.path}\\${name}: value keeps growing`);
  }

  /** Ask for `event` to be signalled at the next change of this key (names, values; the subtree when asked). One-shot: arm again after each signal. */
  notify(event: number, subtree: boolean): void {
    const rc = win32().RegNotifyChangeKeyValue(this.handle, subtree ? 1 : 0, REG_NOTIFY_CHANGE_NAME | REG_NOTIFY_CHANGE_LAST_SET, event, 1) as number;
    if (rc !== ERROR_SUCCESS) throw new Win32Error("RegNotifyChangeKeyValue", rc, this.path);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    win32().RegCloseKey(this.handle);
  }
}

/** Registry value bytes → JS value (pure: tested on captured bytes). */
export function decodeValue(type: number, data: Buffer): string | number | undefined {
  switch (type) {
    case REG_SZ:
    case REG_EXPAND_SZ:
      return utf16(data);
    case REG_MULTI_SZ:
      return data.toString("utf16le", 0, data.length - (data.length % 2)).split("\0").filter(Boolean).join("\n");
    case REG_DWORD:
      return data.length >= 4 ? data.readUInt32LE(0) : undefined;
    case REG_QWORD:
      return data.length >= 8 ? Number(data.readBigUInt64LE(0)) : undefined;
    default:
      return undefined;
  }
}
