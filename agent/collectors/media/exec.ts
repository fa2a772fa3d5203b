/**
 * How the media readers run OS commands: lib/exec.ts keeping at most 8 MiB of each stream (the
 * rest dropped, the command finishes), SIGKILL on timeout, SIGTERM on abort.
 */
import { exec, type ExecOptions, type ExecResult } from "../../../lib/exec.js";

export type RunResult = ExecResult<string>;

export type RunOptions = Pick<ExecOptions, "timeoutMs" | "signal" | "env">;

/** Run a command; rejects only when it cannot be started (ENOENT, EACCES). */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return exec(cmd, args, { ...opts, maxBuffer: 8 * 1024 * 1024, overflow: "truncate", killSignal: "SIGKILL" });
}
