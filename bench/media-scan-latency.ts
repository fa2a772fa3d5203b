/**
 * Infected-medium verdict latency: mount → `media.scanned` with `result: infected` visible at the
 * server (GET /api/events, polled every 20 ms). A real server and a real agent (media collector
 * only) as child processes; a loop-mounted ext4 image stands in for a USB stick (policy
 * media.treatAsRemovable: ["/dev/loop*"]) with `--files` files on it (default 100: 99 harmless
 * text files and the EICAR test string). ClamAV's `clamscan` with a one-line custom signature file
 * (the EICAR MD5 as an .hdb; no signature download), the policy's scan.databasePath pointing at it.
 * `--trials` mounts (default 30), each after a random pause so it does not lock to the agent's
 * poll. Prints p50/p95/max and the agent's scan duration as it reported it (details.durationMs).
 * Target (issue 18): p95 ≤ 1 s after mount for a medium with up to 100 files.
 * Needs root (losetup, mount) and clamscan (scripts/setup.sh --test installs it); builds nothing:
 * run `npm run build` first. Usage: npx tsx bench/media-scan-latency.ts [--trials 30] [--files 100]
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { apiGetter, cli, latencySummary, sleep, startServer, tmp, umountRetry, until } from "./lib.js";

if (process.getuid?.() !== 0) throw new Error("bench/media-scan-latency.ts must run as root (loop devices, mount)");
const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => (args.includes(name) ? args[args.indexOf(name) + 1]! : dflt);
const trials = Number(opt("--trials", "30"));
const files = Number(opt("--files", "100"));
// assembled so this file itself is not flagged by scanners
const EICAR = ["X5O!P%@AP[4\\PZX54(P^)7CC)7}$", "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"].join("");
const sh = (cmd: string, a: string[]): string => execFileSync(cmd, a, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
const umount = async (dir: string): Promise<void> => umountRetry(dir);

interface ApiEvent { id: number; type: string; details: Record<string, unknown> }

const work = tmp("kyoka-bench-scan-");
const sigs = join(work, "sigs");
mkdirSync(sigs);
writeFileSync(join(sigs, "test.hdb"), "44d88612fea8a8f36de82e1278abb02f:68:Test.EICAR\n");
const uuid = "5ca1ab1e-0b5e-4c0d-9e1f-2a3b4c5d6e7f";
const image = join(work, "stick.img");
sh("truncate", ["-s", "32M", image]);
sh("mkfs.ext4", ["-q", "-F", "-U", uuid, "-L", "SCANBENCH", image]);
const dir = join(work, "stick");
mkdirSync(dir);
sh("mount", ["-o", "loop", image, dir]);
for (let i = 0; i < files - 1; i++) writeFileSync(join(dir, `doc-${i}.txt`), `harmless file ${i}\n`.repeat(50));
writeFileSync(join(dir, "eicar.com"), EICAR);
await umount(dir);

const load0 = loadavg();
const server = await startServer();
const api = apiGetter(server);
const stateDir = tmp("kyoka-bench-scan-agent-");
const agent = spawn(process.execPath, [cli, "agent", "--server", server.url.replace(/^http/, "ws"), "--state-dir", stateDir, "--enroll-token", server.enrollToken, "--collectors", "media"], {
  stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, KYOKA_LOG_LEVEL: "warn" },
});
const verdictMs: number[] = [];
const scanMs: number[] = [];
let mounted = false;
try {
  const agentId = await until(async () => (await api<{ id: string }[]>("/api/agents"))[0]?.id, "the agent to enroll", 30_000, 100);
  const res = await fetch(`${server.url}/api/policy`, {
    method: "PUT", headers: { authorization: `Bearer ${server.adminToken}`, "content-type": "application/json" },
    body: JSON.stringify({ media: { treatAsRemovable: ["/dev/loop*"], scan: { enabled: true, scanner: "clamscan", databasePath: sigs } } }),
  });
  if (res.status !== 200) throw new Error(`PUT /api/policy: ${res.status} ${await res.text()}`);
  const { version } = (await res.json()) as { version: number };
  await until(async () => ((await api<{ id: string; policyVersion: number }[]>("/api/agents")).find((a) => a.id === agentId)?.policyVersion === version ? true : undefined),
    "the agent to get the policy", 30_000, 100);
  await sleep(3000);
  const newest = async (): Promise<number> => (await api<ApiEvent[]>("/api/events?limit=1"))[0]?.id ?? 0;
  for (let i = 0; i < trials; i++) {
    const after = await newest();
    sh("mount", ["-o", "loop,ro", image, dir]);
    mounted = true;
    const t0 = performance.now();
    const ev = await until(async () => (await api<ApiEvent[]>(`/api/events?type=media.scanned&agent=${agentId}&limit=50`))
      .find((e) => e.id > after && e.details.serial === uuid), `media.scanned #${i + 1}`, 60_000, 20);
    verdictMs.push(performance.now() - t0);
    if (ev.details.result !== "infected") throw new Error(`trial ${i + 1}: result ${String(ev.details.result)}, not infected`);
    if (typeof ev.details.durationMs === "number") scanMs.push(ev.details.durationMs);
    await umount(dir);
    mounted = false;
    await sleep(300 + Math.random() * 2000);
  }
} finally {
  if (mounted) await umount(dir).catch(() => undefined);
  agent.kill("SIGTERM");
  await server.stop();
}
const verdict = latencySummary(verdictMs);
console.log(JSON.stringify({
  bench: "media-scan-latency", files, trials, scanner: "clamscan (one .hdb signature)",
  verdictAfterMountMs: verdict, targetP95Ms: 1000, meetsTarget: verdict.p95 <= 1000,
  agentScanDurationMs: scanMs.length ? latencySummary(scanMs) : undefined,
  loadavg: { before: load0.map((x) => +x.toFixed(2)), after: loadavg().map((x) => +x.toFixed(2)) },
}));
