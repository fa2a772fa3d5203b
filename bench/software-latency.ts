/**
 * Software change → API latency: a real server and a real agent (software collector only) as
 * child processes; a tiny .deb installed with `dpkg -i` and removed with `dpkg -r`, alternately,
 * each install a new version. For each operation: the time from dpkg returning to the event being
 * visible in `GET /api/events` (polled every 20 ms) → p50/p95/max, installs and removals apart.
 * Then the update case: the package installed once more, and each later version installed over it
 * (`dpkg -i` of version n+1 on n) → `software.updated` with its previousVersion, --installs − 1 times.
 * Needs root (dpkg). Usage: npx tsx bench/software-latency.ts [--installs 25] [--pause-ms 300]
 * Target: p95 ≤ 500 ms (issue 18; was 1 s). Builds nothing: run `npm run build` first (the agent is dist/cli/main.js).
 */
import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { buildDeb, dpkg, purge, requireRoot, uniquePackageName } from "../test/helpers/dpkg.js";
import { cli, percentile, sleep, startServer, tmp, until } from "./lib.js";

requireRoot("bench/software-latency.ts");
const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => (args.includes(name) ? args[args.indexOf(name) + 1]! : dflt);
const installs = Number(opt("--installs", "25"));
const pauseMs = Number(opt("--pause-ms", "300"));
const pollMs = 20;

interface ApiEvent { type: string; details: Record<string, unknown> }

const pkg = uniquePackageName("kyoka-bench");
const work = tmp("kyoka-bench-sw-");
const stateDir = tmp("kyoka-bench-sw-agent-");
const debs: string[] = [];
for (let i = 1; i <= installs; i++) debs.push(await buildDeb(work, { name: pkg, version: `1.${i}` }));

const load0 = loadavg();
const server = await startServer();
const api = async <T>(path: string): Promise<T> => {
  const res = await fetch(server.url + path, { headers: { authorization: `Bearer ${server.adminToken}` } });
  if (res.status !== 200) throw new Error(`GET ${path}: ${res.status}`);
  return (await res.json()) as T;
};
const agent = spawn(process.execPath, [cli, "agent", "--server", server.url.replace(/^http/, "ws"), "--state-dir", stateDir, "--enroll-token", server.enrollToken, "--collectors", "software"], {
  stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, KYOKA_LOG_LEVEL: "warn" },
});


const installMs: number[] = [];
const removeMs: number[] = [];
const updateMs: number[] = [];
const dpkgMs: number[] = [];
try {
  const agentId = await until(async () => (await api<{ id: string }[]>("/api/agents"))[0]?.id, "the agent to enroll", 30_000, 100);
  await until(async () => ((await api<ApiEvent[]>(`/api/events?type=software.inventory&agent=${agentId}`)).length ? true : undefined), "the baseline inventory", 60_000, 100);
  await sleep(1000);

  /** ms from now until `type` for this version is visible through the API */
  const visible = async (type: string, version: string): Promise<number> => {
    const t0 = performance.now();
    await until(async () => {
      const evs = await api<ApiEvent[]>(`/api/events?control=software&agent=${agentId}&limit=20`);
      return evs.some((e) => e.type === type && e.details.name === pkg && e.details.version === version) ? true : undefined;
    }, `${type} ${pkg} ${version}`, 30_000, pollMs);
    return performance.now() - t0;
  };

  for (let i = 0; i < installs; i++) {
    const version = `1.${i + 1}`;
    let t = performance.now();
    await dpkg(["-i", debs[i]!]);
    dpkgMs.push(performance.now() - t);
    installMs.push(await visible("software.installed", version));
    await sleep(pauseMs);
    t = performance.now();
    await dpkg(["-r", pkg]);
    dpkgMs.push(performance.now() - t);
    removeMs.push(await visible("software.removed", version));
    await sleep(pauseMs);
  }
  // updates: 1.1 installed, then 1.2 over it, 1.3 over that …
  await dpkg(["-i", debs[0]!]);
  await visible("software.installed", "1.1");
  await sleep(pauseMs);
  for (let i = 1; i < installs; i++) {
    const t = performance.now();
    await dpkg(["-i", debs[i]!]);
    dpkgMs.push(performance.now() - t);
    updateMs.push(await visible("software.updated", `1.${i + 1}`));
    await sleep(pauseMs);
  }
} finally {
  await purge(pkg).catch(() => undefined);
  agent.kill("SIGTERM");
  await new Promise((r) => agent.once("exit", r));
  await server.stop();
  rmSync(work, { recursive: true, force: true });
  rmSync(stateDir, { recursive: true, force: true });
}

const stats = (xs: number[]): Record<string, number> => {
  const s = [...xs].sort((a, b) => a - b);
  return { n: s.length, p50: Math.round(percentile(s, 50)), p95: Math.round(percentile(s, 95)), max: Math.round(s[s.length - 1]!), min: Math.round(s[0]!) };
};
const all = stats([...installMs, ...removeMs, ...updateMs]);
console.log(JSON.stringify({
  scenario: "software-latency", pollMs, pauseMs, cores: cpus().length,
  loadavgBefore: load0.map((l) => +l.toFixed(2)), loadavgAfter: loadavg().map((l) => +l.toFixed(2)),
  installMs: stats(installMs), removeMs: stats(removeMs), updateMs: stats(updateMs), allMs: all, dpkgMs: stats(dpkgMs),
  targetP95Ms: 500, meetsTarget: all.p95! <= 500,
}, null, 2));
process.exit(0);
