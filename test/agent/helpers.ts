/** Shared helpers for the agent runtime tests: temp dirs, a silent logger, waiting for a condition. */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import type { Logger } from "../../lib/log.js";

export function silentLog(): Logger {
  return pino({ level: process.env.KYOKA_TEST_LOG ?? "silent" });
}

export async function tempDir(prefix = "kyoka-agent-"): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Poll `cond` until it holds (or fail with `what` after `timeoutMs`). */
export async function waitFor(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
