import { defineConfig } from "vitest/config";

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
      { test: { ...shared, name: "kyoka", include: ["test/**/*.test.ts"], exclude: ["test/fuzz/**"], fileParallelism: true, sequence: { groupOrder: 0 } } },
      // the fuzz suite last and alone: it asserts /healthz latency, which another test file
      // running beside it on 2 cores would measure instead of the server
      { test: { ...shared, name: "fuzz", include: ["test/fuzz/**/*.test.ts"], fileParallelism: false, sequence: { groupOrder: 1 } } },
    ],
  },
});
