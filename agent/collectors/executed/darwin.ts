/**
 * macOS reading for the executed collector: the index from pkgutil receipts (`pkgutil --pkgs`,
 * then `--pkg-info` and `--files` per receipt; bundles they install count as a whole), App Store
 * bundles (Contents/_MASReceipt), and the SIP-sealed system trees; process starts from a `ps`
 * poll; the signer from `codesign -dv --verbose=2` (cached by path, size and time).
 */
import { readdir, stat } from "node:fs/promises";
import type { Logger } from "../../../lib/log.js";
import { DarwinMediaReader } from "../media/darwin.js";
import { ledgerSerial } from "../media/ledger-serial.js";
import { parseDarwinPs } from "../p2p/parse-darwin.js";
import { execText, mapLimit } from "../software/reader.js";
import { ProcessListPoll, runningFromList } from "./list-poll.js";
import { PathIndex } from "./package-index.js";
import { bundlesIn, DARWIN_SYSTEM_TREES, parseCodesign, parsePkgutilFiles, receiptPrefix } from "./parse-darwin.js";
import type { ExecutedPlatform, MediumLink, ProcessStart, ProcessStartSource, StartedProcess } from "./platform.js";

const out = (cmd: string, args: string[]) => execText(cmd, args, { timeoutMs: 120_000 });

export class DarwinExecutedPlatform implements ExecutedPlatform {
  readonly os = "darwin" as const;
  private poll?: ProcessListPoll;
  private readonly media: DarwinMediaReader;
  private readonly signatures = new Map<string, { signer: string | null; status: string; detail?: Record<string, unknown> }>();

  constructor(private readonly opts: { log?: Logger; pollMs?: number } = {}) {
    this.media = new DarwinMediaReader(opts.log);
  }

  async buildIndex(): Promise<PathIndex> {
    const index = new PathIndex({ caseInsensitive: true });
    for (const t of DARWIN_SYSTEM_TREES) index.addTree(t.root, t.source);
    const ids = (await out("pkgutil", ["--pkgs"]).catch(() => "")).split("\n").map((l) => l.trim()).filter((l) => /^[\w.-]+$/.test(l));
    await mapLimit(ids, 4, async (id) => {
      try {
        const prefix = receiptPrefix(await out("pkgutil", ["--pkg-info", id]));
        if (!prefix) return;
        const paths = parsePkgutilFiles(await out("pkgutil", ["--files", id]), prefix);
        index.addPaths(paths, `pkgutil:${id}`);
        for (const b of bundlesIn(paths)) index.addTree(b, `pkgutil:${id}`);
      } catch (err) {
        this.opts.log?.debug({ err, id }, "executed: a pkgutil receipt could not be read; skipped");
      }
    });
    // App Store applications carry their receipt inside the bundle
    for (const dir of ["/Applications"]) {
      const apps = await readdir(dir).catch(() => [] as string[]);
      for (const a of apps.filter((x) => x.endsWith(".app"))) {
        if (await stat(`${dir}/${a}/Contents/_MASReceipt/receipt`).then(() => true, () => false)) index.addTree(`${dir}/${a}`, "app-store");
      }
    }
    return index;
  }

  async indexToken(): Promise<string> {
    try { const s = await stat("/var/db/receipts"); return `${s.mtimeMs}`; } catch { return "-"; }
  }

  processStarts(): ProcessStartSource {
    this.poll = new ProcessListPoll(async () => {
      const [list, args] = await Promise.all([out("ps", ["-axo", "pid=,ppid=,uid=,comm="]), out("ps", ["-axww", "-o", "pid,comm,args"])]);
      return parseDarwinPs(list, args);
    }, this.opts.pollMs ?? 2000);
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
    let key = path;
    try { const s = await stat(path); key += `:${s.size}:${s.mtimeMs}`; } catch { /* asked anyway */ }
    const hit = this.signatures.get(key);
    if (hit) return hit;
    // codesign prints its report on stderr and exits 1 for an unsigned file: both are answers
    const text = await execText("sh", ["-c", 'codesign -dv --verbose=2 "$1" 2>&1; true', "sh", path], { timeoutMs: 30_000 });
    const sig = parseCodesign(text);
    const result = {
      signer: sig.signer,
      status: !sig.signed ? "not_signed" : sig.adhoc ? "adhoc" : "signed",
      detail: { ...(sig.identifier ? { identifier: sig.identifier } : {}), ...(sig.teamId ? { teamId: sig.teamId } : {}), authorities: sig.authorities, platform: sig.platform },
    };
    this.signatures.set(key, result);
    return result;
  }

  async medium(path: string): Promise<MediumLink | null> {
    if (!path.startsWith("/Volumes/")) return null;
    const m = (await this.media.list()).find((x) => x.mount && (path === x.mount || path.startsWith(`${x.mount}/`)));
    return m ? { device: m.device, mount: m.mount, ...ledgerSerial(m), vendorId: m.vendorId, productId: m.productId, label: m.label } : null;
  }

  isAlive(pid: number): boolean {
    try { process.kill(pid, 0); return true; } catch { return false; }
  }
}
