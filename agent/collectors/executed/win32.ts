/**
 * Windows reading for the executed collector: the index from the Uninstall entries' install
 * locations (`reg query … /s` of the same keys the software collector reads) plus %SystemRoot% and
 * the Program Files trees; process starts from the Toolhelp32 diff of agent/os/win32 (PowerShell's
 * Win32_Process only when koffi cannot load); the Authenticode signer from
 * `Get-AuthenticodeSignature` (cached by path, size and time) — WinVerifyTrust through koffi is
 * not used yet.
 * Registry changes cannot be stat-ed: the index is rebuilt at most every 5 minutes when a program
 * outside it starts.
 */
import { stat } from "node:fs/promises";
import type { Logger } from "../../../lib/log.js";
import { ledgerSerial } from "../media/ledger-serial.js";
import { Win32MediaReader } from "../media/win32.js";
import { ProcessListDiff, toolhelpProcesses, WIN32_PROCESS_COMMAND } from "../p2p/win32.js";
import type { ProcessInfo } from "../p2p/match.js";
import { win32 } from "../../os/win32/ffi.js";
import { processImage } from "../../os/win32/sockets.js";
import { parseWin32Processes } from "../p2p/parse-win32.js";
import { execText, mapLimit } from "../software/reader.js";
import { ProcessListPoll, runningFromList } from "./list-poll.js";
import { PathIndex } from "./package-index.js";
import { parseAuthenticodeJson, parseUninstallLocations, windowsSystemTrees } from "./parse-win32.js";
import type { ExecutedPlatform, MediumLink, ProcessStart, ProcessStartSource, StartedProcess } from "./platform.js";

const UNINSTALL = "Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall";
const UNINSTALL_32 = "Software\\WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall";

/** PowerShell for one file's signature; the path is passed as an argument, never spliced into the script. */
export const AUTHENTICODE_COMMAND =
  "[Console]::OutputEncoding=[Text.Encoding]::UTF8; Get-AuthenticodeSignature -LiteralPath $args[0] | " +
  "Select-Object Path,Status,@{n='Subject';e={$_.SignerCertificate.Subject}},@{n='Issuer';e={$_.SignerCertificate.Issuer}},@{n='Thumbprint';e={$_.SignerCertificate.Thumbprint}} | ConvertTo-Json -Compress";

export class Win32ExecutedPlatform implements ExecutedPlatform {
  readonly os = "win32" as const;
  private poll?: ProcessListPoll;
  private readonly media: Win32MediaReader;
  private readonly signers = new Map<string, { signer: string | null; status: string; detail?: Record<string, unknown> }>();

  constructor(private readonly opts: { log?: Logger; pollMs?: number; env?: Record<string, string | undefined> } = {}) {
    this.media = new Win32MediaReader(opts.log);
  }

  private reg(args: string[]): Promise<string> {
    const line = `chcp 65001 >nul & reg.exe ${args.map((a) => (a.startsWith("/") ? a : `"${a}"`)).join(" ")}`;
    return execText("cmd.exe", ["/d", "/s", "/c", `"${line}"`], { timeoutMs: 60_000, okExitCodes: [1], verbatim: true });
  }

  async buildIndex(): Promise<PathIndex> {
    const index = new PathIndex({ caseInsensitive: true, separator: "\\" });
    const { trees, excluded } = windowsSystemTrees(this.opts.env ?? process.env);
    for (const t of trees) index.addTree(t.root, t.source);
    for (const e of excluded) index.addExcluded(e);
    const keys = [`HKLM\\${UNINSTALL}`, `HKLM\\${UNINSTALL_32}`];
    try {
      for (const line of (await this.reg(["query", "HKU"])).split(/\r?\n/)) {
        const m = /^HKEY_USERS\\(S-[\d-]+)\s*$/.exec(line.trim());
        if (m) keys.push(`HKU\\${m[1]}\\${UNINSTALL}`, `HKU\\${m[1]}\\${UNINSTALL_32}`);
      }
    } catch (err) {
      this.opts.log?.warn({ err }, "executed: listing user hives failed; machine-wide install locations only");
    }
    const outs = await mapLimit(keys, 4, (k) => this.reg(["query", k, "/s"]).catch(() => ""));
    for (const text of outs) for (const loc of parseUninstallLocations(text)) index.addTree(loc, "uninstall");
    return index;
  }

  async indexToken(): Promise<string> {
    return String(Math.floor(Date.now() / 300_000));
  }

  processStarts(): ProcessStartSource {
    // the Toolhelp32 diff of the Win32 layer (no process started; image looked up for new pids
    // only); PowerShell's Win32_Process only when koffi cannot load
    let list: () => Promise<ProcessInfo[]>;
    try {
      win32();
      const diff = new ProcessListDiff(toolhelpProcesses, processImage);
      list = async () => diff.read();
    } catch {
      list = async () => parseWin32Processes(await execText("powershell.exe", ["-NoProfile", "-NonInteractive", "-Command", WIN32_PROCESS_COMMAND], { timeoutMs: 60_000 }));
    }
    this.poll = new ProcessListPoll(list, this.opts.pollMs ?? 2000);
    return this.poll;
  }

  async running(): Promise<ProcessStart[]> {
    // a running collector's poll: its last list (polling it here would take starts from its diff)
    if (this.poll) return runningFromList(this.poll);
    return (this.processStarts() as ProcessListPoll).poll();
  }

  describe(start: ProcessStart): StartedProcess | undefined {
    return this.poll?.describe(start) ?? (start.exe ? { pid: start.pid, path: start.exe, readPath: start.exe } : undefined);
  }

  async signer(path: string): Promise<{ signer: string | null; status: string; detail?: Record<string, unknown> }> {
    let key = path.toLowerCase();
    try { const s = await stat(path); key += `:${s.size}:${s.mtimeMs}`; } catch { /* unreadable: asked anyway */ }
    const hit = this.signers.get(key);
    if (hit) return hit;
    const [row] = parseAuthenticodeJson(await execText("powershell.exe", ["-NoProfile", "-NonInteractive", "-Command", AUTHENTICODE_COMMAND, path], { timeoutMs: 60_000 }));
    const result = row
      ? { signer: row.signer, status: row.status, detail: { ...(row.subject ? { subject: row.subject } : {}), ...(row.issuer ? { issuer: row.issuer } : {}), ...(row.thumbprint ? { thumbprint: row.thumbprint } : {}) } }
      : { signer: null, status: "unknown_error" };
    this.signers.set(key, result);
    return result;
  }

  async medium(path: string): Promise<MediumLink | null> {
    const drive = /^([A-Za-z]:)/.exec(path)?.[1]?.toUpperCase();
    if (!drive) return null;
    const m = (await this.media.list()).find((x) => x.mount?.toUpperCase().startsWith(drive));
    return m ? { device: m.device, mount: m.mount, ...ledgerSerial(m), vendorId: m.vendorId, productId: m.productId, label: m.label } : null;
  }

  isAlive(pid: number): boolean {
    try { process.kill(pid, 0); return true; } catch { return false; }
  }
}
