import { resolve } from "node:path";
import { Agent } from "../agent/agent.js";
import { createLogger } from "../lib/log.js";
import { AgentConfig, resolveConfig, UsageError } from "./config.js";
import { onShutdown } from "./shutdown.js";

export interface AgentFlags { server?: string; enrollToken?: string; stateDir?: string; config?: string; ca?: string }

export async function runAgentCommand(flags: AgentFlags): Promise<void> {
  if (!flags.server && !flags.config) throw new UsageError("--server ws(s)://HOST:PORT is required");
  const cfg = resolveConfig(AgentConfig, flags.config, {
    server: flags.server, enrollToken: flags.enrollToken ?? process.env.KYOKA_ENROLL_TOKEN,
    stateDir: flags.stateDir, caFile: flags.ca,
  });
  const log = createLogger("kyoka-agent");
  const agent = new Agent({
    server: cfg.server, enrollToken: cfg.enrollToken, stateDir: resolve(cfg.stateDir),
    caFile: cfg.caFile ? resolve(cfg.caFile) : undefined, log,
  });
  onShutdown(log, () => agent.stop("signal"));
  await agent.start();
}
