/**
 * Executable identity: SHA-256 (streamed) and the signature markers found inside, in one read.
 * Cached by (dev, inode, size, mtime), so an unchanged executable is never read twice.
 */
import { createHash } from "node:crypto";
import { open, stat } from "node:fs/promises";
import type { ExecutableIdentity } from "./match.js";

export type ExecutableKind = "elf" | "pe" | "macho" | "script" | "other";

export interface HashedExecutable extends ExecutableIdentity {
  size: number;
  kind: ExecutableKind;
}

export function kindOf(head: Buffer): ExecutableKind {
  if (head.length >= 4 && head[0] === 0x7f && head[1] === 0x45 && head[2] === 0x4c && head[3] === 0x46) return "elf";
  if (head.length >= 2 && head[0] === 0x4d && head[1] === 0x5a) return "pe";
  if (head.length >= 4) {
    const be = head.readUInt32BE(0);
    if ([0xfeedface, 0xfeedfacf, 0xcefaedfe, 0xcffaedfe, 0xcafebabe].includes(be)) return "macho";
  }
  if (head.length >= 2 && head[0] === 0x23 && head[1] === 0x21) return "script";
  return "other";
}

/** bytes read at a time */
const CHUNK = 1 << 20;

/**
 * Hash a file and look for markers inside it (only in binaries: ELF, PE, Mach-O). Reads 1 MiB at a
 * time into one buffer (no stream: its chunk copies and events cost more than the hashing) and
 * keeps an overlap so a marker split across chunks is still found.
 */
export async function hashAndScan(path: string, markers: readonly Buffer[]): Promise<HashedExecutable> {
  const hash = createHash("sha256");
  const found = new Set<number>();
  const overlap = Math.max(0, ...markers.map((m) => m.length)) - 1;
  let tail = Buffer.alloc(0);
  let kind: ExecutableKind | undefined;
  let size = 0;
  const fh = await open(path, "r");
  try {
    const buf = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, CHUNK, null);
      if (bytesRead === 0) break;
      const chunk = buf.subarray(0, bytesRead);
      hash.update(chunk);
      size += bytesRead;
      kind ??= kindOf(chunk);
      if (kind === "script" || kind === "other" || found.size === markers.length) continue;
      // the chunk itself, plus the seam with the previous one (its last `overlap` bytes and this
      // chunk's first): no copy of the whole chunk
      const seam = tail.length ? Buffer.concat([tail, chunk.subarray(0, overlap)]) : undefined;
      markers.forEach((m, i) => {
        if (!found.has(i) && (chunk.indexOf(m) >= 0 || (seam !== undefined && seam.indexOf(m) >= 0))) found.add(i);
      });
      if (overlap > 0) {
        // a copy: `buf` is overwritten by the next read
        const last = chunk.length >= overlap ? chunk : Buffer.concat([tail, chunk]);
        tail = Buffer.from(last.subarray(Math.max(0, last.length - overlap)));
      }
    }
  } finally {
    await fh.close();
  }
  return { sha256: hash.digest("hex"), markers: [...found].sort((a, b) => a - b), size, kind: kind ?? "other" };
}

/**
 * Hashes by (dev, inode, size, mtime, ctime); bounded (oldest entries dropped first). ctime is in
 * the key because, unlike mtime, no unprivileged call can set it back: a file rewritten and
 * given its old mtime again (`touch -d`) still misses.
 */
export class ExecutableHasher {
  private readonly cache = new Map<string, HashedExecutable>();
  private readonly inFlight = new Map<string, Promise<HashedExecutable | UnhashedReason>>();
  /** keys identified since construction (hits and misses): what `used()` returns */
  private readonly usedKeys = new Set<string>();
  /** files hashed (cache misses) since construction: for tests and diagnostics */
  hashed = 0;

  constructor(private readonly markers: readonly Buffer[], private readonly maxEntries = 4096, private readonly maxBytes = 512 * 1024 * 1024) {}

  /** Fingerprint of the marker set: entries are only valid for the markers they were scanned for. */
  markersKey(): string {
    const h = createHash("sha256");
    for (const m of this.markers) h.update(String(m.length)).update(":").update(m);
    return h.digest("hex");
  }

  /** Entries known from an earlier run (the snapshot's persistent cache); later entries win. */
  seed(entries: Iterable<readonly [string, HashedExecutable]>): void {
    for (const [k, v] of entries) this.cache.set(k, v);
    while (this.cache.size > this.maxEntries) this.cache.delete(this.cache.keys().next().value!);
  }

  /** The entries identified since construction (to persist for the next run). */
  used(): [string, HashedExecutable][] {
    return [...this.usedKeys].flatMap((k) => {
      const v = this.cache.get(k);
      return v ? [[k, v] as [string, HashedExecutable]] : [];
    });
  }

  /**
   * Identify the file at `path` (for a process, /proc/<pid>/exe: it reaches the binary even in
   * another mount namespace or after it was deleted). Undefined when unreadable or too big.
   */
  async identify(path: string): Promise<HashedExecutable | undefined> {
    const r = await this.identifyOrReason(path);
    return "reason" in r ? undefined : r;
  }

  /**
   * Like identify, but says why a file was not hashed: `too_large` (over maxBytes, with its size),
   * `not_a_file`, or `unreadable` (with the error code). `beforeRead(size)` is awaited before a file
   * is actually read (a cache miss): the caller's CPU budget.
   */
  async identifyOrReason(path: string, beforeRead?: (size: number) => Promise<void>): Promise<HashedExecutable | UnhashedReason> {
    let st;
    try { st = await stat(path, { bigint: true }); } catch (err) { return { reason: "unreadable", error: errorCode(err) }; }
    if (!st.isFile()) return { reason: "not_a_file" };
    if (st.size > BigInt(this.maxBytes)) return { reason: "too_large", size: Number(st.size) };
    const key = `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
    const hit = this.cache.get(key);
    if (hit) {
      this.cache.delete(key);
      this.cache.set(key, hit);
      this.usedKeys.add(key);
      return hit;
    }
    // the same file asked for again while it is being read (prefetch, several processes of one binary)
    const pending = this.inFlight.get(key);
    if (pending) return pending;
    const run = (async (): Promise<HashedExecutable | UnhashedReason> => {
      if (beforeRead) await beforeRead(Number(st.size));
      let result: HashedExecutable;
      try { result = await hashAndScan(path, this.markers); } catch (err) { return { reason: "unreadable", error: errorCode(err) }; }
      this.hashed++;
      this.cache.set(key, result);
      this.usedKeys.add(key);
      if (this.cache.size > this.maxEntries) this.cache.delete(this.cache.keys().next().value!);
      return result;
    })();
    this.inFlight.set(key, run);
    try { return await run; } finally { this.inFlight.delete(key); }
  }
}

/** Why an executable was not hashed. */
export interface UnhashedReason {
  reason: "too_large" | "unreadable" | "not_a_file";
  size?: number;
  error?: string;
}

function errorCode(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? String(err);
}

/** A plausible cache entry (the persistent cache is a file: its contents are not trusted blindly). */
export function isHashedExecutable(v: unknown): v is HashedExecutable {
  if (typeof v !== "object" || v === null) return false;
  const o = v as Record<string, unknown>;
  return typeof o.sha256 === "string" && /^[0-9a-f]{64}$/.test(o.sha256) && typeof o.size === "number"
    && Array.isArray(o.markers) && o.markers.every((m) => Number.isInteger(m) && (m as number) >= 0)
    && (["elf", "pe", "macho", "script", "other"] as unknown[]).includes(o.kind);
}
