import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The package root (the folder holding package.json and policies/), whether running from source
 * or dist/. In a single executable (installers/sea/) it is the private folder the executable
 * unpacked its bundled files into, set as `globalThis.kyokaPackageRoot` before this module loads.
 */
export const packageRoot: string = (globalThis as { kyokaPackageRoot?: string }).kyokaPackageRoot ?? (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, "package.json")) && existsSync(join(dir, "policies"))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error("kyoka: cannot find the package root (package.json + policies/)");
    dir = up;
  }
})();

export const policiesDir = join(packageRoot, "policies");
