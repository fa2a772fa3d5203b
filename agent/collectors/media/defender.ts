/**
 * Microsoft Defender as the medium scanner on Windows (別記2 第11): the default there (`auto`),
 * or asked for with `scanner: defender`. `MpCmdRun.exe -Scan -ScanType 3 -File <root>
 * -DisableRemediation` — a custom scan of the medium that reports and leaves remediation to
 * Defender's own real-time protection (which acts on its own policy). Exit 0 = no threat,
 * 2 = threats found (listed after "LIST OF DETECTED THREATS"), anything else = the scan failed.
 * MpCmdRun is found in the newest `%ProgramData%\Microsoft\Windows Defender\Platform\<version>\`
 * folder (where Defender updates itself), else `%ProgramFiles%\Windows Defender\`.
 * Its output follows the console code page: decoded as UTF-8 when valid, else CP932.
 */
import { constants } from "node:fs";
import { access, readdir } from "node:fs/promises";
import { join } from "node:path";
import iconv from "iconv-lite";
import type { InfectedFile, ScanOutcome } from "./types.js";
import { exec, execFailure } from "../../../lib/exec.js";

export interface DefenderReport {
  /** "found no threats" seen */
  noThreats: boolean;
  /** N from "found N threats" */
  threatCount: number | null;
  signatures: string[];
  /** each file with the threat listed above it */
  infectedFiles: InfectedFile[];
}

/** Console bytes → text (UTF-8 when valid, else the Japanese OEM code page). */
export function decodeMpOutput(b: Buffer): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(b);
  } catch {
    return iconv.decode(b, "cp932");
  }
}

/** MpCmdRun -Scan output → threats and files. */
export function parseMpCmdRunOutput(text: string): DefenderReport {
  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  const r: DefenderReport = { noThreats: false, threatCount: null, signatures: [], infectedFiles: [] };
  let threat = "";
  for (const line of lines) {
    let m: RegExpExecArray | null;
    if (/found no threats/i.test(line)) r.noThreats = true;
    else if ((m = /found (\d+) threats?/i.exec(line))) r.threatCount = Number(m[1]);
    else if ((m = /^\s*Threat\s*:\s*(.+?)\s*$/.exec(line))) {
      threat = m[1]!;
      if (!r.signatures.includes(threat)) r.signatures.push(threat);
    } else if ((m = /^\s*file\s*:\s*(.+?)\s*$/i.exec(line))) {
      // "file : E:\eicar.com" (archives: "containerfile" / "file : E:\a.zip->eicar.com")
      if (!r.infectedFiles.some((f) => f.path === m![1])) r.infectedFiles.push({ path: m[1]!, signature: threat });
    }
  }
  return r;
}

/** Platform version folder names → the newest ("4.18.24090.11" > "4.18.2302.7"). */
export function newestVersion(names: string[]): string | undefined {
  const parts = (v: string): number[] => v.split(/[.-]/).map((x) => Number.parseInt(x, 10) || 0);
  return names.filter((n) => /^\d+(\.\d+)+/.test(n)).sort((a, b) => {
    const [x, y] = [parts(a), parts(b)];
    for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
    return 0;
  }).at(-1);
}

async function exists(p: string): Promise<boolean> {
  try {
    await access(p, constants.F_OK);
    return true;
  } catch {
    return false;
  }
}

/** Where MpCmdRun.exe is, or null. */
export async function findMpCmdRun(env: NodeJS.ProcessEnv = process.env): Promise<string | null> {
  const programData = env.ProgramData ?? env.PROGRAMDATA ?? "C:\\ProgramData";
  const platform = join(programData, "Microsoft", "Windows Defender", "Platform");
  const newest = newestVersion(await readdir(platform).catch(() => [] as string[]));
  if (newest && (await exists(join(platform, newest, "MpCmdRun.exe")))) return join(platform, newest, "MpCmdRun.exe");
  const legacy = join(env.ProgramFiles ?? env.PROGRAMFILES ?? "C:\\Program Files", "Windows Defender", "MpCmdRun.exe");
  return (await exists(legacy)) ? legacy : null;
}

/** The outcome of one MpCmdRun run (exit code + output): pure, tested on captured outputs. */
export function defenderOutcome(code: number | null, stdout: string, durationMs: number, error?: string): ScanOutcome {
  const report = parseMpCmdRunOutput(stdout);
  const base = { signatures: report.signatures, infectedFiles: report.infectedFiles, scanner: "defender", scannedFiles: null, durationMs };
  if (code === 2 || report.signatures.length > 0 || (report.threatCount ?? 0) > 0) return { result: "infected", ...base };
  if (code === 0) return { result: "clean", ...base };
  const lastLines = stdout.trim().split("\n").filter(Boolean).slice(-3).join(" | ");
  return { result: "failed", ...base, error: error ?? (lastLines || `MpCmdRun exited ${String(code)}`) };
}

export async function scanWithDefender(target: string, opts: { timeoutMs?: number; signal?: AbortSignal; mpCmdRun?: string | null } = {}): Promise<ScanOutcome> {
  const started = Date.now();
  const bin = opts.mpCmdRun !== undefined ? opts.mpCmdRun : await findMpCmdRun();
  if (!bin) return { result: "scanner-missing", signatures: [], infectedFiles: [], scanner: null, scannedFiles: null, durationMs: 0, error: "MpCmdRun.exe (Microsoft Defender) not found" };
  const args = ["-Scan", "-ScanType", "3", "-File", target, "-DisableRemediation"];
  try {
    const r = await exec(bin, args, { encoding: "buffer", timeoutMs: opts.timeoutMs ?? 60 * 60 * 1000, signal: opts.signal, maxBuffer: 16 * 1024 * 1024 });
    // killed (timeout, abort, too much output): no exit code, the reason as the error
    const code = r.overflowed ? null : r.code;
    return defenderOutcome(code, decodeMpOutput(r.stdout), Date.now() - started, code === null ? execFailure(bin, args, r) : undefined);
  } catch (e) {
    return defenderOutcome(null, "", Date.now() - started, (e as Error).message); // not started
  }
}
