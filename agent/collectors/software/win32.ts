/**
 * Windows reading, through the registry API (agent/os/win32/registry.ts, UTF-16 end to end):
 *  - the Uninstall keys: HKLM 64-bit, HKLM WOW6432Node (32-bit), and for every loaded user hive
 *    under HKU both of its own (per-user installs);
 *  - change notification: RegNotifyChangeKeyValue on each of those keys (subtree, names and
 *    values) and on HKU itself (a hive loaded at logon / unloaded at logoff); a signal re-arms the
 *    notification, marks only that key dirty, and the collector's debounced re-read reads only
 *    the dirty keys (the others come from the last read);
 *  - per-user software of a user who is logged off (the profile is in ProfileList, its hive is not
 *    loaded) is "not read": its rows are kept (keepScopes), never reported removed. A hive the
 *    agent may not read (access denied) is "not read" too — never "key absent";
 *  - MSIX/Appx (`Get-AppxPackage -AllUsers`, PowerShell) only at the slow reconciling rescan.
 *
 * Fallback when the FFI layer cannot load: `reg export` of the same keys into a temp file, which
 * reg.exe writes as UTF-16LE with a BOM (parseRegExport) — never console text, whose code page
 * garbles Japanese names.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { entryToItem, locateUninstallKey, parseAppxJson, parseRegExport, type Values } from "./parse-win32.js";
import { execText, mapLimit, MissingTool, ReadAccumulator, type Exec, type InventoryRead, type InventoryReader, type WatchTarget } from "./reader.js";
import { uniqueIds, type ParseError, type SoftwareItem } from "./types.js";
// the FFI layer loads koffi and the DLLs on first use only (never off Windows)
import { ERROR_ACCESS_DENIED, HKEY_LOCAL_MACHINE, HKEY_USERS, win32, Win32Error } from "../../os/win32/ffi.js";
import { RegKey } from "../../os/win32/registry.js";
import { sharedWaiter } from "../../os/win32/waiter.js";

export const UNINSTALL = "Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall";
export const UNINSTALL_32 = "Software\\WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall";
export const PROFILE_LIST = "SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\ProfileList";

export const APPX_COMMAND =
  "[Console]::OutputEncoding=[Text.Encoding]::UTF8; " +
  "Get-AppxPackage -AllUsers | Select-Object Name,Version,Publisher,Architecture,PackageFullName,PackageFamilyName," +
  "IsFramework,IsResourcePackage,NonRemovable,SignatureKind,PackageUserInformation | ConvertTo-Json -Depth 3";

/** The values an Uninstall entry is judged by (read one by one with RegQueryValueExW). */
export const ENTRY_VALUES = ["DisplayName", "DisplayVersion", "Publisher", "SystemComponent", "ParentKeyName", "VersionMajor", "VersionMinor"];

/** A user hive under HKU that holds a user's own software (not `_Classes`, not the service accounts). */
export function isUserHive(name: string): boolean {
  return /^S-1-5-21-[\d-]+$/.test(name) || /^S-1-12-1-[\d-]+$/.test(name);
}

/** One Uninstall key the reader reads and watches. */
export interface UninstallKey {
  /** "HKLM" or "HKU" */
  root: "HKLM" | "HKU";
  /** the path under the root */
  sub: string;
  /** "machine" or "user:<SID>" */
  scope: string;
}

export function uninstallKeys(userSids: string[]): UninstallKey[] {
  const keys: UninstallKey[] = [
    { root: "HKLM", sub: UNINSTALL, scope: "machine" },
    { root: "HKLM", sub: UNINSTALL_32, scope: "machine" },
  ];
  for (const sid of userSids) {
    keys.push({ root: "HKU", sub: `${sid}\\${UNINSTALL}`, scope: `user:${sid}` }, { root: "HKU", sub: `${sid}\\${UNINSTALL_32}`, scope: `user:${sid}` });
  }
  return keys;
}

export const keyLabel = (k: Pick<UninstallKey, "root" | "sub">): string => `${k.root === "HKLM" ? "HKEY_LOCAL_MACHINE" : "HKEY_USERS"}\\${k.sub}`;

/**
 * Which user scopes to keep unread: profiles known to the machine (ProfileList) whose hive is not
 * loaded (logged off), and hives that could not be read.
 */
export function unreadUserScopes(profiles: string[], loaded: string[], unreadable: string[]): string[] {
  const live = new Set(loaded);
  const out = new Set(unreadable.map((s) => `user:${s}`));
  for (const sid of profiles) if (isUserHive(sid) && !live.has(sid)) out.add(`user:${sid}`);
  return [...out].sort();
}

/** What one key gave: its rows, or that it could not be read (access denied: keep its scope). */
interface KeyRead {
  items: SoftwareItem[];
  errors: ParseError[];
  denied?: boolean;
}

/** The registry operations the reader needs (the FFI layer, or captured results in tests). */
export interface RegistryApi {
  /** HKU's subkeys (the loaded hives) */
  loadedHives(): string[];
  /** ProfileList's subkeys (every profile on the machine); undefined when unreadable */
  profiles(): string[] | undefined;
  /**
   * every entry of an Uninstall key: subkey name → its values (`values`, default ENTRY_VALUES);
   * undefined when the key is absent; throws { denied: true } on access denied
   */
  readUninstall(key: UninstallKey, values?: readonly string[]): Map<string, Values> | undefined;
  /** watch a key (or its nearest existing ancestor); `onChange` on every change; returns stop */
  watch(key: { root: "HKLM" | "HKU"; sub: string }, subtree: boolean, onChange: () => void): () => void;
}

export class AccessDenied extends Error {
  readonly denied = true;
}

export class Win32SoftwareReader implements InventoryReader {
  private api: RegistryApi | null | undefined;
  private readonly cache = new Map<string, KeyRead>();
  private readonly dirty = new Set<string>();
  private hivesDirty = true;
  private hives: string[] = [];
  private readonly seenUsers = new Set<string>();
  private lastAppx: { items: SoftwareItem[]; errors: ParseError[]; ok: boolean } | undefined;

  constructor(
    private readonly exec: Exec = execText,
    private readonly timeoutMs = 60_000,
    /** the registry API; default: the FFI layer (null = force the reg export fallback) */
    api?: RegistryApi | null,
  ) {
    this.api = api;
  }

  private registry(): RegistryApi | null {
    if (this.api === undefined) {
      try {
        this.api = ffiRegistry();
      } catch {
        this.api = null;
      }
    }
    return this.api;
  }

  async read(opts: { changedOnly?: boolean } = {}): Promise<InventoryRead> {
    const acc = new ReadAccumulator();
    const api = this.registry();
    const full = !opts.changedOnly;
    let keepScopes: string[] = [];
    await Promise.all([
      acc.source("registry", async () => {
        const r = api ? this.readApi(api, full) : await this.readExport();
        keepScopes = r.keepScopes;
        return r;
      }),
      // Appx through PowerShell: only at full reads (start, the slow rescan), never per change
      acc.source("appx", async () => {
        if (!full && this.lastAppx) {
          if (!this.lastAppx.ok) throw new Error("Get-AppxPackage failed at the last rescan");
          return this.lastAppx;
        }
        try {
          const r = parseAppxJson(await this.exec("powershell.exe", ["-NoProfile", "-NonInteractive", "-Command", APPX_COMMAND], { timeoutMs: this.timeoutMs }));
          this.lastAppx = { ...r, ok: true };
          return r;
        } catch (err) {
          if (!(err instanceof MissingTool)) this.lastAppx = { items: [], errors: [], ok: false };
          throw err;
        }
      }),
    ]);
    acc.result.keepScopes = keepScopes;
    return acc.result;
  }

  private readApi(api: RegistryApi, full: boolean): { items: SoftwareItem[]; errors: ParseError[]; keepScopes: string[] } {
    if (full || this.hivesDirty) {
      this.hives = api.loadedHives().filter(isUserHive);
      this.hivesDirty = false;
    }
    const keys = uninstallKeys(this.hives);
    const live = new Set(keys.map(keyLabel));
    for (const label of this.cache.keys()) if (!live.has(label)) this.cache.delete(label);
    const unreadable: string[] = [];
    for (const key of keys) {
      const label = keyLabel(key);
      if (!full && this.cache.has(label) && !this.dirty.has(label)) continue;
      this.dirty.delete(label);
      this.cache.set(label, readKey(api, key));
    }
    const items: SoftwareItem[] = [];
    const errors: ParseError[] = [];
    for (const key of keys) {
      const r = this.cache.get(keyLabel(key))!;
      if (r.denied) {
        if (key.root === "HKLM") throw new Error(`${keyLabel(key)}: access denied`);
        unreadable.push(key.scope.slice("user:".length));
      }
      items.push(...r.items);
      errors.push(...r.errors);
    }
    for (const sid of this.hives) this.seenUsers.add(sid);
    // ProfileList unreadable: the users seen since the agent started stand in for it
    const profiles = api.profiles() ?? [...this.seenUsers];
    return { items: uniqueIds(items), errors, keepScopes: unreadUserScopes(profiles, this.hives, unreadable) };
  }

  /** Fallback: `reg export` each key to a UTF-16LE file and parse it. */
  private async readExport(): Promise<{ items: SoftwareItem[]; errors: ParseError[]; keepScopes: string[] }> {
    const dir = await mkdtemp(join(tmpdir(), "kyoka-reg-"));
    try {
      // the hive names are ASCII SIDs: `reg query HKU` console text is safe for them
      const hku = await this.exec("reg.exe", ["query", "HKU"], { timeoutMs: this.timeoutMs, okExitCodes: [1] });
      const sids = hku.split(/\r?\n/).map((l) => /^HKEY_USERS\\(S-[\d-]+)\s*$/.exec(l.trim())?.[1]).filter((s): s is string => !!s && isUserHive(s));
      const keys = uninstallKeys(sids);
      const unreadable = new Set<string>();
      const results = await mapLimit(keys, 4, async (key) => {
        const file = join(dir, `${keys.indexOf(key)}.reg`);
        try {
          await this.exec("reg.exe", ["export", keyLabel(key), file, "/y"], { timeoutMs: this.timeoutMs });
        } catch (err) {
          if (err instanceof MissingTool) throw err;
          // reg.exe's exit 1 is both "absent" and "access denied": a user's key is kept unread,
          // a machine key is simply empty (WOW6432Node is absent on 32-bit Windows)
          if (key.root === "HKU") unreadable.add(key.scope.slice("user:".length));
          return { items: [], errors: [] };
        }
        return parseRegExport(await readFile(file));
      });
      for (const sid of sids) this.seenUsers.add(sid);
      // the profile list through reg.exe (ASCII key names); logged-off users are kept unread
      const profiles = await this.exec("reg.exe", ["query", `HKLM\\${PROFILE_LIST}`], { timeoutMs: this.timeoutMs, okExitCodes: [1] })
        .then((t) => t.split(/\r?\n/).map((l) => /\\ProfileList\\(S-[\d-]+)\s*$/.exec(l.trim())?.[1]).filter((x): x is string => !!x))
        .catch(() => [...this.seenUsers]);
      return { items: uniqueIds(results.flatMap((r) => r.items)), errors: results.flatMap((r) => r.errors), keepScopes: unreadUserScopes(profiles, sids, [...unreadable]) };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  watchTargets(): WatchTarget[] {
    return [];
  }

  subscribe(onChange: () => void, onError: (err: unknown) => void): () => void {
    const api = this.registry();
    if (!api) return () => undefined;
    const stops = new Map<string, () => void>();
    const watchKeys = (): void => {
      const keys = uninstallKeys(this.hives.length ? this.hives : api.loadedHives().filter(isUserHive));
      const want = new Set(keys.map(keyLabel));
      for (const [label, stop] of stops) if (label !== "HKU" && !want.has(label)) { stop(); stops.delete(label); }
      for (const key of keys) {
        const label = keyLabel(key);
        if (stops.has(label)) continue;
        try {
          stops.set(label, api.watch(key, true, () => {
            this.dirty.add(label);
            onChange();
          }));
        } catch (err) {
          onError(err);
        }
      }
    };
    try {
      // a hive loaded (logon) or unloaded (logoff): re-list the hives, watch their keys
      stops.set("HKU", api.watch({ root: "HKU", sub: "" }, false, () => {
        this.hivesDirty = true;
        this.hives = api.loadedHives().filter(isUserHive);
        watchKeys();
        for (const sid of this.hives) for (const k of uninstallKeys([sid]).slice(2)) this.dirty.add(keyLabel(k));
        onChange();
      }));
      watchKeys();
    } catch (err) {
      onError(err);
    }
    return () => {
      for (const stop of stops.values()) stop();
      stops.clear();
    };
  }
}

function readKey(api: RegistryApi, key: UninstallKey): KeyRead {
  const label = keyLabel(key);
  let entries: Map<string, Values> | undefined;
  try {
    entries = api.readUninstall(key);
  } catch (err) {
    if ((err as { denied?: boolean }).denied) return { items: [], errors: [], denied: true };
    return { items: [], errors: [{ message: `${label}: ${(err as Error).message}` }] };
  }
  const items: SoftwareItem[] = [];
  for (const [entry, values] of entries ?? []) {
    const loc = locateUninstallKey(`${label}\\${entry}`);
    if (!loc) continue;
    const item = entryToItem(loc, values);
    if (item) items.push(item);
  }
  return { items, errors: [] };
}

/** The registry through koffi (Windows only; throws elsewhere or when koffi cannot load). */
export function ffiRegistry(): RegistryApi {
  win32(); // throws off Windows or when koffi cannot load
  const rootOf = (r: "HKLM" | "HKU"): number => (r === "HKLM" ? HKEY_LOCAL_MACHINE : HKEY_USERS);
  const open = (root: "HKLM" | "HKU", sub: string) => {
    try {
      return RegKey.open(rootOf(root), sub, `${root}\\${sub}`);
    } catch (err) {
      if (err instanceof Win32Error && err.code === ERROR_ACCESS_DENIED) throw new AccessDenied(err.message);
      throw err;
    }
  };
  const subkeysOf = (root: "HKLM" | "HKU", sub: string): string[] | undefined => {
    const k = open(root, sub);
    if (!k) return undefined;
    try {
      return k.subkeys();
    } finally {
      k.close();
    }
  };
  return {
    loadedHives: () => subkeysOf("HKU", "") ?? [],
    profiles: () => {
      try {
        return subkeysOf("HKLM", PROFILE_LIST);
      } catch {
        return undefined;
      }
    },
    readUninstall: (key, names = ENTRY_VALUES) => {
      const k = open(key.root, key.sub);
      if (!k) return undefined;
      const out = new Map<string, Values>();
      try {
        for (const name of k.subkeys()) {
          let e;
          try {
            e = open(key.root, `${key.sub}\\${name}`);
          } catch (err) {
            if (err instanceof AccessDenied) continue; // one entry hidden from us: skip it, read the rest
            throw err;
          }
          if (!e) continue; // removed between the listing and the open
          const values: Values = {};
          try {
            for (const v of names) {
              const x = e.value(v);
              if (x !== undefined) values[v] = x;
            }
          } finally {
            e.close();
          }
          out.set(name, values);
        }
      } finally {
        k.close();
      }
      return out;
    },
    watch: (key, subtree, onChange) => {
      const waiter = sharedWaiter();
      let handle: RegKey | undefined;
      let exact = false;
      // the key, or (while it does not exist) its nearest existing ancestor, watched for names
      const arm = (): void => {
        handle?.close();
        handle = undefined;
        const parts = key.sub ? key.sub.split("\\") : [];
        for (let n = parts.length; n >= 0; n--) {
          const k = open(key.root, parts.slice(0, n).join("\\"));
          if (k) {
            handle = k;
            exact = n === parts.length;
            break;
          }
        }
        if (!handle) throw new Error(`${key.root}\\${key.sub}: no ancestor to watch`);
        handle.notify(reg.event, exact ? subtree : false);
      };
      const reg = waiter.add(() => {
        const wasExact = exact;
        arm(); // re-arm first: a change during the re-read is signalled again
        if (wasExact || exact) onChange();
      });
      try {
        arm();
      } catch (err) {
        reg.close();
        throw err;
      }
      return () => {
        reg.close();
        handle?.close();
      };
    },
  };
}

