import type { Logger } from "./log.js";

/**
 * A logger that drops everything, for one-shot commands whose output is what they print (`kyoka
 * snapshot`): a no-op object instead of pino({ level: "silent" }), which costs ≈ 50 ms of module
 * loading (pino, thread-stream, sonic-boom…).
 */
export function noopLogger(): Logger {
  const noop = () => undefined;
  const log: Record<string, unknown> = { level: "silent", isLevelEnabled: () => false };
  for (const m of ["fatal", "error", "warn", "info", "debug", "trace", "silent"]) log[m] = noop;
  log.child = () => log;
  return log as unknown as Logger;
}
