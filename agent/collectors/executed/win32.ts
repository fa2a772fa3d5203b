/**
 * Windows reading for the executed collector:
 *  - the index: %SystemRoot% and the Program Files trees, plus the InstallLocation of every entry
 *    of the Uninstall keys the software collector reads (HKLM 64/32-bit, each loaded user hive),
 *    read through the registry API (agent/os/win32/registry.ts via the software reader's
 *    ffiRegistry: no process started, UTF-16); `cmd /c reg query … /s` only when koffi cannot load;
 *  - the index kept current by RegNotifyChangeKeyValue on those keys (watchIndex: an install or
 *    removal rebuilds it in the background), and at most every 5 minutes when a program outside
 *    it starts (indexToken);
 *  - process starts from the Toolhelp32 diff of agent/os/win32 (PowerShell's Win32_Process only
 *    when koffi cannot load);
 *  - the Authenticode signer through WinVerifyTrust (agent/os/win32/wintrust.ts), cached by path,
 *    size and time; PowerShell's `Get-AuthenticodeSignature` only when koffi cannot load.
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
import { normalizeInstallLocation, parseAuthenticodeJson, parseUninstallLocations, signatureOf, signerFromWinVerifyTrust, windowsSystemTrees } from "./parse-win32.js";
import { ffiRegistry, isUserHive, uninstallKeys, type RegistryApi } from "../software/win32.js";
import { verifyFileSignature, wintrust } from "../../os/win32/wintrust.js";
import type { ExecutedPlatform, MediumLink, ProcessStart, ProcessStartSource, StartedProcess } from "./platform.js";

const UNINSTALL = "Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall";
const UNINSTALL_32 = "Software\\WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall";
const LOCATION = ["InstallLocation"] as const;

type Signature = { signer: string | null; status: string; detail?: Record<string, unknown> };

/** PowerShell for one file's signature; the path is passed as an argument, never spliced into the script. */
export const AUTHENTICODE_COMMAND =
  "[Console]::OutputEncoding=[Text.Encoding]::UTF8; Get-AuthenticodeSignature -LiteralPath $args[0] | " +
  "Select-Object Path,Status,@{n='Subject';e={$_.SignerCertificate.Subject}},@{n='Issuer';e={$_.SignerCertificate.Issuer}},@{n='Thumbprint';e={$_.SignerCertificate.Thumbprint}} | ConvertTo-Json -Compress";

export class Win32ExecutedPlatform implements ExecutedPlatform {
  readonly os = "win32" as const;
  private poll?: ProcessListPoll;
  private readonly media: Win32MediaReader;
  private readonly signers = new Map<string, Signature>();
  /** the registry API (null: koffi cannot load, reg.exe is read instead) */
  private api: RegistryApi | null | undefined;
  /** WinVerifyTrust through koffi (false: PowerShell instead) */
  private ffiTrust: boolean | undefined;
  /** bumped by the registry watch: an Uninstall key changed */
  private generation = 0;

  constructor(private readonly opts: {
    log?: Logger;
    pollMs?: number;
    env?: Record<string, string | undefined>;
    /** the registry API (tests: a fake; null forces the reg.exe fallback) */
    registry?: RegistryApi | null;
    /** one file's WinVerifyTrust (tests: captured results; null forces the PowerShell fallback) */
    verify?: ((path: string) => Promise<{ code: number; subject?: string; issuer?: string; thumbprint?: string }>) | null;
  } = {}) {
    this.media = new Win32MediaReader(opts.log);
    this.api = opts.registry;
  }

  private registry(): RegistryApi | null {
    if (this.api === undefined) {
      try {
        this.api = ffiRegistry();
      } catch (err) {
        this.opts.log?.warn({ err }, "executed: the registry API cannot load; the package index is read with reg.exe");
        this.api = null;
      }
    }
    return this.api;
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
    const api = this.registry();
    const locations = api ? this.locationsApi(api) : await this.locationsRegExe();
    for (const loc of locations) index.addTree(loc, "uninstall");
    return index;
  }

  /** Every Uninstall entry's InstallLocation through the registry API (a key that cannot be read is skipped, with a warning). */
  private locationsApi(api: RegistryApi): string[] {
    const out = new Set<string>();
    let hives: string[] = [];
    try {
      hives = api.loadedHives().filter(isUserHive);
    } catch (err) {
      this.opts.log?.warn({ err }, "executed: listing user hives failed; machine-wide install locations only");
    }
    for (const key of uninstallKeys(hives)) {
      let entries;
      try {
        entries = api.readUninstall(key, LOCATION);
      } catch (err) {
        this.opts.log?.warn({ err, key: key.sub }, "executed: an Uninstall key could not be read; its install locations are not in the index");
        continue;
      }
      for (const values of entries?.values() ?? []) {
        const loc = normalizeInstallLocation(values.InstallLocation);
        if (loc) out.add(loc);
      }
    }
    return [...out];
  }

  /** Fallback without koffi: `reg query … /s` console text (ASCII paths are safe in it; see WINE.md on code pages). */
  private async locationsRegExe(): Promise<string[]> {
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
    return outs.flatMap(parseUninstallLocations);
  }

  async indexToken(): Promise<string> {
    return `${this.generation}:${Math.floor(Date.now() / 300_000)}`;
  }

  /** RegNotifyChangeKeyValue on the Uninstall keys (and HKU: a user logging on brings a hive): each change rebuilds the index. */
  watchIndex(onChange: () => void): () => void {
    const api = this.registry();
    if (!api) return () => undefined;
    const stops: Array<() => void> = [];
    const changed = (): void => {
      this.generation++;
      onChange();
    };
    let hives: string[] = [];
    try { hives = api.loadedHives().filter(isUserHive); } catch { /* machine keys only */ }
    for (const key of [{ root: "HKU" as const, sub: "", subtree: false }, ...uninstallKeys(hives).map((k) => ({ ...k, subtree: true }))]) {
      try {
        stops.push(api.watch(key, key.subtree, changed));
      } catch (err) {
        this.opts.log?.warn({ err, key: key.sub }, "executed: an Uninstall key cannot be watched; the index is refreshed every 5 minutes instead");
      }
    }
    return () => { for (const stop of stops) stop(); };
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

  async signer(path: string): Promise<Signature> {
    let key = path.toLowerCase();
    try { const s = await stat(path); key += `:${s.size}:${s.mtimeMs}`; } catch { /* unreadable: asked anyway */ }
    const hit = this.signers.get(key);
    if (hit) return hit;
    const verify = this.verifier();
    let sig: Signature;
    if (verify) {
      const r = await verify(path);
      // the HRESULT is kept: a status this code does not name is still told apart
      sig = signatureOf(signerFromWinVerifyTrust(r.code, r), { code: `0x${(r.code >>> 0).toString(16).padStart(8, "0")}` });
    } else {
      const [row] = parseAuthenticodeJson(await execText("powershell.exe", ["-NoProfile", "-NonInteractive", "-Command", AUTHENTICODE_COMMAND, path], { timeoutMs: 60_000 }));
      sig = signatureOf(row);
    }
    this.signers.set(key, sig);
    return sig;
  }

  /** WinVerifyTrust through koffi, or null when it cannot load (PowerShell then). */
  private verifier(): ((path: string) => Promise<{ code: number; subject?: string; issuer?: string; thumbprint?: string }>) | null {
    if (this.opts.verify !== undefined) return this.opts.verify;
    if (this.ffiTrust === undefined) {
      try {
        wintrust();
        this.ffiTrust = true;
      } catch (err) {
        this.opts.log?.warn({ err }, "executed: WinVerifyTrust cannot load; signatures are read with PowerShell");
        this.ffiTrust = false;
      }
    }
    return this.ffiTrust ? verifyFileSignature : null;
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
