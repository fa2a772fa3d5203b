import { pino, type Logger } from "pino";

export type { Logger };

/**
 * One root logger per process; components take a child: `log.child({ component: "collector:software" })`.
 * KYOKA_LOG_LEVEL (default info) sets the level; logs go to stderr as JSON lines.
 */
export function createLogger(name: string, level = process.env.KYOKA_LOG_LEVEL ?? "info"): Logger {
  return pino({ name, level, base: { pid: process.pid } }, pino.destination({ dest: 2, sync: true }));
}
