/**
 * The server imports nothing from agent/ (issue 12: wire types live in policies/, shared helpers
 * in lib/). Checked on the source text, no ESLint: every relative import or export specifier in
 * server/**, and everything server/ reaches through policies/ and lib/, is resolved and must stay
 * outside agent/.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...tsFiles(p));
    else if (p.endsWith(".ts")) out.push(p);
  }
  return out;
}

/** Relative specifiers of import / export … from / import() / require(), resolved to .ts paths. */
export function relativeImports(file: string, text = readFileSync(file, "utf8")): string[] {
  const specs = [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\brequire\s*\(\s*)["'](\.{1,2}\/[^"']+)["']/g)].map((m) => m[1]!);
  return specs.map((s) => resolve(dirname(file), s).replace(/\.js$/, ".ts"));
}

const inAgent = (p: string): boolean => relative(root, p).split(/[\\/]/)[0] === "agent";

describe("server imports nothing from agent/", () => {
  it("finds imports in the forms the check relies on (the check can fail)", () => {
    const f = join(root, "server", "x.ts");
    expect(relativeImports(f, `import { a } from "../agent/queue.js";\nexport * from "../agent/x.js";\nconst m = await import("../agent/y.js");`)
      .map((p) => relative(root, p))).toEqual(["agent/queue.ts", "agent/x.ts", "agent/y.ts"]);
    expect(relativeImports(f, `import type { T } from "../policies/schema.js";`).some(inAgent)).toBe(false);
  });

  it("no file under server/ imports ../agent", () => {
    const offenders: string[] = [];
    const files = tsFiles(join(root, "server"));
    expect(files.length).toBeGreaterThan(10);
    for (const f of files) for (const target of relativeImports(f)) if (inAgent(target)) offenders.push(`${relative(root, f)} → ${relative(root, target)}`);
    expect(offenders).toEqual([]);
  });

  it("nothing server/ reaches through policies/ and lib/ is under agent/ either", () => {
    const seen = new Set<string>();
    const offenders: string[] = [];
    const stack = tsFiles(join(root, "server"));
    while (stack.length) {
      const f = stack.pop()!;
      if (seen.has(f)) continue;
      seen.add(f);
      let text: string;
      try {
        text = readFileSync(f, "utf8");
      } catch {
        continue; // a .js helper or a generated file: not source
      }
      for (const t of relativeImports(f, text)) {
        if (inAgent(t)) offenders.push(`${relative(root, f)} → ${relative(root, t)}`);
        else stack.push(t);
      }
    }
    expect(seen.size).toBeGreaterThan(20);
    expect(offenders).toEqual([]);
  });
});
