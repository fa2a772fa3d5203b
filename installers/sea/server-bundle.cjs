/**
 * Loads the server's code in the single executable (installers/sea/bundle.mjs): in the main script
 * (kyoka.cjs) each server module is a stub calling `serverModule(<its path>)`, so the second bundle
 * (server.cjs) is read only when a command imports one — `kyoka server`, `local`, `enroll-token`,
 * `user`, `audit` — never by `kyoka agent`, `snapshot` or `--version`.
 *
 * server.cjs is unpacked beside the policies (`globalThis.kyokaPackageRoot`, the private folder
 * unpack.ts checked: this user's, writable by nobody else, SHA-256 as bundled) as
 * `bundles/server.cjs`, and loaded with Node's CommonJS loader (the SEA's own `require` loads only
 * built-in modules). Before that `globalThis.kyokaShared` is set: the modules of this script that
 * the server's code imports too, so they are one instance in the process (bundle.mjs).
 * KYOKA_TRACE_BUNDLES=1 writes a line to standard error when it is loaded (the tests' check that
 * the agent never loads it).
 */
"use strict";
const { dirname, join } = require("node:path");
const Module = require("node:module");

let bundle;

function load() {
  const g = globalThis;
  if (g.kyokaUnpackError) throw new Error(`the server's code is not available: ${g.kyokaUnpackError}`);
  // in the executable: the private folder; a bundle run by node (bench --entry): beside it
  const file = g.kyokaPackageRoot ? join(g.kyokaPackageRoot, "bundles", "server.cjs") : join(dirname(process.argv[1] ?? "."), "server.cjs");
  g.kyokaShared = require("kyoka-sea:shared");
  const exports = Module.createRequire(file)(file);
  if (process.env.KYOKA_TRACE_BUNDLES) process.stderr.write(`kyoka: loaded the server bundle ${file}\n`);
  return exports;
}

exports.serverModule = function serverModule(key) {
  bundle ??= load();
  const get = bundle[key];
  if (!get) throw new Error(`the server bundle has no module ${key}: it is not from this build`);
  return get();
};
