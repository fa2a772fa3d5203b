/**
 * Builds dist/ (and the dashboard, dist/dashboard) once before the suite: end-to-end tests run the real `kyoka` binary
 * (node dist/cli/main.js) as child processes.
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

/** both test projects (vitest.config.ts) name this setup: build once per run */
let built = false;

export default function setup(): void {
  // KYOKA_SKIP_BUILD=1 skips the build (when running a unit-test folder only).
  if (process.env.KYOKA_SKIP_BUILD === "1" || built) return;
  built = true;
  const root = join(dirname(fileURLToPath(import.meta.url)), "..");
  execFileSync(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json"], {
    cwd: root,
    stdio: "inherit",
  });
  // the dashboard the server serves at / (dist/dashboard)
  execFileSync(process.execPath, [join(root, "node_modules/vite/bin/vite.js"), "build", "-c", "dashboard/vite.config.ts"], {
    cwd: root,
    stdio: "inherit",
  });
}
