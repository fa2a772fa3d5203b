/**
 * Stopping the agent from outside, the same way on every OS and under any service wrapper:
 *
 *  - signals: SIGTERM and SIGINT (Linux/macOS; on Windows SIGINT is CTRL_C_EVENT, which WinSW and
 *    most wrappers send on a service stop), SIGBREAK (CTRL_BREAK_EVENT) and SIGHUP (the console
 *    closing / logoff / shutdown) on Windows;
 *  - a stop request: `kyoka agent --stop --state-dir <dir>` writes `<dir>/stop`; the running agent
 *    watches its state folder, removes the file and stops (agent.stopped with reason
 *    "stop-request"). `--stop` waits until the agent has taken the request (the file is gone). A
 *    wrapper that runs a stop program (WinSW `<stopexecutable>`, an MSI custom action, a script)
 *    uses this; only who may write the state folder (SYSTEM and Administrators on Windows, root
 *    elsewhere) can stop the agent.
 */
import { existsSync, watch, type FSWatcher } from "node:fs";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";

export const STOP_FILE = "stop";

export function stopFile(stateDir: string): string {
  return join(stateDir, STOP_FILE);
}

/** The signals that stop the agent on this OS. */
export function stopSignals(platform: NodeJS.Platform = process.platform): NodeJS.Signals[] {
  return platform === "win32" ? ["SIGINT", "SIGTERM", "SIGBREAK", "SIGHUP"] : ["SIGTERM", "SIGINT"];
}

/**
 * Watch `<stateDir>/stop`: a stale request left from before this start is removed first, then
 * `onStop` runs once when the file appears. A poll every `pollMs` backs the folder watch up
 * (a stat, no process). Returns a function that stops watching.
 */
export async function watchStopRequest(stateDir: string, onStop: () => void, pollMs = 2000): Promise<() => void> {
  const file = stopFile(stateDir);
  await rm(file, { force: true });
  let done = false;
  let watcher: FSWatcher | undefined;
  const check = (): void => {
    if (done || !existsSync(file)) return;
    done = true;
    close();
    // the stop begins before the file goes: when `--stop` sees it gone, the agent is stopping
    onStop();
    void rm(file, { force: true });
  };
  try {
    watcher = watch(stateDir, { persistent: false }, (_event, name) => {
      if (!name || name.toString() === STOP_FILE) check();
    });
    watcher.on("error", () => undefined);
  } catch {
    watcher = undefined; // the poll still sees it
  }
  const timer = setInterval(check, pollMs);
  timer.unref();
  const close = (): void => {
    clearInterval(timer);
    watcher?.close();
  };
  return () => {
    done = true;
    close();
  };
}

/**
 * `kyoka agent --stop`: write the request and wait (up to timeoutMs) until the agent has taken it.
 * Resolves true when taken, false when no agent took it in time (the file is then removed, so a
 * later start does not stop at once).
 */
export async function requestStop(stateDir: string, timeoutMs = 15_000): Promise<boolean> {
  const file = stopFile(stateDir);
  await writeFile(file, `${new Date().toISOString()} pid ${process.pid}\n`);
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (!existsSync(file)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  await rm(file, { force: true });
  return false;
}
