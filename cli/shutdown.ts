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
