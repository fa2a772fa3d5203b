/** Shared bits of the bench scripts: run the real binary, read a process's RSS and CPU from /proc. */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const root = fileURLToPath(new URL("..", import.meta.url));
export const cli = join(root, "dist/cli/main.js");
const CLK_TCK = 100;

export function tmp(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** user+system CPU seconds used so far by a process */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export interface Server { child: ChildProcess; url: string; adminToken: string; enrollToken: string; stop(): Promise<void> }

/** `kyoka server` on a free port; `data`: a data folder prepared beforehand (default: a new one). */
export async function startServer(extra: string[] = [], data = tmp("kyoka-bench-")): Promise<Server> {
  // every simulated agent connects from 127.0.0.1: lift the per-address connection cap
  const config = join(data, "bench-server.yaml");
  writeFileSync(config, "limits:\n  maxConnections: 100000\n  maxConnectionsPerIp: 100000\n");
  const child = spawn(process.execPath, [cli, "server", "--port", "0", "--data", data, "--config", config, ...extra], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, KYOKA_LOG_LEVEL: "warn" },
  });
  let out = "";
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /listening on (\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.on("exit", (code) => reject(new Error(`server exited ${code}`)));
  });
  return {
    child, url,
    adminToken: readFileSync(join(data, "admin-token"), "utf8").trim(),
    enrollToken: readFileSync(join(data, "enroll-token"), "utf8").trim(),
    stop: async () => {
      const done = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await done;
    },
  };
}

export async function enroll(server: Server, hostname: string): Promise<{ agentId: string; secret: string }> {
  const res = await fetch(`${server.url}/api/enroll`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ token: server.enrollToken, hostname, os: "linux", version: "bench" }),
  });
  if (res.status !== 201) throw new Error(`enroll: ${res.status} ${await res.text()}`);
  return (await res.json()) as { agentId: string; secret: string };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Poll `fn` every `everyMs` until it returns a value (not undefined); throws after `timeoutMs`. */
export async function until<T>(fn: () => Promise<T | undefined>, what: string, timeoutMs: number, everyMs: number): Promise<T> {
  const end = performance.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** GET a JSON path of the server's API with the admin token (throws on a status other than 200). */
export function apiGetter(server: Server): <T>(path: string) => Promise<T> {
  return async <T>(path: string): Promise<T> => {
    const res = await fetch(server.url + path, { headers: { authorization: `Bearer ${server.adminToken}` } });
    if (res.status !== 200) throw new Error(`GET ${path}: ${res.status}`);
    return (await res.json()) as T;
  };
}

/** n, min, p50, p95, max of a sample (rounded), for the latency benches. */
export function latencySummary(xs: number[]): { n: number; min: number; p50: number; p95: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  return { n: s.length, min: Math.round(s[0]!), p50: Math.round(percentile(s, 50)), p95: Math.round(percentile(s, 95)), max: Math.round(s[s.length - 1]!) };
}

/** umount, retried for up to ~10 s while the mount is busy (an agent may still hold a file open). */
export function umountRetry(dir: string): void {
  for (let i = 0; ; i++) {
    try {
      execFileSync("umount", [dir], { stdio: ["ignore", "pipe", "pipe"] });
      return;
    } catch (e) {
      if (i > 100) throw e;
      execFileSync("sleep", ["0.1"]);
    }
  }
}

/**
 * A separate process that holds `sockets` open loopback TCP sockets (sockets/2 connections) and,
 * with `churnMs` > 0, opens and closes one more connection every churnMs ms (a busy machine: the
 * kernel's socket counters and TCP ActiveOpens keep moving), as other programs on a PC would.
 * Resolves once the sockets are open; undefined when there is nothing to hold or churn.
 */
export async function socketHolder(sockets: number, churnMs = 0): Promise<ChildProcess | undefined> {
  if (sockets <= 0 && churnMs <= 0) return undefined;
  const src = `
const net = require("net"); const held = [];
const srv = net.createServer((s) => held.push(s));
srv.listen(0, "127.0.0.1", async () => {
  const port = srv.address().port;
  for (let i = 0; i < ${Math.floor(sockets / 2)}; i++) await new Promise((r) => held.push(net.connect(port, "127.0.0.1", r)));
  if (${churnMs} > 0) setInterval(() => { const c = net.connect(port, "127.0.0.1", () => c.destroy()); c.on("error", () => {}); }, ${churnMs});
  process.stdout.write("ready\\n");
});`;
  const holder = spawn(process.execPath, ["-e", src], { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise((r) => holder.stdout!.once("data", r));
  return holder;
}
