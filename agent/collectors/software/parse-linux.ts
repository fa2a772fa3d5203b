/**
 * Linux package databases → SoftwareItem rows. Pure functions: text in, rows and errors out.
 *
 * - dpkg: /var/lib/dpkg/status (deb822 stanzas separated by blank lines).
 * - rpm:  `rpm -qa --queryformat '%{NAME}\t%{EPOCH}:%{VERSION}-%{RELEASE}\t%{VENDOR}\t%{ARCH}\n'`
 *         (RPM_QUERYFORMAT below): one package a line, four tab-separated fields; `%{EPOCH}` and
 *         `%{VENDOR}` print `(none)` when unset.
 * - snap: `snap list` (a header line `Name Version Rev Tracking Publisher Notes`, then columns
 *         separated by runs of spaces; the publisher carries a ✓/✪ (or `**`/`*`) mark).
 * - flatpak: `flatpak list --columns=application,version,origin,installation` with stdout not a
 *         terminal: tab-separated, no header.
 */
import { compact, uniqueIds, type ParseError, type ParseResult, type SoftwareItem } from "./types.js";

export const RPM_QUERYFORMAT = "%{NAME}\\t%{EPOCH}:%{VERSION}-%{RELEASE}\\t%{VENDOR}\\t%{ARCH}\\n";
export const FLATPAK_COLUMNS = "application,version,origin,installation";

/** dpkg states that mean "on disk but not (fully) installed" — reported with `state`. */
export const DPKG_TRANSIENT_STATES = ["half-installed", "unpacked", "half-configured"] as const;
const DPKG_INSTALLED_STATES = new Set(["installed", "triggers-awaited", "triggers-pending"]);
const DPKG_ABSENT_STATES = new Set(["not-installed", "config-files"]);

/**
 * /var/lib/dpkg/status. Reported: `Status: <want> ok installed` (and triggers-awaited/pending,
 * which are installed and only wait for a trigger). Packages stuck half-way (half-installed,
 * unpacked, half-configured) are reported too, with `state` set: the files are on the disk.
 * Removed packages (config-files, not-installed) are not. The Maintainer is the publisher.
 */
export function parseDpkgStatus(text: string): ParseResult {
  const items: SoftwareItem[] = [];
  const errors: ParseError[] = [];
  const lines = text.replace(/\r\n/g, "\n").split("\n");
  let fields = new Map<string, string>();
  let start = 0;
  let lastKey: string | undefined;
  let bad: string | undefined;

  const flush = (): void => {
    if (fields.size === 0 && !bad) return;
    const where = start + 1;
    const pkg = fields.get("package");
    if (bad) errors.push({ line: where, message: `dpkg status: ${bad}${pkg ? ` (package ${pkg})` : ""}; stanza skipped` });
    else if (!pkg) errors.push({ line: where, message: "dpkg status: stanza without a Package field; skipped" });
    else {
      const status = fields.get("status");
      const words = status?.split(/\s+/) ?? [];
      if (!status || words.length !== 3) {
        errors.push({ line: where, message: `dpkg status: package ${pkg} has ${status ? `a malformed Status "${status}"` : "no Status"}; skipped` });
      } else {
        const state = words[2]!;
        const version = fields.get("version");
        if (DPKG_ABSENT_STATES.has(state)) {
          // removed (maybe with conffiles left): not installed software
        } else if (!version) {
          errors.push({ line: where, message: `dpkg status: package ${pkg} (${state}) has no Version; skipped` });
        } else if (DPKG_INSTALLED_STATES.has(state) || (DPKG_TRANSIENT_STATES as readonly string[]).includes(state)) {
          const arch = fields.get("architecture");
          items.push(compact({
            id: `dpkg:${pkg}:${arch ?? ""}`,
            name: pkg,
            version,
            publisher: fields.get("maintainer"),
            source: "dpkg",
            arch,
            state: DPKG_INSTALLED_STATES.has(state) ? undefined : state,
          }));
        } else {
          errors.push({ line: where, message: `dpkg status: package ${pkg} has an unknown state "${state}"; skipped` });
        }
      }
    }
    fields = new Map();
    lastKey = undefined;
    bad = undefined;
  };

  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!;
    if (line.trim() === "") {
      flush();
      continue;
    }
    if (fields.size === 0 && !bad) start = n;
    if (line.startsWith(" ") || line.startsWith("\t")) {
      if (!lastKey && !bad) bad = `line ${n + 1}: continuation line outside a field`;
      continue; // continuation of a multi-line field (Description, Conffiles): not needed
    }
    const m = /^([A-Za-z0-9][A-Za-z0-9-]*):\s?(.*)$/.exec(line);
    if (!m) {
      if (!bad) bad = `line ${n + 1}: cannot read "${line.slice(0, 60)}"`;
      continue;
    }
    lastKey = m[1]!.toLowerCase();
    fields.set(lastKey, m[2]!.trim());
  }
  flush();
  return { items: uniqueIds(items), errors };
}

const none = (v: string | undefined): string | undefined => (v === undefined || v === "(none)" || v === "" ? undefined : v);

/** `rpm -qa --queryformat RPM_QUERYFORMAT`. The version is `[epoch:]version-release`. */
export function parseRpmQa(text: string): ParseResult {
  const items: SoftwareItem[] = [];
  const errors: ParseError[] = [];
  text.replace(/\r\n/g, "\n").split("\n").forEach((line, i) => {
    if (!line.trim()) return;
    const f = line.split("\t");
    if (f.length !== 4 || !f[0] || !f[1]) {
      errors.push({ line: i + 1, message: `rpm: expected 4 tab-separated fields (name, epoch:version-release, vendor, arch), got "${line.slice(0, 80)}"` });
      return;
    }
    const [name, evr, vendor, arch] = f as [string, string, string, string];
    const m = /^([^:]*):(.+)$/.exec(evr);
    if (!m || !m[2]!.includes("-") || (m[1] !== "(none)" && !/^\d+$/.test(m[1]!))) {
      errors.push({ line: i + 1, message: `rpm: package ${name} has a malformed epoch:version-release "${evr}"` });
      return;
    }
    const version = m[1] === "(none)" ? m[2]! : `${m[1]}:${m[2]}`;
    const a = none(arch);
    items.push(compact({ id: `rpm:${name}${a ? `.${a}` : ""}`, name, version, publisher: none(vendor), source: "rpm", arch: a }));
  });
  return { items: uniqueIds(items), errors };
}

/** `snap list`. */
export function parseSnapList(text: string): ParseResult {
  const items: SoftwareItem[] = [];
  const errors: ParseError[] = [];
  const lines = text.replace(/\r\n/g, "\n").split("\n");
  let header = -1;
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    const cols = line.trim().split(/\s+/);
    if (header < 0) {
      if (cols[0] === "Name" && cols[1] === "Version") header = i;
      else if (/^No snaps/.test(line)) return;
      else errors.push({ line: i + 1, message: `snap list: expected the header "Name Version Rev Tracking Publisher Notes", got "${line.slice(0, 80)}"` });
      return;
    }
    if (cols.length < 5) {
      errors.push({ line: i + 1, message: `snap list: expected at least 5 columns, got "${line.slice(0, 80)}"` });
      return;
    }
    const [name, version, rev, , publisher] = cols as [string, string, string, string, string];
    if (!/^\d+$|^x\d+$/.test(rev)) {
      errors.push({ line: i + 1, message: `snap list: snap ${name} has a malformed revision "${rev}"` });
      return;
    }
    const pub = publisher.replace(/(✓|✪|\*+)$/u, "");
    items.push(compact({ id: `snap:${name}`, name, version, publisher: pub === "-" ? undefined : pub, source: "snap" }));
  });
  return { items: uniqueIds(items), errors };
}

/** `flatpak list --columns=application,version,origin,installation` (tab-separated, no header). */
export function parseFlatpakList(text: string): ParseResult {
  const items: SoftwareItem[] = [];
  const errors: ParseError[] = [];
  text.replace(/\r\n/g, "\n").split("\n").forEach((line, i) => {
    if (!line.trim()) return;
    const f = line.split("\t");
    if (f.length !== 4 || !/^[A-Za-z0-9_.-]+$/.test(f[0]!.trim())) {
      errors.push({ line: i + 1, message: `flatpak list: expected 4 tab-separated columns (${FLATPAK_COLUMNS}), got "${line.slice(0, 80)}"` });
      return;
    }
    const [app, version, origin, installation] = f.map((s) => s.trim()) as [string, string, string, string];
    if (app === "Application ID") return; // a header, if a terminal was attached
    items.push(compact({
      id: `flatpak:${app}:${installation}`,
      name: app,
      version,
      source: "flatpak",
      scope: installation || undefined,
      origin: origin || undefined,
    }));
  });
  return { items: uniqueIds(items), errors };
}
