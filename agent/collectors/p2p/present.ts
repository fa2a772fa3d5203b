/**
 * Bounded, incremental walk of the folders where portable (never installed) P2P executables sit:
 * policy.p2p.presentPaths, with ~ expanded to each user's home. Each step visits at most `maxFiles`
 * entries and resumes where it stopped; a finished pass rests before the next one starts.
 */
import type { Dirent } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";

/** Folders never entered (build trees, VCS data, caches). */
export const SKIP_DIRS = new Set([
  "node_modules", ".git", ".hg", ".svn", ".cache", ".npm", ".cargo", ".rustup", ".gradle", ".m2",
  ".venv", "venv", "__pycache__", ".local/share/Trash", "proc", "sys",
]);
/** A folder with more entries than this is skipped (and logged by the caller). */
export const HUGE_DIR_ENTRIES = 20000;

export interface PresentFile {
  path: string;
  size: number;
  mtimeMs: number;
  /** any execute bit set (POSIX) */
  executable: boolean;
}

/** Home folders: /home/* and /root on Linux, /Users/* on macOS, C:\Users\* on Windows. */
export async function homeDirs(platform: NodeJS.Platform = process.platform): Promise<string[]> {
  const bases = platform === "win32" ? [join(process.env.SystemDrive ?? "C:", "\\Users")]
    : platform === "darwin" ? ["/Users"] : ["/home"];
  const out: string[] = [];
  for (const base of bases) {
    try {
      for (const d of await readdir(base, { withFileTypes: true })) {
        if (d.isDirectory() && !["Public", "Shared", "Default", "All Users", "Default User"].includes(d.name)) out.push(join(base, d.name));
      }
    } catch { /* no such folder */ }
  }
  if (platform === "linux") out.push("/root");
  if (out.length === 0) out.push(homedir());
  return out;
}

/** Expand ~ (each user's home) in the configured paths. */
export function expandPaths(paths: readonly string[], homes: readonly string[]): string[] {
  const out = new Set<string>();
  for (const p of paths) {
    if (p === "~" || p.startsWith("~/") || p.startsWith("~\\")) {
      for (const h of homes) out.add(p === "~" ? h : join(h, p.slice(2)));
    } else out.add(p);
  }
  return [...out];
}

export class PresentWalker {
  private queue: string[] = [];
  private visited = new Set<string>();
  private passStartedAt = 0;
  private restingUntil = 0;
  /** folders skipped for being huge in the current pass */
  readonly hugeDirs: string[] = [];

  constructor(private readonly restMs: number, private readonly now: () => number = Date.now) {}

  /** Visit up to maxFiles entries; returns the regular files seen (the caller matches them). */
  async step(roots: readonly string[], maxFiles: number): Promise<{ files: PresentFile[]; passDone: boolean }> {
    const files: PresentFile[] = [];
    if (this.queue.length === 0) {
      if (this.now() < this.restingUntil) return { files, passDone: false };
      this.queue = [...roots].reverse();
      this.visited.clear();
      this.hugeDirs.length = 0;
      this.passStartedAt = this.now();
    }
    let budget = maxFiles;
    while (this.queue.length > 0 && budget > 0) {
      const dir = this.queue.pop()!;
      if (this.visited.has(dir)) continue;
      this.visited.add(dir);
      let entries: Dirent[];
      try { entries = await readdir(dir, { withFileTypes: true }); } catch { continue; }
      if (entries.length > HUGE_DIR_ENTRIES) { this.hugeDirs.push(dir); continue; }
      budget -= entries.length;
      const subdirs: string[] = [];
      for (const e of entries) {
        const path = join(dir, e.name);
        if (e.isDirectory()) {
          if (!SKIP_DIRS.has(e.name)) subdirs.push(path);
        } else if (e.isFile()) {
          try {
            const st = await stat(path);
            files.push({ path, size: st.size, mtimeMs: st.mtimeMs, executable: (st.mode & 0o111) !== 0 });
          } catch { /* removed meanwhile */ }
        }
        // symlinks are not followed: they would lead out of the bounded tree
      }
      for (const s of subdirs.reverse()) this.queue.push(s);
    }
    const passDone = this.queue.length === 0;
    if (passDone) this.restingUntil = Math.max(this.now(), this.passStartedAt) + this.restMs;
    return { files, passDone };
  }
}
