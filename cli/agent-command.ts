import { readFileSync, renameSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { Agent } from "../agent/agent.js";
import type { CollectorFactory } from "../agent/collector.js";
import { collectorFactories } from "../agent/collectors/index.js";
import { createLogger, resolveLogFormat, type Logger } from "../lib/log.js";
import { AgentConfig, resolveConfig, UsageError } from "./config.js";
import { onShutdown } from "./shutdown.js";
import { requestStop, stopFile, watchStopRequest } from "../agent/service/stop-request.js";
import { existsSync } from "node:fs";
import { prepareStateDir } from "../agent/service/state-dir.js";

/** `kyoka agent --stop`: ask the agent using this state folder to stop; exit 1 if none took the request. */
async function runStopCommand(flags: AgentFlags): Promise<void> {
  const cfg = resolveConfig(AgentConfig, flags.config, { server: flags.server ?? "ws://unused", stateDir: flags.stateDir });
  const dir = resolve(cfg.stateDir);
  if (!existsSync(dir)) throw new UsageError(`--stop: no state folder ${dir}`);
  if (await requestStop(dir)) {
    process.stdout.write(`kyoka: stop requested (${stopFile(dir)} taken by the agent)\n`);
    return;
  }
  process.stderr.write(`kyoka: no running agent took the stop request in ${dir}\n`);
  process.exitCode = 1;
}

export interface AgentFlags {
  server?: string; enrollToken?: string; enrollTokenFile?: string; stateDir?: string; config?: string; ca?: string;
  collectors?: string; selftestEvents?: number; logFormat?: string; stop?: boolean;
  /** Windows: run as the service kyoka-agent (cli/windows-service.ts) */
  service?: boolean;
}

/** `--collectors a,b` → those factories from the registry; `none` → no collectors. */
export function selectCollectors(list: string | undefined): Record<string, CollectorFactory> | undefined {
  if (list === undefined) return undefined;
  const names = list.split(",").map((s) => s.trim()).filter((s) => s && s !== "none");
  const unknown = names.filter((n) => !collectorFactories[n]);
  if (unknown.length) {
    throw new UsageError(`--collectors: unknown collector ${unknown.join(", ")} (known: ${Object.keys(collectorFactories).join(", ")}, none)`);
  }
  return Object.fromEntries(names.map((n) => [n, collectorFactories[n]!]));
}

export async function runAgentCommand(flags: AgentFlags): Promise<void> {
  if (flags.stop) return runStopCommand(flags);
  if (!flags.server && !flags.config) throw new UsageError("--server ws(s)://HOST:PORT is required");
  if (flags.enrollToken !== undefined && flags.enrollTokenFile !== undefined) throw new UsageError("--enroll-token and --enroll-token-file: give one");
  const cfg = resolveConfig(AgentConfig, flags.config, {
    server: flags.server, enrollToken: flags.enrollToken ?? process.env.KYOKA_ENROLL_TOKEN,
    enrollTokenFile: flags.enrollTokenFile, stateDir: flags.stateDir, caFile: flags.ca,
  });
  const enrollToken = cfg.enrollTokenFile !== undefined ? readTokenFile(cfg.enrollTokenFile) : cfg.enrollToken;
  const collectors = selectCollectors(flags.collectors);
  if (flags.service && process.platform === "win32") prepareServiceLog(resolve(cfg.stateDir));
  const log = createLogger("kyoka-agent", { format: resolveLogFormat(flags.logFormat) });
  const agent = new Agent({
    server: cfg.server, enrollToken, stateDir: resolve(cfg.stateDir),
    caFile: cfg.caFile ? resolve(cfg.caFile) : undefined, log, collectors,
  });
  if (flags.service) {
    const { runWindowsService } = await import("./windows-service.js");
    // the service ends its own process once it has reported STOPPED (cli/windows-service.ts);
    // this exit is only reached if that failed
    process.exit(await runWindowsService({ log, start: () => agent.start(), stop: () => agent.stop("service stop") }));
  }
  const stopNow = onShutdown(log, (reason) => agent.stop(reason));
  // `kyoka agent --stop` (a service wrapper's stop program) → the same clean stop as a signal
  await prepareStateDir(resolve(cfg.stateDir), log);
  await watchStopRequest(resolve(cfg.stateDir), () => stopNow("stop-request"));
  await agent.start();
  if (flags.selftestEvents) await queueSelftestEvents(agent, flags.selftestEvents, log);
}

/** The token in `file` (first line, trimmed). A missing or empty file is a usage error. */
function readTokenFile(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new UsageError(`--enroll-token-file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  const token = text.split(/\r?\n/)[0]!.trim();
  if (!token) throw new UsageError(`--enroll-token-file ${file}: the file is empty`);
  return token;
}

/**
 * A service has no stderr: logs go to <stateDir>\agent.log (KYOKA_LOG_FILE wins), kept under
 * 10 MB by moving a larger one to agent.log.1 at start.
 */
function prepareServiceLog(stateDir: string): void {
  const file = process.env.KYOKA_LOG_FILE || join(stateDir, "agent.log");
  process.env.KYOKA_LOG_FILE = file;
  try {
    if (statSync(file).size > 10 * 1024 * 1024) renameSync(file, `${file}.1`);
  } catch {
    // no log yet
  }
}

/** N synthetic agent.selftest events {n: 1..N}, appended 500 at a time (each batch fsynced). */
async function queueSelftestEvents(agent: Agent, count: number, log: Logger): Promise<void> {
  const runId = new Date().toISOString();
  for (let from = 1; from <= count; from += 500) {
    const batch = [];
    for (let n = from; n < Math.min(count + 1, from + 500); n++) batch.push({ type: "agent.selftest" as const, details: { n, runId } });
    await agent.emit(batch);
  }
  log.info({ count, runId }, "selftest events queued");
}
