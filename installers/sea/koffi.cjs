/**
 * koffi (the FFI library) inside the single executable. esbuild resolves `koffi` here
 * (`--alias:koffi=…`), and installers/sea/unpack.ts routes `createRequire(…)("koffi")` here too.
 * The executable carries koffi's native library for its platform as a SEA asset; unpack.ts writes
 * it to the private folder (`globalThis.kyokaNativeDir`, checked: this user's, writable by nobody
 * else, SHA-256 as bundled) and it is loaded from there, never searched for on disk as koffi's
 * own loader does. koffi's JS wrapper only adds deprecated aliases, so the native module is koffi.
 */
"use strict";
const { existsSync } = require("node:fs");
const { join } = require("node:path");
const { version } = require("../../node_modules/koffi/package.json");

function loadKoffi() {
  const dir = globalThis.kyokaNativeDir;
  if (!dir) throw new Error(`koffi is not available: ${globalThis.kyokaUnpackError ?? "this executable's native folder was not unpacked"}`);
  const file = join(dir, "koffi.node");
  if (!existsSync(file)) throw new Error(`koffi is not available: this executable carries no koffi.node for ${process.platform}-${process.arch}`);
  const mod = { exports: {} };
  process.dlopen(mod, file);
  if (mod.exports.version !== version) throw new Error(`koffi.node is version ${mod.exports.version}, the bundled koffi ${version}`);
  return mod.exports;
}

module.exports = loadKoffi();
