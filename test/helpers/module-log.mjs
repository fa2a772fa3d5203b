/**
 * `node --import ./module-log.mjs …`: every module the process loads — ES modules (a resolve hook)
 * and CommonJS requires — is appended, one file URL or path a line, to $KYOKA_MODULE_LOG. Tests use
 * it to check what a command loads (test/e2e/snapshot.test.ts).
 */
import { appendFileSync } from "node:fs";
import { createRequire, register } from "node:module";

const log = process.env.KYOKA_MODULE_LOG;
if (log) {
  const hooks = `
    import { appendFileSync } from "node:fs";
    export async function resolve(specifier, context, next) {
      const r = await next(specifier, context);
      appendFileSync(${JSON.stringify(log)}, r.url + "\\n");
      return r;
    }`;
  register(`data:text/javascript,${encodeURIComponent(hooks)}`);
  const Module = createRequire(import.meta.url)("node:module");
  const load = Module._load;
  Module._load = function (request, parent, isMain) {
    try { appendFileSync(log, Module._resolveFilename(request, parent, isMain) + "\n"); } catch { /* a builtin or unresolvable: load says */ }
    return load.apply(this, arguments);
  };
}
