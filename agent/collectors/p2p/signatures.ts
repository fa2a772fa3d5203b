/**
 * P2P signatures (ファイル交換ソフトの識別情報): policies/p2p-signatures.yaml, validated with zod and
 * compiled into lookup tables. No matching here (see match.ts).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { policiesDir } from "../../../lib/paths.js";
import { formatIssues } from "../../../policies/schema.js";
import { compileSignatures, type Signatures } from "./compile.js";

// the compiled form and its types live in compile.ts (no zod/yaml: the one-shot snapshot loads only that)
export {
  compileSignatures, normalizeName, parsePortSpec,
  type Family, type Os, type PortRange, type Signatures, type Transport,
} from "./compile.js";

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

export class SignatureError extends Error {
  override readonly name = "SignatureError";
}

/** Parse and compile signatures from YAML text; throws SignatureError naming what is wrong. */
export function parseSignatures(text: string): Signatures {
  return compileSignatures(validateSignatureText(text));
}

/** Parse and validate signatures from YAML text (not compiled: plain JSON-able data); throws SignatureError. */
export function validateSignatureText(text: string): SignatureFile {
  const parsed = SignatureFile.safeParse(parseYaml(text));
  if (!parsed.success) throw new SignatureError(`p2p signatures: ${formatIssues(parsed.error)}`);
  return parsed.data;
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
