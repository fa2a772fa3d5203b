/**
 * Linux package indexes (pure; the reading is in linux.ts):
 * - dpkg: /var/lib/dpkg/info/<package>[:<arch>].list — one absolute path a line (folders too);
 *   /var/lib/dpkg/diversions — triplets of lines (diverted path, where it went, the package);
 * - rpm: `rpm -qla` — one absolute path a line for every installed package; a package without
 *   files prints `(contains no files)`;
 * - snap and flatpak: their programs run from mounted trees (see LINUX_PACKAGE_TREES);
 * - /proc/<pid>/status (Uid:), /etc/passwd (uid → user name).
 */

/**
 * Paths whose file name ends like this are data, never the executable of a process (a script's
 * process runs its interpreter): left out of the index to keep it small (≈44,000 of 117,000 dpkg
 * paths kept on the development machine). Leaving one out can only cause a report, never hide one.
 */
const DATA_SUFFIX = /\.(gz|bz2|xz|zst|png|svg|xpm|ico|jpe?g|gif|html?|css|m?js|cjs|map|ts|json|xml|ya?ml|toml|ini|cfg|conf|desktop|service|socket|timer|target|preset|rules|mo|qm|po|txt|md|rst|pod|h|hh|hpp|c|cc|cpp|py|pyc|pm|pl|ph|rb|tcl|lua|el|elc|vim|sh|awk|sed|enc|cmake|pc|a|o|ttf|otf|pfb|afm|ppd|gir|typelib|sql|jar|properties|tmpl|ui|def|sym)$/i;

export function isExecutableCandidate(path: string): boolean {
  return !DATA_SUFFIX.test(path);
}

function absoluteLines(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (line.startsWith("/") && line !== "/." && isExecutableCandidate(line)) out.push(line);
  }
  return out;
}

/** A dpkg `.list` file → the paths it lists (data files left out). */
export function parseDpkgList(text: string): string[] {
  return absoluteLines(text);
}

/** /var/lib/dpkg/diversions → the paths diverted files now live at (`/usr/bin/x.distrib`). */
export function parseDpkgDiversions(text: string): string[] {
  const lines = text.split("\n").filter((l) => l !== "");
  const out: string[] = [];
  for (let i = 0; i + 1 < lines.length; i += 3) {
    const to = lines[i + 1]!;
    if (to.startsWith("/")) out.push(to);
  }
  return out;
}

/** `rpm -qla` → the paths of every installed package (`(contains no files)` and blank lines skipped). */
export function parseRpmQla(text: string): string[] {
  return absoluteLines(text);
}

/**
 * Trees whose programs belong to a package as a whole: snap mounts each revision read-only under
 * /snap (or /var/lib/snapd/snap on Fedora/Arch), flatpak deploys under /var/lib/flatpak (system)
 * and ~/.local/share/flatpak (each user).
 */
export const LINUX_PACKAGE_TREES: readonly { root: string; source: string }[] = [
  { root: "/snap", source: "snap" },
  { root: "/var/lib/snapd/snap", source: "snap" },
  { root: "/var/lib/flatpak", source: "flatpak" },
];

/** The per-user flatpak tree of each home folder. */
export function userFlatpakTrees(homes: readonly string[]): { root: string; source: string }[] {
  return homes.map((h) => ({ root: `${h.replace(/\/+$/, "")}/.local/share/flatpak`, source: "flatpak" }));
}

/**
 * Merged /usr (Debian 12, Ubuntu, Fedora): /bin, /sbin, /lib… are symlinks into /usr, so dpkg lists
 * `/bin/bash` while the kernel names the running program `/usr/bin/bash`. Given the top-level
 * links (`/bin` → `/usr/bin`), each listed path under one is also indexed under its target.
 */
export function withMergedUsr(paths: readonly string[], links: ReadonlyMap<string, string>): string[] {
  if (links.size === 0) return paths.slice();
  const out = paths.slice();
  for (const p of paths) {
    const slash = p.indexOf("/", 1);
    const top = slash < 0 ? p : p.slice(0, slash);
    const target = links.get(top);
    if (target !== undefined) out.push(target + (slash < 0 ? "" : p.slice(slash)));
  }
  return out;
}

/** /proc/<pid>/status → the real and effective uid (the `Uid:` line: real, effective, saved, fs). */
export function parseStatusUids(text: string): { uid: number; euid: number } | undefined {
  const m = /^Uid:\s+(\d+)\s+(\d+)/m.exec(text);
  return m ? { uid: Number(m[1]), euid: Number(m[2]) } : undefined;
}

/** /etc/passwd → uid → user name (the first name listed for a uid wins). */
export function parsePasswd(text: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const f = line.split(":");
    if (f.length < 4) continue;
    const uid = Number(f[2]);
    if (Number.isInteger(uid) && !out.has(uid)) out.set(uid, f[0]!);
  }
  return out;
}

/** readlink /proc/<pid>/exe → the path, without the kernel's ` (deleted)` mark; `deleted` says whether it was there. */
export function parseExeLink(link: string): { path: string; deleted: boolean } {
  return link.endsWith(" (deleted)") ? { path: link.slice(0, -10), deleted: true } : { path: link, deleted: false };
}
