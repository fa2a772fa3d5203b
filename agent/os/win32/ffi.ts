/**
 * The Win32 API through koffi (an FFI library with prebuilt binaries for win32-x64/arm64: no
 * compiler on the PC). Loaded lazily and only on Windows: importing this file elsewhere costs
 * nothing, calling `win32()` off Windows throws.
 *
 * Text crosses the boundary as UTF-16 (`str16` = const wchar_t*, W functions only): no console
 * code page is involved anywhere. Handles are passed as intptr (numbers). Predefined registry
 * roots are sign-extended 32-bit values on 64-bit Windows (HKEY_LOCAL_MACHINE = (HKEY)(LONG)0x80000002).
 */
import { createRequire } from "node:module";

/* eslint-disable @typescript-eslint/no-explicit-any */
type Fn = ((...args: any[]) => any) & { async: (...args: any[]) => void };

export const HKEY_LOCAL_MACHINE = 0x80000002 | 0;
export const HKEY_USERS = 0x80000003 | 0;

export const ERROR_SUCCESS = 0;
export const ERROR_FILE_NOT_FOUND = 2;
export const ERROR_ACCESS_DENIED = 5;
export const ERROR_INSUFFICIENT_BUFFER = 122;
export const ERROR_MORE_DATA = 234;
export const ERROR_NO_MORE_ITEMS = 259;
export const ERROR_IO_PENDING = 997;

export const KEY_READ = 0x20019;
export const KEY_WOW64_64KEY = 0x0100;
export const REG_NOTIFY_CHANGE_NAME = 0x1;
export const REG_NOTIFY_CHANGE_LAST_SET = 0x4;

export const WAIT_OBJECT_0 = 0;
export const WAIT_TIMEOUT = 0x102;
export const WAIT_FAILED = 0xffffffff;

export interface Win32 {
  koffi: any;
  // advapi32
  RegOpenKeyExW: Fn;
  RegCloseKey: Fn;
  RegEnumKeyExW: Fn;
  RegQueryValueExW: Fn;
  RegNotifyChangeKeyValue: Fn;
  SetFileSecurityW: Fn;
  GetFileSecurityW: Fn;
  ConvertStringSecurityDescriptorToSecurityDescriptorW: Fn;
  ConvertSecurityDescriptorToStringSecurityDescriptorW: Fn;
  // kernel32
  CreateEventW: Fn;
  SetEvent: Fn;
  ResetEvent: Fn;
  CloseHandle: Fn;
  WaitForMultipleObjects: Fn;
  GetLastError: Fn;
  LocalFree: Fn;
  OpenProcess: Fn;
  QueryFullProcessImageNameW: Fn;
  CreateToolhelp32Snapshot: Fn;
  Process32FirstW: Fn;
  Process32NextW: Fn;
  OpenEventW: Fn;
  GetLogicalDrives: Fn;
  GetDriveTypeW: Fn;
  GetVolumeInformationW: Fn;
  // iphlpapi
  GetExtendedTcpTable: Fn;
  GetExtendedUdpTable: Fn;
  NotifyAddrChange: Fn;
  NotifyRouteChange: Fn;
  GetAdaptersAddresses: Fn;
  GetIpNetTable: Fn;
  // crypt32
  CryptProtectData: Fn;
  CryptUnprotectData: Fn;
  DATA_BLOB: unknown;
  PROCESSENTRY32W: unknown;
}

let loaded: Win32 | undefined;

export interface Wlan {
  WlanOpenHandle: Fn;
  WlanCloseHandle: Fn;
  WlanEnumInterfaces: Fn;
  WlanQueryInterface: Fn;
  WlanFreeMemory: Fn;
}
let wlanLoaded: Wlan | null | undefined;

/** wlanapi.dll (absent on Server editions without the WLAN service): null when it cannot load. */
export function wlanapi(): Wlan | null {
  if (wlanLoaded !== undefined) return wlanLoaded;
  try {
    const lib = win32().koffi.load("wlanapi.dll");
    wlanLoaded = {
      WlanOpenHandle: lib.func("uint32 __stdcall WlanOpenHandle(uint32 dwClientVersion, void *pReserved, _Out_ uint32 *pdwNegotiatedVersion, _Out_ intptr *phClientHandle)"),
      WlanCloseHandle: lib.func("uint32 __stdcall WlanCloseHandle(intptr hClientHandle, void *pReserved)"),
      WlanEnumInterfaces: lib.func("uint32 __stdcall WlanEnumInterfaces(intptr hClientHandle, void *pReserved, _Out_ void **ppInterfaceList)"),
      WlanQueryInterface: lib.func("uint32 __stdcall WlanQueryInterface(intptr hClientHandle, uint8_t *pInterfaceGuid, int OpCode, void *pReserved, _Out_ uint32 *pdwDataSize, _Out_ void **ppData, _Out_ int *pWlanOpcodeValueType)"),
      WlanFreeMemory: lib.func("void __stdcall WlanFreeMemory(void *pMemory)"),
    };
  } catch {
    wlanLoaded = null;
  }
  return wlanLoaded;
}

/** The bound functions (loads koffi and the DLLs on first call). Windows only. */
export function win32(): Win32 {
  if (loaded) return loaded;
  if (process.platform !== "win32") throw new Error("the Win32 layer is only available on Windows");
  const koffi = createRequire(import.meta.url)("koffi");
  const advapi = koffi.load("advapi32.dll");
  const kernel = koffi.load("kernel32.dll");
  const iphlp = koffi.load("iphlpapi.dll");
  const crypt = koffi.load("crypt32.dll");
  const DATA_BLOB = koffi.struct("DATA_BLOB", { cbData: "uint32", pbData: "void *" });
  const PROCESSENTRY32W = koffi.struct("PROCESSENTRY32W", {
    dwSize: "uint32", cntUsage: "uint32", th32ProcessID: "uint32", th32DefaultHeapID: "uintptr", th32ModuleID: "uint32",
    cntThreads: "uint32", th32ParentProcessID: "uint32", pcPriClassBase: "int32", dwFlags: "uint32", szExeFile: koffi.array("char16_t", 260, "String"),
  });
  loaded = {
    koffi,
    RegOpenKeyExW: advapi.func("long __stdcall RegOpenKeyExW(intptr hKey, str16 lpSubKey, uint32 ulOptions, uint32 samDesired, _Out_ intptr *phkResult)"),
    RegCloseKey: advapi.func("long __stdcall RegCloseKey(intptr hKey)"),
    RegEnumKeyExW: advapi.func("long __stdcall RegEnumKeyExW(intptr hKey, uint32 dwIndex, _Out_ uint8_t *lpName, _Inout_ uint32 *lpcchName, void *lpReserved, void *lpClass, void *lpcchClass, void *lpftLastWriteTime)"),
    RegQueryValueExW: advapi.func("long __stdcall RegQueryValueExW(intptr hKey, str16 lpValueName, void *lpReserved, _Out_ uint32 *lpType, _Out_ uint8_t *lpData, _Inout_ uint32 *lpcbData)"),
    RegNotifyChangeKeyValue: advapi.func("long __stdcall RegNotifyChangeKeyValue(intptr hKey, int bWatchSubtree, uint32 dwNotifyFilter, intptr hEvent, int fAsynchronous)"),
    SetFileSecurityW: advapi.func("int __stdcall SetFileSecurityW(str16 lpFileName, uint32 SecurityInformation, void *pSecurityDescriptor)"),
    GetFileSecurityW: advapi.func("int __stdcall GetFileSecurityW(str16 lpFileName, uint32 RequestedInformation, _Out_ uint8_t *pSecurityDescriptor, uint32 nLength, _Out_ uint32 *lpnLengthNeeded)"),
    ConvertStringSecurityDescriptorToSecurityDescriptorW: advapi.func("int __stdcall ConvertStringSecurityDescriptorToSecurityDescriptorW(str16 StringSecurityDescriptor, uint32 StringSDRevision, _Out_ void **SecurityDescriptor, _Out_ uint32 *SecurityDescriptorSize)"),
    ConvertSecurityDescriptorToStringSecurityDescriptorW: advapi.func("int __stdcall ConvertSecurityDescriptorToStringSecurityDescriptorW(uint8_t *SecurityDescriptor, uint32 RequestedStringSDRevision, uint32 SecurityInformation, _Out_ void **StringSecurityDescriptor, _Out_ uint32 *StringSecurityDescriptorLen)"),
    CreateEventW: kernel.func("intptr __stdcall CreateEventW(void *lpEventAttributes, int bManualReset, int bInitialState, str16 lpName)"),
    OpenEventW: kernel.func("intptr __stdcall OpenEventW(uint32 dwDesiredAccess, int bInheritHandle, str16 lpName)"),
    GetLogicalDrives: kernel.func("uint32 __stdcall GetLogicalDrives()"),
    GetDriveTypeW: kernel.func("uint32 __stdcall GetDriveTypeW(str16 lpRootPathName)"),
    GetVolumeInformationW: kernel.func("int __stdcall GetVolumeInformationW(str16 lpRootPathName, _Out_ uint8_t *lpVolumeNameBuffer, uint32 nVolumeNameSize, _Out_ uint32 *lpVolumeSerialNumber, _Out_ uint32 *lpMaximumComponentLength, _Out_ uint32 *lpFileSystemFlags, _Out_ uint8_t *lpFileSystemNameBuffer, uint32 nFileSystemNameSize)"),
    SetEvent: kernel.func("int __stdcall SetEvent(intptr hEvent)"),
    ResetEvent: kernel.func("int __stdcall ResetEvent(intptr hEvent)"),
    CloseHandle: kernel.func("int __stdcall CloseHandle(intptr hObject)"),
    WaitForMultipleObjects: kernel.func("uint32 __stdcall WaitForMultipleObjects(uint32 nCount, intptr *lpHandles, int bWaitAll, uint32 dwMilliseconds)"),
    GetLastError: kernel.func("uint32 __stdcall GetLastError()"),
    LocalFree: kernel.func("intptr __stdcall LocalFree(void *hMem)"),
    OpenProcess: kernel.func("intptr __stdcall OpenProcess(uint32 dwDesiredAccess, int bInheritHandle, uint32 dwProcessId)"),
    QueryFullProcessImageNameW: kernel.func("int __stdcall QueryFullProcessImageNameW(intptr hProcess, uint32 dwFlags, _Out_ uint8_t *lpExeName, _Inout_ uint32 *lpdwSize)"),
    CreateToolhelp32Snapshot: kernel.func("intptr __stdcall CreateToolhelp32Snapshot(uint32 dwFlags, uint32 th32ProcessID)"),
    Process32FirstW: kernel.func("int __stdcall Process32FirstW(intptr hSnapshot, _Inout_ PROCESSENTRY32W *lppe)"),
    Process32NextW: kernel.func("int __stdcall Process32NextW(intptr hSnapshot, _Inout_ PROCESSENTRY32W *lppe)"),
    GetExtendedTcpTable: iphlp.func("uint32 __stdcall GetExtendedTcpTable(_Out_ uint8_t *pTcpTable, _Inout_ uint32 *pdwSize, int bOrder, uint32 ulAf, int TableClass, uint32 Reserved)"),
    GetExtendedUdpTable: iphlp.func("uint32 __stdcall GetExtendedUdpTable(_Out_ uint8_t *pUdpTable, _Inout_ uint32 *pdwSize, int bOrder, uint32 ulAf, int TableClass, uint32 Reserved)"),
    NotifyAddrChange: iphlp.func("uint32 __stdcall NotifyAddrChange(_Out_ intptr *Handle, void *overlapped)"),
    GetAdaptersAddresses: iphlp.func("uint32 __stdcall GetAdaptersAddresses(uint32 Family, uint32 Flags, void *Reserved, _Out_ uint8_t *AdapterAddresses, _Inout_ uint32 *SizePointer)"),
    GetIpNetTable: iphlp.func("uint32 __stdcall GetIpNetTable(_Out_ uint8_t *IpNetTable, _Inout_ uint32 *SizePointer, int Order)"),
    NotifyRouteChange: iphlp.func("uint32 __stdcall NotifyRouteChange(_Out_ intptr *Handle, void *overlapped)"),
    CryptProtectData: crypt.func("int __stdcall CryptProtectData(DATA_BLOB *pDataIn, str16 szDataDescr, DATA_BLOB *pOptionalEntropy, void *pvReserved, void *pPromptStruct, uint32 dwFlags, _Out_ DATA_BLOB *pDataOut)"),
    CryptUnprotectData: crypt.func("int __stdcall CryptUnprotectData(DATA_BLOB *pDataIn, _Out_ void **ppszDataDescr, DATA_BLOB *pOptionalEntropy, void *pvReserved, void *pPromptStruct, uint32 dwFlags, _Out_ DATA_BLOB *pDataOut)"),
    DATA_BLOB,
    PROCESSENTRY32W,
  };
  return loaded;
}

/** UTF-16LE bytes (up to `chars` characters, or the first NUL) → string. */
export function utf16(buf: Buffer, chars?: number): string {
  const end = chars !== undefined ? Math.min(chars * 2, buf.length) : buf.length;
  let s = buf.toString("utf16le", 0, end - (end % 2));
  const nul = s.indexOf("\0");
  if (nul >= 0) s = s.slice(0, nul);
  return s;
}

/** A Win32 error code as an Error with `code` (the number) and the function's name. */
export class Win32Error extends Error {
  constructor(readonly fn: string, readonly code: number, detail = "") {
    super(`${fn} failed: Win32 error ${code}${code === ERROR_ACCESS_DENIED ? " (access denied)" : code === ERROR_FILE_NOT_FOUND ? " (not found)" : ""}${detail ? ` — ${detail}` : ""}`);
    this.name = "Win32Error";
  }
}
