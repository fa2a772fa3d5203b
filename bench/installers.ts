/**
 * The single executable next to `node dist/cli/main.js`: file sizes of installers/out/, and for the
 * agent the time from spawn to "connected to the server" and its RSS after a settle period (the
 * agent enrolled with a real server, `--collectors none` and all collectors), best and median of N
 * runs each. Also `--version` wall time. Build first: `bash installers/build.sh` and `npm run build`.
 * Usage: npx tsx bench/installers.ts [--runs 5] [--settle-ms 5000]
 */
import { spawn } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { cli, root, rssMiB, sleep, startServer, tmp } from "./lib.js";

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => (args.includes(name) ? args[args.indexOf(name) + 1]! : dflt);
const runs = Number(opt("--runs", "5"));
const settleMs = Number(opt("--settle-ms", "5000"));
const out = join(root, "installers/out");
const exe = join(out, "kyoka-linux-x64");
if (!existsSync(exe)) throw new Error(`${exe} is missing: bash installers/build.sh linux`);

const mib = (n: number): string => (n / 1024 / 1024).toFixed(1);
console.log(`load average at start: ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
console.log("\n| file | MiB |\n|---|---|");
for (const f of readdirSync(out).filter((f) => f.startsWith("kyoka")).sort()) {
  console.log(`| ${f} | ${mib(statSync(join(out, f)).size)} |`);
}

type Cmd = { name: string; file: string; pre: string[] };
const cmds: Cmd[] = [
  { name: "single executable", file: exe, pre: [] },
  { name: "node dist/cli/main.js", file: process.execPath, pre: [cli] },
];

async function timeVersion(c: Cmd): Promise<number> {
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    const p = spawn(c.file, [...c.pre, "--version"], { stdio: "ignore" });
    p.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`--version exit ${code}`))));
  });
  return performance.now() - t0;
}

async function agentRun(c: Cmd, server: { url: string; enrollToken: string }, collectors: string): Promise<{ startMs: number; rss: number }> {
  const state = tmp("kyoka-bench-agent-");
  const t0 = performance.now();
  const p = spawn(c.file, [...c.pre, "agent", "--server", server.url.replace(/^http/, "ws"), "--enroll-token", server.enrollToken,
    "--state-dir", state, "--collectors", collectors], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, KYOKA_LOG_LEVEL: "info", KYOKA_RUNTIME_DIR: join(state, "runtime") },
  });
  let err = "";
  const startMs = await new Promise<number>((resolve, reject) => {
    p.stderr!.on("data", (d: Buffer) => {
      err += d.toString();
      if (err.includes("connected to the server")) resolve(performance.now() - t0);
    });
    p.on("exit", (code) => reject(new Error(`agent exited ${code}: ${err.slice(-500)}`)));
  });
  await sleep(settleMs);
  const rss = rssMiB(p.pid!);
  p.kill("SIGTERM");
  await new Promise((r) => p.once("exit", r));
  return { startMs, rss };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const server = await startServer();
try {
  console.log(`\n| command | --version ms (median of ${runs}) | collectors | agent start → connected ms (best / median) | RSS MiB after ${settleMs / 1000} s (median) |\n|---|---|---|---|---|`);
  for (const c of cmds) {
    const v: number[] = [];
    for (let i = 0; i < runs; i++) v.push(await timeVersion(c));
    for (const collectors of ["none", "software,p2p,network,media,asset"]) {
      const r: { startMs: number; rss: number }[] = [];
      for (let i = 0; i < runs; i++) r.push(await agentRun(c, server, collectors));
      const starts = r.map((x) => x.startMs);
      console.log(`| ${c.name} | ${median(v).toFixed(0)} | ${collectors === "none" ? "none" : "all"} | ${Math.min(...starts).toFixed(0)} / ${median(starts).toFixed(0)} | ${median(r.map((x) => x.rss)).toFixed(1)} |`);
    }
  }
} finally {
  await server.stop();
}
console.log(`\nload average at end: ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
