/**
 * One shell property of a file system item, read through the property system (no process):
 * PSGetPropertyKeyFromName (the canonical name → PROPERTYKEY), SHGetPropertyStoreFromParsingName
 * (an IPropertyStore on "E:\"), IPropertyStore::GetValue through the COM vtable (koffi.call on
 * the function pointer), PropVariantClear, Release. Used for System.Volume.BitLockerProtection,
 * which Explorer itself reads to draw the lock and which answers without admin rights.
 * Integer values only (VT_I2/VT_UI2/VT_I4/VT_UI4/VT_INT/VT_UINT); null when empty.
 */
import { guidBytes } from "./cfgmgr.js";
import { win32 } from "./ffi.js";

const IID_IPROPERTYSTORE = "886d8eeb-8cf2-4446-8d02-cdba1dbdcf99";
const GPS_DEFAULT = 0;
const COINIT_MULTITHREADED = 0;
/** IUnknown: QueryInterface, AddRef, Release; IPropertyStore: GetCount, GetAt, GetValue, … */
const VTBL_RELEASE = 2;
const VTBL_GETVALUE = 5;

/* eslint-disable @typescript-eslint/no-explicit-any */
interface Shell {
  koffi: any;
  getKey: (name: string, key: Buffer) => number;
  getStore: (path: string, pbc: null, flags: number, riid: Buffer, out: [unknown]) => number;
  clear: (pv: Buffer) => number;
  getValueProto: unknown;
  releaseProto: unknown;
}
let shell: Shell | Error | undefined;

function load(): Shell {
  if (shell instanceof Error) throw shell;
  if (shell) return shell;
  const koffi = win32().koffi;
  try {
    const ole32 = koffi.load("ole32.dll");
    const propsys = koffi.load("propsys.dll");
    const shell32 = koffi.load("shell32.dll");
    const init = ole32.func("long __stdcall CoInitializeEx(void *pvReserved, uint32 dwCoInit)");
    init(null, COINIT_MULTITHREADED); // S_FALSE / RPC_E_CHANGED_MODE: COM is already initialised here
    shell = {
      koffi,
      getKey: propsys.func("long __stdcall PSGetPropertyKeyFromName(str16 pszName, uint8_t *ppropkey)"),
      getStore: shell32.func("long __stdcall SHGetPropertyStoreFromParsingName(str16 pszPath, void *pbc, int flags, uint8_t *riid, _Out_ void **ppv)"),
      clear: ole32.func("long __stdcall PropVariantClear(uint8_t *pvar)"),
      getValueProto: koffi.proto("long __stdcall KyokaPropertyStoreGetValue(void *self, uint8_t *key, uint8_t *pv)"),
      releaseProto: koffi.proto("uint32 __stdcall KyokaUnknownRelease(void *self)"),
    };
  } catch (err) {
    shell = new Error(`shell property system: ${err instanceof Error ? err.message : String(err)}`);
    throw shell;
  }
  return shell;
}

const hr = (n: number): string => `0x${(n >>> 0).toString(16).padStart(8, "0")}`;

/** A PROPVARIANT's integer value (24 bytes: vt at 0, the value at 8); null when empty or not an integer. */
export function propVariantInteger(pv: Buffer): number | null {
  const vt = pv.readUInt16LE(0);
  switch (vt) {
    case 2: return pv.readInt16LE(8); // VT_I2
    case 18: return pv.readUInt16LE(8); // VT_UI2
    case 3: case 22: return pv.readInt32LE(8); // VT_I4, VT_INT
    case 19: case 23: return pv.readUInt32LE(8); // VT_UI4, VT_UINT
    default: return null; // VT_EMPTY (0) and anything else
  }
}

/** The integer value of a shell property (canonical name) of the item at `path` (e.g. "E:\\"). Throws with the HRESULT. */
export function shellPropertyInteger(path: string, name: string): number | null {
  const s = load();
  const key = Buffer.alloc(20);
  let rc = s.getKey(name, key);
  if (rc !== 0) throw new Error(`PSGetPropertyKeyFromName(${name}) failed: ${hr(rc)}`);
  const out: [unknown] = [null];
  rc = s.getStore(path, null, GPS_DEFAULT, guidBytes(IID_IPROPERTYSTORE), out);
  if (rc !== 0 || !out[0]) throw new Error(`SHGetPropertyStoreFromParsingName(${path}) failed: ${hr(rc)}`);
  const store = out[0];
  const vtbl = s.koffi.decode(store, "void *");
  const pv = Buffer.alloc(24);
  try {
    rc = s.koffi.call(s.koffi.decode(vtbl, VTBL_GETVALUE * 8, "void *"), s.getValueProto, store, key, pv) as number;
    if (rc !== 0) throw new Error(`IPropertyStore::GetValue(${name}) failed: ${hr(rc)}`);
    const v = propVariantInteger(pv);
    s.clear(pv);
    return v;
  } finally {
    s.koffi.call(s.koffi.decode(vtbl, VTBL_RELEASE * 8, "void *"), s.releaseProto, store);
  }
}
