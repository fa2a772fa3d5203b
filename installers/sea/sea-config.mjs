// Writes the SEA config (and the manifest of the files the executable carries) for one platform:
//   node installers/sea/sea-config.mjs <work dir> <main.cjs> <blob out> <code cache: yes|no> [native file…]
// (a native file is put under native/ by its base name: native/koffi.node)
// The carried files: policies/*.yaml (the catalog, the default policy, the P2P signatures), the
// server's code (server.cjs beside the main script, as bundles/server.cjs: installers/sea/bundle.mjs),
// the built dashboard (dist/dashboard/**) when present, and the given native files (put under
// native/). Each is an asset under its path; `manifest.json` lists
// them with their SHA-256 and an id (hash of them all) that names the folder they unpack into
// (installers/sea/unpack.ts).
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";

const [work, main, output, codeCache, ...natives] = process.argv.slice(2);
const root = resolve(import.meta.dirname, "../..");
const files = [];
for (const f of readdirSync(join(root, "policies")).filter((f) => f.endsWith(".yaml")).sort()) {
  files.push({ path: `policies/${f}`, source: join(root, "policies", f) });
}
// the server's code, loaded by `kyoka server` and the other server commands (installers/sea/server-bundle.cjs)
const serverBundle = join(dirname(resolve(main)), "server.cjs");
if (!existsSync(serverBundle)) throw new Error(`${serverBundle} is missing: run installers/sea/bundle.mjs`);
files.push({ path: "bundles/server.cjs", source: serverBundle });
// the desk's dashboard (dist/dashboard, built by Vite) for `kyoka server`, when it was built
const walk = (dir, rel) => readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
  e.isDirectory() ? walk(join(dir, e.name), `${rel}/${e.name}`) : [{ path: `${rel}/${e.name}`, source: join(dir, e.name) }]);
try {
  files.push(...walk(join(root, "dist/dashboard"), "dist/dashboard"));
} catch {
  // not built: the server says so at /
}
for (const n of natives) files.push({ path: `native/${basename(n)}`, source: resolve(n), executable: true });

const all = createHash("sha256");
const manifest = { id: "", files: [] };
for (const f of files) {
  const sha256 = createHash("sha256").update(readFileSync(f.source)).digest("hex");
  all.update(`${f.path}\0${sha256}\0`);
  manifest.files.push({ path: f.path, sha256, ...(f.executable ? { executable: true } : {}) });
}
manifest.id = all.digest("hex").slice(0, 16);
writeFileSync(join(work, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
const assets = { "manifest.json": join(work, "manifest.json") };
for (const f of files) assets[f.path] = f.source;
writeFileSync(join(work, "sea-config.json"), JSON.stringify({
  main: resolve(main),
  output: resolve(output),
  disableExperimentalSEAWarning: true,
  useCodeCache: codeCache === "yes",
  assets,
}, null, 2) + "\n");
