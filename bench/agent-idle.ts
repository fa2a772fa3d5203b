/**
 * Agent footprint while idle: CPU and RSS of a real `kyoka agent` (dist/) connected to a real
 * server, sampled by this process — an independent sampler — from /proc after a warm-up.
 * The whole process tree is counted: the agent and every descendant (`ip monitor`, `udevadm
 * monitor`, a dpkg-query…), CPU as utime+stime+cutime+cstime ticks (a reaped child's ticks move
 * into its parent's cutime/cstime, so nothing is lost or counted twice), RSS as the sum of VmRSS.
 *
 * Usage: npx tsx bench/agent-idle.ts [--collectors none|all|name,…] [--seconds 60] [--warmup 60]
 *          [--hold-sockets N]   also hold N open loopback TCP sockets on the machine (N/2 connections)
 *          [--processes N]      also keep N extra idle processes (sleep) on the machine
 *          [--churn-ms MS]      and open+close one more connection every MS ms (a busy machine)
 *          [--node-flags "…"]   node flags for the agent (default: lib/node-flags.ts, as a service
 *                               unit sets them; "" for none)
 *          [--cpu-prof DIR]     write a V8 CPU profile of the agent to DIR (see bench/cpu-profile.ts)
 *          [--label TEXT]       a name for this run in the JSON line
 *          [--entry FILE]       run this script with node instead of dist/cli/main.js (a bundle:
 *                               installers/out/work/kyoka.cjs)
 *          [--exe FILE]         run this executable instead of node (the single executable,
 *                               installers/out/kyoka-linux-x64; the node flags go in NODE_OPTIONS,
 *                               as its service unit sets them)
 * The final figure (BENCHMARKS.md) is `npm run bench:idle`: all collectors, 60 s warm-up, 600 s.
 */
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { AGENT_NODE_FLAGS } from "../lib/node-flags.js";
import { cli, socketHolder, startServer, tmp } from "./lib.js";

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => (args.includes(name) ? args[args.indexOf(name) + 1]! : dflt);
const collectors = opt("--collectors", "none");
const seconds = Number(opt("--seconds", "60"));
const warmup = Number(opt("--warmup", "60"));
const holdSockets = Number(opt("--hold-sockets", "0"));
const extraProcesses = Number(opt("--processes", "0"));
const churnMs = Number(opt("--churn-ms", "0"));
// default: the flags a service unit sets (lib/node-flags.ts); --node-flags "" runs without any
const nodeFlags = args.includes("--node-flags") ? opt("--node-flags", "").split(/\s+/).filter(Boolean) : [...AGENT_NODE_FLAGS];
const cpuProf = args.includes("--cpu-prof") ? opt("--cpu-prof", "") : undefined;
const label = opt("--label", "");
const entry = args.includes("--entry") ? opt("--entry", "") : cli;
const exe = args.includes("--exe") ? opt("--exe", "") : undefined;
const CLK_TCK = 100;

// A separate process holds the sockets (and churns), as other programs on a PC would.
const holder = await socketHolder(holdSockets, churnMs);
const sleepers = Array.from({ length: extraProcesses }, () => spawn("sleep", ["100000"], { stdio: "ignore" }));

const server = await startServer();
const agentArgs = [...(exe ? [] : [entry]), "agent", "--server", server.url.replace(/^http/, "ws"), "--state-dir", tmp("kyoka-bench-agent-"), "--enroll-token", server.enrollToken];
if (collectors !== "all") agentArgs.push("--collectors", collectors);
const flags = [...nodeFlags, ...(cpuProf ? ["--cpu-prof", "--cpu-prof-dir", cpuProf] : [])];
const agent = exe
  ? spawn(exe, agentArgs, { stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, KYOKA_LOG_LEVEL: "warn", NODE_OPTIONS: flags.join(" ") } })
  : spawn(process.execPath, [...flags, ...agentArgs], { stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, KYOKA_LOG_LEVEL: "warn" } });
const pid = agent.pid!;

/** pid → ppid for every process now */
function parents(): Map<number, number> {
  const out = new Map<number, number>();
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const s = readFileSync(`/proc/${e}/stat`, "latin1");
      out.set(Number(e), Number(s.slice(s.lastIndexOf(")") + 2).split(" ")[1]));
    } catch { /* gone */ }
  }
  return out;
}

/** the agent and its descendants: CPU ticks (own + reaped children) and RSS in MiB */
function sampleTree(): { ticks: number; rssMiB: number; agentRssMiB: number; pids: number } {
  const pp = parents();
  const tree = new Set([pid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const [p, parent] of pp) if (!tree.has(p) && tree.has(parent)) { tree.add(p); grew = true; }
  }
  let ticks = 0, kb = 0;
  for (const p of tree) {
    try {
      const s = readFileSync(`/proc/${p}/stat`, "latin1");
      const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
      ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, "latin1"));
      if (m) kb += Number(m[1]);
    } catch { /* exited between the listing and the read */ }
  }
  let own = 0;
  try { own = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "latin1"))?.[1] ?? 0); } catch { /* exited */ }
  return { ticks, rssMiB: kb / 1024, agentRssMiB: own / 1024, pids: tree.size };
}

await new Promise((r) => setTimeout(r, warmup * 1000)); // warm-up: start, first inventories, enrollment
const load0 = loadavg();
const first = sampleTree();
const t0 = Date.now();
let peak = 0, pidsMax = 0;
const samples: number[] = [];
const ownSamples: number[] = [];
while (Date.now() - t0 < seconds * 1000) {
  await new Promise((r) => setTimeout(r, 1000));
  const s = sampleTree();
  samples.push(s.rssMiB);
  ownSamples.push(s.agentRssMiB);
  peak = Math.max(peak, s.rssMiB);
  pidsMax = Math.max(pidsMax, s.pids);
}
const last = sampleTree();
const elapsed = (Date.now() - t0) / 1000;
const cpuPct = ((last.ticks - first.ticks) / CLK_TCK / elapsed) * 100;
console.log(JSON.stringify({
  scenario: "agent-idle", label: label || undefined, collectors, holdSockets, processes: extraProcesses, churnMs,
  nodeFlags: nodeFlags.join(" "), warmup, seconds: Math.round(elapsed),
  cpuPercentOfOneCore: +cpuPct.toFixed(2),
  rssMiB: +(samples.reduce((a, b) => a + b, 0) / samples.length).toFixed(1), peakRssMiB: +peak.toFixed(1),
  treeProcesses: pidsMax,
  // the agent process alone (the tree less its children: ip monitor, udevadm monitor…)
  agentRssMiB: +(ownSamples.reduce((a, b) => a + b, 0) / ownSamples.length).toFixed(1),
  entry: exe ?? entry,
  loadavg: [load0.map((x) => +x.toFixed(2)), loadavg().map((x) => +x.toFixed(2))],
}));
agent.kill("SIGTERM");
await new Promise((r) => agent.once("exit", r));
await server.stop();
holder?.kill();
for (const s of sleepers) s.kill();
process.exit(0);
