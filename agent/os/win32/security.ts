/**
 * Windows security for the agent's state folder and credential, through the API (icacls and
 * PowerShell are not needed — and are empty stubs under Wine):
 *  - the folder's DACL set to SYSTEM and Administrators only, protected from inheritance
 *    (SetFileSecurityW with a descriptor from SDDL), read back to check;
 *  - DPAPI: CryptProtectData / CryptUnprotectData (the service runs as SYSTEM: only SYSTEM can
 *    decrypt; CRYPTPROTECT_UI_FORBIDDEN, no LOCAL_MACHINE flag).
 */
import { win32 } from "./ffi.js";

/** Full control for SYSTEM (SY) and Administrators (BA), inherited by files and folders below; protected (P): no ACE from the parent. */
export const STATE_DIR_SDDL = "D:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)";

const DACL_SECURITY_INFORMATION = 0x4;
const PROTECTED_DACL_SECURITY_INFORMATION = 0x80000000;
const SDDL_REVISION_1 = 1;
const CRYPTPROTECT_UI_FORBIDDEN = 0x1;

/** Apply `sddl`'s DACL to `path`; returns the DACL read back (SDDL), or throws. */
export function setDacl(path: string, sddl = STATE_DIR_SDDL): string {
  const w = win32();
  const sd: unknown[] = [null];
  const size = [0];
  if (!w.ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl, SDDL_REVISION_1, sd, size)) {
    throw new Error(`ConvertStringSecurityDescriptorToSecurityDescriptorW failed: Win32 error ${w.GetLastError() as number}`);
  }
  try {
    if (!w.SetFileSecurityW(path, DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION, sd[0])) {
      throw new Error(`SetFileSecurityW(${path}) failed: Win32 error ${w.GetLastError() as number}`);
    }
  } finally {
    w.LocalFree(sd[0]);
  }
  return getDacl(path);
}

/** The DACL of `path` as SDDL. */
export function getDacl(path: string): string {
  const w = win32();
  let buf = Buffer.alloc(4096);
  const need = [0];
  if (!w.GetFileSecurityW(path, DACL_SECURITY_INFORMATION, buf, buf.length, need)) {
    if (need[0]! > buf.length) {
      buf = Buffer.alloc(need[0]!);
      if (!w.GetFileSecurityW(path, DACL_SECURITY_INFORMATION, buf, buf.length, need)) throw new Error(`GetFileSecurityW(${path}) failed: Win32 error ${w.GetLastError() as number}`);
    } else throw new Error(`GetFileSecurityW(${path}) failed: Win32 error ${w.GetLastError() as number}`);
  }
  const str: unknown[] = [null];
  const len = [0];
  if (!w.ConvertSecurityDescriptorToStringSecurityDescriptorW(buf, SDDL_REVISION_1, DACL_SECURITY_INFORMATION, str, len)) {
    throw new Error(`ConvertSecurityDescriptorToStringSecurityDescriptorW failed: Win32 error ${w.GetLastError() as number}`);
  }
  try {
    return w.koffi.decode(str[0], "char16_t", len[0]) as string;
  } finally {
    w.LocalFree(str[0]);
  }
}

/** True when an SDDL DACL grants access to nobody but SYSTEM and Administrators. */
export function onlySystemAndAdmins(sddl: string): boolean {
  const aces = [...sddl.matchAll(/\(([^)]*)\)/g)].map((m) => m[1]!.split(";"));
  if (aces.length === 0) return false;
  return aces.every((a) => a[0] !== "A" || a[5] === "SY" || a[5] === "BA" || a[5] === "S-1-5-18" || a[5] === "S-1-5-32-544");
}

function blobCall(fn: "CryptProtectData" | "CryptUnprotectData", data: Buffer): Buffer {
  const w = win32();
  const out: { cbData?: number; pbData?: unknown } = {};
  const input = { cbData: data.length, pbData: data };
  const ok = fn === "CryptProtectData"
    ? w.CryptProtectData(input, "kyoka agent credential", null, null, null, CRYPTPROTECT_UI_FORBIDDEN, out)
    : w.CryptUnprotectData(input, null, null, null, null, CRYPTPROTECT_UI_FORBIDDEN, out);
  if (!ok) throw new Error(`${fn} failed: Win32 error ${w.GetLastError() as number}`);
  try {
    return Buffer.from(w.koffi.decode(out.pbData, "uint8_t", out.cbData ?? 0) as number[]);
  } finally {
    w.LocalFree(out.pbData);
  }
}

/** DPAPI-encrypt for the current account (SYSTEM, for the service). */
export function protectData(data: Buffer): Buffer {
  return blobCall("CryptProtectData", data);
}

export function unprotectData(data: Buffer): Buffer {
  return blobCall("CryptUnprotectData", data);
}
