/**
 * Live-test helpers for the P2P collector: apt installs, an isolated network namespace (loopback
 * only) to run real P2P clients in, and a fake CollectorContext that records events.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { StateStore } from "../../../agent/collector.js";
import { parsePolicyText } from "../../../policies/policy.js";
import { MemoryState, recordingContext, type RecordingContext } from "../../helpers/collector-context.js";

export function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new Error("the P2P live tests need root (ip netns, apt-get, /proc/<pid>/fd of other users): run them as root, as CI does");
  }
}

function installed(pkg: string): boolean {
  try {
    return execFileSync("dpkg-query", ["-W", "-f=${Status}", pkg], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).endsWith(" installed");
  } catch {
    return false;
  }
}

/** apt-get install the packages that are missing (apt-get update first if apt cannot find them). */
export function ensureAptPackages(pkgs: string[]): void {
  const missing = pkgs.filter((p) => !installed(p));
  if (missing.length === 0) return;
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const install = () => execFileSync("apt-get", ["install", "-y", "--no-install-recommends", ...missing], { env, stdio: ["ignore", "pipe", "pipe"], timeout: 600_000 });
  try {
    install();
  } catch {
    execFileSync("apt-get", ["update"], { env, stdio: ["ignore", "pipe", "pipe"], timeout: 600_000 });
    install();
  }
  const still = missing.filter((p) => !installed(p));
  if (still.length) throw new Error(`apt-get could not install ${still.join(", ")}`);
}

/**
 * Test files that start real P2P clients (the live collector test, the e2e test) take turns: each
 * one's agent or collector sees every process on the machine, so another file's client would show
 * up in its "nothing new" checks, and a `response: terminate` collector would kill it. A lock
 * folder in the temp dir, holding the owner's pid; a lock whose owner is gone is taken over.
 * Returns the release function.
 */
export async function lockP2pClients(timeoutMs = 110_000): Promise<() => void> {
  const dir = join(tmpdir(), "kyoka-p2p-clients.lock");
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      mkdirSync(dir);
      writeFileSync(join(dir, "pid"), String(process.pid));
      return () => rmSync(dir, { recursive: true, force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    let stale = false;
    try {
      const owner = Number(readFileSync(join(dir, "pid"), "utf8"));
      try { process.kill(owner, 0); } catch { stale = true; }
    } catch {
      // no pid yet: stale only if the folder is old (its owner died between mkdir and write)
      try { stale = Date.now() - statSync(dir).mtimeMs > 30_000; } catch { /* just released */ }
    }
    if (stale) { rmSync(dir, { recursive: true, force: true }); continue; }
    if (Date.now() > until) throw new Error(`another test has held ${dir} for ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A network namespace with nothing but loopback; every process started in it is killed on close. */
export class IsolatedNetns {
  readonly name = `kyoka-p2p-${randomBytes(4).toString("hex")}`;
  private readonly children: ChildProcess[] = [];

  open(): void {
    execFileSync("ip", ["netns", "add", this.name]);
    execFileSync("ip", ["netns", "exec", this.name, "ip", "link", "set", "lo", "up"]);
    const links = execFileSync("ip", ["netns", "exec", this.name, "ip", "-o", "link"], { encoding: "utf8" });
    if (links.trim().split("\n").some((l) => !/^\d+: lo:/.test(l))) throw new Error(`netns ${this.name} has more than loopback:\n${links}`);
  }

  /** Start a command inside the namespace (ip netns exec execs it: the child's pid is the command's). */
  spawn(cmd: string, args: string[], opts: { cwd?: string } = {}): ChildProcess {
    const child = spawn("ip", ["netns", "exec", this.name, cmd, ...args], { stdio: ["ignore", "pipe", "pipe"], cwd: opts.cwd });
    child.stdout?.resume();
    child.stderr?.resume();
    this.children.push(child);
    return child;
  }

  async kill(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    process.kill(child.pid, "SIGKILL");
    await exited;
  }

  async close(): Promise<void> {
    for (const c of this.children) await this.kill(c).catch(() => undefined);
    try { execFileSync("ip", ["netns", "del", this.name]); } catch { /* never created */ }
  }
}

export { MemoryState };
export type FakeContext = RecordingContext;

/** A recording context with a policy given as YAML. */
export function fakeContext(policyYaml = "{}", state: StateStore = new MemoryState()): FakeContext {
  return recordingContext(parsePolicyText(policyYaml), state);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Poll until check() returns a value (not a timing assertion: just waiting for a process to come up). */
export async function eventually<T>(check: () => Promise<T | undefined>, what: string, timeoutMs = 15_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}
