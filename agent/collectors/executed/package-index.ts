/**
 * "Belongs to an installed package or to the OS" as an index built once from the package
 * databases (never a query per process): the exact paths the packages list, plus folders whose
 * whole tree is packaged or system (snap and flatpak mounts; Windows' own folders and the install
 * locations of Uninstall entries; macOS system folders and receipt-listed bundles).
 * Pure: the OS readers (linux.ts, win32.ts, darwin.ts) read the files and feed it.
 */

export type Membership =
  /** listed by a package database (dpkg, rpm, pkgutil receipt) */
  | { kind: "package"; source: string }
  /** under a folder tree that is packaged or part of the OS as a whole */
  | { kind: "tree"; source: string; root: string };

export interface PathIndexOptions {
  /** Windows and macOS file systems are case-insensitive by default */
  caseInsensitive?: boolean;
  /** "\\" on Windows: prefixes are matched on whole folder names */
  separator?: "/" | "\\";
}

export class PathIndex {
  private readonly exact = new Map<string, string>();
  private readonly trees: { root: string; key: string; source: string }[] = [];
  /** folders inside a tree that do not count (user-writable: C:\\Windows\\Temp) */
  private readonly excluded: string[] = [];
  private readonly ci: boolean;
  private readonly sep: "/" | "\\";

  constructor(opts: PathIndexOptions = {}) {
    this.ci = opts.caseInsensitive ?? false;
    this.sep = opts.separator ?? "/";
  }

  private norm(path: string): string {
    let p = this.sep === "\\" ? path.replace(/\//g, "\\") : path;
    if (this.ci) p = p.toLowerCase();
    return p;
  }

  /** Paths listed by one package source (`dpkg`, `rpm`, `pkgutil:<id>`…). */
  addPaths(paths: Iterable<string>, source: string): void {
    for (const p of paths) if (p) this.exact.set(this.norm(p), source);
  }

  /** A folder whose whole tree counts (a trailing separator is added: `/snap` covers `/snap/x`, not `/snapshot`). */
  addTree(root: string, source: string): void {
    let key = this.norm(root);
    if (!key.endsWith(this.sep)) key += this.sep;
    if (key === this.sep) return; // never the whole disk
    if (this.trees.some((t) => t.key === key)) return;
    this.trees.push({ root, key, source });
  }

  /** A folder inside a tree whose programs do not count (a user-writable folder under the OS tree). */
  addExcluded(root: string): void {
    let key = this.norm(root);
    if (!key.endsWith(this.sep)) key += this.sep;
    this.excluded.push(key);
  }

  get size(): number {
    return this.exact.size;
  }

  get treeCount(): number {
    return this.trees.length;
  }

  lookup(path: string): Membership | undefined {
    const key = this.norm(path);
    const source = this.exact.get(key);
    if (source !== undefined) return { kind: "package", source };
    if (this.excluded.some((e) => key.startsWith(e))) return undefined;
    for (const t of this.trees) if (key.startsWith(t.key)) return { kind: "tree", source: t.source, root: t.root };
    return undefined;
  }

  /** A plain-JSON form (the snapshot's cache keeps it between runs; fromJSON reads it back). */
  toJSON(): PathIndexJson {
    const exact: Record<string, string[]> = {};
    for (const [path, source] of this.exact) (exact[source] ??= []).push(path);
    return { v: 1, ci: this.ci, sep: this.sep, exact, trees: this.trees.map((t) => [t.root, t.source]), excluded: [...this.excluded] };
  }

  /** An index from toJSON's form; undefined when the value does not have its shape. */
  static fromJSON(value: unknown): PathIndex | undefined {
    const v = value as Partial<PathIndexJson> | null;
    if (!v || v.v !== 1 || typeof v.ci !== "boolean" || (v.sep !== "/" && v.sep !== "\\") || !v.exact || typeof v.exact !== "object" || !Array.isArray(v.trees) || !Array.isArray(v.excluded)) return undefined;
    const index = new PathIndex({ caseInsensitive: v.ci, separator: v.sep });
    for (const [source, paths] of Object.entries(v.exact)) {
      if (!Array.isArray(paths)) return undefined;
      for (const p of paths) if (typeof p === "string") index.exact.set(p, source);
    }
    for (const t of v.trees) if (Array.isArray(t) && typeof t[0] === "string" && typeof t[1] === "string") index.addTree(t[0], t[1]);
    for (const e of v.excluded) if (typeof e === "string") index.excluded.push(e);
    return index;
  }
}

export interface PathIndexJson {
  v: 1;
  ci: boolean;
  sep: "/" | "\\";
  /** source → its paths (normalized) */
  exact: Record<string, string[]>;
  trees: [root: string, source: string][];
  /** excluded folder keys (normalized, with the trailing separator) */
  excluded: string[];
}
