import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The package root (the folder holding package.json), whether running from source or dist/. */
export const packageRoot: string = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, "package.json")) && existsSync(join(dir, "policies"))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error("kyoka: cannot find the package root (package.json + policies/)");
    dir = up;
  }
})();

export const policiesDir = join(packageRoot, "policies");
