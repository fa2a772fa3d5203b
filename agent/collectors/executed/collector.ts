/**
 * The executed collector (別記2 第10: software introduced without going through an installer).
 *
 * Every process start (platform.processStarts(): the process event source, or a poll) is checked
 * against an index of what the package databases installed and what belongs to the OS
 * (package-index.ts) — a lookup in memory, no query per process. A program outside it, and outside
 * the folders the site trusts (policy software.executed.trustedPaths: not reported, not hashed), is
 * hashed (SHA-256, cached by inode, within a bytes-per-second budget) and reported once per
 * (PC, SHA-256) as `software.executed` with its path, size, hash, user, parent process, the
 * removable medium it lives on and, on Windows/macOS, its code signer. Later runs of the same hash
 * are counted in the collector's state, not reported again. A file too large or unreadable is
 * reported once per (path, size) with the reason instead of a hash.
 *
 * A program the policy prohibits (by sha256, signer or name) is terminated when
 * software.executed.response is `terminate` — at every run, each one reported with
 * `response: terminated | terminate_failed` — and the server makes its event a violation.
 */
import { realpathSync } from "node:fs";
import type { Collector, CollectorContext } from "../../collector.js";
import type { Logger } from "../../../lib/log.js";
import type { NewEvent } from "../../../policies/schema.js";
import { fileName, inTrustedPath, prohibitedProgram } from "../../../policies/matchers/executed.js";
import { ExecutableHasher, type HashedExecutable, type UnhashedReason } from "../p2p/hash.js";
import { terminateProcess } from "../p2p/terminate.js";
import type { PathIndex } from "./package-index.js";
import type { ExecutedPlatform, ProcessStart, ProcessStartSource, StartedProcess } from "./platform.js";

export const STATE_KEY = "seen";
/** at most this many queued starts keep the source's fd open (each is one open file) */
const MAX_HELD = 256;

/** What the state keeps per reported program: how often it ran (runs after the first are counted only). */
export interface SeenProgram {
  count: number;
  firstSeen: string;
  lastSeen: string;
  path: string;
}

export interface ExecutedCollectorOptions {
  platform?: ExecutedPlatform;
  /** SIGTERM → SIGKILL grace (default 3 s) */
  terminateGraceMs?: number;
  /** at most this many programs are remembered (the least recently run are forgotten first; default 20,000) */
  maxSeen?: number;
  /** counts are written to the state at most this often (default 5 s) */
  persistEveryMs?: number;
  /** a background index rebuild waits for the package databases to be quiet this long (default 1 s) */
  indexQuietMs?: number;
  /** … but not longer than this after the first change (default 10 s) */
  indexMaxWaitMs?: number;
  /** clock (tests) */
  now?: () => number;
}

/** A token bucket in bytes: a file is read only when the budget allows (bounds the hashing CPU). */
export class ByteBudget {
  private tokens: number;
  private last: number;

  constructor(private rate: number, private readonly now: () => number = Date.now) {
    this.tokens = rate;
    this.last = now();
  }

  setRate(rate: number): void {
    this.rate = rate;
  }

  /** Wait until the budget holds min(bytes, one second's worth), then spend `bytes` (it may go below zero). */
  async take(bytes: number): Promise<void> {
    for (;;) {
      const t = this.now();
      this.tokens = Math.min(this.rate, this.tokens + ((t - this.last) / 1000) * this.rate);
      this.last = t;
      const need = Math.min(bytes, this.rate);
      if (this.tokens >= need) {
        this.tokens -= bytes;
        return;
      }
      await new Promise((r) => setTimeout(r, Math.min(1000, Math.ceil(((need - this.tokens) / this.rate) * 1000))));
    }
  }
}

/** A start that passed the cheap checks, with what was read about it at once. */
interface Admitted {
  path: string;
  proc: StartedProcess | undefined;
  /** the source's hold on the executed file (an fd), let go once looked at */
  release?: () => void;
}

export interface ExecutedStats {
  starts: number;
  packaged: number;
  trusted: number;
  examined: number;
  reported: number;
  counted: number;
  indexBuilds: number;
}

export class ExecutedCollector implements Collector {
  readonly name = "executed";
  private ctx?: CollectorContext;
  private log?: Logger;
  private platform?: ExecutedPlatform;
  private source?: ProcessStartSource;
  private index?: PathIndex;
  private indexToken = "";
  private rebuilding?: Promise<void>;
  private stopIndexWatch?: () => void;
  /** a background rebuild waiting for the package databases to go quiet (an install writes many files) */
  private rebuildTimer?: NodeJS.Timeout;
  private rebuildFirstAsk = 0;
  private hasher?: ExecutableHasher;
  private hasherMax = 0;
  private budget?: ByteBudget;
  private seen = new Map<string, SeenProgram>();
  private persistTimer?: NodeJS.Timeout;
  private stopped = true;
  /** starts waiting to be looked at, in order; one worker drains it */
  private queue: Admitted[] = [];
  private working?: Promise<void>;
  private ownExe = new Set<string>();
  /** starts in the queue holding the source's fd */
  private held = 0;
  readonly stats: ExecutedStats = { starts: 0, packaged: 0, trusted: 0, examined: 0, reported: 0, counted: 0, indexBuilds: 0 };

  constructor(private readonly opts: ExecutedCollectorOptions = {}) {}

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  async start(ctx: CollectorContext): Promise<void> {
    this.ctx = ctx;
    this.log = ctx.log;
    this.platform = this.opts.platform ?? await defaultPlatform(ctx.log);
    this.seen = new Map(Object.entries(ctx.state.get<Record<string, SeenProgram>>(STATE_KEY) ?? {}));
    // the agent's own runtime is not reported (node may well live outside any package)
    this.ownExe = new Set([process.execPath]);
    try { this.ownExe.add(realpathSync(process.execPath)); } catch { /* keep the one */ }
    this.stopped = false;
    await this.rebuildIndex();
    // rebuild in the background when the databases change, so the next program does not wait for it
    this.stopIndexWatch = this.platform.watchIndex?.(() => this.rebuildSoon());
    this.source = this.platform.processStarts();
    await this.source.start((starts) => this.enqueue(starts), (err) => ctx.fail(err));
    this.log.info({ os: this.platform.os, source: this.source.kind, indexed: this.index?.size, trees: this.index?.treeCount, known: this.seen.size }, "executed collector started");
    ctx.checked({ findings: 0 }); // the index is built and process starts are watched: a completed check (evidence)
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopIndexWatch?.();
    if (this.rebuildTimer) clearTimeout(this.rebuildTimer);
    this.rebuildTimer = undefined;
    this.stopIndexWatch = undefined;
    await this.source?.stop();
    for (const a of this.queue.splice(0)) this.letGo(a);
    await this.working?.catch(() => undefined);
    if (this.persistTimer) {
      clearTimeout(this.persistTimer);
      this.persistTimer = undefined;
      await this.persist().catch(() => undefined);
    }
  }

  /** Which process start source runs ("netlink", "poll", "process-list-poll"…); undefined before start. */
  get sourceKind(): string | undefined {
    return this.source?.kind;
  }

  /** How often each reported program has run (by sha256, or `unhashed:<path>:<size>`). */
  counts(): Record<string, SeenProgram> {
    return Object.fromEntries(this.seen);
  }

  /** Resolves when every start handed in so far has been looked at (tests, bench). */
  async drained(): Promise<void> {
    while (this.working) await this.working;
  }

  /**
   * Hand process starts in (the source's callback; tests may call it directly). The cheap checks
   * run here, at once: the index lookup for the path the source gave, and for a program outside
   * it, the process facts (user, parent, command line) are read now, while a short-lived process
   * is still there. Hashing and the rest wait their turn in the queue.
   */
  enqueue(starts: ProcessStart[]): void {
    if (this.stopped) return;
    this.stats.starts += starts.length;
    for (const s of starts) {
      let admitted: Admitted | undefined;
      try {
        admitted = this.admit(s);
      } finally {
        if (!admitted) s.release?.();
      }
      if (!admitted) continue;
      // the source's fds are few at a time: past a backlog, the program is read by its path
      if (admitted.release && this.held >= MAX_HELD) {
        admitted.release();
        admitted.release = undefined;
        if (admitted.proc?.readPath.startsWith("/proc/self/fd/")) admitted.proc.readPath = admitted.proc.path;
      }
      if (admitted.release) this.held++;
      this.queue.push(admitted);
    }
    // process starts are being looked at: the watch works (evidence; recorded at most once a day)
    this.ctx!.checked();
    if (this.queue.length === 0) return;
    this.working ??= this.drain().then(
      () => { this.working = undefined; },
      (err: unknown) => { this.working = undefined; this.ctx!.fail(err); },
    );
  }

  private admit(start: ProcessStart): Admitted | undefined {
    const platform = this.platform!;
    let path = start.exe;
    let proc: StartedProcess | undefined;
    if (path === undefined) {
      proc = platform.describe(start);
      if (!proc) return undefined;
      path = proc.path;
    }
    if (path.endsWith(" (deleted)")) path = path.slice(0, -10);
    if (this.ownExe.has(path)) return undefined;
    if (this.index!.lookup(path)) { this.stats.packaged++; return undefined; }
    if (inTrustedPath(this.ctx!.policy().software.executed.trustedPaths, path)) { this.stats.trusted++; return undefined; }
    proc ??= platform.describe(start);
    return { path, proc, ...(start.release ? { release: start.release } : {}) };
  }

  private async drain(): Promise<void> {
    while (this.queue.length && !this.stopped) {
      const next = this.queue.shift()!;
      try {
        await this.examine(next);
      } finally {
        this.letGo(next);
      }
    }
  }

  private letGo(a: Admitted): void {
    if (!a.release) return;
    a.release();
    a.release = undefined;
    this.held--;
  }

  /**
   * A background rebuild once the package databases have been quiet for `indexQuietMs` (at most
   * `indexMaxWaitMs` after the first change): an install or an upgrade of many packages writes
   * hundreds of files, and each rebuild reads every file list. Correctness does not wait on it: a
   * program outside the index is judged only after the index is rebuilt when stale (examine).
   */
  private rebuildSoon(): void {
    if (this.stopped) return;
    const now = this.now();
    if (!this.rebuildTimer) this.rebuildFirstAsk = now;
    else clearTimeout(this.rebuildTimer);
    const quiet = this.opts.indexQuietMs ?? 1000;
    const wait = Math.max(0, Math.min(quiet, this.rebuildFirstAsk + (this.opts.indexMaxWaitMs ?? 10_000) - now));
    this.rebuildTimer = setTimeout(() => {
      this.rebuildTimer = undefined;
      if (this.stopped) return;
      void this.rebuildIndex().catch((err: unknown) => this.log!.warn({ err }, "executed: rebuilding the package index failed; the old one stays"));
    }, wait);
    this.rebuildTimer.unref();
  }

  private async rebuildIndex(): Promise<void> {
    if (this.rebuilding) return this.rebuilding;
    this.rebuilding = (async () => {
      const t0 = this.now();
      const token = await this.platform!.indexToken();
      // packed: the Map of every packaged path would stay in the heap (≈ 30,000 strings)
      this.index = (await this.platform!.buildIndex()).compacted();
      this.indexToken = token;
      this.stats.indexBuilds++;
      this.log!.debug({ ms: this.now() - t0, paths: this.index.size, trees: this.index.treeCount }, "executed: package index built");
    })().finally(() => { this.rebuilding = undefined; });
    return this.rebuilding;
  }

  /**
   * Is the index older than the package databases? Asked only for a program outside the index
   * (a few stat calls: dpkg's status and info folder, rpm's database), so a package installed a
   * moment ago is never mistaken for a program from outside.
   */
  private async indexStale(): Promise<boolean> {
    return (await this.platform!.indexToken()) !== this.indexToken;
  }

  private async examine({ path, proc }: Admitted): Promise<void> {
    const platform = this.platform!;
    const policy = this.ctx!.policy().software.executed;
    // a package installed a moment ago: its program is outside the index built before it
    // (a rebuild already running may have read the databases before the package was complete:
    // the token it started with tells, and then it is built again)
    // (the index may also have been rebuilt in the background since this start was admitted)
    for (let i = 0; i < 3 && await this.indexStale(); i++) await this.rebuildIndex();
    if (this.index!.lookup(path)) { this.stats.packaged++; return; }
    if (!proc) return; // gone before we could look: nothing to hash
    this.stats.examined++;

    // identity: the bytes the process runs (Linux: /proc/<pid>/exe), else the file at its path
    if (!this.hasher || this.hasherMax !== policy.hashMaxBytes) {
      this.hasher = new ExecutableHasher([], 8192, policy.hashMaxBytes);
      this.hasherMax = policy.hashMaxBytes;
    }
    if (!this.budget) this.budget = new ByteBudget(policy.hashBytesPerSecond);
    else this.budget.setRate(policy.hashBytesPerSecond);
    const take = (n: number) => this.budget!.take(n);
    let id: HashedExecutable | UnhashedReason = await this.hasher.identifyOrReason(proc.readPath, take);
    if ("reason" in id && id.reason === "unreadable" && proc.readPath !== proc.path) {
      const direct = await this.hasher.identifyOrReason(proc.path, take);
      if (!("reason" in direct) || id.error === "ENOENT") id = direct;
    }
    const key = "reason" in id ? `unhashed:${proc.path}:${id.reason}:${id.size ?? ""}` : id.sha256;
    const details: Record<string, unknown> = {
      path: proc.path,
      name: fileName(proc.path),
      ...("reason" in id
        ? { sha256: null, ...(id.size !== undefined ? { size: id.size } : {}), hashError: id.error ? `${id.reason}: ${id.error}` : id.reason }
        : { sha256: id.sha256, size: id.size, format: id.kind }),
    };
    const signature = platform.signer ? await platform.signer(proc.path).catch((err: unknown) => ({ signer: null, status: "unknown_error", detail: { error: String(err) } })) : undefined;
    if (signature) Object.assign(details, { signer: signature.signer, signatureStatus: signature.status, ...(signature.detail ? { signature: signature.detail } : {}) });
    const prohibited = prohibitedProgram(policy.prohibited, details);
    const known = this.seen.get(key);
    const nowIso = new Date(this.now()).toISOString();
    if (known && !(prohibited && policy.response === "terminate")) {
      known.count++;
      known.lastSeen = nowIso;
      this.seen.delete(key);
      this.seen.set(key, known); // most recently run last
      this.stats.counted++;
      this.schedulePersist();
      return;
    }

    Object.assign(details, {
      pid: proc.pid,
      ...(proc.user !== undefined ? { user: proc.user } : {}),
      ...(proc.uid !== undefined ? { uid: proc.uid } : {}),
      parent: { pid: proc.ppid ?? null, exe: proc.parentExe ?? null },
      ...(proc.cmdline?.length ? { cmdline: proc.cmdline.join(" ").slice(0, 2000) } : {}),
      ...(proc.deleted ? { deleted: true } : {}),
    });
    try {
      details.medium = await platform.medium(proc.path, this.ctx!.policy().media.treatAsRemovable);
    } catch (err) {
      details.medium = null;
      this.log!.debug({ err, path: proc.path }, "executed: could not tell the medium; reported without it");
    }
    if (prohibited) {
      details.prohibited = { by: prohibited.by, ...(prohibited.rule.reason ? { reason: prohibited.rule.reason } : {}) };
      if (policy.response === "terminate") {
        const result = await terminateProcess(proc.pid, proc.startTime, (pid, st) => platform.isAlive(pid, st), this.opts.terminateGraceMs ?? 3000);
        Object.assign(details, result);
        this.log!.warn({ pid: proc.pid, path: proc.path, ...result }, "prohibited program terminated per policy");
      } else {
        this.log!.warn({ pid: proc.pid, path: proc.path }, "prohibited program running");
      }
    }
    if (known) {
      known.count++;
      known.lastSeen = nowIso;
      details.runs = known.count;
    } else {
      this.seen.set(key, { count: 1, firstSeen: nowIso, lastSeen: nowIso, path: proc.path });
      const max = this.opts.maxSeen ?? 20_000;
      while (this.seen.size > max) this.seen.delete(this.seen.keys().next().value!);
    }
    const event: NewEvent = { type: "software.executed", details };
    await this.ctx!.emit(event);
    this.stats.reported++;
    this.log!.info({ path: proc.path, sha256: details.sha256, pid: proc.pid }, "program from outside any package ran");
    await this.persist();
  }

  private schedulePersist(): void {
    if (this.persistTimer || this.stopped) return;
    this.persistTimer = setTimeout(() => {
      this.persistTimer = undefined;
      this.persist().catch((err: unknown) => this.log!.warn({ err }, "executed: saving the run counts failed; kept in memory"));
    }, this.opts.persistEveryMs ?? 5000);
    this.persistTimer.unref?.();
  }

  private async persist(): Promise<void> {
    await this.ctx!.state.set(STATE_KEY, Object.fromEntries(this.seen));
  }
}

async function defaultPlatform(log: Logger): Promise<ExecutedPlatform> {
  switch (process.platform) {
    case "win32": return new (await import("./win32.js")).Win32ExecutedPlatform({ log });
    case "darwin": return new (await import("./darwin.js")).DarwinExecutedPlatform({ log });
    default: return new (await import("./linux.js")).LinuxExecutedPlatform({ log });
  }
}
