/**
 * macOS installed software → SoftwareItem rows. Pure functions: text in, rows and errors out.
 *
 * - Application bundles: `<App>.app/Contents/Info.plist` as XML (the plist itself, or
 *   `plutil -convert xml1 -o - <Info.plist>` for binary ones). Name: CFBundleDisplayName, else
 *   CFBundleName, else the bundle's file name; version: CFBundleShortVersionString, else
 *   CFBundleVersion. The id is the bundle path, so the same app in /Applications and
 *   ~/Applications are two rows.
 * - Installer receipts: `pkgutil --pkgs` (one package id a line) and `pkgutil --pkg-info <id>`
 *   (`package-id: …`, `version: …`, `volume: …`, `location: …`, `install-time: <unix seconds>`,
 *   and on some systems `groups: …`); several --pkg-info outputs may be concatenated.
 */
import { basename } from "node:path";
import { parsePlistXml, type PlistValue } from "../../../lib/plist.js";
import { compact, uniqueIds, type ParseError, type ParseResult, type SoftwareItem } from "./types.js";

const str = (v: PlistValue | undefined): string | undefined => (typeof v === "string" && v.trim() ? v.trim() : undefined);

/**
 * One bundle's Info.plist. `bundlePath` is where the .app lives (/Applications/Safari.app);
 * `scope` "machine" or "user:<name>".
 */
export function parseInfoPlist(text: string, bundlePath: string, scope = "machine"): ParseResult {
  let root: PlistValue;
  try {
    root = parsePlistXml(text);
  } catch (err) {
    return { items: [], errors: [{ message: `Info.plist of ${bundlePath}: ${(err as Error).message}` }] };
  }
  if (!root || typeof root !== "object" || Array.isArray(root) || root instanceof Date) {
    return { items: [], errors: [{ message: `Info.plist of ${bundlePath}: the root is not a <dict>` }] };
  }
  const d = root as { [key: string]: PlistValue };
  const name = str(d.CFBundleDisplayName) ?? str(d.CFBundleName) ?? basename(bundlePath).replace(/\.app$/i, "");
  const version = str(d.CFBundleShortVersionString) ?? str(d.CFBundleVersion) ?? "";
  const item: SoftwareItem = compact({
    id: `app-bundle:${bundlePath}`,
    name,
    version,
    source: "app-bundle",
    scope,
  });
  return { items: [item], errors: [] };
}

/** `pkgutil --pkgs`: package ids. */
export function parsePkgutilPkgs(text: string): { ids: string[]; errors: ParseError[] } {
  const ids: string[] = [];
  const errors: ParseError[] = [];
  text.replace(/\r\n/g, "\n").split("\n").forEach((line, i) => {
    const id = line.trim();
    if (!id) return;
    if (!/^[A-Za-z0-9][\w.+-]*$/.test(id)) errors.push({ line: i + 1, message: `pkgutil --pkgs: "${id.slice(0, 80)}" is not a package id` });
    else ids.push(id);
  });
  return { ids, errors };
}

/** `pkgutil --pkg-info <id>` output (one or several records). */
export function parsePkgutilInfo(text: string, scope = "machine"): ParseResult {
  const items: SoftwareItem[] = [];
  const errors: ParseError[] = [];
  let rec: Record<string, string> | undefined;
  let recLine = 0;
  const flush = (): void => {
    if (!rec) return;
    const id = rec["package-id"];
    if (!id) errors.push({ line: recLine, message: "pkgutil --pkg-info: record without package-id; skipped" });
    else if (rec.version === undefined) errors.push({ line: recLine, message: `pkgutil --pkg-info: ${id} has no version; skipped` });
    else items.push(compact({ id: `pkgutil:${rec.volume && rec.volume !== "/" ? `${rec.volume}:` : ""}${id}`, name: id, version: rec.version, source: "pkgutil", scope }));
    rec = undefined;
  };
  text.replace(/\r\n/g, "\n").split("\n").forEach((line, i) => {
    if (!line.trim()) return;
    const m = /^([a-z][a-z-]*):\s?(.*)$/.exec(line);
    if (!m) {
      errors.push({ line: i + 1, message: `pkgutil --pkg-info: cannot read "${line.slice(0, 80)}"` });
      return;
    }
    if (m[1] === "package-id") {
      flush();
      rec = {};
      recLine = i + 1;
    } else if (!rec) {
      errors.push({ line: i + 1, message: `pkgutil --pkg-info: "${m[1]}" before any package-id` });
      return;
    }
    rec[m[1]!] = m[2]!.trim();
  });
  flush();
  return { items: uniqueIds(items), errors };
}

/**
 * Homebrew's own folders, read without running `brew` (it refuses to run as root, and the agent
 * runs as root): `<prefix>/Cellar/<formula>/<version>/` and `<prefix>/Caskroom/<cask>/<version>/`
 * (prefix /opt/homebrew on Apple silicon, /usr/local on Intel). Several versions of one formula
 * can be kept side by side: the newest (dotted comparison; `_N` revisions count) is reported.
 * `listing`: formula or cask name → the names of its version folders.
 */
export function homebrewItems(listing: Record<string, string[]>, kind: "formula" | "cask"): SoftwareItem[] {
  const items: SoftwareItem[] = [];
  const nums = (v: string): number[] => v.split(/[._,-]/).map((x) => Number.parseInt(x, 10)).map((n) => (Number.isFinite(n) ? n : 0));
  const newer = (a: string, b: string): number => {
    const [x, y] = [nums(a), nums(b)];
    for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
    return a.localeCompare(b);
  };
  for (const [name, versions] of Object.entries(listing).sort(([a], [b]) => a.localeCompare(b))) {
    const v = versions.filter((x) => !x.startsWith(".")).sort(newer).at(-1);
    if (!v) continue;
    items.push(compact({ id: kind === "cask" ? `homebrew:cask:${name}` : `homebrew:${name}`, name, version: v, source: "homebrew", scope: "machine" }));
  }
  return items;
}
