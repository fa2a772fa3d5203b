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
  /** the exact paths of an index read back from its packed form (fromPacked): looked up in place */
  private packed?: PackedPaths;
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
    return this.exact.size + (this.packed?.count ?? 0);
  }

  get treeCount(): number {
    return this.trees.length;
  }

  lookup(path: string): Membership | undefined {
    const key = this.norm(path);
    const source = this.exact.get(key) ?? this.packed?.get(key);
    if (source !== undefined) return { kind: "package", source };
    if (this.excluded.some((e) => key.startsWith(e))) return undefined;
    for (const t of this.trees) if (key.startsWith(t.key)) return { kind: "tree", source: t.source, root: t.root };
    return undefined;
  }

  /**
   * The packed form the snapshot's cache keeps between runs (fromPacked reads it back): a JSON
   * header line (options, sources, trees, exclusions, `meta`), then one line per exact path,
   * `path<TAB>source number`, in JavaScript's string order. Reading it back parses the header only:
   * a lookup is a binary search in the bytes (≈ 30,000 paths here: no 30,000 strings and Map
   * entries made for the few dozen programs a snapshot looks up).
   */
  toPacked(meta = ""): Buffer {
    const sources: string[] = [];
    const sourceNo = new Map<string, number>();
    const rows: [path: string, n: number][] = [];
    // a path with a line break or a tab cannot be a line: kept in the header
    const odd: Record<string, string> = {};
    for (const [path, source] of this.exact) {
      if (/[\t\n]/.test(path)) { odd[path] = source; continue; }
      let n = sourceNo.get(source);
      if (n === undefined) { n = sources.push(source) - 1; sourceNo.set(source, n); }
      rows.push([path, n]);
    }
    // JavaScript's string order (UTF-16 code units): PackedPaths.get compares the same way
    rows.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const header: PackedHeader = {
      v: 2, meta, ci: this.ci, sep: this.sep, sources, odd, count: rows.length,
      trees: this.trees.map((t) => [t.root, t.source]), excluded: [...this.excluded],
    };
    let body = `${JSON.stringify(header)}\n`;
    for (const [path, n] of rows) body += `${path}\t${n}\n`;
    return Buffer.from(body, "utf8");
  }

  /**
   * The same index in its packed form (one buffer, ≈ 2 MB for ≈ 30,000 paths, outside V8's heap)
   * instead of a Map of as many strings: what the agent's executed collector keeps in memory.
   */
  compacted(): PathIndex {
    return PathIndex.fromPacked(this.toPacked())!;
  }

  /** The `meta` string a packed index was written with (undefined when it is not one). */
  static packedMeta(buf: Buffer): string | undefined {
    return packedHeader(buf)?.header.meta;
  }

  /** An index from toPacked's form; undefined when the bytes do not have its shape. */
  static fromPacked(buf: Buffer): PathIndex | undefined {
    const h = packedHeader(buf);
    if (!h) return undefined;
    const { header, body } = h;
    const index = new PathIndex({ caseInsensitive: header.ci, separator: header.sep });
    for (const [path, source] of Object.entries(header.odd)) if (typeof source === "string") index.exact.set(path, source);
    for (const t of header.trees) if (Array.isArray(t) && typeof t[0] === "string" && typeof t[1] === "string") index.addTree(t[0], t[1]);
    for (const e of header.excluded) if (typeof e === "string") index.excluded.push(e);
    index.packed = new PackedPaths(buf, body, header.sources, header.count);
    return index;
  }
}

interface PackedHeader {
  v: 2;
  meta: string;
  ci: boolean;
  sep: "/" | "\\";
  sources: string[];
  /** paths holding a tab or a line break (none in practice), path → source */
  odd: Record<string, string>;
  count: number;
  trees: [root: string, source: string][];
  excluded: string[];
}

function packedHeader(buf: Buffer): { header: PackedHeader; body: number } | undefined {
  const nl = buf.indexOf(10);
  if (nl < 0) return undefined;
  let h: Partial<PackedHeader>;
  try { h = JSON.parse(buf.toString("utf8", 0, nl)) as Partial<PackedHeader>; } catch { return undefined; }
  if (!h || h.v !== 2 || typeof h.meta !== "string" || typeof h.ci !== "boolean" || (h.sep !== "/" && h.sep !== "\\")
    || !Array.isArray(h.sources) || !h.odd || typeof h.odd !== "object" || typeof h.count !== "number"
    || !Array.isArray(h.trees) || !Array.isArray(h.excluded)) return undefined;
  // the last line must be complete (a truncated file is refused)
  if (buf.length > nl + 1 && buf[buf.length - 1] !== 10) return undefined;
  return { header: h as PackedHeader, body: nl + 1 };
}

/** Sorted `path<TAB>n` lines in a buffer, searched in place. */
class PackedPaths {
  constructor(private readonly buf: Buffer, private readonly start: number, private readonly sources: string[], readonly count: number) {}

  get(key: string): string | undefined {
    const buf = this.buf;
    // lo and hi are line starts; the lines in [lo, hi) are still candidates
    let lo = this.start, hi = buf.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const ls = Math.max(lo, buf.lastIndexOf(10, mid - 1) + 1);
      const le = buf.indexOf(10, ls);
      const tab = buf.lastIndexOf(9, le);
      if (le < 0 || tab < ls) return undefined; // not our format
      const line = buf.toString("utf8", ls, tab);
      if (line === key) return this.sources[Number(buf.toString("latin1", tab + 1, le))];
      if (key > line) lo = le + 1;
      else hi = ls;
    }
    return undefined;
  }
}
