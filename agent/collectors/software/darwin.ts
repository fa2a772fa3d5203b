/**
 * macOS reading: application bundles in /Applications (and one folder level below, e.g.
 * /Applications/Utilities) and every user's ~/Applications, through
 * `plutil -convert xml1 -o - <Info.plist>`; installer receipts through `pkgutil --pkgs` and
 * `pkgutil --pkg-info <id>`; Homebrew formulae and casks from its Cellar/Caskroom folders, without
 * running `brew` (it refuses to run as root). Watch targets: the Applications folders,
 * /var/db/receipts and the Cellar/Caskroom folders.
 */

/** Homebrew prefixes: Apple silicon, then Intel. */
export const HOMEBREW_PREFIXES = ["/opt/homebrew", "/usr/local"];
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { homebrewItems, parseInfoPlist, parsePkgutilInfo, parsePkgutilPkgs } from "./parse-darwin.js";
import { execText, mapLimit, ReadAccumulator, type Exec, type InventoryRead, type InventoryReader, type WatchTarget } from "./reader.js";
import type { ParseError, SoftwareItem } from "./types.js";

async function listDir(dir: string, unreadable?: () => void): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    // EPERM/EACCES (no Full Disk Access): "not read", unlike a folder that is absent
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EPERM" || code === "EACCES") unreadable?.();
    return [];
  }
}

export class DarwinSoftwareReader implements InventoryReader {
  constructor(private readonly exec: Exec = execText, private readonly timeoutMs = 30_000) {}

  private async applicationFolders(): Promise<{ dir: string; scope: string }[]> {
    const out = [{ dir: "/Applications", scope: "machine" }];
    for (const user of await listDir("/Users")) {
      if (user.startsWith(".") || user === "Shared") continue;
      out.push({ dir: join("/Users", user, "Applications"), scope: `user:${user}` });
    }
    return out;
  }

  /** scopes whose Applications folder could not be read (privacy grant missing): their rows are kept */
  private unreadScopes = new Set<string>();

  private async bundles(): Promise<{ path: string; scope: string }[]> {
    const out: { path: string; scope: string }[] = [];
    this.unreadScopes = new Set();
    for (const { dir, scope } of await this.applicationFolders()) {
      for (const name of await listDir(dir, () => this.unreadScopes.add(scope))) {
        if (name.endsWith(".app")) out.push({ path: join(dir, name), scope });
        else if (!name.startsWith(".")) {
          for (const inner of await listDir(join(dir, name))) if (inner.endsWith(".app")) out.push({ path: join(dir, name, inner), scope });
        }
      }
    }
    return out;
  }

  async read(): Promise<InventoryRead> {
    const acc = new ReadAccumulator();
    const t = { timeoutMs: this.timeoutMs };
    await Promise.all([
      acc.source("app-bundle", async () => {
        const items: SoftwareItem[] = [];
        const errors: ParseError[] = [];
        await mapLimit(await this.bundles(), 8, async (b) => {
          try {
            const xml = await this.exec("plutil", ["-convert", "xml1", "-o", "-", join(b.path, "Contents", "Info.plist")], t);
            const r = parseInfoPlist(xml, b.path, b.scope);
            items.push(...r.items);
            errors.push(...r.errors);
            if (r.items.length === 0) acc.keep(`app-bundle:${b.path}`);
          } catch (err) {
            errors.push({ message: `${b.path}: ${(err as Error).message}` });
            acc.keep(`app-bundle:${b.path}`);
          }
        });
        return { items, errors };
      }),
      acc.source("homebrew", async () => {
        const items: SoftwareItem[] = [];
        let found = false;
        for (const prefix of HOMEBREW_PREFIXES) {
          for (const [folder, kind] of [["Cellar", "formula"], ["Caskroom", "cask"]] as const) {
            const dir = join(prefix, folder);
            const names = await listDir(dir);
            if (names.length === 0) continue;
            found = true;
            const listing: Record<string, string[]> = {};
            for (const n of names) if (!n.startsWith(".")) listing[n] = await listDir(join(dir, n));
            items.push(...homebrewItems(listing, kind));
          }
        }
        return found ? { items, errors: [] } : undefined; // no Homebrew here: absent, not failed
      }),
      acc.source("pkgutil", async () => {
        const { ids, errors } = parsePkgutilPkgs(await this.exec("pkgutil", ["--pkgs"], t));
        const items: SoftwareItem[] = [];
        await mapLimit(ids, 8, async (id) => {
          try {
            const r = parsePkgutilInfo(await this.exec("pkgutil", ["--pkg-info", id], t));
            items.push(...r.items);
            errors.push(...r.errors);
            if (r.items.length === 0) acc.keep(`pkgutil:${id}`);
          } catch (err) {
            errors.push({ message: `pkgutil --pkg-info ${id}: ${(err as Error).message}` });
            acc.keep(`pkgutil:${id}`);
          }
        });
        return { items, errors };
      }),
    ]);
    acc.result.keepScopes = [...this.unreadScopes];
    return acc.result;
  }

  watchTargets(): WatchTarget[] {
    return [
      { dir: "/Applications" },
      { dir: "/var/db/receipts", match: (n) => n.endsWith(".plist") },
      ...HOMEBREW_PREFIXES.flatMap((p) => [{ dir: join(p, "Cellar") }, { dir: join(p, "Caskroom") }]),
    ];
  }
}
