/**
 * Windows: what counts as installed or part of the OS, and the Authenticode signer (pure; the
 * reading is in win32.ts).
 * - Install locations: the `InstallLocation` value of each Uninstall entry, read through the
 *   registry API (normalizeInstallLocation), or from `reg query <Uninstall key> /s` text
 *   (parseUninstallLocations: kept for captured outputs and the no-FFI fallback);
 * - the OS and installer-owned trees: %SystemRoot% (less its user-writable Temp, Tasks, tracing,
 *   debug folders), %ProgramFiles%, %ProgramFiles(x86)%, %ProgramW6432%;
 * - the signer: a WinVerifyTrust result (agent/os/win32/wintrust.ts: the HRESULT with the signer
 *   certificate's subject, issuer and thumbprint), or, when koffi cannot load,
 *   `Get-AuthenticodeSignature … | ConvertTo-Json` (Status as the SignatureStatus enum number, or
 *   its name with -EnumsAsStrings).
 */
import { publisherFromDn, readRegQuery } from "../software/parse-win32.js";

/** One InstallLocation value → the folder it names (quotes and trailing \ removed), or undefined for an empty value, a bare drive or a relative path. */
export function normalizeInstallLocation(raw: unknown): string | undefined {
  if (typeof raw !== "string") return undefined;
  const loc = raw.trim().replace(/^"(.*)"$/, "$1").replace(/[\\/]+$/, "");
  // empty, a bare drive (C:) or not absolute: would cover far too much, or nothing definite
  return /^[A-Za-z]:\\.+|^\\\\[^\\]+\\[^\\]+/.test(loc) ? loc : undefined;
}

/** `reg query … /s` → every Uninstall entry's InstallLocation (see normalizeInstallLocation). */
export function parseUninstallLocations(regText: string): string[] {
  const out: string[] = [];
  for (const { values } of readRegQuery(regText).keys) {
    const loc = normalizeInstallLocation(values.InstallLocation);
    if (loc) out.push(loc);
  }
  return [...new Set(out)];
}

/** The OS and Program Files trees from the environment, and the user-writable folders under them that do not count. */
export function windowsSystemTrees(env: Record<string, string | undefined>): { trees: { root: string; source: string }[]; excluded: string[] } {
  const sysRoot = env.SystemRoot ?? env.SYSTEMROOT ?? env.windir ?? "C:\\Windows";
  const trees = [{ root: sysRoot, source: "windows" }];
  for (const k of ["ProgramFiles", "ProgramFiles(x86)", "ProgramW6432"]) {
    const v = env[k] ?? env[k.toUpperCase()];
    if (v) trees.push({ root: v, source: "program-files" });
  }
  // folders under %SystemRoot% that ordinary users can write to
  const excluded = ["Temp", "Tasks", "tracing", "debug", "System32\\spool\\drivers\\color", "System32\\Tasks", "SysWOW64\\Tasks", "Registration\\CRMLog"].map((s) => `${sysRoot}\\${s}`);
  return { trees: dedupeCi(trees), excluded };
}

function dedupeCi<T extends { root: string }>(xs: T[]): T[] {
  const seen = new Set<string>();
  return xs.filter((x) => {
    const k = x.root.toLowerCase();
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

export type SignatureStatus = "valid" | "not_signed" | "hash_mismatch" | "not_trusted" | "unknown_error" | "not_supported" | "incompatible";

export interface SignerInfo {
  path?: string;
  status: SignatureStatus;
  /** the signer's name (CN of the certificate subject) when signed, else null */
  signer: string | null;
  subject?: string;
  issuer?: string;
  thumbprint?: string;
}

/** System.Management.Automation.SignatureStatus */
const STATUS_BY_NUMBER: Record<number, SignatureStatus> = {
  0: "valid", 1: "unknown_error", 2: "not_signed", 3: "hash_mismatch", 4: "not_trusted", 5: "not_supported", 6: "incompatible",
};
const STATUS_BY_NAME: Record<string, SignatureStatus> = {
  valid: "valid", unknownerror: "unknown_error", notsigned: "not_signed", hashmismatch: "hash_mismatch",
  nottrusted: "not_trusted", notsupportedfileformat: "not_supported", incompatible: "incompatible",
};

/**
 * `Get-AuthenticodeSignature -LiteralPath … | Select-Object Path,Status,@{n='Subject';e={$_.SignerCertificate.Subject}},
 * @{n='Issuer';e={$_.SignerCertificate.Issuer}},@{n='Thumbprint';e={$_.SignerCertificate.Thumbprint}} | ConvertTo-Json`
 * → one SignerInfo per file (a single object when one file was asked). Rows it cannot read are skipped.
 */
export function parseAuthenticodeJson(text: string): SignerInfo[] {
  const trimmed = text.replace(/^\uFEFF/, "").trim();
  if (!trimmed) return [];
  let data: unknown;
  try { data = JSON.parse(trimmed); } catch { return []; }
  const rows = Array.isArray(data) ? data : [data];
  const out: SignerInfo[] = [];
  for (const r of rows) {
    if (typeof r !== "object" || r === null) continue;
    const o = r as Record<string, unknown>;
    const status = typeof o.Status === "number" ? STATUS_BY_NUMBER[o.Status] : typeof o.Status === "string" ? STATUS_BY_NAME[o.Status.toLowerCase()] : undefined;
    if (!status) continue;
    const subject = typeof o.Subject === "string" && o.Subject ? o.Subject : undefined;
    out.push({
      ...(typeof o.Path === "string" ? { path: o.Path } : {}),
      status,
      // the certificate of a broken signature still names someone: only a valid or untrusted-root signature names the signer
      signer: subject && (status === "valid" || status === "not_trusted") ? publisherFromDn(subject) : null,
      ...(subject ? { subject } : {}),
      ...(typeof o.Issuer === "string" && o.Issuer ? { issuer: o.Issuer } : {}),
      ...(typeof o.Thumbprint === "string" && o.Thumbprint ? { thumbprint: o.Thumbprint } : {}),
    });
  }
  return out;
}

/**
 * A WinVerifyTrust result (agent/os/win32/wintrust.ts: the HRESULT, as a signed or unsigned 32-bit
 * number, and the signer certificate's names when it found one) → status and signer. Only a valid
 * or untrusted-root signature names the signer (a broken one still carries someone's certificate).
 */
export function signerFromWinVerifyTrust(code: number, names: { subject?: string; issuer?: string; thumbprint?: string } = {}): SignerInfo {
  const c = code >>> 0;
  const status: SignatureStatus =
    c === 0 ? "valid"
      : c === 0x800b0100 ? "not_signed" // TRUST_E_NOSIGNATURE
        : c === 0x80096010 ? "hash_mismatch" // TRUST_E_BAD_DIGEST
          : c === 0x800b0109 || c === 0x800b010a || c === 0x800b0111 || c === 0x800b0101 ? "not_trusted" // untrusted root, chaining, explicit distrust, expired
            : c === 0x800b0003 || c === 0x800b0001 ? "not_supported" // TRUST_E_SUBJECT_FORM_UNKNOWN, TRUST_E_PROVIDER_UNKNOWN
              : "unknown_error";
  const { subject, issuer, thumbprint } = names;
  return {
    status,
    signer: subject && (status === "valid" || status === "not_trusted") ? publisherFromDn(subject) : null,
    ...(subject ? { subject } : {}), ...(issuer ? { issuer } : {}), ...(thumbprint ? { thumbprint } : {}),
  };
}

/** A SignerInfo as the executed collector reports it (signer, signatureStatus, and the certificate in `signature`). */
export function signatureOf(row: SignerInfo | undefined, extra: Record<string, unknown> = {}): { signer: string | null; status: string; detail?: Record<string, unknown> } {
  if (!row) return { signer: null, status: "unknown_error", ...(Object.keys(extra).length ? { detail: extra } : {}) };
  const detail = { ...(row.subject ? { subject: row.subject } : {}), ...(row.issuer ? { issuer: row.issuer } : {}), ...(row.thumbprint ? { thumbprint: row.thumbprint } : {}), ...extra };
  return { signer: row.signer, status: row.status, ...(Object.keys(detail).length ? { detail } : {}) };
}
