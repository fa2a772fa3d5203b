/**
 * The one command runner (no shell): a program and its arguments, bounded in time and output, with
 * its environment and an abort signal; the result is `{code, signal, stdout, stderr}` plus why it
 * ended early. It rejects only when the program cannot be started (ENOENT, EACCES): a non-zero
 * exit, a timeout, an abort or too much output are results, for the caller to judge.
 *
 * Defaults are execFile's: SIGTERM on timeout, 1 MiB per stream, and a child writing more is
 * killed (`overflow: "kill"`); `overflow: "truncate"` keeps the first maxBuffer bytes and lets it
 * finish. An abort sends SIGTERM (a stop asked for), whatever killSignal says.
 */
import { spawn } from "node:child_process";

export interface ExecOptions {
  /** kill the child after this many ms (none when 0 or unset) */
  timeoutMs?: number;
  /** the signal a timeout or an overflow sends (default SIGTERM) */
  killSignal?: NodeJS.Signals;
  /** bytes kept of each of stdout and stderr (default 1 MiB) */
  maxBuffer?: number;
  /** "kill" (default): more output kills the child; "truncate": the rest is dropped */
  overflow?: "kill" | "truncate";
  /** "utf8" (default) or "buffer" (bytes, e.g. a console code page to decode) */
  encoding?: "utf8" | "buffer";
  /** the child's environment (default this process's) */
  env?: NodeJS.ProcessEnv;
  /** stop the child when aborted */
  signal?: AbortSignal;
  /** Windows: pass the arguments to the program as written (needed for `cmd /s /c "…"`) */
  windowsVerbatimArguments?: boolean;
}

export interface ExecResult<T = string> {
  /** the exit code; null when a signal ended it */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: T;
  stderr: T;
  timedOut: boolean;
  aborted: boolean;
  /** a stream wrote more than maxBuffer (killed or truncated, per `overflow`) */
  overflowed: boolean;
}

export const DEFAULT_MAX_BUFFER = 1024 * 1024;

export function exec(cmd: string, args: readonly string[], opts?: ExecOptions & { encoding?: "utf8" }): Promise<ExecResult<string>>;
export function exec(cmd: string, args: readonly string[], opts: ExecOptions & { encoding: "buffer" }): Promise<ExecResult<Buffer>>;
export function exec(cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult<string | Buffer>> {
  const max = opts.maxBuffer ?? DEFAULT_MAX_BUFFER;
  const killSignal = opts.killSignal ?? "SIGTERM";
  const decode = (chunks: Buffer[]): string | Buffer => (opts.encoding === "buffer" ? Buffer.concat(chunks) : Buffer.concat(chunks).toString("utf8"));
  const empty = opts.encoding === "buffer" ? Buffer.alloc(0) : "";
  if (opts.signal?.aborted) {
    return Promise.resolve({ code: null, signal: "SIGTERM", stdout: empty, stderr: empty, timedOut: false, aborted: true, overflowed: false });
  }
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: ["ignore", "pipe", "pipe"], env: opts.env ?? process.env, windowsHide: true,
      windowsVerbatimArguments: opts.windowsVerbatimArguments ?? false,
    });
    let timedOut = false;
    let aborted = false;
    let overflowed = false;
    const kill = (sig: NodeJS.Signals): void => {
      if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    };
    const collect = (stream: NodeJS.ReadableStream, chunks: Buffer[]): void => {
      let kept = 0;
      stream.on("data", (b: Buffer) => {
        if (kept < max) chunks.push(kept + b.length <= max ? b : b.subarray(0, max - kept));
        kept += b.length;
        if (kept > max && !overflowed) {
          overflowed = true;
          if ((opts.overflow ?? "kill") === "kill") kill(killSignal);
        }
      });
    };
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    collect(child.stdout, out);
    collect(child.stderr, err);
    const timer = opts.timeoutMs ? setTimeout(() => { timedOut = true; kill(killSignal); }, opts.timeoutMs) : undefined;
    const onAbort = (): void => { aborted = true; kill("SIGTERM"); };
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    const done = (): void => {
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
    };
    let settled = false;
    child.on("error", (e) => {
      // not started (ENOENT, EACCES); after a start, 'close' still follows and reports
      if (settled || child.pid !== undefined) return;
      settled = true;
      done();
      reject(e);
    });
    child.on("close", (code, signal) => {
      if (settled) return;
      settled = true;
      done();
      resolve({ code, signal, stdout: decode(out), stderr: decode(err), timedOut, aborted, overflowed });
    });
  });
}

/** stdout of a run that exited 0; otherwise an Error "cmd a b: why: stderr's first line". */
export function stdoutOf<T extends string | Buffer>(cmd: string, args: readonly string[], r: ExecResult<T>): T {
  if (r.code === 0) return r.stdout;
  throw new Error(execFailure(cmd, args, r));
}

/** "cmd a b: why" for a run that did not exit 0 (the first line of stderr when it has one). */
export function execFailure(cmd: string, args: readonly string[], r: ExecResult<string | Buffer>): string {
  const why = r.timedOut ? "timed out"
    : r.aborted ? "aborted"
      : r.overflowed ? "output over the buffer"
        : r.signal ? `stopped by ${r.signal}` : `exit ${String(r.code)}`;
  const first = String(r.stderr).trim().split("\n")[0] ?? "";
  return `${[cmd, ...args].join(" ")}: ${why}${first ? `: ${first}` : ""}`;
}
