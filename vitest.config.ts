import { defineConfig } from "vitest/config";
import { WINE_RESTARTING } from "./test/wine-restarting.js";

const shared = {
  // each project builds dist/ before its files (once per run: test/global-setup.ts remembers)
  globalSetup: ["test/global-setup.ts"],
  testTimeout: 60_000,
  hookTimeout: 120_000,
  pool: "forks" as const,
};


export default defineConfig({
  test: {
    maxWorkers: 2,
    reporters: ["default", "./test/summary-reporter.ts"],
    projects: [
      // everything else, two files at a time
      { test: { ...shared, name: "kyoka", include: ["test/**/*.test.ts"], exclude: ["test/fuzz/**", ...WINE_RESTARTING], fileParallelism: true, sequence: { groupOrder: 0 } } },
      // the Wine tests that shut the wineserver down (to change drives or install an MSI): after
      // the rest and one at a time — beside another Wine test they kill its Windows processes
      // (found by a full run: the Windows agent beside the removable-drive tests never started)
      { test: { ...shared, name: "wine-restarting", include: WINE_RESTARTING, fileParallelism: false, sequence: { groupOrder: 1 } } },
      // the fuzz suite last and alone: it asserts /healthz latency, which another test file
      // running beside it on 2 cores would measure instead of the server
      { test: { ...shared, name: "fuzz", include: ["test/fuzz/**/*.test.ts"], fileParallelism: false, sequence: { groupOrder: 2 } } },
    ],
  },
});
