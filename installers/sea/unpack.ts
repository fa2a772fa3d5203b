/**
 * What a single executable does before kyoka's own modules load:
 *
 * - `globalThis.kyokaBuild`: the version, commit and date baked in at bundle time (esbuild
 *   `--define`), for `kyoka --version` and the agent's hello (lib/build-info.ts);
 * - unpacks the files the executable carries as SEA assets (installers/build.sh lists them in the
 *   `manifest.json` asset: policies/*.yaml, the dashboard, the server's code `bundles/server.cjs`
 *   (installers/sea/server-bundle.cjs loads it) and koffi's native library for the platform) into a private
 *   folder of the user running it, one folder per build, and sets `globalThis.kyokaPackageRoot`
 *   (lib/paths.ts) and `globalThis.kyokaNativeDir` (installers/sea/koffi.cjs) to it.
 *
 * The private folder: `$KYOKA_RUNTIME_DIR/<id>` when set; else on Linux `/var/cache/kyoka/runtime/<id>`
 * for root and `$XDG_CACHE_HOME/kyoka/runtime/<id>` (`~/.cache/…`) for other users; on Windows
 * `%LOCALAPPDATA%\kyoka\runtime\<id>`, and for LocalSystem (the service)
 * `%ProgramData%\kyoka\runtime\<id>` (the MSI restricts that folder to SYSTEM and Administrators
 * and removes it on uninstall); on macOS
 * `~/Library/Caches/kyoka/runtime/<id>`. `<id>` is a hash of the bundled files. On POSIX the
 * folder and its parent must belong to the user and be writable by nobody else, or kyoka refuses to
 * load native code from it. Every start checks each file's SHA-256 against the manifest and
 * rewrites (temp file + rename) any that differ, so a damaged or altered file is never used.
 */
import { createHash } from "node:crypto";
import { closeSync, existsSync, lstatSync, mkdirSync, openSync, readSync, renameSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import Module from "node:module";
import { getAsset, isSea } from "node:sea";

// replaced by esbuild at bundle time (installers/build.sh)
declare const KYOKA_VERSION: string;
declare const KYOKA_COMMIT: string;
declare const KYOKA_DATE: string;

/** `manifest.json`: the files to unpack, each an asset of the same name. */
interface Manifest {
  id: string;
  files: { path: string; sha256: string; executable?: boolean }[];
}

type KyokaGlobals = { kyokaBuild?: unknown; kyokaPackageRoot?: string; kyokaNativeDir?: string; kyokaUnpackError?: string };
const g = globalThis as KyokaGlobals;
g.kyokaBuild = { version: KYOKA_VERSION, commit: KYOKA_COMMIT, date: KYOKA_DATE };

export function runtimeBase(env: NodeJS.ProcessEnv = process.env): string {
  if (env.KYOKA_RUNTIME_DIR) return env.KYOKA_RUNTIME_DIR;
  if (process.platform === "win32") {
    // LocalSystem (the service): beside the agent's state, which the MSI removes on uninstall
    if (/[\\/]systemprofile$/i.test(env.USERPROFILE ?? "")) return join(env.ProgramData ?? "C:\\ProgramData", "kyoka", "runtime");
    return join(env.LOCALAPPDATA ?? join(homedir(), "AppData", "Local"), "kyoka", "runtime");
  }
  if (process.platform === "darwin") return join(homedir(), "Library", "Caches", "kyoka", "runtime");
  if (process.getuid?.() === 0) return "/var/cache/kyoka/runtime";
  return join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "kyoka", "runtime");
}

/** POSIX: the folder is a real folder of this user that nobody else can write to. */
function checkPrivate(dir: string): void {
  if (process.platform === "win32") return;
  const st = lstatSync(dir);
  const uid = process.getuid?.();
  if (!st.isDirectory()) throw new Error(`${dir} is not a folder`);
  if (uid !== undefined && st.uid !== uid) throw new Error(`${dir} belongs to uid ${st.uid}, not to this user (${uid})`);
  if (st.mode & 0o022) throw new Error(`${dir} is writable by others (mode ${(st.mode & 0o777).toString(8)})`);
}

function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** A file's SHA-256, read in pieces: the 12 MB server bundle is not held in memory by every start. */
function fileSha256(file: string, buf: Buffer): string {
  const hash = createHash("sha256");
  const fd = openSync(file, "r");
  try {
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0;) hash.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return hash.digest("hex");
}

function unpack(dir: string, manifest: Manifest): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  checkPrivate(dirname(dir));
  checkPrivate(dir);
  const buf = Buffer.allocUnsafe(256 * 1024);
  for (const f of manifest.files) {
    const target = join(dir, f.path);
    if (existsSync(target) && fileSha256(target, buf) === f.sha256) continue;
    const data = new Uint8Array(getAsset(f.path));
    if (sha256(data) !== f.sha256) throw new Error(`bundled file ${f.path} does not match its manifest`);
    mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
    const tmp = `${target}.${process.pid}.tmp`;
    writeFileSync(tmp, data, { mode: f.executable ? 0o700 : 0o600 });
    renameSync(tmp, target);
  }
}

/**
 * `createRequire(import.meta.url)("koffi")` (how kyoka's ESM modules load koffi lazily) is a runtime
 * require that esbuild cannot see: it gets the bundled koffi (installers/sea/koffi.cjs) too.
 */
function routeKoffi(): void {
  const m = Module as unknown as { _load: (request: string, ...rest: unknown[]) => unknown };
  const load = m._load;
  m._load = function (this: unknown, request: string, ...rest: unknown[]) {
    // a bundled require (esbuild resolves the path at bundle time), evaluated on first use
    if (request === "koffi") return require("./koffi.cjs") as unknown;
    return load.call(this, request, ...rest);
  };
}

if (isSea()) {
  routeKoffi();
  const manifest = JSON.parse(getAsset("manifest.json", "utf8")) as Manifest;
  const dir = join(runtimeBase(), manifest.id);
  g.kyokaPackageRoot = dir;
  try {
    unpack(dir, manifest);
    // native code is loaded only from a folder that passed the checks
    g.kyokaNativeDir = join(dir, "native");
  } catch (err) {
    // `kyoka --version` and `--help` still work; a command that needs the files fails naming this
    g.kyokaUnpackError = `cannot unpack kyoka's bundled files into ${dir}: ${(err as Error).message}`;
    process.stderr.write(`kyoka: ${g.kyokaUnpackError}\n`);
  }
}
