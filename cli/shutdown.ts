import type { Logger } from "../lib/log.js";
import { stopSignals } from "../agent/service/stop-request.js";

/**
 * The OS's stop signals (SIGTERM/SIGINT; on Windows also SIGBREAK and SIGHUP — see
 * agent/service/stop-request.ts) → run `stop` once (bounded to 5 s), then exit 0. A second signal
 * exits at once. Returns the trigger, for other ways of being asked to stop (a stop request).
 */
export function onShutdown(log: Logger, stop: (reason: string) => Promise<unknown>): (reason: string) => void {
  let stopping = false;
  const begin = (reason: string, signal?: NodeJS.Signals): void => {
    if (stopping) {
      if (signal) {
        log.warn({ signal }, "second signal: exiting now");
        process.exit(1);
      }
      return;
    }
    stopping = true;
    log.info({ signal, reason }, "stopping");
    const force = setTimeout(() => {
      log.error("stop took longer than 5 s: exiting anyway");
      process.exit(1);
    }, 5000);
    force.unref();
    stop(reason).then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, "error while stopping");
        process.exit(1);
      },
    );
  };
  for (const s of stopSignals()) process.on(s, () => begin("signal", s));
  return (reason) => begin(reason);
}

/**
 * The server's last resort: an exception or rejection that escaped every handler is a bug, but
 * one agent's frame or one request must never stop the server for everyone. It is logged (error,
 * with the stack) and the process keeps running. Every handler on agent input is guarded on its
 * own (server/agents-ws.ts); this only catches what a future bug lets through.
 */
export function logStrayErrors(log: Logger): void {
  process.on("uncaughtException", (err, origin) => {
    log.error({ err, origin }, "uncaught exception (a bug): logged; the server keeps running");
  });
  process.on("unhandledRejection", (reason) => {
    log.error({ err: reason }, "unhandled promise rejection (a bug): logged; the server keeps running");
  });
}
