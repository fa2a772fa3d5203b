/**
 * The default policy, a policy file and the control catalog for the one-shot `kyoka snapshot`,
 * through the parse cache (lib/parse-cache.ts): yaml and zod (≈ 150–200 ms of module loading and
 * validation) are loaded only when the text (or kyoka) changed since the last snapshot. The
 * server and the agent's collectors keep parsing with policy.ts / catalog.ts directly.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { cachedParse } from "../lib/parse-cache.js";
import { policiesDir } from "../lib/paths.js";
import type { Catalog } from "./catalog.js";
import type { Policy } from "./policy.js";

const POLICY_PARSER = new URL("./policy.js", import.meta.url);
const CATALOG_PARSER = new URL("./catalog.js", import.meta.url);

/** A policy's text (YAML or JSON) parsed and validated as parsePolicyText does; its PolicyError is thrown as is (and not cached). */
export function cachedPolicy(text: string, kind = "policy"): Promise<Policy> {
  return cachedParse(kind, text, POLICY_PARSER, async () => (await import("./policy.js")).parsePolicyText(text));
}

/** policies/default-policy.yaml, parsed and validated. */
export async function cachedDefaultPolicy(): Promise<Policy> {
  return cachedPolicy(await readFile(join(policiesDir, "default-policy.yaml"), "utf8"));
}

/** policies/catalog.yaml, parsed and validated as loadCatalog() does. */
export async function cachedCatalog(): Promise<Catalog> {
  const text = await readFile(join(policiesDir, "catalog.yaml"), "utf8");
  return cachedParse("catalog", text, CATALOG_PARSER, async () => (await import("./catalog.js")).parseCatalog(text));
}
