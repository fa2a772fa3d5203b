/**
 * Device arrival/removal and removal requests through cfgmgr32's CM_Register_Notification (no
 * window, no message loop, no process): the media collector's event source on Windows.
 *
 *  - interfaces(): arrival/removal of device interfaces of the given classes (GUID_DEVINTERFACE_
 *    VOLUME, GUID_DEVINTERFACE_DISK): the event carries the interface's symbolic link, from which
 *    the device instance id (and so USBSTOR vendor/product/serial) is read;
 *  - handle(): the removal requests of the device a handle is open on (CM_NOTIFY_FILTER_TYPE_
 *    DEVICEHANDLE): query-remove (Windows asks before an eject: whoever holds handles must close
 *    them now or the eject is refused), query-remove-failed (the eject did not happen: watch again),
 *    remove-pending/remove-complete.
 *
 * Windows calls the callback on a thread-pool thread; koffi queues it to the JS thread and the
 * Windows thread waits for its return, so the callback runs JS synchronously and returns 0
 * (ERROR_SUCCESS: never veto a removal). CM_Unregister_Notification waits for callbacks in
 * progress, so it runs through koffi's asynchronous call (a worker thread), never on the JS thread
 * and never inside a callback. The pure parts (filters, event data, instance ids) are exported
 * for tests.
 */
import { utf16, win32 } from "./ffi.js";

export const GUID_DEVINTERFACE_VOLUME = "53f5630d-b6bf-11d0-94f2-00a0c91efb8b";
export const GUID_DEVINTERFACE_DISK = "53f56307-b6bf-11d0-94f2-00a0c91efb8b";

const CM_NOTIFY_FILTER_TYPE_DEVICEINTERFACE = 0;
const CM_NOTIFY_FILTER_TYPE_DEVICEHANDLE = 1;
/** sizeof(CM_NOTIFY_FILTER) on 64-bit Windows: 4 DWORDs, then a union of 200 WCHARs */
export const CM_NOTIFY_FILTER_SIZE = 416;
export const CR_SUCCESS = 0;

export const CM_NOTIFY_ACTIONS = [
  "interface-arrival", "interface-removal", "query-remove", "query-remove-failed", "remove-pending",
  "remove-complete", "custom-event", "instance-enumerated", "instance-started", "instance-removed",
] as const;
export type CmNotifyAction = (typeof CM_NOTIFY_ACTIONS)[number];

/** A GUID string → its 16 bytes as Windows lays them out (Data1..3 little-endian). */
export function guidBytes(guid: string): Buffer {
  const hex = guid.replace(/[{}-]/g, "");
  if (!/^[0-9a-f]{32}$/i.test(hex)) throw new Error(`not a GUID: ${guid}`);
  const b = Buffer.from(hex, "hex");
  b.subarray(0, 4).reverse();
  b.subarray(4, 6).reverse();
  b.subarray(6, 8).reverse();
  return b;
}

/** 16 GUID bytes at `off` → "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (lowercase). */
export function guidString(buf: Buffer, off = 0): string {
  const b = Buffer.from(buf.subarray(off, off + 16));
  b.subarray(0, 4).reverse();
  b.subarray(4, 6).reverse();
  b.subarray(6, 8).reverse();
  const h = b.toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** CM_NOTIFY_FILTER for the interfaces of one class. */
export function interfaceFilter(guid: string): Buffer {
  const f = Buffer.alloc(CM_NOTIFY_FILTER_SIZE);
  f.writeUInt32LE(CM_NOTIFY_FILTER_SIZE, 0);
  f.writeUInt32LE(0, 4); // Flags
  f.writeUInt32LE(CM_NOTIFY_FILTER_TYPE_DEVICEINTERFACE, 8);
  guidBytes(guid).copy(f, 16);
  return f;
}

/** CM_NOTIFY_FILTER for the device a handle is open on. */
export function handleFilter(handle: number | bigint): Buffer {
  const f = Buffer.alloc(CM_NOTIFY_FILTER_SIZE);
  f.writeUInt32LE(CM_NOTIFY_FILTER_SIZE, 0);
  f.writeUInt32LE(CM_NOTIFY_FILTER_TYPE_DEVICEHANDLE, 8);
  f.writeBigUInt64LE(BigInt.asUintN(64, BigInt(handle)), 16);
  return f;
}

export interface CmNotifyEvent {
  action: CmNotifyAction;
  /** interface events: the class and the interface's symbolic link */
  classGuid?: string;
  symbolicLink?: string;
}

/**
 * CM_NOTIFY_EVENT_DATA bytes: FilterType (DWORD), Reserved (DWORD), then for an interface event
 * ClassGuid (16 bytes) and SymbolicLink (NUL-terminated UTF-16).
 */
export function parseNotifyEventData(action: number, data: Buffer): CmNotifyEvent {
  const name = CM_NOTIFY_ACTIONS[action];
  if (!name) throw new Error(`unknown CM_NOTIFY_ACTION ${action}`);
  const ev: CmNotifyEvent = { action: name };
  if (data.length >= 24 && data.readUInt32LE(0) === CM_NOTIFY_FILTER_TYPE_DEVICEINTERFACE && (name === "interface-arrival" || name === "interface-removal")) {
    ev.classGuid = guidString(data, 8);
    ev.symbolicLink = utf16(data.subarray(24));
  }
  return ev;
}

/**
 * The device instance id behind an interface's symbolic link:
 *   \\?\USBSTOR#Disk&Ven_SanDisk&Prod_Ultra&Rev_1.00#4C530001231120115142&0#{53f56307-…}
 *     → USBSTOR\Disk&Ven_SanDisk&Prod_Ultra&Rev_1.00\4C530001231120115142&0
 *   \\?\STORAGE#Volume#_??_USBSTOR#Disk&Ven_…#…&0#{53f56307-…}#{53f5630d-…}
 *     → STORAGE\Volume\_??_USBSTOR#Disk&Ven_…#…&0#{53f56307-…}   (a removable volume: its disk's
 *       link is embedded — see diskInstanceOfVolume)
 * The last `#{guid}` is the interface class; the first two `#` separate enumerator, device and
 * instance (the instance part may itself contain `#`).
 */
export function instanceIdOfInterface(link: string): string | null {
  const body = link.replace(/^(\\\\\?\\|\\\?\?\\|\\\\\.\\)/, "").replace(/#\{[0-9a-f-]{36}\}(\\.*)?$/i, "");
  const parts = body.split("#");
  if (parts.length < 3 || !parts[0] || !parts[1]) return null;
  return `${parts[0]}\\${parts[1]}\\${parts.slice(2).join("#")}`;
}

/** A removable volume's instance id (STORAGE\Volume\_??_USBSTOR#…) → the disk's instance id, if embedded. */
export function diskInstanceOfVolume(volumeInstanceId: string): string | null {
  const m = /^STORAGE\\Volume\\_\?\?_(.+)$/i.exec(volumeInstanceId);
  return m ? instanceIdOfInterface(m[1]!) : null;
}

/* eslint-disable @typescript-eslint/no-explicit-any */
interface CfgMgr {
  koffi: any;
  proto: unknown;
  register: (filter: Buffer, context: null, cb: unknown, out: [number]) => number;
  unregister: { async: (h: number, cb: (err: unknown, rc: number) => void) => void };
}
interface CreateFile {
  CreateFileW: (name: string, access: number, share: number, sa: null, disposition: number, flags: number, template: number) => number;
}
let cfg: CfgMgr | Error | undefined;

/** cfgmgr32's functions, loaded once (a failure — Wine 8 does not export CM_Register_Notification — is kept and thrown again). */
function cfgmgr(): CfgMgr {
  if (cfg instanceof Error) throw cfg;
  if (cfg) return cfg;
  const w = win32();
  const koffi = w.koffi;
  try {
    const lib = koffi.load("cfgmgr32.dll");
    const proto = koffi.proto("uint32 __stdcall KyokaCmNotifyCallback(intptr hNotify, void *Context, int Action, void *EventData, uint32 EventDataSize)");
    cfg = {
      koffi,
      proto,
      register: lib.func("uint32 __stdcall CM_Register_Notification(uint8_t *pFilter, void *pContext, KyokaCmNotifyCallback *pCallback, _Out_ intptr *pNotifyContext)"),
      unregister: lib.func("uint32 __stdcall CM_Unregister_Notification(intptr NotifyContext)"),
    };
  } catch (err) {
    cfg = new Error(`cfgmgr32: ${err instanceof Error ? err.message : String(err)}`);
    throw cfg;
  }
  return cfg;
}

/** A registration: close() unregisters (asynchronously: see the file comment). */
export interface CmRegistration {
  close(): void;
}

/**
 * Register a filter; `onEvent` runs on the JS thread for each notification. Throws (with
 * `configret`) when Windows (or Wine) refuses.
 */
export function cmRegister(filter: Buffer, onEvent: (ev: CmNotifyEvent) => void, onError: (err: unknown) => void = () => undefined): CmRegistration {
  const c = cfgmgr();
  const cb = c.koffi.register((_h: unknown, _ctx: unknown, action: number, data: unknown, size: number) => {
    try {
      const bytes = data && size > 0 ? Buffer.from(c.koffi.decode(data, c.koffi.array("uint8_t", size, "Typed")) as Uint8Array) : Buffer.alloc(0);
      onEvent(parseNotifyEventData(action, bytes));
    } catch (err) {
      onError(err);
    }
    return 0;
  }, c.koffi.pointer(c.proto));
  const out: [number] = [0];
  const rc = c.register(filter, null, cb, out);
  if (rc !== CR_SUCCESS) {
    c.koffi.unregister(cb);
    throw Object.assign(new Error(`CM_Register_Notification failed: CONFIGRET ${rc}`), { configret: rc });
  }
  let closed = false;
  return {
    close: () => {
      if (closed) return;
      closed = true;
      c.unregister.async(out[0], () => c.koffi.unregister(cb));
    },
  };
}

let createFile: CreateFile["CreateFileW"] | undefined;
const FILE_SHARE_READ_WRITE_DELETE = 0x7;
const OPEN_EXISTING = 3;
const INVALID_HANDLE_VALUE = -1;

/** A handle on a volume (`\\.\E:`) with no access rights: enough to register for its removal requests. */
export function openVolumeHandle(letter: string): number {
  createFile ??= win32().koffi.load("kernel32.dll").func("intptr __stdcall CreateFileW(str16 lpFileName, uint32 dwDesiredAccess, uint32 dwShareMode, void *lpSecurityAttributes, uint32 dwCreationDisposition, uint32 dwFlagsAndAttributes, intptr hTemplateFile)") as CreateFile["CreateFileW"];
  const h = createFile(`\\\\.\\${letter.slice(0, 1)}:`, 0, FILE_SHARE_READ_WRITE_DELETE, null, OPEN_EXISTING, 0, 0);
  if (!h || h === INVALID_HANDLE_VALUE) throw new Error(`CreateFileW(\\\\.\\${letter.slice(0, 1)}:) failed: Win32 error ${win32().GetLastError() as number}`);
  return h;
}

/**
 * Removal requests for the volume at `letter` (E:), with the handle lifecycle Windows expects:
 * our handle on the volume is closed inside the query-remove callback (a handle left open vetoes
 * the eject), and opened and registered again when the removal failed (query-remove-failed).
 * `onEvent` runs after that bookkeeping, inside the callback: it must release its own handles
 * synchronously (the eject waits for the callback's return).
 */
export function watchVolumeRemoval(letter: string, onEvent: (action: CmNotifyAction) => void, onError: (err: unknown) => void = () => undefined): () => void {
  const w = win32();
  let handle = 0;
  let reg: CmRegistration | null = null;
  let closed = false;
  const release = (): void => {
    if (handle) w.CloseHandle(handle);
    handle = 0;
  };
  const arm = (): void => {
    if (closed) return;
    handle = openVolumeHandle(letter);
    try {
      reg = cmRegister(handleFilter(handle), (ev) => {
        if (closed) return;
        if (ev.action === "query-remove") release();
        else if (ev.action === "query-remove-failed") {
          // a registration is not re-armed from its own callback: the old one goes (asynchronously),
          // a new one on a new handle is made once this callback has returned
          reg?.close();
          reg = null;
          release();
          setImmediate(() => { try { arm(); } catch (err) { onError(err); } });
        } else if (ev.action === "remove-pending" || ev.action === "remove-complete") {
          release();
          reg?.close();
          reg = null;
        }
        onEvent(ev.action);
      }, onError);
    } catch (err) {
      release();
      throw err;
    }
  };
  arm();
  return () => {
    closed = true;
    reg?.close();
    reg = null;
    release();
  };
}
