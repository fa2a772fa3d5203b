/**
 * Real dpkg for the live tests and the software benchmark: build tiny `.deb`s with dpkg-deb, and
 * run dpkg retrying while another dpkg (another test file running in parallel) holds its lock.
 * Needs root; `requireRoot` fails (not skips) with a clear message without it.
 */
import { execFile } from "node:child_process";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export function requireRoot(what: string): void {
  if (typeof process.getuid !== "function" || process.getuid() !== 0) {
    throw new Error(`${what} must run as root: it installs and removes real .deb packages with dpkg (CI runs as root)`);
  }
}

/** A package name that no other run uses: `<prefix>-<8 random [a-z0-9]>`. */
export function uniquePackageName(prefix: string): string {
  return `${prefix}-${Math.random().toString(36).slice(2, 10).padEnd(8, "0")}`;
}

export interface DebSpec {
  name: string;
  version: string;
  maintainer?: string;
  /** a postinst script body (sh); made executable */
  postinst?: string;
}

/** Build `<dir>/<name>_<version>_all.deb` (one doc file, Architecture: all) and return its path. */
export async function buildDeb(dir: string, spec: DebSpec): Promise<string> {
  const root = join(dir, `${spec.name}_${spec.version}`);
  mkdirSync(join(root, "DEBIAN"), { recursive: true });
  mkdirSync(join(root, "usr", "share", "doc", spec.name), { recursive: true });
  writeFileSync(join(root, "usr", "share", "doc", spec.name, "README"), `kyoka test package ${spec.version}\n`);
  writeFileSync(join(root, "DEBIAN", "control"), [
    `Package: ${spec.name}`, `Version: ${spec.version}`, "Architecture: all",
    `Maintainer: ${spec.maintainer ?? "Kyoka Test <test@example.invalid>"}`,
    "Section: misc", "Priority: optional", `Description: kyoka test package ${spec.version}`, "",
  ].join("\n"));
  if (spec.postinst !== undefined) {
    const p = join(root, "DEBIAN", "postinst");
    writeFileSync(p, spec.postinst.startsWith("#!") ? spec.postinst : `#!/bin/sh\n${spec.postinst}\n`);
    chmodSync(p, 0o755);
  }
  const out = join(dir, `${spec.name}_${spec.version}_all.deb`);
  await exec("dpkg-deb", ["--build", "--root-owner-group", root, out]);
  return out;
}

interface ExecResult { code: number; stdout: string; stderr: string }

function exec(cmd: string, args: string[]): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { encoding: "utf8", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" }, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (!err) return resolve({ code: 0, stdout, stderr });
      const code = (err as { code?: unknown }).code;
      if (typeof code !== "number") return reject(err); // could not run it at all (ENOENT, …)
      resolve({ code, stdout, stderr });
    });
  });
}

/** dpkg's "another dpkg is running" failures: exit 2 and a message about its lock. */
export function isLockError(r: { code: number; stderr: string }): boolean {
  return r.code !== 0 && /lock/i.test(r.stderr);
}

/**
 * Run `dpkg …`; while another dpkg holds the lock, wait and retry (up to `lockWaitMs`).
 * Any other failure throws with dpkg's stderr.
 */
export async function dpkg(args: string[], opts: { lockWaitMs?: number; retryEveryMs?: number } = {}): Promise<string> {
  const until = Date.now() + (opts.lockWaitMs ?? 60_000);
  for (;;) {
    const r = await exec("dpkg", args);
    if (r.code === 0) return r.stdout;
    if (isLockError(r) && Date.now() < until) {
      await new Promise((res) => setTimeout(res, opts.retryEveryMs ?? 100));
      continue;
    }
    throw new Error(`dpkg ${args.join(" ")} failed (exit ${r.code}): ${r.stderr.trim()}`);
  }
}

/** Purge packages (best effort, for afterAll): one dpkg call, not installed ones are ignored. */
export async function purge(...names: string[]): Promise<void> {
  if (names.length === 0) return;
  await dpkg(["--purge", ...names]);
}

/** The installed version of a package, or undefined. */
export async function installedVersion(name: string): Promise<string | undefined> {
  const r = await exec("dpkg-query", ["-W", "-f", "${Status}\t${Version}", name]);
  if (r.code !== 0) return undefined;
  const [status, version] = r.stdout.split("\t");
  return status?.endsWith(" installed") ? version : undefined;
}
