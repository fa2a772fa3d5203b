/**
 * software.executed: exec → event at the server, and the agent's CPU under a build-like load.
 * A real server and a real agent (executed collector only) as child processes.
 * 1. Latency: N times, a new unique program (a copy of sleep with random bytes appended, in a temp
 *    "Downloads") is started with `2` (it lives 2 s); the time from spawn to its event being
 *    visible in GET /api/events (polled every 20 ms). Reports n/min/p50/p95/max.
 * 2. CPU: the agent's user+system CPU over `--seconds` while a helper starts `--rate` processes a
 *    second of a packaged program (/usr/bin/true), then the same with 10 % of the starts being one
 *    unpackaged program (a tool built in the tree: counted, not reported), and idle for comparison.
 * Needs root (the proc connector). Usage: npx tsx bench/executed-latency.ts [--starts 30] [--rate 200] [--seconds 10]
 * Target: p95 ≤ 500 ms on Linux. Builds nothing: run `npm run build` first.
 */
import { spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { loadavg } from "node:os";
import { uniqueProgram } from "../test/collectors/executed/live-helpers.js";
import { apiGetter, cli, cpuSeconds, latencySummary, sleep, startServer, tmp, until } from "./lib.js";

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => (args.includes(name) ? args[args.indexOf(name) + 1]! : dflt);
const starts = Number(opt("--starts", "30"));
const rate = Number(opt("--rate", "200"));
const seconds = Number(opt("--seconds", "10"));

interface ApiEvent { type: string; details: Record<string, unknown> }

const work = tmp("kyoka-bench-executed-");
const stateDir = tmp("kyoka-bench-executed-agent-");
const load0 = loadavg();
const server = await startServer();
const api = apiGetter(server);
const agent = spawn(process.execPath, [cli, "agent", "--server", server.url.replace(/^http/, "ws"), "--state-dir", stateDir, "--enroll-token", server.enrollToken, "--collectors", "executed"], {
  stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, KYOKA_LOG_LEVEL: "error" },
});
try {
  const agentId = await until(async () => (await api<{ id: string }[]>("/api/agents"))[0]?.id, "the agent to enroll", 30_000, 100);
  // the first look reports what already runs: wait until it has settled
  await until(async () => ((await api<ApiEvent[]>(`/api/events?agent=${agentId}&type=agent.started`)).length ? true : undefined), "agent.started", 30_000, 100);
  await sleep(2000);

  const latencies: number[] = [];
  for (let i = 0; i < starts; i++) {
    const prog = uniqueProgram(join(work, "Downloads"), `tool-${i}`);
    const t0 = performance.now();
    spawn(prog.path, ["2"], { stdio: "ignore" }); // lives 2 s: see BENCHMARKS (programs that exit within milliseconds can be missed under load)
    await until(async () => ((await api<ApiEvent[]>(`/api/events?agent=${agentId}&type=software.executed&limit=50`)).some((e) => e.details.path === prog.path) ? true : undefined), `event of ${prog.path}`, 30_000, 20);
    latencies.push(performance.now() - t0);
    await sleep(100 + Math.random() * 200);
  }

  /** agent CPU % of one core while `prog` runs `--rate` starts a second for `seconds` */
  const cpuUnder = async (script: string | undefined): Promise<number> => {
    const c0 = cpuSeconds(agent.pid!);
    const t0 = performance.now();
    let load: ReturnType<typeof spawn> | undefined;
    if (script) load = spawn(process.execPath, ["-e", script], { stdio: "inherit" });
    await sleep(seconds * 1000);
    load?.kill("SIGTERM");
    const pct = ((cpuSeconds(agent.pid!) - c0) / ((performance.now() - t0) / 1000)) * 100;
    await sleep(500);
    return Math.round(pct * 10) / 10;
  };
  const tool = uniqueProgram(join(work, "build"), "generated-tool").path;
  const loadScript = (unpackagedEvery: number) => `
    const { spawn } = require("node:child_process");
    let n = 0; const t0 = Date.now();
    const tick = () => {
      const due = Math.floor((Date.now() - t0) / 1000 * ${rate});
      while (n < due) { n++; spawn(${unpackagedEvery} && n % ${unpackagedEvery} === 0 ? ${JSON.stringify(tool)} : "/usr/bin/true", ["0"], { stdio: "ignore" }); }
      setTimeout(tick, 5);
    };
    tick();`;
  const idle = await cpuUnder(undefined);
  const packaged = await cpuUnder(loadScript(0));
  const mixed = await cpuUnder(loadScript(10));
  const measured = spawnSync("sh", ["-c", "cat /proc/loadavg"], { encoding: "utf8" }).stdout.trim();
  process.stdout.write(`${JSON.stringify({
    latencyMs: latencySummary(latencies), samples: latencies.map((x) => Math.round(x)),
    agentCpuPercent: { idle, [`${rate}/s packaged`]: packaged, [`${rate}/s, 10% one unpackaged tool`]: mixed },
    loadavgBefore: load0.map((x) => x.toFixed(2)).join(" "), loadavgAfter: measured,
  }, null, 2)}\n`);
} finally {
  agent.kill("SIGTERM");
  await new Promise((r) => agent.once("exit", r));
  await server.stop();
  spawnSync("rm", ["-rf", work, stateDir]);
}
