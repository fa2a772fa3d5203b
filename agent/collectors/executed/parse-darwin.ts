/**
 * macOS: what counts as installed or part of the OS, and the code signature (pure; the reading is
 * in darwin.ts).
 * - pkgutil receipts: `pkgutil --files <id>` lists paths relative to the receipt's volume +
 *   location (`pkgutil --pkg-info <id>`: `volume: /`, `location: Applications`);
 * - the OS trees, sealed by SIP: /System, /bin, /sbin, /usr (less /usr/local), /Library/Apple;
 * - an application bundle from the App Store carries Contents/_MASReceipt/receipt;
 * - the signer: `codesign -dv --verbose=2 <path>` (its report goes to stderr): Identifier=,
 *   Authority= lines (leaf first), TeamIdentifier=, Signature=adhoc, "Platform identifier=" for
 *   Apple's own binaries; "code object is not signed at all" when unsigned.
 */

export const DARWIN_SYSTEM_TREES: readonly { root: string; source: string }[] = [
  { root: "/System", source: "macos" },
  { root: "/bin", source: "macos" },
  { root: "/sbin", source: "macos" },
  { root: "/usr/bin", source: "macos" },
  { root: "/usr/sbin", source: "macos" },
  { root: "/usr/libexec", source: "macos" },
  { root: "/usr/lib", source: "macos" },
  { root: "/Library/Apple", source: "macos" },
];

/** `pkgutil --pkg-info <id>` → volume and location (absolute prefix of the receipt's paths). */
export function receiptPrefix(pkgInfo: string): string | undefined {
  const volume = /^volume:\s*(.*)$/m.exec(pkgInfo)?.[1]?.trim();
  const location = /^location:\s*(.*)$/m.exec(pkgInfo)?.[1]?.trim();
  if (!volume) return undefined;
  const parts = [volume.replace(/\/+$/, ""), (location ?? "").replace(/^\/+|\/+$/g, "")].filter(Boolean);
  return parts.length ? `/${parts.join("/").replace(/^\/+/, "")}` : "/";
}

/** `pkgutil --files <id>` with its prefix → absolute paths (folders included; blank lines skipped). */
export function parsePkgutilFiles(text: string, prefix: string): string[] {
  const base = prefix === "/" ? "" : prefix.replace(/\/+$/, "");
  const out: string[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.replace(/\r$/, "").trim();
    if (!line || line.startsWith("No receipt")) continue;
    out.push(`${base}/${line.replace(/^\.?\/+/, "")}`);
  }
  return out;
}

/** The application bundles among a receipt's paths (`/Applications/Zoom.app`): their whole tree belongs to the receipt. */
export function bundlesIn(paths: readonly string[]): string[] {
  const out = new Set<string>();
  for (const p of paths) {
    const m = /^(.*?\.app)(?:\/|$)/.exec(p);
    if (m) out.add(m[1]!);
  }
  return [...out];
}

export interface CodeSignature {
  signed: boolean;
  /** ad-hoc: signed without an identity (no signer) */
  adhoc: boolean;
  identifier?: string;
  /** the signing chain, leaf first ("Developer ID Application: Mozilla Corporation (43AQ936H96)", …) */
  authorities: string[];
  teamId?: string;
  /** an Apple platform binary (part of the OS) */
  platform: boolean;
  /** the leaf authority: the signer an approval or a prohibition names; null when unsigned or ad-hoc */
  signer: string | null;
}

/** `codesign -dv --verbose=2 <path>` (stderr) → the signature; unreadable text counts as unsigned. */
export function parseCodesign(text: string): CodeSignature {
  if (/code object is not signed at all/.test(text)) return { signed: false, adhoc: false, authorities: [], platform: false, signer: null };
  const authorities: string[] = [];
  let identifier: string | undefined, teamId: string | undefined, adhoc = false, platform = false, sawSignature = false;
  for (const raw of text.split("\n")) {
    const line = raw.replace(/\r$/, "");
    const eq = line.indexOf("=");
    if (eq <= 0) continue;
    const key = line.slice(0, eq), value = line.slice(eq + 1).trim();
    switch (key) {
      case "Authority": authorities.push(value); sawSignature = true; break;
      case "Identifier": identifier = value; break;
      case "TeamIdentifier": if (value && value !== "not set") teamId = value; break;
      case "Signature": if (value === "adhoc") { adhoc = true; sawSignature = true; } break;
      case "Signature size": sawSignature = true; break;
      case "Platform identifier": platform = true; break;
    }
  }
  const signed = sawSignature;
  return {
    signed, adhoc, ...(identifier ? { identifier } : {}), authorities, ...(teamId ? { teamId } : {}), platform,
    signer: signed && !adhoc ? authorities[0] ?? null : null,
  };
}
