// The desk's dashboard: built once at setup (scripts/start.sh, the test setup) into dist/dashboard,
// served by `kyoka server` at /. No CDN and no network at run time: everything is bundled.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "/",
  logLevel: "warn",
  build: {
    outDir: fileURLToPath(new URL("../dist/dashboard", import.meta.url)),
    emptyOutDir: true,
    target: "es2022",
    sourcemap: true,
    chunkSizeWarningLimit: 300,
  },
});
