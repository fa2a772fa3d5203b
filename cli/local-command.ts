/**
 * `kyoka local`: the main job on one PC — the server on the embedded store, plus this PC's agent
 * as a child process enrolled against it. Prints the dashboard URL and the admin token's path.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { bakedBuild } from "../lib/build-info.js";
import { createLogger, resolveLogFormat } from "../lib/log.js";
import { startServer } from "../server/server.js";
import { logStrayErrors, onShutdown } from "./shutdown.js";
import { agentNodeOptions } from "../lib/node-flags.js";
import { requestStop } from "../agent/service/stop-request.js";

export interface LocalFlags { port: number; host: string; data: string; stateDir: string; logFormat?: string }

export async function runLocalCommand(flags: LocalFlags): Promise<void> {
  const logFormat = resolveLogFormat(flags.logFormat);
  const log = createLogger("kyoka-local", { format: logFormat });
  logStrayErrors(log);
  const dataDir = resolve(flags.data);
  const server = await startServer({ port: flags.port, host: flags.host, dataDir, log });
  const enrollToken = readFileSync(join(dataDir, "enroll-token"), "utf8").trim();
  const wsUrl = server.url.replace(/^http/, "ws");
  // a single executable (installers/) is itself the kyoka command; from a checkout: node main.js
  const cli = bakedBuild() ? [] : [fileURLToPath(new URL("./main.js", import.meta.url))];
  let agent: ChildProcess | undefined;
  let stopping = false;
  const startAgent = (): void => {
    agent = spawn(process.execPath, [...cli, "agent", "--server", wsUrl, "--state-dir", resolve(flags.stateDir), "--log-format", logFormat], {
      stdio: ["ignore", "inherit", "inherit"],
      // a small young generation for the long-lived agent (lib/node-flags.ts)
      env: { ...process.env, KYOKA_ENROLL_TOKEN: enrollToken, NODE_OPTIONS: agentNodeOptions() },
    });
    agent.on("exit", (code, signal) => {
      if (stopping) return;
      log.error({ code, signal }, "local agent exited: restarting in 5 s");
      setTimeout(startAgent, 5000).unref();
    });
  };
  startAgent();
  process.stdout.write(
    `kyoka is running: ${server.url}/\n` +
    `  admin token (API, dashboard): ${join(dataDir, "admin-token")}\n` +
    `  try: curl -H "Authorization: Bearer $(cat ${join(dataDir, "admin-token")})" ${server.url}/api/events\n` +
    `  stop with Ctrl-C\n`,
  );
  onShutdown(log, async () => {
    stopping = true;
    if (agent && agent.exitCode === null) {
      const child = agent;
      const exited = new Promise((r) => child.once("exit", r));
      // Windows has no SIGTERM: kill() there is TerminateProcess, which skips the agent's clean
      // stop (its queue flush and agent.stopped). The stop request is the agent's own clean path;
      // killed only if it did not take the request or did not finish within 30 s.
      if (process.platform === "win32") {
        const taken = await requestStop(resolve(flags.stateDir)).catch(() => false);
        const late = setTimeout(() => child.kill(), taken ? 30_000 : 0);
        await exited;
        clearTimeout(late);
      } else {
        child.kill("SIGTERM");
        await exited;
      }
    }
    await server.close();
  });
}
