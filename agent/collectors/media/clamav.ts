/**
 * Virus scan of a medium on insertion (別記2 第11) with ClamAV: `clamdscan --fdpass` when a clamd
 * daemon runs (and no custom database is asked for), else `clamscan -r` with `-d <databasePath>`
 * when the policy sets one. On Windows `auto` means Microsoft Defender (defender.ts) when
 * MpCmdRun.exe is there. No scanner at all is reported as `scanner-missing`, never silence.
 */
import { constants } from "node:fs";
import { access, readFile, readdir } from "node:fs/promises";
import { delimiter, isAbsolute, join } from "node:path";
import { parseClamscanOutput } from "./clamav-parse.js";
import { run } from "./exec.js";
import type { ScanOutcome } from "./types.js";
import { findMpCmdRun, scanWithDefender } from "./defender.js";

export interface ScanOptions {
  scanner: "auto" | "clamdscan" | "clamscan" | "defender";
  databasePath?: string;
  /** explicit binaries (tests, or hosts with ClamAV outside PATH) */
  clamscanPath?: string;
  clamdscanPath?: string;
  /** PATH used to find the scanners (default process.env.PATH) */
  pathEnv?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** the OS to choose the default scanner for (tests) */
  platform?: NodeJS.Platform;
}

async function isExecutable(p: string): Promise<boolean> {
  try {
    await access(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Find an executable: an explicit path (used as given, even when missing), else a PATH search. */
export async function findExecutable(name: string, explicit: string | undefined, pathEnv: string | undefined): Promise<string | null> {
  if (explicit) return (await isExecutable(explicit)) ? explicit : null;
  const exts = process.platform === "win32" ? [".exe", ".cmd", ".bat", ""] : [""];
  for (const dir of (pathEnv ?? process.env.PATH ?? "").split(delimiter)) {
    if (!dir || !isAbsolute(dir)) continue;
    for (const ext of exts) {
      const p = join(dir, name + ext);
      if (await isExecutable(p)) return p;
    }
  }
  return null;
}

/** Is a clamd process running? (Linux: /proc/<pid>/comm; elsewhere assume yes and let clamdscan tell.) */
async function clamdRunning(): Promise<boolean> {
  if (process.platform !== "linux") return true;
  const pids = await readdir("/proc").catch(() => [] as string[]);
  for (const pid of pids) {
    if (!/^\d+$/.test(pid)) continue;
    const comm = await readFile(`/proc/${pid}/comm`, "utf8").catch(() => "");
    if (comm.trim() === "clamd") return true;
  }
  return false;
}

export async function scanMedium(target: string, opts: ScanOptions): Promise<ScanOutcome> {
  const started = Date.now();
  const done = (o: Omit<ScanOutcome, "durationMs">): ScanOutcome => ({ ...o, durationMs: Date.now() - started });
  const missing = (why: string): ScanOutcome =>
    done({ result: "scanner-missing", signatures: [], infectedFiles: [], scanner: null, scannedFiles: null, error: why });

  // Windows: Microsoft Defender by default (ClamAV is rarely installed there)
  if (opts.scanner === "defender" || (opts.scanner === "auto" && (opts.platform ?? process.platform) === "win32")) {
    const mp = opts.scanner === "auto" ? await findMpCmdRun() : undefined;
    if (opts.scanner === "defender" || mp) return scanWithDefender(target, { timeoutMs: opts.timeoutMs, signal: opts.signal, mpCmdRun: mp });
  }
  let scanner: "clamscan" | "clamdscan";
  let bin: string | null = null;
  if (opts.scanner === "clamdscan") {
    scanner = "clamdscan";
    bin = await findExecutable("clamdscan", opts.clamdscanPath, opts.pathEnv);
    if (!bin) return missing("clamdscan not found");
  } else if (opts.scanner === "clamscan") {
    scanner = "clamscan";
    bin = await findExecutable("clamscan", opts.clamscanPath, opts.pathEnv);
    if (!bin) return missing(opts.clamscanPath ? `clamscan not found at ${opts.clamscanPath}` : "clamscan not found on PATH");
  } else {
    // auto: clamd (fast, signatures already loaded) unless a custom database is asked for
    const clamd = !opts.databasePath ? await findExecutable("clamdscan", opts.clamdscanPath, opts.pathEnv) : null;
    if (clamd && (await clamdRunning())) {
      scanner = "clamdscan";
      bin = clamd;
    } else {
      scanner = "clamscan";
      bin = await findExecutable("clamscan", opts.clamscanPath, opts.pathEnv);
      if (!bin) return missing(opts.clamscanPath ? `clamscan not found at ${opts.clamscanPath}` : "neither clamdscan (with clamd) nor clamscan found");
    }
  }

  const args =
    scanner === "clamdscan"
      ? ["--fdpass", "--multiscan", "--infected", "--stdout", target]
      : ["-r", "--infected", "--stdout", ...(opts.databasePath ? ["-d", opts.databasePath] : []), target];
  let r;
  try {
    r = await run(bin, args, { timeoutMs: opts.timeoutMs ?? 60 * 60 * 1000, signal: opts.signal });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === "ENOENT") return missing(`${bin}: ${err.message}`);
    return done({ result: "failed", signatures: [], infectedFiles: [], scanner, scannedFiles: null, error: err.message });
  }
  const report = parseClamscanOutput(r.stdout);
  const base = { signatures: report.signatures, infectedFiles: report.infectedFiles, scanner, scannedFiles: report.summary.scannedFiles };
  // exit 1 = virus found; 2 = errors (an infection found alongside errors is still an infection)
  if (report.infectedFiles.length > 0) return done({ result: "infected", ...base });
  if (r.code === 0) return done({ result: "clean", ...base });
  const why = r.signal
    ? `${scanner} stopped by ${r.signal}`
    : (r.stderr.trim().split("\n").filter(Boolean).slice(-3).join(" | ") || report.errors.slice(0, 3).join(" | ") || `${scanner} exited ${r.code}`);
  return done({ result: "failed", ...base, error: why });
}
