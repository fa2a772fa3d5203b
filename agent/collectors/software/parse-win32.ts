/**
 * Windows installed software → SoftwareItem rows. Pure functions: text in, rows and errors out.
 *
 * - `reg query <Uninstall key> /s`: a key line at column 0 (`HKEY_LOCAL_MACHINE\...\Uninstall\7-Zip`),
 *   then one value a line, indented 4 spaces: `name    REG_TYPE    data` (4 spaces between the
 *   columns; the data may be empty or contain spaces); a blank line after each key.
 *   Keys read: HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall (64-bit view),
 *   HKLM\SOFTWARE\WOW6432Node\...\Uninstall (32-bit view) and HKU\<SID>\Software\...\Uninstall
 *   (per-user installs), also their WOW6432Node.
 * - PowerShell `Get-ItemProperty <key>\* | ConvertTo-Json`: objects with the values plus PSPath /
 *   PSChildName.
 * - `Get-AppxPackage [-AllUsers] | Select Name,Version,Publisher,Architecture,PackageFullName,
 *   PackageFamilyName,IsFramework,IsResourcePackage,NonRemovable,SignatureKind,PackageUserInformation
 *   | ConvertTo-Json` (Architecture is a number unless -EnumsAsStrings: 0 X86, 5 Arm, 9 X64,
 *   11 Neutral, 12 Arm64).
 *
 * Like Programs and Features: an Uninstall entry without DisplayName, with SystemComponent=1, or
 * with ParentKeyName (an update listed under its product) is not shown. Framework and resource
 * Appx packages are not shown either (Settings › Apps hides them).
 * scope: "machine" or "user:<SID>"; arch: the registry view, "64-bit" or "32-bit".
 */
import { compact, uniqueIds, type ParseError, type ParseResult, type SoftwareItem } from "./types.js";

export interface UninstallLocation {
  scope: string;
  view: "64-bit" | "32-bit";
  /** the entry's subkey name under Uninstall */
  entry: string;
}

const HIVES: Record<string, string> = {
  HKLM: "HKEY_LOCAL_MACHINE",
  HKU: "HKEY_USERS",
  HKCU: "HKEY_CURRENT_USER",
};

/** Where an Uninstall entry lives: `HKEY_...\...\Uninstall\<entry>` → scope, view; else undefined. */
export function locateUninstallKey(key: string): UninstallLocation | undefined {
  const parts = key.split("\\");
  const hive = HIVES[parts[0]!.toUpperCase()] ?? parts[0]!.toUpperCase();
  let rest = parts.slice(1);
  let scope: string;
  if (hive === "HKEY_LOCAL_MACHINE") scope = "machine";
  else if (hive === "HKEY_USERS") {
    if (rest.length === 0) return undefined;
    scope = `user:${rest[0]}`;
    rest = rest.slice(1);
  } else if (hive === "HKEY_CURRENT_USER") scope = "user";
  else return undefined;
  const lower = rest.map((p) => p.toLowerCase());
  if (lower[0] !== "software") return undefined;
  let i = 1;
  let view: "64-bit" | "32-bit" = "64-bit";
  if (lower[i] === "wow6432node") {
    view = "32-bit";
    i++;
  }
  const want = ["microsoft", "windows", "currentversion", "uninstall"];
  for (const w of want) if (lower[i++] !== w) return undefined;
  // only direct children of Uninstall are entries (deeper keys are the installers' own)
  if (rest.length !== i + 1) return undefined;
  return { scope, view, entry: rest[i]! };
}

export type Values = Record<string, string | number | undefined>;

/** One Uninstall entry's values → its row (undefined when Programs and Features would not show it). */
export function entryToItem(loc: UninstallLocation, v: Values): SoftwareItem | undefined {
  const name = typeof v.DisplayName === "string" ? v.DisplayName.trim() : "";
  if (!name) return undefined;
  if (Number(v.SystemComponent) === 1) return undefined;
  if (typeof v.ParentKeyName === "string" && v.ParentKeyName.trim()) return undefined;
  let version = v.DisplayVersion === undefined ? "" : String(v.DisplayVersion).trim();
  if (!version && v.VersionMajor !== undefined) version = `${Number(v.VersionMajor)}.${Number(v.VersionMinor ?? 0)}`;
  const publisher = typeof v.Publisher === "string" ? v.Publisher.trim() : undefined;
  return compact({
    id: `registry:${loc.scope}:${loc.view}:${loc.entry}`,
    name,
    version,
    publisher,
    source: "registry",
    arch: loc.view,
    scope: loc.scope,
  });
}

/** reg.exe data → a JS value: REG_DWORD/QWORD 0x… as a number, everything else as text. */
function regData(type: string, data: string): string | number {
  if ((type === "REG_DWORD" || type === "REG_QWORD") && /^0x[0-9a-f]+$/i.test(data)) return parseInt(data, 16);
  return data;
}

/**
 * `reg query <key> /s` text output (one or several, concatenated) → each key with its values, and
 * the lines it could not read. Shared with the executed collector (install locations).
 */
export function readRegQuery(text: string): { keys: { key: string; values: Values }[]; errors: ParseError[] } {
  const keys: { key: string; values: Values }[] = [];
  const errors: ParseError[] = [];
  let current: { key: string; values: Values } | undefined;
  const lines = text.replace(/^\uFEFF/, "").replace(/\r\n?/g, "\n").split("\n");
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    if (/^HKEY_[A-Z_]+(\\|$)/.test(line)) {
      current = { key: line.trim(), values: {} };
      keys.push(current);
      return;
    }
    if (/^End of search:/.test(line)) return;
    const m = /^ {4}(.*?) {4}(REG_[A-Z_]+)(?: {4}(.*))?$/.exec(line.replace(/\s+$/, ""));
    if (!m) {
      errors.push({ line: i + 1, message: `reg query: cannot read "${line.slice(0, 80)}"${current ? ` (under ${current.key})` : ""}` });
      return;
    }
    if (!current) {
      errors.push({ line: i + 1, message: `reg query: value line before any key: "${line.slice(0, 80)}"` });
      return;
    }
    current.values[m[1]!] = regData(m[2]!, m[3] ?? "");
  });
  return { keys, errors };
}

/** `reg query <key> /s` text output (one or several, concatenated). */
export function parseRegQuery(text: string): ParseResult {
  const { keys, errors } = readRegQuery(text);
  const items: SoftwareItem[] = [];
  for (const { key, values } of keys) {
    const loc = locateUninstallKey(key);
    if (!loc) continue;
    const item = entryToItem(loc, values);
    if (item) items.push(item);
  }
  return { items: uniqueIds(items), errors };
}

function jsonArray(text: string, what: string): { rows: unknown[]; errors: ParseError[] } {
  const t = text.replace(/^\uFEFF/, "").trim();
  if (!t) return { rows: [], errors: [] };
  let data: unknown;
  try {
    data = JSON.parse(t);
  } catch (err) {
    return { rows: [], errors: [{ message: `${what}: not JSON (${(err as Error).message})` }] };
  }
  // ConvertTo-Json writes a single object (not an array) when there is one row
  if (data === null) return { rows: [], errors: [] };
  return { rows: Array.isArray(data) ? data : [data], errors: [] };
}

/** PowerShell `Get-ItemProperty '<Uninstall key>\*' | ConvertTo-Json`. */
export function parseUninstallJson(text: string): ParseResult {
  const { rows, errors } = jsonArray(text, "Get-ItemProperty JSON");
  const items: SoftwareItem[] = [];
  rows.forEach((row, i) => {
    if (!row || typeof row !== "object" || Array.isArray(row)) {
      errors.push({ message: `Get-ItemProperty JSON: entry ${i} is not an object; skipped` });
      return;
    }
    const r = row as Record<string, unknown>;
    const psPath = typeof r.PSPath === "string" ? r.PSPath : undefined;
    const key = psPath?.replace(/^.*?::/, "");
    const loc = key ? locateUninstallKey(key) : undefined;
    if (!loc) {
      errors.push({ message: `Get-ItemProperty JSON: entry ${i} has no Uninstall PSPath (${psPath ?? "missing"}); skipped` });
      return;
    }
    const values: Values = {};
    for (const [k, v] of Object.entries(r)) if (typeof v === "string" || typeof v === "number") values[k] = v;
    const item = entryToItem(loc, values);
    if (item) items.push(item);
  });
  return { items: uniqueIds(items), errors };
}

const APPX_ARCH: Record<number, string> = { 0: "x86", 5: "arm", 9: "x64", 11: "neutral", 12: "arm64", 14: "x86a64" };

/** "CN=Microsoft Corporation, O=Microsoft Corporation, L=Redmond, S=Washington, C=US" → "Microsoft Corporation" */
export function publisherFromDn(dn: string): string {
  const m = /(?:^|,\s*)CN=("([^"]*)"|[^,]*)/i.exec(dn);
  if (!m) return dn.trim();
  return (m[2] ?? m[1]!).trim();
}

/** `Get-AppxPackage | Select … | ConvertTo-Json`. One row per user it is installed for, when known. */
export function parseAppxJson(text: string): ParseResult {
  const { rows, errors } = jsonArray(text, "Get-AppxPackage JSON");
  const items: SoftwareItem[] = [];
  rows.forEach((row, i) => {
    if (!row || typeof row !== "object" || Array.isArray(row)) {
      errors.push({ message: `Get-AppxPackage JSON: entry ${i} is not an object; skipped` });
      return;
    }
    const r = row as Record<string, unknown>;
    if (typeof r.Name !== "string" || !r.Name || (typeof r.Version !== "string" && typeof r.Version !== "object")) {
      errors.push({ message: `Get-AppxPackage JSON: entry ${i} has no Name/Version; skipped` });
      return;
    }
    if (r.IsFramework === true || r.IsResourcePackage === true) return;
    const version = typeof r.Version === "string" ? r.Version : versionObject(r.Version);
    const arch = typeof r.Architecture === "number" ? APPX_ARCH[r.Architecture] ?? String(r.Architecture) : typeof r.Architecture === "string" ? r.Architecture.toLowerCase() : undefined;
    const family = typeof r.PackageFamilyName === "string" ? r.PackageFamilyName : r.Name;
    const base = {
      name: r.Name,
      version,
      publisher: typeof r.Publisher === "string" ? publisherFromDn(r.Publisher) : undefined,
      source: "appx" as const,
      arch,
    };
    const users = userSids(r.PackageUserInformation);
    if (users.length === 0) items.push(compact({ ...base, id: `appx:${family}:${arch ?? ""}` }));
    for (const sid of users) items.push(compact({ ...base, id: `appx:user:${sid}:${family}:${arch ?? ""}`, scope: `user:${sid}` }));
  });
  return { items: uniqueIds(items), errors };
}

function versionObject(v: unknown): string {
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    if (typeof o.Major === "number") return [o.Major, o.Minor, o.Build, o.Revision].filter((x) => typeof x === "number").join(".");
  }
  return "";
}

/**
 * PackageUserInformation as ConvertTo-Json writes it at its default depth: strings such as
 * "S-1-5-21-…-1001 [user]: Installed" (or objects with UserSecurityId.Sid and InstallState).
 */
function userSids(info: unknown): string[] {
  if (!Array.isArray(info)) return [];
  const out: string[] = [];
  for (const u of info) {
    if (typeof u === "string") {
      const m = /^(S-[\d-]+)\b.*?:\s*(\w+)/.exec(u);
      if (m && /^installed$/i.test(m[2]!)) out.push(m[1]!);
    } else if (u && typeof u === "object") {
      const o = u as { UserSecurityId?: { Sid?: unknown } | string; InstallState?: unknown };
      const sid = typeof o.UserSecurityId === "string" ? o.UserSecurityId : o.UserSecurityId?.Sid;
      const state = o.InstallState;
      if (typeof sid === "string" && state !== "NotInstalled" && state !== "Staged" && state !== 0) out.push(sid);
    }
  }
  return out;
}

/** `reg export` string escapes: \\ and \" (the rest is literal). */
function unescapeRegString(s: string): string {
  return s.replace(/\\(["\\])/g, "$1");
}

/** hex(N):aa,bb,… (with `\` line continuations already joined) → bytes. */
function hexBytes(list: string): Buffer {
  const bytes = list.split(",").map((b) => b.trim()).filter(Boolean).map((b) => parseInt(b, 16));
  return Buffer.from(bytes.filter((b) => Number.isInteger(b) && b >= 0 && b <= 255));
}

/**
 * `reg export <key> <file>` output: "Windows Registry Editor Version 5.00", then `[HKEY_…\key]`
 * sections with `"name"="text"`, `"name"=dword:0000000a`, `"name"=hex(2):…` (REG_EXPAND_SZ as
 * UTF-16LE bytes), `@=` for the default value; long hex lists continue on the next line after
 * `\`. reg.exe writes the file as UTF-16LE with a BOM — pass the raw bytes (a Buffer) and they
 * are decoded here, never through a console code page.
 */
export function parseRegExport(input: Buffer | string): ParseResult {
  let text: string;
  if (typeof input === "string") text = input;
  else if (input[0] === 0xff && input[1] === 0xfe) text = input.toString("utf16le", 2);
  else text = input.toString("utf8");
  text = text.replace(/^\uFEFF/, "").replace(/\r\n?/g, "\n");
  const items: SoftwareItem[] = [];
  const errors: ParseError[] = [];
  let key: string | undefined;
  let values: Values = {};
  const flush = (): void => {
    if (key) {
      const loc = locateUninstallKey(key);
      if (loc) {
        const item = entryToItem(loc, values);
        if (item) items.push(item);
      }
    }
    key = undefined;
    values = {};
  };
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    const lineNo = i + 1;
    while (line.endsWith("\\") && /=hex(\([0-9a-f]+\))?:/i.test(line) && i + 1 < lines.length) line = line.slice(0, -1) + lines[++i]!.trim();
    if (!line.trim() || /^Windows Registry Editor/.test(line) || /^REGEDIT4/.test(line)) continue;
    const sec = /^\[(-?)(HKEY_[^\]]*)\]\s*$/.exec(line);
    if (sec) {
      flush();
      if (!sec[1]) key = sec[2]!;
      continue;
    }
    const m = /^(?:"((?:[^"\\]|\\.)*)"|@)=(.*)$/.exec(line);
    if (!m) {
      errors.push({ line: lineNo, message: `reg export: cannot read "${line.slice(0, 80)}"${key ? ` (under ${key})` : ""}` });
      continue;
    }
    if (!key) continue;
    const name = m[1] === undefined ? "" : unescapeRegString(m[1]);
    const data = m[2]!;
    let v: string | number | undefined;
    let sm: RegExpExecArray | null;
    if ((sm = /^"((?:[^"\\]|\\.)*)"$/.exec(data))) v = unescapeRegString(sm[1]!);
    else if ((sm = /^dword:([0-9a-f]{1,8})$/i.exec(data))) v = parseInt(sm[1]!, 16);
    else if ((sm = /^hex\(b\):(.*)$/i.exec(data))) {
      const b = hexBytes(sm[1]!);
      v = b.length >= 8 ? Number(b.readBigUInt64LE(0)) : undefined;
    } else if ((sm = /^hex\((2|7)\):(.*)$/i.exec(data))) {
      const b = hexBytes(sm[2]!);
      v = b.toString("utf16le", 0, b.length - (b.length % 2)).split("\0").filter(Boolean).join("\n");
    } else if (/^hex(\([0-9a-f]+\))?:/i.test(data)) v = undefined; // binary: not needed
    else {
      errors.push({ line: lineNo, message: `reg export: unknown value data "${data.slice(0, 40)}" (under ${key})` });
      continue;
    }
    if (v !== undefined) values[name] = v;
  }
  flush();
  return { items: uniqueIds(items), errors };
}
