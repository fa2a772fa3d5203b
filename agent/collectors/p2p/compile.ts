/**
 * The compiled P2P signature set (lookup tables the matchers use) and its compiler. No zod and no
 * YAML here: signatures.ts validates policies/p2p-signatures.yaml and calls compileSignatures();
 * the one-shot `kyoka snapshot` compiles a cached, already validated copy (see lib/parse-cache.ts)
 * without loading either.
 */
import { compileGlob, type Glob } from "../../../policies/matchers/glob.js";
import type { SignatureFile } from "./signatures.js";

export type Os = "win32" | "darwin" | "linux";
export type Transport = "tcp" | "udp";

/** A port range with the transports it applies to. */
export interface PortRange { from: number; to: number; transports: readonly Transport[] }

/** One family, compiled. */
export interface Family {
  readonly id: string;
  readonly family: string;
  readonly protocol: string;
  /** package-name globs (linear-time matcher, no RegExp built from the file's text) */
  readonly packageRes: Glob[];
  readonly cmdlineRes: RegExp[];
  readonly requireArgRes?: RegExp[];
  readonly markers: Buffer[];
  readonly ports: PortRange[];
}

/** The compiled signature set the matchers use. */
export interface Signatures {
  readonly families: Family[];
  /** normalized name → family, per OS ("any" merged into each) */
  readonly names: Record<Os, Map<string, Family>>;
  readonly weakNames: Record<Os, Map<string, Family>>;
  readonly sha256: Map<string, Family>;
  /** all byte strings to look for inside executables: family markers and protocol traits */
  readonly markers: { bytes: Buffer; family?: Family; protocol: string }[];
  /** port → protocol name and families that use it */
  readonly ports: { range: PortRange; protocol: string; family?: Family }[];
  readonly protocolTitles: Record<string, string>;
}

/** Lowercase, µ/μ → u, without a trailing .exe / .app. */
export function normalizeName(name: string): string {
  return name.trim().toLowerCase().replace(/[µμ]/g, "u").replace(/\.(exe|app)$/, "");
}

export function parsePortSpec(spec: number | string): PortRange {
  if (typeof spec === "number") return { from: spec, to: spec, transports: ["tcp", "udp"] };
  const [range, proto] = spec.split("/");
  const [a, b] = range!.split("-").map(Number);
  return { from: a!, to: b ?? a!, transports: proto ? [proto as Transport] : ["tcp", "udp"] };
}

/** Compile a validated signature file. */
export function compileSignatures(file: SignatureFile): Signatures {
  const oses: Os[] = ["win32", "darwin", "linux"];
  const names = { win32: new Map(), darwin: new Map(), linux: new Map() } as Record<Os, Map<string, Family>>;
  const weakNames = { win32: new Map(), darwin: new Map(), linux: new Map() } as Record<Os, Map<string, Family>>;
  const sha256 = new Map<string, Family>();
  const markers: Signatures["markers"] = [];
  const ports: Signatures["ports"] = [];
  const families: Family[] = [];
  const protocolTitles: Record<string, string> = {};

  for (const [name, proto] of Object.entries(file.protocols)) {
    protocolTitles[name] = proto.title;
    for (const t of proto.traits) markers.push({ bytes: Buffer.from(t, "latin1"), protocol: name });
    for (const p of proto.ports) ports.push({ range: parsePortSpec(p), protocol: name });
  }
  for (const spec of file.families) {
    const fam: Family = {
      id: spec.id,
      family: spec.family,
      protocol: spec.protocol,
      packageRes: spec.packages.map((g) => compileGlob(normalizeName(g))),
      cmdlineRes: spec.cmdline.map((re) => new RegExp(re, "i")),
      requireArgRes: spec.requireArgs?.map((re) => new RegExp(re, "i")),
      markers: spec.markers.map((m) => Buffer.from(m, "latin1")),
      ports: spec.ports.map(parsePortSpec),
    };
    families.push(fam);
    for (const [table, byOs] of [[names, spec.names], [weakNames, spec.weakNames]] as const) {
      for (const os of oses) {
        for (const n of [...(byOs[os] ?? []), ...(byOs.any ?? [])]) table[os].set(normalizeName(n), fam);
      }
    }
    for (const h of spec.sha256) sha256.set(h, fam);
    for (const m of fam.markers) markers.push({ bytes: m, family: fam, protocol: fam.protocol });
    for (const r of fam.ports) ports.push({ range: r, protocol: fam.protocol, family: fam });
  }
  return { families, names, weakNames, sha256, markers, ports, protocolTitles };
}

