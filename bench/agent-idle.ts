/**
 * Agent footprint while idle: RSS and CPU of a real `kyoka agent` connected to a real server,
 * sampled after a warm-up.
 * Usage: npx tsx bench/agent-idle.ts [--collectors none|all|name,…] [--seconds 60]
 *          [--hold-sockets N]   also hold N open loopback TCP sockets on the machine (N/2 connections)
 *          [--churn-ms MS]      and open+close one more connection every MS ms (a busy machine)
 */
import { spawn } from "node:child_process";
import { cli, cpuSeconds, rssMiB, startServer, tmp } from "./lib.js";

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => (args.includes(name) ? args[args.indexOf(name) + 1]! : dflt);
const collectors = opt("--collectors", "none");
const seconds = Number(opt("--seconds", "60"));

const holdSockets = Number(opt("--hold-sockets", "0"));
const churnMs = Number(opt("--churn-ms", "0"));
// A separate process holds the sockets (and churns), as other programs on a PC would.
const holderSrc = `
const net = require("net"); const held = [];
const srv = net.createServer((s) => held.push(s));
srv.listen(0, "127.0.0.1", async () => {
  const port = srv.address().port;
  for (let i = 0; i < ${Math.floor(holdSockets / 2)}; i++) await new Promise((r) => held.push(net.connect(port, "127.0.0.1", r)));
  if (${churnMs} > 0) setInterval(() => { const c = net.connect(port, "127.0.0.1", () => c.destroy()); c.on("error", () => {}); }, ${churnMs});
  process.stdout.write("ready\\n");
});`;
const holder = holdSockets > 0 ? spawn(process.execPath, ["-e", holderSrc], { stdio: ["ignore", "pipe", "inherit"] }) : undefined;
if (holder) await new Promise((r) => holder.stdout!.once("data", r));

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
  scenario: "agent-idle", collectors, holdSockets, churnMs, seconds: Math.round(elapsed),
  cpuPercentOfOneCore: +cpuPct.toFixed(2),
  rssMiB: +(samples.reduce((a, b) => a + b, 0) / samples.length).toFixed(1), peakRssMiB: +peak.toFixed(1),
}));
agent.kill("SIGTERM");
await new Promise((r) => agent.once("exit", r));
await server.stop();
holder?.kill();
process.exit(0);
