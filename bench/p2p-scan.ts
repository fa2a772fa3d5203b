/**
 * CPU per P2P scan cycle with ~500 extra processes (`sleep`), in-process with the real Linux
 * reader: `npx tsx bench/p2p-scan.ts [processes=500] [cycles=30]`. The first cycle (which hashes
 * every executable once) is reported separately; steady-state cycles re-hash nothing.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { pino } from "pino";
import type { CollectorContext } from "../agent/collector.js";
import { P2pCollector } from "../agent/collectors/p2p/index.js";
import { LinuxP2pPlatform } from "../agent/collectors/p2p/linux.js";
import { parsePolicyText } from "../policies/policy.js";

const n = Number(process.argv[2] ?? 500);
const cycles = Number(process.argv[3] ?? 30);
const children: ChildProcess[] = [];
for (let i = 0; i < n; i++) children.push(spawn("sleep", ["600"], { stdio: "ignore" }));
await new Promise((r) => setTimeout(r, 1000));

const policy = parsePolicyText("p2p: { presentPaths: [] }");
const ctx: CollectorContext = {
  log: pino({ level: "silent" }), agentId: "bench", policy: () => policy, onPolicy: () => () => undefined,
  fail: (err) => { throw err; }, checked: () => undefined, emit: async () => undefined,
  state: { get: () => undefined, set: async () => undefined },
};
const collector = new P2pCollector({ platform: new LinuxP2pPlatform() });
await collector.start(ctx);
await collector.stop();

const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;
let t = process.cpuUsage();
let w = performance.now();
const first = await collector.scanOnce();
const firstCpu = cpuMs(process.cpuUsage(t));
const firstWall = performance.now() - w;

const samples: number[] = [];
let procs = 0, hashed = 0;
w = performance.now();
for (let i = 0; i < cycles; i++) {
  t = process.cpuUsage();
  const s = await collector.scanOnce();
  samples.push(cpuMs(process.cpuUsage(t)));
  procs = s.processes; hashed += s.hashed;
}
const wall = (performance.now() - w) / cycles;
samples.sort((a, b) => a - b);
const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
process.stdout.write(JSON.stringify({
  processes: procs, firstCycle: { cpuMs: +firstCpu.toFixed(1), wallMs: +firstWall.toFixed(1), hashed: first.hashed },
  steady: { cycles, cpuMsMean: +mean.toFixed(2), cpuMsP50: +samples[Math.floor(cycles / 2)]!.toFixed(2), cpuMsMax: +samples[cycles - 1]!.toFixed(2), wallMsMean: +wall.toFixed(2), hashed },
  cpuPercentAt2s: +((mean / 2000) * 100).toFixed(2),
}, null, 2) + "\n");
for (const c of children) c.kill("SIGKILL");
