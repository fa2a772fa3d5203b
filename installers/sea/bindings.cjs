/**
 * Stands in for the `bindings` package in the single executable (esbuild `--alias`): better-sqlite3
 * asks it for `better_sqlite3.node`. The executable does not carry the server's native SQLite; the
 * server package (kyoka-server .deb) installs `better_sqlite3.node` beside the executable
 * (/usr/lib/kyoka/), and it is loaded from there. Without it, `kyoka server` says what to do.
 */
"use strict";
const { existsSync } = require("node:fs");
const { dirname, join } = require("node:path");

module.exports = function bindings(name) {
  const file = join(dirname(process.execPath), name);
  if (!existsSync(file)) {
    throw new Error(
      `the server's native SQLite library (${name}) is not beside this executable (${dirname(process.execPath)}): ` +
      "install the kyoka-server package (it puts it there), or run the server from the npm package " +
      "(node dist/cli/main.js server). This single executable runs `kyoka agent` and `kyoka snapshot` on its own.",
    );
  }
  const mod = { exports: {} };
  process.dlopen(mod, file);
  return mod.exports;
};
