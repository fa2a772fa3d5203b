/**
 * Authenticode through WinVerifyTrust (wintrust.dll) and the signer certificate's names through
 * crypt32 — no process started (PowerShell's Get-AuthenticodeSignature is the fallback only when
 * koffi cannot load; see agent/collectors/executed/win32.ts).
 *
 * One verification: WINTRUST_DATA with WTD_UI_NONE, WTD_REVOKE_NONE (no CRL/OCSP fetch),
 * WTD_CACHE_ONLY_URL_RETRIEVAL (the agent fetches nothing to build a chain), WTD_CHOICE_FILE and
 * WTD_STATEACTION_VERIFY, run through koffi's asynchronous call (WinVerifyTrust hashes the whole
 * file: a worker thread is blocked, never the event loop); then, from the state it kept,
 * WTHelperProvDataFromStateData → WTHelperGetProvSignerFromChain → WTHelperGetProvCertFromChain →
 * the leaf certificate's subject and issuer (CertGetNameStringW, CERT_NAME_RDN_TYPE in the
 * reversed X.500 form PowerShell shows: `CN=…, O=…, C=…`) and SHA-1 thumbprint; and always
 * WTD_STATEACTION_CLOSE. The memory handed to the worker thread is koffi.alloc'ed (stable).
 *
 * The result is raw (the HRESULT and the names): executed/parse-win32.ts signerFromWinVerifyTrust
 * turns it into a status (pure, tested on fixtures).
 */
import { win32 } from "./ffi.js";

/* eslint-disable @typescript-eslint/no-explicit-any */
type Fn = ((...args: any[]) => any) & { async: (...args: any[]) => void };

const WTD_UI_NONE = 2;
const WTD_REVOKE_NONE = 0;
const WTD_CHOICE_FILE = 1;
const WTD_STATEACTION_VERIFY = 1;
const WTD_STATEACTION_CLOSE = 2;
const WTD_CACHE_ONLY_URL_RETRIEVAL = 0x1000;
const CERT_NAME_RDN_TYPE = 2;
const CERT_NAME_ISSUER_FLAG = 1;
const CERT_X500_NAME_STR = 3;
const CERT_NAME_STR_REVERSE_FLAG = 0x02000000;
const CERT_SHA1_HASH_PROP_ID = 3;
/** INVALID_HANDLE_VALUE as the window: no UI at all */
const NO_WINDOW = -1;
/** WINTRUST_ACTION_GENERIC_VERIFY_V2 {00AAC56B-CD44-11d0-8CC2-00C04FC295EE} */
const GENERIC_VERIFY_V2 = { Data1: 0x00aac56b, Data2: 0xcd44, Data3: 0x11d0, Data4: [0x8c, 0xc2, 0x00, 0xc0, 0x4f, 0xc2, 0x95, 0xee] };

/** What one verification gave: the HRESULT (unsigned) and, when a signer was found, its certificate's names. */
export interface WinVerifyTrustResult {
  code: number;
  subject?: string;
  issuer?: string;
  thumbprint?: string;
}

interface Wintrust {
  koffi: any;
  WinVerifyTrust: Fn;
  WTHelperProvDataFromStateData: Fn;
  WTHelperGetProvSignerFromChain: Fn;
  WTHelperGetProvCertFromChain: Fn;
  CertGetNameStringW: Fn;
  CertGetCertificateContextProperty: Fn;
  GUID: unknown;
  WINTRUST_FILE_INFO: unknown;
  WINTRUST_DATA: unknown;
  PROVIDER_CERT: unknown;
}

let loaded: Wintrust | undefined;

/** The bound functions (Windows only: throws elsewhere, or when koffi or wintrust.dll cannot load). */
export function wintrust(): Wintrust {
  if (loaded) return loaded;
  const { koffi } = win32();
  const wt = koffi.load("wintrust.dll");
  const crypt = koffi.load("crypt32.dll");
  const GUID = koffi.struct("WT_GUID", { Data1: "uint32", Data2: "uint16", Data3: "uint16", Data4: koffi.array("uint8", 8) });
  const WINTRUST_FILE_INFO = koffi.struct("WINTRUST_FILE_INFO", { cbStruct: "uint32", pcwszFilePath: "void *", hFile: "intptr", pgKnownSubject: "void *" });
  const WINTRUST_DATA = koffi.struct("WINTRUST_DATA", {
    cbStruct: "uint32", pPolicyCallbackData: "void *", pSIPClientData: "void *", dwUIChoice: "uint32", fdwRevocationChecks: "uint32",
    dwUnionChoice: "uint32", pFile: "void *", dwStateAction: "uint32", hWVTStateData: "intptr", pwszURLReference: "void *",
    dwProvFlags: "uint32", dwUIContext: "uint32", pSignatureSettings: "void *",
  });
  // CRYPT_PROVIDER_CERT's first two members (all that is read)
  const PROVIDER_CERT = koffi.struct("WT_PROVIDER_CERT_HEAD", { cbStruct: "uint32", pCert: "void *" });
  loaded = {
    koffi,
    WinVerifyTrust: wt.func("long __stdcall WinVerifyTrust(intptr hwnd, void *pgActionID, void *pWVTData)"),
    WTHelperProvDataFromStateData: wt.func("void * __stdcall WTHelperProvDataFromStateData(intptr hStateData)"),
    WTHelperGetProvSignerFromChain: wt.func("void * __stdcall WTHelperGetProvSignerFromChain(void *pProvData, uint32 idxSigner, int fCounterSigner, uint32 idxCounterSigner)"),
    WTHelperGetProvCertFromChain: wt.func("void * __stdcall WTHelperGetProvCertFromChain(void *pSgnr, uint32 idxCert)"),
    CertGetNameStringW: crypt.func("uint32 __stdcall CertGetNameStringW(void *pCertContext, uint32 dwType, uint32 dwFlags, void *pvTypePara, _Out_ uint8_t *pszNameString, uint32 cchNameString)"),
    CertGetCertificateContextProperty: crypt.func("int __stdcall CertGetCertificateContextProperty(void *pCertContext, uint32 dwPropId, _Out_ uint8_t *pvData, _Inout_ uint32 *pcbData)"),
    GUID, WINTRUST_FILE_INFO, WINTRUST_DATA, PROVIDER_CERT,
  };
  return loaded;
}

/** Verify one file's Authenticode signature (embedded; catalog signatures are not looked up). */
export async function verifyFileSignature(path: string): Promise<WinVerifyTrustResult> {
  const w = wintrust();
  const k = w.koffi;
  const pathPtr = k.alloc("char16_t", path.length + 1);
  const guid = k.alloc(w.GUID, 1);
  const file = k.alloc(w.WINTRUST_FILE_INFO, 1);
  const data = k.alloc(w.WINTRUST_DATA, 1);
  try {
    k.encode(pathPtr, k.array("char16_t", path.length + 1, "String"), path);
    k.encode(guid, w.GUID, GENERIC_VERIFY_V2);
    k.encode(file, w.WINTRUST_FILE_INFO, { cbStruct: k.sizeof(w.WINTRUST_FILE_INFO), pcwszFilePath: pathPtr, hFile: 0, pgKnownSubject: null });
    k.encode(data, w.WINTRUST_DATA, {
      cbStruct: k.sizeof(w.WINTRUST_DATA), pPolicyCallbackData: null, pSIPClientData: null, dwUIChoice: WTD_UI_NONE,
      fdwRevocationChecks: WTD_REVOKE_NONE, dwUnionChoice: WTD_CHOICE_FILE, pFile: file, dwStateAction: WTD_STATEACTION_VERIFY,
      hWVTStateData: 0, pwszURLReference: null, dwProvFlags: WTD_CACHE_ONLY_URL_RETRIEVAL, dwUIContext: 0, pSignatureSettings: null,
    });
    const code = await new Promise<number>((resolve, reject) => {
      w.WinVerifyTrust.async(NO_WINDOW, guid, data, (err: unknown, rc: number) => (err ? reject(err) : resolve(rc)));
    });
    const state = Number((k.decode(data, w.WINTRUST_DATA) as { hWVTStateData: number | bigint }).hWVTStateData);
    try {
      return { code: code >>> 0, ...(state ? signerNames(w, state) : {}) };
    } finally {
      // the state is released whatever the result (WTD_STATEACTION_CLOSE on the same data)
      k.encode(data, k.offsetof(w.WINTRUST_DATA, "dwStateAction"), "uint32", WTD_STATEACTION_CLOSE);
      w.WinVerifyTrust(NO_WINDOW, guid, data);
    }
  } finally {
    for (const p of [data, file, guid, pathPtr]) k.free(p);
  }
}

/** The leaf signer certificate's subject, issuer and thumbprint from a verification's state (nothing when unsigned). */
function signerNames(w: Wintrust, state: number): Omit<WinVerifyTrustResult, "code"> {
  const prov = w.WTHelperProvDataFromStateData(state);
  if (!prov) return {};
  const signer = w.WTHelperGetProvSignerFromChain(prov, 0, 0, 0);
  if (!signer) return {};
  const certRow = w.WTHelperGetProvCertFromChain(signer, 0);
  if (!certRow) return {};
  const cert = (w.koffi.decode(certRow, w.PROVIDER_CERT) as { pCert: unknown }).pCert;
  if (!cert) return {};
  const subject = certName(w, cert, 0);
  const issuer = certName(w, cert, CERT_NAME_ISSUER_FLAG);
  const thumbprint = certThumbprint(w, cert);
  return { ...(subject ? { subject } : {}), ...(issuer ? { issuer } : {}), ...(thumbprint ? { thumbprint } : {}) };
}

function certName(w: Wintrust, cert: unknown, flags: number): string {
  const strType = Buffer.alloc(4);
  strType.writeUInt32LE(CERT_X500_NAME_STR | CERT_NAME_STR_REVERSE_FLAG);
  const chars = w.CertGetNameStringW(cert, CERT_NAME_RDN_TYPE, flags, strType, null, 0) as number;
  if (chars <= 1) return "";
  const buf = Buffer.alloc(chars * 2);
  const got = w.CertGetNameStringW(cert, CERT_NAME_RDN_TYPE, flags, strType, buf, chars) as number;
  return buf.toString("utf16le", 0, Math.max(0, got - 1) * 2);
}

function certThumbprint(w: Wintrust, cert: unknown): string {
  const buf = Buffer.alloc(64);
  const size = [buf.length];
  if (!w.CertGetCertificateContextProperty(cert, CERT_SHA1_HASH_PROP_ID, buf, size)) return "";
  return buf.subarray(0, size[0]).toString("hex").toUpperCase();
}
