import type { Logger } from "../lib/log.js";

/** SIGTERM/SIGINT → run `stop` once (bounded to 5 s), then exit 0. A second signal exits at once. */
export function onShutdown(log: Logger, stop: () => Promise<unknown>): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, "stopping");
    const force = setTimeout(() => {
      log.error("stop took longer than 5 s: exiting anyway");
      process.exit(1);
    }, 5000);
    force.unref();
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, "error while stopping");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", handler);
  process.on("SIGINT", handler);
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
