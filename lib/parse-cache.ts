/**
 * A JSON cache for parsed and validated configuration text (the default policy and the P2P
 * signatures), for the one-shot `kyoka snapshot`: parsing them needs yaml + zod, ≈ 200 ms of CPU
 * for module compilation alone, every run. The cached value is what the parser returned for
 * exactly this text with exactly this parser module: the key is the SHA-256 of the kind, the
 * parser module file's size and mtime (a rebuilt or upgraded kyoka misses) and the text, and the
 * full key is stored and compared, so an edited file or a different build is simply parsed again.
 *
 * Only for values that survive JSON (plain objects, arrays, strings, numbers, booleans). Where:
 * $KYOKA_CACHE_DIR, else $XDG_CACHE_HOME/kyoka, else ~/.cache/kyoka; KYOKA_CACHE_DIR="" turns the
 * cache off. A cache that cannot be read or written is ignored (the text is parsed). The cache is
 * the invoking user's own: it can only change what that user's own snapshot reports, which that
 * user could fake anyway; the agent's collectors never read it.
 *
 * The same folder holds named values for the snapshot (`readCacheValue` / `writeCacheValue`): the
 * executable hashes of the P2P section (agent/collectors/p2p/index.ts), each valid only under the
 * version string it was written with; and named files (`readCacheFile` / `writeCacheFile`): the
 * executed section's package index (agent/collectors/executed/snapshot.ts), in its packed form.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";

export function parseCacheDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.KYOKA_CACHE_DIR !== undefined) return env.KYOKA_CACHE_DIR === "" ? undefined : env.KYOKA_CACHE_DIR;
  try {
    return join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "kyoka");
  } catch {
    return undefined;
  }
}

/**
 * `parse()` of `text`, through the cache. `parser` is the URL of the module whose code does the
 * parsing (its size and mtime are part of the key). Never fails because of the cache itself.
 */
export async function cachedParse<T>(kind: string, text: string, parser: URL, parse: () => Promise<T>, dir = parseCacheDir()): Promise<T> {
  let key: string | undefined;
  let file: string | undefined;
  if (dir !== undefined) {
    try {
      const st = statSync(fileURLToPath(parser));
      key = createHash("sha256").update(`${kind}\0${st.size}:${st.mtimeMs}\0`).update(text).digest("hex");
      file = join(dir, `${kind}-${key.slice(0, 24)}.json`);
      const cached = JSON.parse(readFileSync(file, "utf8")) as { key?: unknown; value?: unknown };
      if (cached.key === key && cached.value !== undefined) return cached.value as T;
    } catch {
      // missing, unreadable or corrupt: parse
    }
  }
  const value = await parse();
  if (key !== undefined && file !== undefined) {
    try {
      writeAtomically(file, JSON.stringify({ key, value }));
      // the entries of earlier texts or builds of this kind are of no use any more
      const mine = basename(file);
      const same = new RegExp(`^${kind.replace(/[^a-z0-9-]/gi, "")}-[0-9a-f]{24}\\.json$`);
      for (const f of readdirSync(dir!)) if (f !== mine && same.test(f)) try { unlinkSync(join(dir!, f)); } catch { /* gone */ }
    } catch {
      // read-only home, full disk: the next run parses again
    }
  }
  return value;
}

/** Write `text` to `file` (its folder created, mode 0700) through a temporary file and a rename. */
function writeAtomically(file: string, text: string | Buffer): void {
  mkdirSync(join(file, ".."), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, file);
}

/**
 * A named JSON value in the same folder, valid only under `version` (a value from another version
 * is not returned). Undefined when there is no cache, no file, or it cannot be read or parsed.
 */
export function readCacheValue(name: string, version: string, dir = parseCacheDir()): unknown {
  if (dir === undefined) return undefined;
  try {
    const cached = JSON.parse(readFileSync(join(dir, `${name}.json`), "utf8")) as { version?: unknown; value?: unknown };
    return cached.version === version ? cached.value : undefined;
  } catch {
    return undefined;
  }
}

/** Store a value for readCacheValue; a cache that cannot be written is ignored. */
export function writeCacheValue(name: string, version: string, value: unknown, dir = parseCacheDir()): void {
  if (dir === undefined) return;
  try {
    writeAtomically(join(dir, `${name}.json`), JSON.stringify({ version, value }));
  } catch {
    // read-only home, full disk: the next run works without it
  }
}

/** A named file of bytes in the same folder (its validity is the caller's: e.g. a header it wrote). */
export function readCacheFile(name: string, dir = parseCacheDir()): Buffer | undefined {
  if (dir === undefined) return undefined;
  try {
    return readFileSync(join(dir, name));
  } catch {
    return undefined;
  }
}

/** Delete a named file of the folder (one an earlier kyoka wrote and this one no longer reads). */
export function removeCacheFile(name: string, dir = parseCacheDir()): void {
  if (dir === undefined) return;
  try { unlinkSync(join(dir, name)); } catch { /* not there */ }
}

/** Store bytes for readCacheFile; a cache that cannot be written is ignored. */
export function writeCacheFile(name: string, data: Buffer, dir = parseCacheDir()): void {
  if (dir === undefined) return;
  try {
    writeAtomically(join(dir, name), data);
  } catch {
    // read-only home, full disk: the next run works without it
  }
}
