/**
 * Where the agent's idle CPU goes, per collector: runs bench/agent-idle.ts with --cpu-prof (a V8
 * sampling profile of the agent process), then adds up the samples' self time by the source file
 * of the function on top of the stack:
 *   agent/collectors/<name>/…  → that collector;  agent/os/… → "os (shared readers/events)";
 *   agent/… (queue, transport, supervisor) → "agent core";  node_modules/<pkg> → that package;
 *   node: internals → "node internals";  (garbage collector), (program), (idle) as V8 names them.
 * A sample on a shared file (sockets.ts, procfs.ts) is charged to the collector that called it
 * when one is on the stack (the nearest agent/collectors/<name>/ frame below it).
 *
 * Samples of the warm-up are left out (the profile starts with the process).
 * Usage: npx tsx bench/cpu-profile.ts [--seconds 120] [--warmup 30] [more agent-idle.ts flags]
 * Prints one JSON line: total profiled ms, then ms and % per bucket, biggest first.
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { root, tmp } from "./lib.js";

interface Node { id: number; callFrame: { functionName: string; url: string }; children?: number[] }
interface Profile { nodes: Node[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

const args = process.argv.slice(2);
const has = (f: string) => args.includes(f);
const dir = tmp("kyoka-cpuprof-");
const idleArgs = [
  "--collectors", "all", ...(has("--seconds") ? [] : ["--seconds", "120"]), ...(has("--warmup") ? [] : ["--warmup", "30"]),
  ...args, "--cpu-prof", dir,
];
const r = spawnSync(process.execPath, ["--import", "tsx", join(root, "bench/agent-idle.ts"), ...idleArgs], { stdio: ["ignore", "pipe", "inherit"], encoding: "utf8" });
const idleLine = r.stdout.trim().split("\n").pop() ?? "";
const file = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"));
if (!file) throw new Error(`no .cpuprofile in ${dir} (agent-idle said: ${idleLine})`);
const prof = JSON.parse(readFileSync(join(dir, file), "utf8")) as Profile;

function bucketOf(url: string, name: string): string | undefined {
  if (!url) return name.startsWith("(") ? name : undefined;
  const m = /\/agent\/collectors\/([^/]+)\//.exec(url);
  if (m) return `collector:${m[1]}`;
  if (/\/agent\/os\//.test(url)) return "os (shared readers/events)";
  if (/\/agent\//.test(url)) return "agent core";
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return `pkg:${pkg[1]}`;
  if (url.startsWith("node:")) return "node internals";
  if (/\/(lib|policies|cli)\//.test(url)) return "kyoka lib/policies/cli";
  return "other";
}

const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
/** a node's bucket: its own, but shared code (os, node internals, packages) goes to the nearest collector below it */
const memo = new Map<number, string>();
function bucket(id: number): string {
  const hit = memo.get(id);
  if (hit) return hit;
  const n = byId.get(id)!;
  let b = bucketOf(n.callFrame.url, n.callFrame.functionName) ?? "other";
  if (!b.startsWith("collector:") && !b.startsWith("(")) {
    for (let p = parent.get(id); p !== undefined; p = parent.get(p)) {
      const pb = bucketOf(byId.get(p)!.callFrame.url, "");
      if (pb?.startsWith("collector:")) { b = `${pb} (via ${b})`; break; }
    }
  }
  memo.set(id, b);
  return b;
}

// the warm-up (start, first inventories) is left out, as in agent-idle.ts
const warmupMs = Number(args.includes("--warmup") ? args[args.indexOf("--warmup") + 1] : "30") * 1000;
const ms = new Map<string, number>();
let total = 0, at = 0;
for (let i = 0; i < prof.samples.length; i++) {
  const dt = (prof.timeDeltas[i] ?? 0) / 1000;
  at += dt;
  if (at < warmupMs) continue;
  const b = bucket(prof.samples[i]!);
  ms.set(b, (ms.get(b) ?? 0) + dt);
  total += dt;
}
const busy = [...ms].filter(([k]) => k !== "(idle)").reduce((a, [, v]) => a + v, 0);
console.log(JSON.stringify({
  scenario: "agent-cpu-profile", idle: idleLine ? JSON.parse(idleLine) as unknown : undefined,
  profiledMs: Math.round(total), busyMs: Math.round(busy), profile: join(dir, file),
  buckets: [...ms].filter(([k]) => k !== "(idle)").sort((a, b) => b[1] - a[1])
    .map(([k, v]) => ({ bucket: k, ms: Math.round(v), percentOfBusy: +((v / busy) * 100).toFixed(1), percentOfOneCore: +((v / total) * 100).toFixed(3) })),
}, null, 1));
