/**
 * Agent footprint while idle: RSS and CPU of a real `kyoka agent` connected to a real server,
 * sampled after a warm-up. Usage: npx tsx bench/agent-idle.ts [--collectors none|all|name,…] [--seconds 60]
 */
import { spawn } from "node:child_process";
import { cli, cpuSeconds, rssMiB, startServer, tmp } from "./lib.js";

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => (args.includes(name) ? args[args.indexOf(name) + 1]! : dflt);
const collectors = opt("--collectors", "none");
const seconds = Number(opt("--seconds", "60"));

const server = await startServer();
const agentArgs = [cli, "agent", "--server", server.url.replace(/^http/, "ws"), "--state-dir", tmp("kyoka-bench-agent-"), "--enroll-token", server.enrollToken];
if (collectors !== "all") agentArgs.push("--collectors", collectors);
const agent = spawn(process.execPath, agentArgs, { stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, KYOKA_LOG_LEVEL: "warn" } });
const pid = agent.pid!;
await new Promise((r) => setTimeout(r, 10_000)); // warm-up: start, first inventories, enrollment
const cpu0 = cpuSeconds(pid);
const t0 = Date.now();
let peak = 0;
const samples: number[] = [];
while (Date.now() - t0 < seconds * 1000) {
  await new Promise((r) => setTimeout(r, 1000));
  const rss = rssMiB(pid);
  samples.push(rss);
  peak = Math.max(peak, rss);
}
const elapsed = (Date.now() - t0) / 1000;
const cpuPct = ((cpuSeconds(pid) - cpu0) / elapsed) * 100;
console.log(JSON.stringify({
  scenario: "agent-idle", collectors, seconds: Math.round(elapsed),
  cpuPercentOfOneCore: +cpuPct.toFixed(2),
  rssMiB: +(samples.reduce((a, b) => a + b, 0) / samples.length).toFixed(1), peakRssMiB: +peak.toFixed(1),
}));
agent.kill("SIGTERM");
await new Promise((r) => agent.once("exit", r));
await server.stop();
process.exit(0);
