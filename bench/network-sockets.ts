/**
 * CPU cost of the network collector's socket scan with 5,000 open sockets.
 *
 *   node --expose-gc --import tsx bench/network-sockets.ts [seconds=20]
 *
 * A child node process opens 2,500 loopback TCP connection pairs (5,000 sockets + 1 listener).
 * This process then runs the real NetworkCollector (attachment reading stubbed out, sockets from
 * /proc of every namespace) at the default poll interval and reports its CPU use (user + system,
 * process.cpuUsage) as a percentage of one core, plus the cost of single cycles:
 *  - steady state with the default policy (loopback approved),
 *  - a cold cycle with nothing approved (every connection needs its owner: a full /proc fd scan);
 *  - `realtime`: the collector on its own timer for `seconds`, the machine as it is;
 *  - `realtimeBusy`: the same while another process opens and closes a loopback connection every
 *    200 ms, so the socket counters move between any two polls (every poll may need a full read;
 *    the collector's CPU budget decides how often it does one).
 */
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { NetworkCollector } from "../agent/collectors/network/collector.js";
import { SocketTableReader } from "../agent/os/linux/sockets.js";
import type { CollectorContext } from "../agent/collector.js";
import { createLogger } from "../lib/log.js";
import { Policy } from "../policies/policy.js";

const PAIRS = 2500;
const seconds = Number(process.argv[2] ?? 20);

const holder = `
const net = require("net");
const srv = net.createServer((s) => { held.push(s); });
const held = [];
srv.listen(0, "127.0.0.1", async () => {
  const port = srv.address().port;
  for (let i = 0; i < ${PAIRS}; i++) {
    await new Promise((r) => { const c = net.connect(port, "127.0.0.1", r); held.push(c); });
  }
  setTimeout(() => console.log(port), 200);
});
setInterval(() => {}, 1e6);
`;

/** opens and closes one loopback connection every 200 ms */
const churner = (port: number) => `
const net = require("net");
setInterval(() => { const c = net.connect(${port}, "127.0.0.1", () => c.destroy()); c.on("error", () => {}); }, 200);
`;

function context(policyInput: unknown): CollectorContext & { count: number } {
  const policy = Policy.parse(policyInput);
  const state = new Map<string, unknown>();
  const ctx = {
    count: 0,
    log: createLogger("bench", "silent"),
    state: { get: <T>(k: string) => state.get(k) as T | undefined, set: async <T>(k: string, v: T) => { state.set(k, v); } },
    agentId: "bench",
    emit: async (...e: unknown[]) => { ctx.count += e.length; },
    policy: () => policy,
    onPolicy: () => () => undefined,
    fail: (err: unknown) => { throw err; },
    checked: () => undefined,
  };
  return ctx;
}

const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;

async function main(): Promise<void> {
  const child = spawn(process.execPath, ["-e", holder], { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once("line", resolve));
  const sockets = new SocketTableReader();
  const total = sockets.read().filter((s) => s.localPort === Number(port) || s.remotePort === Number(port)).length;
  const noAttachment = { read: async () => [], routes: async () => [] };

  // cold cycle, nothing approved: owners of all 2,500 outbound connections resolved
  const cold = new NetworkCollector({ attachment: noAttachment, sockets: new SocketTableReader() });
  const coldCtx = context({ network: { approvedDestinations: [] } });
  let t = process.cpuUsage();
  await cold.start(coldCtx);
  const coldMs = cpuMs(process.cpuUsage(t));
  t = process.cpuUsage();
  await cold.poll();
  const warmUnapprovedMs = cpuMs(process.cpuUsage(t));
  await cold.stop();

  // steady state at the default poll interval with the default policy
  const ctx = context({});
  const steadyReader = new SocketTableReader();
  const collector = new NetworkCollector({ attachment: noAttachment, sockets: steadyReader });
  await collector.start(ctx);
  const samples: number[] = [];
  for (let i = 0; i < 10; i++) {
    t = process.cpuUsage();
    await collector.poll();
    samples.push(cpuMs(process.cpuUsage(t)));
  }
  // the cost of one cycle when nothing changed (counters only) and of a full read of the tables
  const quiet: number[] = [];
  const full: number[] = [];
  for (let i = 0; i < 10; i++) {
    t = process.cpuUsage();
    const r = steadyReader.readIfChanged(3_600_000);
    const ms = cpuMs(process.cpuUsage(t));
    if (r === undefined) quiet.push(ms);
    t = process.cpuUsage();
    steadyReader.read();
    full.push(cpuMs(process.cpuUsage(t)));
  }
  /** CPU of this process over `seconds` of the collector running on its own timer */
  const realtime = async (): Promise<{ seconds: number; cpuMs: number; percentOfOneCore: number; fullReads: number; skippedReads: number }> => {
    // the single-cycle measurements above left garbage behind: collect it (with --expose-gc) so
    // that it is not charged to the collector running on its own
    (globalThis as { gc?: () => void }).gc?.();
    await new Promise((r) => setTimeout(r, 3000));
    const before = { ...steadyReader.stats };
    const t0 = process.cpuUsage();
    const wall0 = Date.now();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const used = cpuMs(process.cpuUsage(t0));
    const wall = Date.now() - wall0;
    return {
      seconds: wall / 1000, cpuMs: Math.round(used), percentOfOneCore: +(used / wall * 100).toFixed(3),
      fullReads: steadyReader.stats.fullReads - before.fullReads, skippedReads: steadyReader.stats.skipped - before.skipped,
    };
  };
  const quietRun = await realtime();
  // busy machine: another process opens and closes a loopback connection every 200 ms, so the
  // kernel's socket counters move between any two polls
  const churn = spawn(process.execPath, ["-e", churner(Number(port))], { stdio: ["ignore", "ignore", "inherit"] });
  const busyRun = await realtime();
  churn.kill();
  await collector.stop();
  // the same process with the collector stopped: the bench's own floor (timers, GC, the holder's pipe)
  const floorRun = await realtime();
  child.kill();

  const pollSeconds = ctx.policy().network.pollSeconds;
  const med = (xs: number[]) => xs.length ? +[...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!.toFixed(2) : null;
  samples.sort((a, b) => a - b);
  const median = samples[Math.floor(samples.length / 2)]!;
  process.stdout.write(JSON.stringify({
    socketsOnBenchPort: total,
    pollSeconds,
    realtime: quietRun,
    realtimeBusy: busyRun,
    realtimeCollectorStopped: floorRun,
    lastFullReadCpuMs: +((collector as unknown as { lastSocketCostMs: number }).lastSocketCostMs).toFixed(2),
    perCycleQuietMs: med(quiet),
    perCycleFullReadMs: med(full),
    perCycleMs: { steadyMedian: +median.toFixed(2), steadyMax: +samples[samples.length - 1]!.toFixed(2), coldNothingApproved: +coldMs.toFixed(1), warmNothingApproved: +warmUnapprovedMs.toFixed(2) },
    impliedPercentAtPollInterval: +(median / (pollSeconds * 1000) * 100).toFixed(3),
    eventsColdRun: coldCtx.count,
  }, null, 2) + "\n");
}

void main();
