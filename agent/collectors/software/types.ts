/**
 * The software inventory row (別記2 第10 ソフトウェア) and what a parser returns.
 */

export const SOFTWARE_SOURCES = ["dpkg", "rpm", "snap", "flatpak", "registry", "appx", "app-bundle", "pkgutil", "homebrew"] as const;
export type SoftwareSource = (typeof SOFTWARE_SOURCES)[number];

export interface SoftwareItem {
  /** stable key within the inventory, e.g. "dpkg:openssl:amd64" */
  id: string;
  name: string;
  version: string;
  publisher?: string;
  source: SoftwareSource;
  arch?: string;
  /**
   * who it is installed for: "machine", "user:<SID>" (Windows per-user hive), "user:<name>"
   * (macOS ~/Applications), "system"/"user" (flatpak installation)
   */
  scope?: string;
  /** dpkg only, when the package is not fully installed: half-installed, unpacked, half-configured */
  state?: string;
  /** flatpak remote the app came from */
  origin?: string;
}

export interface ParseError {
  /** 1-based line of the input where the bad entry starts, when the input is line-oriented */
  line?: number;
  message: string;
}

export interface ParseResult {
  items: SoftwareItem[];
  errors: ParseError[];
}

/**
 * Make ids unique: a second row with the same id (two kernels under rpm, two branches of a flatpak
 * runtime) gets `@<version>` appended.
 */
export function uniqueIds(items: SoftwareItem[]): SoftwareItem[] {
  const seen = new Map<string, number>();
  for (const it of items) seen.set(it.id, (seen.get(it.id) ?? 0) + 1);
  const out: SoftwareItem[] = [];
  const used = new Set<string>();
  for (const it of items) {
    let id = it.id;
    if ((seen.get(id) ?? 0) > 1) id = `${id}@${it.version}`;
    let n = 2;
    const base = id;
    while (used.has(id)) id = `${base}#${n++}`;
    used.add(id);
    out.push(id === it.id ? it : { ...it, id });
  }
  return out;
}

/** Drop undefined optional fields (keeps state and events compact and comparable). */
export function compact(item: SoftwareItem): SoftwareItem {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(item)) if (v !== undefined && v !== "") out[k] = v;
  if (out.version === undefined) out.version = "";
  return out as unknown as SoftwareItem;
}
