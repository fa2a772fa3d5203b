/**
 * The executed section of `kyoka snapshot` (a one-shot look, no server, no event source started):
 *  - `running`: the programs running now from outside any installed package and outside the OS
 *    (the collector's own index), one row per program path with its SHA-256 (files up to
 *    SNAPSHOT_HASH_MAX_BYTES; a larger or unreadable one with the reason), its processes and users;
 *  - `seen`: what this PC's agent has seen run from outside packages, with how often each ran
 *    (the executed collector's state in the state folder: `<stateDir>/state/executed.json`), most
 *    recently run first; null with `seenError` when the folder cannot be read (not enrolled, or
 *    another user's agent).
 * Imported lazily by agent/collectors/snapshot-sources.ts.
 */
import { readFile, stat } from "node:fs/promises";
import { realpathSync } from "node:fs";
import { join } from "node:path";
import { fileName } from "../../../policies/matchers/executed.js";
import { noopLogger } from "../../../lib/noop-log.js";
import { ExecutableHasher } from "../p2p/hash.js";
import { STATE_KEY, type SeenProgram } from "./collector.js";
import type { ExecutedPlatform } from "./platform.js";
import { PathIndex } from "./package-index.js";
import { readCacheFile, removeCacheFile, writeCacheFile } from "../../../lib/parse-cache.js";

/** bumped when what buildIndex puts in the index changes (a cached index of the old kind is not used) */
const INDEX_CACHE_FORMAT = "executed-index-3";
const INDEX_CACHE_FILE = "executed-index.bin";

/** A one-shot look has no hash cache: larger programs are named, not hashed (the agent hashes up to the policy's hashMaxBytes). */
export const SNAPSHOT_HASH_MAX_BYTES = 16 * 1024 * 1024;
/** rows of `seen` listed (the most recently run); `seenTotal` counts them all */
export const SNAPSHOT_SEEN_MAX = 500;

export interface RunningOutside {
  path: string;
  name: string;
  sha256: string | null;
  size?: number;
  hashError?: string;
  /** processes running it now (the first 20 pids) */
  processes: number;
  pids: number[];
  users: string[];
}

export interface SeenOutside {
  /** the SHA-256, or `unhashed:<path>:<reason>:<size>` for a program the agent could not hash */
  key: string;
  sha256: string | null;
  path: string;
  runs: number;
  firstSeen: string;
  lastSeen: string;
}

export interface ExecutedSnapshot {
  /** paths in the package/OS index (0: no package database could be read) */
  indexed: number;
  running: RunningOutside[];
  seen: SeenOutside[] | null;
  seenTotal?: number;
  seenError?: string;
}

export interface ExecutedSnapshotOptions {
  platform?: ExecutedPlatform;
  /** the agent's state folder (its executed.json holds the run counts) */
  stateDir?: string;
}

async function defaultPlatform(): Promise<ExecutedPlatform> {
  const log = noopLogger();
  switch (process.platform) {
    case "win32": return new (await import("./win32.js")).Win32ExecutedPlatform({ log });
    case "darwin": return new (await import("./darwin.js")).DarwinExecutedPlatform({ log });
    default: return new (await import("./linux.js")).LinuxExecutedPlatform({ log });
  }
}

/** The collector's run counts from the state file's text, most recently run first. */
export function seenFromState(text: string): SeenOutside[] {
  const parsed = JSON.parse(text) as Record<string, unknown>;
  const seen = parsed?.[STATE_KEY];
  if (!seen || typeof seen !== "object") return [];
  const rows: SeenOutside[] = [];
  for (const [key, v] of Object.entries(seen as Record<string, Partial<SeenProgram>>)) {
    if (!v || typeof v !== "object" || typeof v.path !== "string" || typeof v.count !== "number") continue;
    rows.push({
      key, sha256: /^[0-9a-f]{64}$/i.test(key) ? key.toLowerCase() : null, path: v.path, runs: v.count,
      firstSeen: String(v.firstSeen ?? ""), lastSeen: String(v.lastSeen ?? ""),
    });
  }
  return rows.sort((a, b) => b.lastSeen.localeCompare(a.lastSeen) || a.path.localeCompare(b.path));
}

export class ExecutedSnapshotSource {
  readonly name = "executed";

  constructor(private readonly opts: ExecutedSnapshotOptions = {}) {}

  async snapshot(): Promise<ExecutedSnapshot> {
    const platform = this.opts.platform ?? await defaultPlatform();
    const [index, starts, seen] = await Promise.all([this.index(platform), platform.running(), this.seen()]);
    const own = new Set([process.execPath]);
    try { own.add(realpathSync(process.execPath)); } catch { /* keep the one */ }
    const byPath = new Map<string, RunningOutside>();
    // the bytes each program's first process runs (Linux: /proc/<pid>/exe, even when deleted)
    const readPaths = new Map<string, string>();
    for (const start of starts) {
      // Linux names each process's program already (its exe link): a packaged one is passed over
      // without reading its status, command line and parent (most of the ≈ 300 processes of a PC)
      if (platform.os === "linux" && start.exe !== undefined && start.readPath === undefined && (own.has(start.exe) || index.lookup(start.exe))) continue;
      const proc = platform.describe(start);
      if (!proc || own.has(proc.path) || index.lookup(proc.path)) continue;
      let row = byPath.get(proc.path);
      if (!row) {
        row = { path: proc.path, name: fileName(proc.path), sha256: null, processes: 0, pids: [], users: [] };
        byPath.set(proc.path, row);
        readPaths.set(proc.path, proc.readPath);
      }
      row.processes++;
      if (row.pids.length < 20) row.pids.push(proc.pid);
      const user = proc.user ?? (proc.uid !== undefined ? String(proc.uid) : undefined);
      if (user !== undefined && !row.users.includes(user)) row.users.push(user);
    }
    const hasher = new ExecutableHasher([], 8192, SNAPSHOT_HASH_MAX_BYTES);
    const running = [...byPath.values()].sort((a, b) => a.path.localeCompare(b.path));
    for (const row of running) {
      const readPath = readPaths.get(row.path) ?? row.path;
      let id = await hasher.identifyOrReason(readPath);
      if ("reason" in id && id.reason === "unreadable" && readPath !== row.path) id = await hasher.identifyOrReason(row.path);
      if ("reason" in id) {
        if (id.size !== undefined) row.size = id.size;
        row.hashError = id.error ? `${id.reason}: ${id.error}` : id.reason;
      } else {
        row.sha256 = id.sha256;
        row.size = id.size;
      }
    }
    return { indexed: index.size, running, ...seen };
  }

  /**
   * The package index, from the snapshot cache while the package databases have not moved
   * (lib/parse-cache.ts; building it reads every dpkg file list, ≈ 8 MB). Kept packed
   * (PathIndex.toPacked): reading it back parses no path, a lookup searches the bytes.
   */
  private async index(platform: ExecutedPlatform): Promise<PathIndex> {
    if (this.opts.platform) return platform.buildIndex(); // a given platform (tests): no cache
    const version = `${INDEX_CACHE_FORMAT}|${process.platform}|${await platform.indexToken()}`;
    const bytes = readCacheFile(INDEX_CACHE_FILE);
    if (bytes && PathIndex.packedMeta(bytes) === version) {
      const cached = PathIndex.fromPacked(bytes);
      if (cached) return cached;
    }
    const index = await platform.buildIndex();
    writeCacheFile(INDEX_CACHE_FILE, index.toPacked(version));
    removeCacheFile("executed-index.json"); // the JSON form of earlier builds
    return index;
  }

  private async seen(): Promise<Pick<ExecutedSnapshot, "seen" | "seenTotal" | "seenError">> {
    if (!this.opts.stateDir) return { seen: null, seenError: "no state folder given" };
    const file = join(this.opts.stateDir, "state", "executed.json");
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      // no file: this agent has seen nothing from outside packages yet (or never ran the collector)
      if (code === "ENOENT") {
        try { await stat(this.opts.stateDir); } catch { return { seen: null, seenError: `${this.opts.stateDir}: no agent state here (not enrolled?)` }; }
        return { seen: [], seenTotal: 0 };
      }
      return { seen: null, seenError: `${file}: ${code}` };
    }
    try {
      const all = seenFromState(text);
      return { seen: all.slice(0, SNAPSHOT_SEEN_MAX), seenTotal: all.length };
    } catch (err) {
      return { seen: null, seenError: `${file}: ${err instanceof Error ? err.message : String(err)}` };
    }
  }
}
