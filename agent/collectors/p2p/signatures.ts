/**
 * P2P signatures (ファイル交換ソフトの識別情報): policies/p2p-signatures.yaml, validated with zod and
 * compiled into lookup tables. No matching here (see match.ts).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { policiesDir } from "../../../lib/paths.js";
import { globToRegExp } from "../../../policies/matchers/index.js";
import { formatIssues } from "../../../policies/schema.js";

export type Os = "win32" | "darwin" | "linux";
export type Transport = "tcp" | "udp";

const PortSpec = z.union([
  z.number().int().min(1).max(65535),
  z.string().regex(/^\d{1,5}(-\d{1,5})?(\/(tcp|udp))?$/, "a port, a range like 6881-6889, optionally /tcp or /udp"),
]);

const NamesByOs = z.strictObject({
  win32: z.array(z.string().min(1)).optional(),
  darwin: z.array(z.string().min(1)).optional(),
  linux: z.array(z.string().min(1)).optional(),
  any: z.array(z.string().min(1)).optional(),
});

const Sha256 = z.string().regex(/^[0-9a-fA-F]{64}$/, "a SHA-256 in hex").transform((s) => s.toLowerCase());

export const FamilySpec = z.strictObject({
  id: z.string().regex(/^[a-z0-9_-]+$/),
  family: z.string().min(1),
  protocol: z.string().min(1),
  names: NamesByOs.default({}),
  weakNames: NamesByOs.default({}),
  packages: z.array(z.string().min(1)).default([]),
  cmdline: z.array(z.string().min(1)).default([]),
  sha256: z.array(Sha256).default([]),
  markers: z.array(z.string().min(6)).default([]),
  ports: z.array(PortSpec).default([]),
  requireArgs: z.array(z.string().min(1)).optional(),
});
export type FamilySpec = z.infer<typeof FamilySpec>;

export const ProtocolSpec = z.strictObject({
  title: z.string().min(1),
  traits: z.array(z.string().min(6)).default([]),
  ports: z.array(PortSpec).default([]),
});

export const SignatureFile = z.strictObject({
  version: z.literal(1),
  protocols: z.record(z.string(), ProtocolSpec),
  families: z.array(FamilySpec).min(1),
}).superRefine((f, ctx) => {
  const ids = new Set<string>();
  f.families.forEach((fam, i) => {
    if (ids.has(fam.id)) ctx.addIssue({ code: "custom", path: ["families", i, "id"], message: `duplicate id ${fam.id}` });
    ids.add(fam.id);
    if (!f.protocols[fam.protocol]) ctx.addIssue({ code: "custom", path: ["families", i, "protocol"], message: `unknown protocol ${fam.protocol}` });
    for (const [j, re] of [...fam.cmdline, ...(fam.requireArgs ?? [])].entries()) {
      try { new RegExp(re); } catch (err) {
        ctx.addIssue({ code: "custom", path: ["families", i, "cmdline", j], message: `bad regular expression: ${(err as Error).message}` });
      }
    }
  });
});
export type SignatureFile = z.infer<typeof SignatureFile>;

/** A port range with the transports it applies to. */
export interface PortRange { from: number; to: number; transports: readonly Transport[] }

/** One family, compiled. */
export interface Family {
  readonly id: string;
  readonly family: string;
  readonly protocol: string;
  readonly packageRes: RegExp[];
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
      packageRes: spec.packages.map((g) => globToRegExp(normalizeName(g))),
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

export class SignatureError extends Error {
  override readonly name = "SignatureError";
}

/** Parse and compile signatures from YAML text; throws SignatureError naming what is wrong. */
export function parseSignatures(text: string): Signatures {
  const parsed = SignatureFile.safeParse(parseYaml(text));
  if (!parsed.success) throw new SignatureError(`p2p signatures: ${formatIssues(parsed.error)}`);
  return compileSignatures(parsed.data);
}

export const defaultSignaturesPath = join(policiesDir, "p2p-signatures.yaml");

/** Load policies/p2p-signatures.yaml (or another file), plus extra known hashes per family id. */
export function loadSignatures(path = defaultSignaturesPath, extraSha256: Record<string, string[]> = {}): Signatures {
  const sigs = parseSignatures(readFileSync(path, "utf8"));
  return withHashes(sigs, extraSha256);
}

/** The same signatures with more known executable hashes (family id → hashes). */
export function withHashes(sigs: Signatures, extra: Record<string, string[]>): Signatures {
  const sha256 = new Map(sigs.sha256);
  for (const [id, hashes] of Object.entries(extra)) {
    const fam = sigs.families.find((f) => f.id === id);
    if (!fam) throw new SignatureError(`p2p signatures: no family ${id}`);
    for (const h of hashes) sha256.set(Sha256.parse(h), fam);
  }
  return { ...sigs, sha256 };
}
