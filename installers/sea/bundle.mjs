// Bundles kyoka for the single executable into two CommonJS files (installers/build.sh):
//   node installers/sea/bundle.mjs <out dir> <version> <commit> <date>
//
//   kyoka.cjs    the SEA's main script: the command line, the agent and the other light commands
//                (snapshot, configure, enroll, purge, status, request, report)
//   server.cjs   the server's code (server/**, better-sqlite3 and what only they import), carried
//                as the asset bundles/server.cjs, unpacked with the other files (installers/sea/
//                unpack.ts, SHA-256 checked) and loaded only when a command needs it (kyoka server,
//                local, enroll-token, user, audit) by installers/sea/server-bundle.cjs
//
// Why: V8 parses and keeps the whole main script, so one bundle of everything made `kyoka agent`
// carry the server's 11 MB of code it never runs (BENCHMARKS.md, issue 18).
//
// The split: in kyoka.cjs every import of a server/ module (but SHARED_SERVER) or of better-sqlite3
// becomes a stub asking server-bundle.cjs for that module; server.cjs exports those modules, each
// evaluated on first use. Each kyoka module (and each CommonJS package) that both sides import is
// in kyoka.cjs only: server.cjs takes it from kyoka.cjs (`globalThis.kyokaShared`), so there is one
// instance of it in the process — one UsageError class for cli/main.ts's `instanceof`, one
// shutdown handler list, one koffi. ES-module packages (zod, …) that both import are duplicated
// (their default export cannot be handed over as it is); they keep no state kyoka shares.
// Three esbuild runs: kyoka.cjs to learn what it holds, server.cjs (learns which of those modules
// it imports), kyoka.cjs again with that list. The build fails when kyoka.cjs holds server code.
import { build } from "esbuild";
import { statSync, writeFileSync } from "node:fs";
import { join, relative, resolve, sep } from "node:path";

const [outDir, version, commit, date] = process.argv.slice(2);
if (!outDir || !version || !commit || !date) throw new Error("usage: bundle.mjs <out dir> <version> <commit> <date>");
const root = resolve(import.meta.dirname, "../..");
const loader = join(root, "installers/sea/server-bundle.cjs");

/** server/ modules the light commands import themselves (people-command's InvalidInputError…): in kyoka.cjs, shared */
const SHARED_SERVER = new Set(["server/errors.ts"]);
const SERVER_PACKAGES = new Set(["better-sqlite3"]);

const rel = (p) => relative(root, p).split(sep).join("/");
const own = (key) => !key.startsWith("node_modules/") && !key.includes("/node_modules/");

const common = {
  bundle: true, platform: "node", target: "node20", format: "cjs", absWorkingDir: root,
  logLevel: "warning", legalComments: "none", metafile: true,
  alias: { bindings: "./installers/sea/bindings.cjs", koffi: "./installers/sea/koffi.cjs" },
  define: {
    KYOKA_VERSION: JSON.stringify(version), KYOKA_COMMIT: JSON.stringify(commit), KYOKA_DATE: JSON.stringify(date),
    // import.meta.url is the executable's own path in the bundles (the modules that use it only
    // derive cache keys or sibling paths from it, and fall back when those do not exist)
    "import.meta.url": "kyokaImportMetaUrl",
    // ws: its optional native helpers are not bundled (and would warn)
    "process.env.WS_NO_BUFFER_UTIL": '"1"', "process.env.WS_NO_UTF_8_VALIDATE": '"1"',
  },
  banner: { js: "var kyokaImportMetaUrl = require('node:url').pathToFileURL(process.execPath).href;" },
};

const thunks = (keys, path) => `module.exports = {\n${[...keys].sort().map((k) =>
  `  ${JSON.stringify(k)}: () => require(${JSON.stringify(path(k))}),`).join("\n")}\n};\n`;

/** kyoka.cjs: server modules → stubs (their keys collected in `served`); `shared`: what server.cjs takes from it */
async function mainBundle(shared, write) {
  const served = new Set();
  const plugin = {
    name: "kyoka-light",
    setup(b) {
      b.onResolve({ filter: /^kyoka-sea:shared$/ }, () => ({ path: "shared", namespace: "kyoka-shared" }));
      b.onLoad({ filter: /.*/, namespace: "kyoka-shared" }, () => ({
        contents: thunks(shared, (k) => join(root, k)), loader: "js", resolveDir: root,
      }));
      b.onResolve({ filter: /.*/ }, async (args) => {
        if (args.pluginData?.kyokaSkip || args.importer.includes(`${sep}node_modules${sep}`)) return undefined;
        if (SERVER_PACKAGES.has(args.path)) {
          served.add(args.path);
          return { path: args.path, namespace: "kyoka-server" };
        }
        if (!/^[./]/.test(args.path) || args.namespace !== "file") return undefined;
        const r = await b.resolve(args.path, { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: { kyokaSkip: true } });
        if (r.errors.length || r.external) return undefined;
        const key = rel(r.path);
        if (!key.startsWith("server/") || SHARED_SERVER.has(key)) return undefined;
        served.add(key);
        return { path: key, namespace: "kyoka-server" };
      });
      b.onLoad({ filter: /.*/, namespace: "kyoka-server" }, (args) => ({
        contents: `module.exports = require(${JSON.stringify(loader)}).serverModule(${JSON.stringify(args.path)});\n`,
        loader: "js", resolveDir: root,
      }));
    },
  };
  const r = await build({ ...common, entryPoints: [join(root, "installers/sea/entry.ts")], outfile: join(outDir, "kyoka.cjs"), write, plugins: [plugin] });
  const inputs = r.metafile.inputs;
  const leaked = Object.keys(inputs).filter((k) => (k.startsWith("server/") && !SHARED_SERVER.has(k)) || k.includes("node_modules/better-sqlite3/"));
  if (leaked.length) throw new Error(`kyoka.cjs would hold server code: ${leaked.join(", ")}`);
  return { served, inputs, metafile: r.metafile };
}

/** server.cjs: exports the served modules; every module kyoka.cjs holds (own or CommonJS) is taken from it */
async function serverBundle(served, mainInputs) {
  const shared = new Set();
  const plugin = {
    name: "kyoka-server",
    setup(b) {
      b.onResolve({ filter: /^kyoka-sea:server$/ }, () => ({ path: "server", namespace: "kyoka-entry" }));
      b.onLoad({ filter: /.*/, namespace: "kyoka-entry" }, () => ({
        contents: thunks(served, (k) => (SERVER_PACKAGES.has(k) ? k : join(root, k))), loader: "js", resolveDir: root,
      }));
      b.onResolve({ filter: /.*/ }, async (args) => {
        if (args.pluginData?.kyokaSkip || args.namespace !== "file" && args.namespace !== "kyoka-entry") return undefined;
        if (args.kind === "entry-point") return undefined;
        const r = await b.resolve(args.path, { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: { kyokaSkip: true } });
        if (r.errors.length || r.external || r.namespace !== "file") return undefined;
        const key = rel(r.path);
        const input = mainInputs[key];
        if (!input || !(own(key) || input.format === "cjs")) return undefined;
        shared.add(key);
        return { path: key, namespace: "kyoka-shared-ref" };
      });
      b.onLoad({ filter: /.*/, namespace: "kyoka-shared-ref" }, (args) => ({
        contents: `module.exports = globalThis.kyokaShared[${JSON.stringify(args.path)}]();\n`, loader: "js", resolveDir: root,
      }));
    },
  };
  const r = await build({ ...common, entryPoints: ["kyoka-sea:server"], outfile: join(outDir, "server.cjs"), write: true, plugins: [plugin] });
  return { shared, metafile: r.metafile };
}

const first = await mainBundle(new Set(), false);
const server = await serverBundle(first.served, first.inputs);
const main = await mainBundle(server.shared, true);
for (const k of main.served) if (!first.served.has(k)) throw new Error(`kyoka.cjs changed between its builds: ${k}`);
const size = (f) => statSync(join(outDir, f)).size;
const count = (m) => Object.keys(m.inputs).length;
const report = {
  "kyoka.cjs": { bytes: size("kyoka.cjs"), modules: count(main.metafile) },
  "server.cjs": { bytes: size("server.cjs"), modules: count(server.metafile), served: [...first.served].sort(), shared: server.shared.size },
};
writeFileSync(join(outDir, "bundles.json"), JSON.stringify(report, null, 2) + "\n");
process.stderr.write(`== installers: kyoka.cjs ${(report["kyoka.cjs"].bytes / 1e6).toFixed(1)} MB, server.cjs ${(report["server.cjs"].bytes / 1e6).toFixed(1)} MB (${server.shared.size} modules shared)\n`);
