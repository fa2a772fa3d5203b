/**
 * node-cron behind a small interface, so a schedule's owner (the agent's asset snapshot, the
 * server's report schedules) can be tested with a fake scheduler or with fake timers.
 */
import cron from "node-cron";
import type { Logger } from "./log.js";

/** A running schedule; stop() ends it. */
export interface ScheduledJob { stop(): void }
/** Runs `run` at every time `expression` names in `timezone`. */
export type Scheduler = (expression: string, timezone: string, run: () => void, log: Logger) => ScheduledJob;

export const nodeCronScheduler: Scheduler = (expression, timezone, run, log) => {
  const task = cron.schedule(expression, run, {
    timezone,
    noOverlap: true,
    logger: {
      info: (m) => log.debug({ cron: expression }, m),
      warn: (m) => log.warn({ cron: expression }, m),
      error: (m, err) => log.error({ cron: expression, err: err ?? m }, "node-cron error"),
      debug: (m) => log.trace({ cron: expression }, String(m)),
    },
  });
  return { stop: () => void task.destroy() };
};
