/**
 * Removable media → API: a real server and a real agent (media collector only) as child processes,
 * loop devices standing in for USB sticks (policy media.treatAsRemovable: ["/dev/loop*"]).
 *
 * 1. Insertion latency: an ext4 image mounted with `mount -o loop` and unmounted again, --mounts
 *    times (a random pause of up to two poll periods between, so mounts do not lock to the agent's poll). For
 *    each: ms from `mount` returning to `media.inserted` being visible in GET /api/events (polled
 *    every 20 ms) → p50/p95/max. Target: p95 ≤ 2 s.
 * 2. Copy-out: --files files of --file-mib MiB (default 1,000 × 1 MiB = 1 GiB) written onto a
 *    mounted ext4 loop image; the time until every file is reported (with its SHA-256) in
 *    media.copy_out events at the server, and the agent's CPU seconds and peak RSS (VmHWM, and the
 *    highest VmRSS sampled every 100 ms) from /proc.
 *
 * The virus scan on insertion is off (it runs after media.inserted is queued and would only add
 * CPU to part 2); --poll-seconds sets policy.media.pollSeconds (default: the policy default, 1).
 * Needs root (losetup, mount). Usage: npx tsx bench/media-latency.ts [--mounts 25] [--files 1000]
 * [--file-mib 1] [--poll-seconds N] [--copy-trials 30]. Builds nothing: run `npm run build` first.
 * 3. Removal: ms from `umount` returning to `media.removed` visible; copy-out of one file: ms from
 *    the file being closed to a media.copy_out naming it, --copy-trials times (targets p95 ≤ 500 ms
 *    and ≤ 1 s).
 */
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { cli, cpuSeconds, latencySummary, percentile, rssMiB, sleep, startServer, tmp, umountRetry, until } from "./lib.js";

if (process.getuid?.() !== 0) throw new Error("bench/media-latency.ts must run as root (loop devices, mount)");
const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => (args.includes(name) ? args[args.indexOf(name) + 1]! : dflt);
const mounts = Number(opt("--mounts", "25"));
const files = Number(opt("--files", "1000"));
const copyTrials = Number(opt("--copy-trials", "30"));
const fileMiB = Number(opt("--file-mib", "1"));
const pollSecondsArg = args.includes("--poll-seconds") ? Number(opt("--poll-seconds", "1")) : undefined;
const pollMs = 20;

interface ApiEvent { id: number; type: string; details: Record<string, unknown> }

const sh = (cmd: string, a: string[]): string => execFileSync(cmd, a, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
const umount = umountRetry;
const vmHwmMiB = (pid: number): number => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? NaN) / 1024;

const work = tmp("kyoka-bench-media-");
const stateDir = tmp("kyoka-bench-media-agent-");
const mounted: string[] = [];
const load0 = loadavg();
const server = await startServer();
const api = async <T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> => {
  const res = await fetch(server.url + path, {
    method: init.method ?? "GET",
    headers: { authorization: `Bearer ${server.adminToken}`, ...(init.body ? { "content-type": "application/json" } : {}) },
    body: init.body ? JSON.stringify(init.body) : undefined,
  });
  if (res.status !== 200) throw new Error(`${init.method ?? "GET"} ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
};
const agent = spawn(process.execPath, [cli, "agent", "--server", server.url.replace(/^http/, "ws"), "--state-dir", stateDir, "--enroll-token", server.enrollToken, "--collectors", "media"], {
  stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, KYOKA_LOG_LEVEL: "warn" },
});
const pid = agent.pid!;

const insertMs: number[] = [];
const removeMs: number[] = [];
const copyOneMs: number[] = [];
const loopsLeftAttached: { mount: number; devices: string[] }[] = [];
let idleCpuPercent = NaN;
let copy: Record<string, unknown> = {};
try {
  const agentId = await until(async () => (await api<{ id: string }[]>("/api/agents"))[0]?.id, "the agent to enroll", 30_000, 100);
  const { version } = await api<{ version: number }>("/api/policy", {
    method: "PUT",
    body: { media: { treatAsRemovable: ["/dev/loop*"], scan: { enabled: false }, ...(pollSecondsArg ? { pollSeconds: pollSecondsArg } : {}) } },
  });
  await until(async () => ((await api<{ id: string; policyVersion: number }[]>("/api/agents")).find((a) => a.id === agentId)?.policyVersion === version ? true : undefined),
    "the agent to get the policy", 30_000, 100);
  await sleep(3000); // other loop devices on this host are announced now, not during the runs
  // the cost of the poll: agent CPU over 20 s with nothing happening
  const idleCpu0 = cpuSeconds(pid);
  await sleep(20_000);
  idleCpuPercent = +((100 * (cpuSeconds(pid) - idleCpu0)) / 20).toFixed(2);
  const newest = async (): Promise<number> => (await api<ApiEvent[]>("/api/events?limit=1"))[0]?.id ?? 0;
  const mediaEvents = (type: string, after: number, serial: string): Promise<ApiEvent[]> =>
    api<ApiEvent[]>(`/api/events?type=${type}&agent=${agentId}&limit=10000`).then((evs) => evs.filter((e) => e.id > after && e.details.serial === serial));

  // --- 1. mount → media.inserted --------------------------------------------------------------
  const uuid = "0b5e0c1a-6d4f-4e2b-9a7c-3f1e2d3c4b5a";
  const small = join(work, "stick.img");
  sh("truncate", ["-s", "32M", small]);
  sh("mkfs.ext4", ["-q", "-F", "-U", uuid, "-L", "BENCH", small]);
  const dir = join(work, "stick");
  mkdirSync(dir);
  for (let i = 0; i < mounts; i++) {
    const after = await newest();
    sh("mount", ["-o", "loop", small, dir]);
    mounted.push(dir);
    const t0 = performance.now();
    await until(async () => ((await mediaEvents("media.inserted", after, uuid)).length ? true : undefined), `media.inserted #${i + 1}`, 30_000, pollMs);
    insertMs.push(performance.now() - t0);
    umount(dir);
    mounted.pop();
    const t1 = performance.now();
    const removed = async (): Promise<true | undefined> => ((await mediaEvents("media.removed", after, uuid)).length ? true : undefined);
    try {
      await until(removed, `media.removed #${i + 1}`, 15_000, pollMs);
      removeMs.push(performance.now() - t1);
    } catch {
      // the loop device outlived the unmount (another process held it open): detach it by hand
      const left = sh("losetup", ["-j", small]).trim().split("\n").filter(Boolean).map((l) => l.split(":")[0]!);
      for (const dev of left) execFileSync("losetup", ["-d", dev], { stdio: "ignore" });
      loopsLeftAttached.push({ mount: i + 1, devices: left });
      await until(removed, `media.removed #${i + 1} (after detaching ${left.join(", ") || "nothing"})`, 15_000, 100);
    }
    // waiting for media.removed syncs us with the agent's poll: a random pause over a whole poll
    // period (and more) puts the next mount at a random phase of it
    await sleep(200 + Math.random() * 1000 * (2 * (pollSecondsArg ?? 1)));
  }

  // --- 2. copy-out of files × fileMiB MiB ------------------------------------------------------
  const bigUuid = "7d1e9f2a-3b4c-4d5e-8f6a-1b2c3d4e5f60";
  const big = join(work, "big.img");
  sh("truncate", ["-s", `${Math.ceil(files * fileMiB * 1.15) + 64}M`, big]);
  sh("mkfs.ext4", ["-q", "-F", "-U", bigUuid, "-L", "BENCHBIG", big]);
  const bigDir = join(work, "big");
  mkdirSync(bigDir);
  let after = await newest();
  sh("mount", ["-o", "loop", big, bigDir]);
  mounted.push(bigDir);
  await until(async () => ((await mediaEvents("media.inserted", after, bigUuid)).length ? true : undefined), "media.inserted (big)", 30_000, 100);
  await sleep(2000);
  after = await newest();

  let peakRss = rssMiB(pid);
  const sampler = setInterval(() => {
    try {
      peakRss = Math.max(peakRss, rssMiB(pid));
    } catch { /* exited */ }
  }, 100);
  const cpu0 = cpuSeconds(pid);
  const hwm0 = vmHwmMiB(pid);
  const t0 = performance.now();
  const chunk = randomBytes(fileMiB * 1024 * 1024);
  mkdirSync(join(bigDir, "out"));
  for (let i = 0; i < files; i++) {
    chunk.writeUInt32LE(i, 0); // every file differs
    const fh = await open(join(bigDir, "out", `file-${String(i).padStart(4, "0")}.bin`), "w");
    await fh.write(chunk);
    await fh.close();
  }
  const writtenMs = performance.now() - t0;
  let reported = { files: 0, hashed: 0, events: 0 };
  await until(async () => {
    const evs = await mediaEvents("media.copy_out", after, bigUuid);
    const all = evs.flatMap((e) => e.details.files as { path: string; size: number; sha256: string | null }[]);
    const paths = new Set(all.map((f) => f.path));
    reported = { files: paths.size, hashed: all.filter((f) => f.sha256).length, events: evs.length };
    return paths.size >= files ? true : undefined;
  }, `copy_out of ${files} files`, 600_000, 200);
  const allReportedMs = performance.now() - t0;
  const cpu = cpuSeconds(pid) - cpu0;
  clearInterval(sampler);
  copy = {
    files, fileMiB, totalMiB: files * fileMiB,
    writeMs: Math.round(writtenMs), allReportedMs: Math.round(allReportedMs), afterLastWriteMs: Math.round(allReportedMs - writtenMs),
    copyOutEvents: reported.events, filesReported: reported.files, filesWithSha256: reported.hashed,
    agentCpuSeconds: +cpu.toFixed(2), agentCpuPercentOfOneCore: +((100 * cpu) / (allReportedMs / 1000)).toFixed(1),
    agentRssBeforeMiB: +hwm0.toFixed(1), agentPeakRssSampledMiB: +peakRss.toFixed(1), agentVmHwmMiB: +vmHwmMiB(pid).toFixed(1),
  };

  // --- 3. one file written and closed → media.copy_out naming it, --copy-trials times ------------
  for (let i = 0; i < copyTrials; i++) {
    const name = join(bigDir, "out", `single-${i}.txt`);
    writeFileSync(name, `kyoka copy-out trial ${i} ${Date.now()}\n`); // opened, written, closed
    const t2 = performance.now();
    await until(async () => ((await mediaEvents("media.copy_out", after, bigUuid)).some((e) => (e.details.files as { path: string }[]).some((f) => f.path === name)) ? true : undefined),
      `copy_out of ${name}`, 30_000, pollMs);
    copyOneMs.push(performance.now() - t2);
    await sleep(200 + Math.random() * 600);
  }
  umount(bigDir);
  mounted.pop();
} finally {
  for (const d of mounted) execFileSync("umount", ["-l", d], { stdio: "ignore" });
  agent.kill("SIGTERM");
  await new Promise((r) => agent.once("exit", r));
  await server.stop();
  rmSync(work, { recursive: true, force: true });
  rmSync(stateDir, { recursive: true, force: true });
}

const s = [...insertMs].sort((a, b) => a - b);
const ins = { n: s.length, min: Math.round(s[0]!), p50: Math.round(percentile(s, 50)), p95: Math.round(percentile(s, 95)), max: Math.round(s[s.length - 1]!) };
console.log(JSON.stringify({
  scenario: "media-latency", pollMs, policyPollSeconds: pollSecondsArg ?? "default", cores: cpus().length,
  loadavgBefore: load0.map((l) => +l.toFixed(2)), loadavgAfter: loadavg().map((l) => +l.toFixed(2)),
  agentIdleCpuPercentOfOneCore: idleCpuPercent, insertedMs: ins, targetP95Ms: 500, meetsTarget: ins.p95 <= 500, loopsLeftAttached,
  removedMs: removeMs.length ? latencySummary(removeMs) : undefined, removedMeetsTarget: removeMs.length ? latencySummary(removeMs).p95 <= 500 : undefined,
  copyOutOneFileAfterCloseMs: copyOneMs.length ? latencySummary(copyOneMs) : undefined, copyOutTargetP95Ms: 1000,
  copyOut: copy,
}, null, 2));
process.exit(0);
