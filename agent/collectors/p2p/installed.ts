/**
 * Installed software for p2p.installed, read by the software collector's readers (one parser per
 * package database, shared): Linux dpkg + rpm + snap + flatpak, Windows Uninstall keys (HKLM,
 * WOW6432Node, every loaded HKU hive) + Appx, macOS application bundles + pkgutil receipts.
 *
 * The P2P collector asks every scan cycle (every 2 s by default), so this reads again only when
 * something may have changed: a stat of the reader's watch targets (the dpkg status file, the rpm
 * database, snapd's state, the flatpak folders, /Applications…) differs, or `maxAgeMs` has passed
 * (Windows has no watch targets: the registry cannot be stat'ed). After the first read, reads run
 * in the background, so a slow `rpm -qa` never delays the process scan.
 *
 * The stats are not taken every cycle either: each watch target's folder is watched (inotify on
 * Linux, FSEvents/kqueue on macOS; a folder that does not exist through its nearest existing
 * parent, so its creation is seen), and the fingerprint is taken only after a change notice, or
 * every `fingerprintEveryMs` (1 min) as the safety net; where a folder cannot be watched, every
 * cycle as before.
 */
import { watch, type FSWatcher } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { dirname, join, relative, sep } from "node:path";
import { currentInventory } from "../software/diff.js";
import type { InventoryReader, WatchTarget } from "../software/reader.js";
import type { SoftwareItem } from "../software/types.js";
import type { InstalledItem } from "./match.js";

/** A cheap fingerprint of the watch targets: the matching entries' (name, size, mtime), or the folder's mtime. */
export async function watchFingerprint(targets: readonly WatchTarget[]): Promise<string> {
  const parts: string[] = [];
  for (const t of targets) {
    try {
      if (!t.match) {
        const st = await stat(t.dir);
        parts.push(`${t.dir}:${st.mtimeMs}`);
        continue;
      }
      const names = (await readdir(t.dir)).filter(t.match).sort();
      for (const n of names) {
        const st = await stat(join(t.dir, n)).catch(() => undefined);
        parts.push(`${t.dir}/${n}:${st ? `${st.ino}:${st.size}:${st.mtimeMs}` : "-"}`);
      }
    } catch {
      parts.push(`${t.dir}:absent`);
    }
  }
  return parts.join("|");
}

export interface InstalledSoftwareOptions {
  reader?: InventoryReader;
  /** read again after this long even when the watch targets look unchanged (default 10 min) */
  maxAgeMs?: number;
  /** more items from a source the software collector does not read (macOS: brew) */
  extra?: () => Promise<InstalledItem[]>;
  /** told when a source could not be read (its last known rows are kept) */
  onFailure?: (failed: { source: string; message: string }[]) => void;
  /** with the folders watched, the fingerprint is still taken this often (default 60 s) */
  fingerprintEveryMs?: number;
  /** false: never watch the folders (fingerprint every call) — tests */
  watch?: boolean;
}

/** The nearest existing folder at or above `dir` (undefined at the root). */
async function nearestExisting(dir: string): Promise<string | undefined> {
  for (let d = dir; ; d = dirname(d)) {
    try {
      if ((await stat(d)).isDirectory()) return d;
    } catch { /* go up */ }
    if (dirname(d) === d) return undefined;
  }
}

export class InstalledSoftware {
  /** the OS default is imported on first use (platform.js loads every OS's reader) */
  private reader: InventoryReader | undefined;
  private readonly maxAgeMs: number;
  private last: Record<string, SoftwareItem> | undefined;
  private lastExtra: InstalledItem[] = [];
  private lastKey: string | undefined;
  private readAt = -Infinity;
  private inFlight?: Promise<void>;
  private error: unknown;
  /** a read finished since the caller last asked */
  private fresh = false;
  /** the folder watches (undefined: not set up yet), and whether every target is covered */
  private watchers: FSWatcher[] | undefined;
  private watchedAll = false;
  /** a change notice came since the last fingerprint (or a watch must be set up again) */
  private dirty = true;
  private rewatch = false;
  private fingerprintAt = -Infinity;
  /** fingerprints taken (tests and benches) */
  fingerprints = 0;

  constructor(private readonly opts: InstalledSoftwareOptions = {}) {
    this.reader = opts.reader;
    this.maxAgeMs = opts.maxAgeMs ?? 600_000;
  }

  /** Stop watching the folders. */
  close(): void {
    for (const w of this.watchers ?? []) w.close();
    this.watchers = undefined;
  }

  /**
   * Watch each target's folder (or its nearest existing parent, for the name on the way to it).
   * `watchedAll` stays false when one cannot be watched: then every call takes the fingerprint.
   */
  private async watchTargets(targets: readonly WatchTarget[]): Promise<void> {
    if (this.watchers && !this.rewatch) return;
    this.close();
    this.rewatch = false;
    this.watchers = [];
    if (this.opts.watch === false) { this.watchedAll = false; return; }
    let all = true;
    for (const t of targets) {
      const at = await nearestExisting(t.dir);
      if (!at) { all = false; continue; }
      // a parent stands in for a folder that does not exist yet: the name on the way down appearing
      // is a change (and the watches are set up again, on the folder itself this time)
      const next = at === t.dir ? undefined : relative(at, t.dir).split(sep)[0];
      try {
        const w = watch(at, { persistent: false }, (_event, name) => {
          if (next === undefined) { this.dirty = true; return; }
          if (name === null || String(name) === next) { this.dirty = true; this.rewatch = true; }
        });
        w.on("error", () => { this.dirty = true; this.rewatch = true; this.watchedAll = false; });
        this.watchers.push(w);
      } catch {
        all = false;
      }
    }
    this.watchedAll = all && targets.length > 0;
    this.dirty = true;
  }

  /**
   * The installed items, or `undefined` when nothing changed since the last answer. The first
   * call waits for the read; later reads run in the background and are answered by the next call.
   */
  async read(): Promise<InstalledItem[] | undefined> {
    if (!this.inFlight) {
      const reader = await this.softwareReader();
      const targets = reader.watchTargets();
      await this.watchTargets(targets);
      const now = Date.now();
      let key = this.lastKey;
      if (!this.watchedAll || this.dirty || now - this.fingerprintAt >= (this.opts.fingerprintEveryMs ?? 60_000)) {
        this.dirty = false; // a notice from here on marks it again
        this.fingerprintAt = now;
        this.fingerprints++;
        key = await watchFingerprint(targets);
      }
      if (key !== this.lastKey || now - this.readAt >= this.maxAgeMs) {
        this.inFlight = this.readNow(key)
          .catch((err: unknown) => { this.error = err; })
          .finally(() => { this.inFlight = undefined; });
      }
    }
    if (this.last === undefined) await this.inFlight;
    if (this.error !== undefined) {
      const err = this.error;
      this.error = undefined;
      throw err;
    }
    if (!this.fresh) return undefined;
    this.fresh = false;
    return [
      ...Object.values(this.last ?? {}).map((i) => ({ name: i.name, version: i.version, source: i.source })),
      ...this.lastExtra,
    ];
  }

  private async softwareReader(): Promise<InventoryReader> {
    return (this.reader ??= (await import("../software/platform.js")).defaultSoftwareReader());
  }

  private async readNow(key: string | undefined): Promise<void> {
    const [read, extra] = await Promise.all([
      this.softwareReader().then((r) => r.read()),
      this.opts.extra ? this.opts.extra().catch(() => this.lastExtra) : Promise.resolve([]),
    ]);
    if (read.failed.length) this.opts.onFailure?.(read.failed);
    this.last = currentInventory(read, this.last);
    this.lastExtra = extra;
    this.lastKey = key;
    this.readAt = Date.now();
    this.fresh = true;
  }
}
