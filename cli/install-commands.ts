/**
 * `kyoka configure` and `kyoka enroll`: what installers run (the .deb's postinst, the MSI's custom
 * actions, the PowerShell and macOS install scripts), and what IT staff can run by hand.
 *
 * - `configure` merges `--server`, `--enroll-token`, `--state-dir`, `--ca` into the agent's config
 *   file (YAML; keys it is not given are kept), validated like `kyoka agent --config`; the file is
 *   written mode 0600 in a folder it creates mode 0700 (on Windows the folder is restricted to
 *   SYSTEM and Administrators with icacls).
 * - `purge` deletes the config, the state and the unpacked files (an uninstall that removes all).
 * - `enroll` trades the enrollment token for the agent's credential now (the agent would do it at
 *   its first start): the installer learns at once whether the URL and token are right. With a
 *   credential already in the state folder it does nothing.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmdirSync, rmSync } from "node:fs";
import { arch, hostname as osHostname } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { parse, stringify } from "yaml";
import { ensureCredential } from "../agent/enroll.js";
import { osDescription } from "../agent/agent.js";
import { writeFileAtomic } from "../agent/state.js";
import { kyokaVersion } from "../lib/build-info.js";
import { createLogger } from "../lib/log.js";
import { AgentConfig, defaultStateDir, resolveConfig, UsageError } from "./config.js";

/** Where installers put the agent's config on each OS. */
export function defaultAgentConfigFile(): string {
  if (process.platform === "win32") return join(process.env.ProgramData ?? "C:\\ProgramData", "kyoka", "agent.yaml");
  if (process.platform === "darwin") return "/Library/Application Support/kyoka/agent.yaml";
  return "/etc/kyoka/agent.yaml";
}

export interface ConfigureFlags { config?: string; server?: string; enrollToken?: string; stateDir?: string; ca?: string }

export async function runConfigureCommand(flags: ConfigureFlags): Promise<void> {
  const file = resolve(flags.config ?? defaultAgentConfigFile());
  let existing: Record<string, unknown> = {};
  if (existsSync(file)) {
    try {
      const v: unknown = parse(readFileSync(file, "utf8")) ?? {};
      if (typeof v !== "object" || Array.isArray(v)) throw new Error("not a mapping");
      existing = v as Record<string, unknown>;
    } catch (err) {
      throw new UsageError(`--config ${file}: ${(err as Error).message.split("\n")[0]}`);
    }
  }
  // the token from KYOKA_ENROLL_TOKEN keeps it off the command line (other users see `ps`)
  const given = { server: flags.server, enrollToken: flags.enrollToken ?? process.env.KYOKA_ENROLL_TOKEN, stateDir: flags.stateDir, caFile: flags.ca };
  const merged: Record<string, unknown> = { ...existing };
  for (const [k, v] of Object.entries(given)) if (v !== undefined && v !== "") merged[k] = v;
  const parsed = AgentConfig.safeParse(merged);
  if (!parsed.success) throw new UsageError(`${file}: ${parsed.error.issues.map((i) => `${i.path.join(".") || "config"}: ${i.message}`).join("; ")}`);
  const dir = dirname(file);
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (process.platform === "win32") restrictToAdmins(dir);
  const header = "# kyoka agent configuration (written by `kyoka configure`; see README.md, Configuration)\n";
  await writeFileAtomic(file, header + stringify(merged), 0o600);
  process.stdout.write(`kyoka: wrote ${file}\n`);
}

/**
 * Windows: the folder (and what it holds) readable and writable by SYSTEM and Administrators only,
 * inheritance from ProgramData removed. icacls names them by SID, so it works in every language.
 */
export function restrictToAdmins(dir: string): void {
  const icacls = join(process.env.SystemRoot ?? "C:\\Windows", "System32", "icacls.exe");
  execFileSync(icacls, [dir, "/inheritance:r", "/grant:r", "*S-1-5-18:(OI)(CI)F", "*S-1-5-32-544:(OI)(CI)F"], {
    stdio: "ignore", timeout: 30_000, windowsHide: true,
  });
}

export interface EnrollFlags { config?: string; server?: string; enrollToken?: string; stateDir?: string; ca?: string }

export async function runEnrollCommand(flags: EnrollFlags): Promise<void> {
  const file = flags.config ?? (existsSync(defaultAgentConfigFile()) && !flags.server ? defaultAgentConfigFile() : undefined);
  if (!flags.server && !file) throw new UsageError("--server ws(s)://HOST:PORT or --config FILE is required");
  const cfg = resolveConfig(AgentConfig, file, {
    server: flags.server, enrollToken: flags.enrollToken ?? process.env.KYOKA_ENROLL_TOKEN, stateDir: flags.stateDir, caFile: flags.ca,
  });
  const stateDir = resolve(cfg.stateDir);
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const log = createLogger("kyoka-enroll");
  const cred = await ensureCredential({
    server: cfg.server, token: cfg.enrollToken, stateDir, log, hostname: osHostname(), os: osDescription(),
    version: kyokaVersion(), ca: cfg.caFile ? readFileSync(resolve(cfg.caFile)) : undefined,
  });
  process.stdout.write(`kyoka: enrolled as ${cred.agentId} with ${cfg.server} (${arch()}); credential in ${join(stateDir, "credential.json")}\n`);
}

export interface PurgeFlags { config?: string; stateDir?: string }

/**
 * `kyoka purge`: what an uninstall that removes everything does (the MSI's uninstall, the macOS
 * uninstall script): the agent's state folder (credential, queue, collector state, logs), its
 * config file, and the folder a single executable unpacked its files into. Stop the agent first.
 */
export async function runPurgeCommand(flags: PurgeFlags): Promise<void> {
  const file = resolve(flags.config ?? defaultAgentConfigFile());
  let stateDir = flags.stateDir;
  if (!stateDir && existsSync(file)) {
    try {
      const v = parse(readFileSync(file, "utf8")) as { stateDir?: unknown } | null;
      if (typeof v?.stateDir === "string") stateDir = v.stateDir;
    } catch {
      // an unreadable config: the default state folder
    }
  }
  const targets = [resolve(stateDir ?? defaultStateDir()), file];
  // a single executable's unpacked files (installers/sea/unpack.ts): <base>/kyoka/runtime/<id>
  const unpacked = (globalThis as { kyokaPackageRoot?: string }).kyokaPackageRoot;
  if (unpacked && basename(dirname(unpacked)) === "runtime") targets.push(dirname(unpacked));
  for (const t of targets) {
    rmSync(t, { recursive: true, force: true, maxRetries: 3 });
    process.stdout.write(`kyoka: removed ${t}\n`);
  }
  // the config's folder, if nothing else is left in it
  try { rmdirSync(dirname(file)); } catch { /* not empty, or gone */ }
}
