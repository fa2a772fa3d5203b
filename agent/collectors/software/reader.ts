/**
 * The reader interface between the collector and the OS: each OS file (linux.ts, win32.ts,
 * darwin.ts) runs commands / reads files and hands the text to the pure parsers.
 */
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import type { ParseError, SoftwareItem } from "./types.js";
import { exec } from "../../../lib/exec.js";

export interface SourceFailure {
  source: string;
  message: string;
}

export interface InventoryRead {
  items: SoftwareItem[];
  /** sources that exist here but could not be read (their last known rows are kept) */
  failed: SourceFailure[];
  /** sources read successfully */
  read: string[];
  /** bad entries skipped by the parsers (the rest of each source was read) */
  errors: (ParseError & { source: string })[];
  /** ids that could not be read this time (a bundle mid-update): their last known rows are kept */
  keep: string[];
  /**
   * scopes that were not read this time (a logged-off user's registry hive, a hive the agent may
   * not read): their last known rows are kept — "not read", never "removed"
   */
  keepScopes?: string[];
}

/** A folder to watch for changes; `match` filters the child names that matter (depth 0). */
export interface WatchTarget {
  dir: string;
  match?: (name: string) => boolean;
}

export interface InventoryReader {
  /** `changedOnly`: a change notification asked for this read — a reader may re-read only what changed */
  read(opts?: { changedOnly?: boolean }): Promise<InventoryRead>;
  watchTargets(): WatchTarget[];
  /**
   * Change notifications that are not file events (the Windows registry): `onChange` runs when a
   * watched source changed; returns a stop function.
   */
  subscribe?(onChange: () => void, onError: (err: unknown) => void): () => void;
}

/** A command that is not installed here: not a failure, the source is simply absent. */
export class MissingTool extends Error {
  constructor(readonly tool: string) {
    super(`${tool} is not installed`);
    this.name = "MissingTool";
  }
}

export interface ExecOptions {
  timeoutMs?: number;
  /** exit codes that still mean success (e.g. reg.exe 1 = key absent) */
  okExitCodes?: number[];
  /** Windows: pass the arguments to the program as written (needed for `cmd /s /c "…"`) */
  verbatim?: boolean;
}

export type Exec = (cmd: string, args: string[], opts?: ExecOptions) => Promise<string>;

/**
 * False when `cmd` (a bare name, not on Windows) is in no folder of PATH: then execFile would
 * fork a child only to fail with ENOENT — for rpm, snap and flatpak on a Debian PC that is three
 * forks of a ≈ 100 MB process per read, each blocking the event loop. True when unsure (PATH
 * unset: execvp's default path applies).
 */
export function onPath(cmd: string, path = process.env.PATH): boolean {
  if (process.platform === "win32" || cmd.includes("/") || !path) return true;
  for (const dir of path.split(delimiter)) {
    try {
      accessSync(join(dir || ".", cmd), constants.X_OK);
      return true;
    } catch {
      // not here
    }
  }
  return false;
}

/** lib/exec.ts with a timeout; ENOENT → MissingTool; a non-zero exit → Error with stderr's first line. */
export const execText: Exec = async (cmd, args, opts = {}) => {
  if (!onPath(cmd)) throw new MissingTool(cmd);
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const r = await exec(cmd, args, { timeoutMs, maxBuffer: 256 * 1024 * 1024, windowsVerbatimArguments: opts.verbatim ?? false }).catch((e: NodeJS.ErrnoException) => {
    throw e.code === "ENOENT" ? new MissingTool(cmd) : e;
  });
  if (r.code === 0 || (r.code !== null && opts.okExitCodes?.includes(r.code))) return r.stdout;
  const why = r.timedOut ? `timed out after ${timeoutMs} ms` : `exit ${String(r.code)}: ${r.stderr.trim().split("\n")[0] ?? ""}`;
  throw new Error(`${cmd} ${args.join(" ")}: ${why}`);
};

/** Run fn over items with at most `limit` at once. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const k = next++;
      out[k] = await fn(items[k]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Collects per-source results into one InventoryRead. */
export class ReadAccumulator {
  readonly result: InventoryRead = { items: [], failed: [], read: [], errors: [], keep: [] };

  /** keep the last known row of this id (it could not be read this time) */
  keep(id: string): void {
    this.result.keep.push(id);
  }

  /** Run one source; MissingTool → skipped, any other error → failed (the others go on). */
  async source(name: string, fn: () => Promise<{ items: SoftwareItem[]; errors: ParseError[] } | undefined>): Promise<void> {
    try {
      let r = await fn();
      if (!r) return; // absent here
      // V8 keeps a substring of 13+ characters as a slice of its parent: every version or
      // description parsed out of /var/lib/dpkg/status would keep the whole 1.5 MB text alive in
      // each holder of the inventory (measured: two copies in the agent's heap). A JSON round
      // trip gives the rows their own strings.
      r = JSON.parse(JSON.stringify(r)) as typeof r;
      this.result.items.push(...r.items);
      for (const e of r.errors) this.result.errors.push({ ...e, source: name });
      this.result.read.push(name);
    } catch (err) {
      if (err instanceof MissingTool) return;
      this.result.failed.push({ source: name, message: err instanceof Error ? err.message : String(err) });
    }
  }
}
