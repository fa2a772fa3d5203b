/**
 * Every test file that shuts the shared wineserver down is in WINE_RESTARTING, which
 * vitest.config.ts runs apart (one at a time, after the rest): a file missing from the list would
 * run beside the other Wine tests and kill their Windows processes.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { root } from "../helpers/kyoka.js";
import { WINE_RESTARTING } from "../wine-restarting.js";

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? testFiles(join(dir, e.name)) : e.name.endsWith(".test.ts") ? [join(dir, e.name)] : []);
}

describe("the Wine tests that restart the wineserver", () => {
  it("are exactly the files that call wineShutdown() or withRemovableK()", () => {
    const restarting = testFiles(join(root, "test"))
      .filter((f) => /\b(wineShutdown|withRemovableK)\(/.test(readFileSync(f, "utf8")))
      .map((f) => relative(root, f))
      .filter((f) => f !== "test/lib/wine-restarting.test.ts")
      .sort();
    expect(restarting.length).toBeGreaterThan(0);
    expect(restarting).toEqual([...WINE_RESTARTING].sort());
  });
});
