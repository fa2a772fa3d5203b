/**
 * Helpers for end-to-end tests: the real `kyoka` binary (dist/cli/main.js, built by the global
 * setup) as child processes, and the HTTP API.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, onTestFailed } from "vitest";

export const root = fileURLToPath(new URL("../..", import.meta.url));
export const cli = join(root, "dist/cli/main.js");

export function tempDir(prefix = "kyoka-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** A free TCP port on 127.0.0.1 (so a server can be restarted on the same one). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Poll `fn` until it returns a truthy value (or throws a last error on timeout). */
export async function waitFor<T>(fn: () => Promise<T | undefined | false | null> | T | undefined | false | null, what: string, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const until = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as T;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}${lastErr ? `: ${String(lastErr)}` : ""}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export interface Proc {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** resolves with the exit code (or signal) */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function run(args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  return runProgram(process.execPath, [cli, ...args], {
    cwd: root,
    env: { ...process.env, KYOKA_LOG_LEVEL: process.env.KYOKA_LOG_LEVEL ?? "info", ...env },
  });
}

/** Run a program with its output collected (run() is this for `node dist/cli/main.js`). */
export function runProgram(file: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Proc {
  const child = spawn(file, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d: Buffer) => { out += d.toString(); });
  child.stderr!.on("data", (d: Buffer) => { err += d.toString(); });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on("exit", (code, signal) => resolve({ code, signal }));
  });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    kill: async (signal = "SIGTERM") => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

export interface ServerProc extends Proc {
  url: string;
  wsUrl: string;
  dataDir: string;
  adminToken: string;
  enrollToken: string;
  api<T = unknown>(path: string, init?: { method?: string; body?: unknown; contentType?: string; raw?: boolean }): Promise<{ status: number; body: T }>;
}

export async function startServer(opts: { dataDir: string; port?: number; extra?: string[]; env?: NodeJS.ProcessEnv }): Promise<ServerProc> {
  const port = opts.port ?? (await freePort());
  const proc = run(["server", "--port", String(port), "--host", "127.0.0.1", "--data", opts.dataDir, ...(opts.extra ?? [])], opts.env);
  const url = await waitFor(() => {
    if (proc.child.exitCode !== null) throw new Error(`server exited ${proc.child.exitCode}: ${proc.stderr()}`);
    return /listening on (\S+)/.exec(proc.stdout())?.[1];
  }, "the server to listen", 30_000);
  const adminToken = readFileSync(join(opts.dataDir, "admin-token"), "utf8").trim();
  const enrollToken = readFileSync(join(opts.dataDir, "enroll-token"), "utf8").trim();
  return Object.assign(proc, {
    url,
    wsUrl: url.replace(/^http/, "ws"),
    dataDir: opts.dataDir,
    adminToken,
    enrollToken,
    api: <T>(path: string, init: { method?: string; body?: unknown; contentType?: string } = {}) => api<T>(url, adminToken, path, init),
  });
}

/**
 * POST /api/approvals: a 甲許可 in force from a minute ago to an hour from now (the server's clock
 * at ingest must lie inside it). Returns the response as is: a test decides what status it expects.
 */
export function grantApproval(server: ServerProc, a: { control: string; match: Record<string, unknown>; scope: Record<string, unknown>; reason: string }): Promise<{ status: number; body: { id: string } }> {
  const now = Date.now();
  return server.api<{ id: string }>("/api/approvals", {
    method: "POST",
    body: { ...a, validFrom: new Date(now - 60_000).toISOString(), validUntil: new Date(now + 3_600_000).toISOString() },
  });
}

export async function api<T = unknown>(base: string, token: string, path: string, init: { method?: string; body?: unknown; contentType?: string } = {}): Promise<{ status: number; body: T }> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  let body: string | undefined;
  if (init.body !== undefined) {
    body = typeof init.body === "string" ? init.body : JSON.stringify(init.body);
    headers["content-type"] = init.contentType ?? (typeof init.body === "string" ? "text/yaml" : "application/json");
  }
  const res = await fetch(base + path, { method: init.method ?? "GET", headers, body });
  const text = await res.text();
  let parsed: unknown = text;
  try { parsed = text ? JSON.parse(text) : undefined; } catch { /* not JSON */ }
  return { status: res.status, body: parsed as T };
}

export function startAgent(opts: { server: string; stateDir: string; enrollToken?: string; extra?: string[]; env?: NodeJS.ProcessEnv }): Proc {
  const args = ["agent", "--server", opts.server, "--state-dir", opts.stateDir, ...(opts.extra ?? [])];
  if (opts.enrollToken) args.push("--enroll-token", opts.enrollToken);
  return run(args, opts.env);
}

/** The last lines of a process's stdout and stderr, for a failure report. */
export function outputTail(p: Proc, lines = 30): string {
  const tail = (s: string): string => s.split("\n").slice(-lines).map((l) => l.slice(0, 400)).join("\n");
  return `--- ${p.child.spawnargs.slice(2, 4).join(" ")} (pid ${p.child.pid}) stdout:\n${tail(p.stdout())}\n--- stderr:\n${tail(p.stderr())}\n`;
}

/** Call inside a test: if it fails, print what these processes said (their logs are the evidence). */
export function showLogsOnFailure(procs: readonly Proc[] | (() => readonly Proc[])): void {
  onTestFailed(() => {
    for (const p of typeof procs === "function" ? procs() : procs) process.stderr.write(outputTail(p));
  });
}

/**
 * A test file's child processes and temp folders: a tracked process's logs are shown if its test
 * fails, every tracked process is killed after each test, the folders are removed after the file.
 */
export function processScope(): { dir(): string; track<T extends Proc>(p: T): T } {
  const dirs: string[] = [];
  const procs: Proc[] = [];
  afterEach(async () => {
    await Promise.all(procs.splice(0).map((p) => p.kill("SIGKILL")));
  });
  afterAll(() => dirs.forEach(removeDir));
  return {
    dir: () => {
      const d = tempDir();
      dirs.push(d);
      return d;
    },
    track: <T extends Proc>(p: T): T => {
      procs.push(p);
      showLogsOnFailure([p]);
      return p;
    },
  };
}
