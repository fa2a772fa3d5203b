/**
 * The P2P section of `kyoka snapshot` (a one-shot scan with the collector, no server) and its
 * executable-hash cache kept between runs. Imported lazily by agent/collectors/snapshot-sources.ts.
 */
import { statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { CollectorContext } from "../../collector.js";
import { noopLogger } from "../../../lib/noop-log.js";
import type { NewEvent } from "../../../policies/schema.js";
import type { Policy } from "../../../policies/policy.js";
import { policiesDir } from "../../../lib/paths.js";
import { cachedParse, readCacheValue, writeCacheValue } from "../../../lib/parse-cache.js";
import { cachedDefaultPolicy } from "../../../policies/cached.js";
import { compileSignatures, type Signatures } from "./compile.js";
import { isHashedExecutable, type HashedExecutable } from "./hash.js";
import { P2pCollector, type P2pCollectorOptions } from "./collector.js";

/**
 * `kyoka snapshot`: one scan from all four angles, no server. Returns the findings as the events'
 * details (installed, present, running, traffic).
 *
 * A one-shot snapshot has no hash cache to lean on, so it takes a quick profile by default
 * (measured: the full profile took ≈3 s on the development machine, ≈0.9 s of it reading every
 * running executable — node alone is 99 MB — for hashes and markers, ≈1.1 s walking 18,000 files
 * under ~): executables up to SNAPSHOT_HASH_MAX_BYTES are hashed and scanned for markers (a
 * renamed small client such as transmission-daemon, 0.6 MB, is still recognised; a larger one,
 * e.g. qbittorrent-nox at 9.6 MB, only by package, name, path and command line — the agent's
 * scans hash everything), and the presentPaths walk visits the first
 * SNAPSHOT_PRESENT_MAX_FILES entries (Downloads and Desktop first). The agent's own scans are not
 * limited this way.
 */
/** The snapshot's findings are its output, so the collector's own log lines are dropped. */
const silentLogger = noopLogger;

/**
 * The signatures for the snapshot, through the parse cache (lib/parse-cache.ts; the default policy
 * too, policies/cached.ts): yaml and zod are loaded only when the files (or kyoka) changed since
 * the last snapshot.
 */
async function snapshotSignatures(): Promise<Signatures> {
  const text = await readFile(join(policiesDir, "p2p-signatures.yaml"), "utf8");
  return compileSignatures(await cachedParse("p2p-signatures", text, new URL("./signatures.js", import.meta.url),
    async () => (await import("./signatures.js")).validateSignatureText(text)));
}

export const SNAPSHOT_HASH_MAX_BYTES = 4 * 1024 * 1024;
export const SNAPSHOT_PRESENT_MAX_FILES = 2000;

export class P2pSnapshotSource {
  readonly name = "p2p";

  constructor(private readonly opts: P2pCollectorOptions & { policy?: () => Policy } = {}) {}

  async snapshot(): Promise<unknown> {
    const [policy, signatures] = await Promise.all([
      this.opts.policy?.() ?? cachedDefaultPolicy(),
      this.opts.signatures ?? snapshotSignatures(),
    ]);
    const events: NewEvent[] = [];
    const state = new Map<string, unknown>();
    const collector = new P2pCollector({ hashMaxBytes: SNAPSHOT_HASH_MAX_BYTES, syncPresentWalk: true, hashSeed: readHashCache, processEvents: null, ...this.opts, signatures });
    const presentMaxFiles = Math.min(policy.p2p.presentMaxFiles, SNAPSHOT_PRESENT_MAX_FILES);
    const ctx: CollectorContext = {
      log: silentLogger(),
      state: { get: <T>(k: string) => state.get(k) as T | undefined, set: async (k, v) => { state.set(k, v); } },
      agentId: "",
      emit: async (...e) => { events.push(...e); },
      // alert only: a snapshot never terminates anything
      policy: () => ({ ...policy, p2p: { ...policy.p2p, response: "alert", presentMaxFiles } }),
      onPolicy: () => () => undefined,
      fail: (err) => { throw err; },
      checked: () => undefined,
    };
    await collector.start(ctx);
    await collector.stop();
    await collector.scanOnce();
    const used = collector.hashesUsed();
    if (used && !this.opts.hashSeed) writeCacheValue(HASH_CACHE, hashCacheVersion(), { markersKey: used.markersKey, entries: used.entries });
    return events.map((e) => ({ type: e.type, ...e.details }));
  }
}

/**
 * The snapshot's executable hashes, kept between runs in the parse cache's folder (see
 * lib/parse-cache.ts): hashing and scanning every running executable is most of the P2P section's
 * CPU, and the same binaries run from one snapshot to the next. Keyed like the agent's in-memory
 * cache by (dev, inode, size, mtime, ctime), and only for the marker set they were scanned for and
 * the kyoka build that scanned them; each run keeps only the entries it used. A caller that brings
 * its own `hashSeed` keeps its own cache (nothing is written). The agent never reads this file.
 */
const HASH_CACHE = "p2p-hashes";
/** the format, and the build of the hashing code (its size and mtime): another kyoka build starts afresh */
function hashCacheVersion(): string {
  try {
    const st = statSync(fileURLToPath(new URL("./hash.js", import.meta.url)));
    return `1:${st.size}:${st.mtimeMs}`;
  } catch {
    return "1";
  }
}
function readHashCache(markersKey: string): [string, HashedExecutable][] {
  const v = readCacheValue(HASH_CACHE, hashCacheVersion()) as { markersKey?: unknown; entries?: unknown } | undefined;
  if (!v || v.markersKey !== markersKey || !Array.isArray(v.entries)) return [];
  return v.entries.filter((e): e is [string, HashedExecutable] =>
    Array.isArray(e) && e.length === 2 && typeof e[0] === "string" && isHashedExecutable(e[1]));
}
