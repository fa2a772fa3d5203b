/**
 * The software collector (別記2 第10 ソフトウェアの無許可導入、更新又は削除の禁止).
 *
 * - Reads the inventory through the OS reader (linux.ts / win32.ts / darwin.ts).
 * - First run (no state): one `software.inventory` event (count and bounded list), not one
 *   installed event per package. Afterwards: `software.installed` / `updated` (previousVersion) /
 *   `removed` for every difference from the last known inventory in ctx.state — so changes made
 *   while the agent was stopped are reported once at the next start. State is written after the
 *   events are queued, so nothing is reported twice.
 * - Event-driven: the package database folders are watched (chokidar's events and the folders'
 *   raw fs.watch notifications, filtered by file name, debounced); a reconciling rescan runs every
 *   policy.software.rescanSeconds.
 * - Partial results over failure: a source that fails (rpm erroring) is logged by name and its
 *   last known rows are kept; the others are reported.
 * - dpkg packages caught half-way (half-installed, unpacked, half-configured) usually mean dpkg is
 *   still running: the collector re-reads a few times before it commits them (with `state`).
 */
import { stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { watch, type FSWatcher } from "chokidar";
import type { Collector, CollectorContext } from "../../collector.js";
import { changeToEvent, currentInventory, diffInventory, inventoryEvent, type StoredInventory } from "./diff.js";

export { currentInventory } from "./diff.js";
import type { InventoryRead, InventoryReader, WatchTarget } from "./reader.js";
import { defaultSoftwareReader } from "./platform.js";
import type { SoftwareItem } from "./types.js";

export const STATE_KEY = "inventory";

export interface SoftwareCollectorOptions {
  reader?: InventoryReader;
  /** quiet period after a database change before re-reading (ms) */
  debounceMs?: number;
  /** wait before re-reading when dpkg is caught mid-operation (ms) */
  settleMs?: number;
  /** how many times to wait for half-installed packages to settle before reporting them */
  settleTries?: number;
}

/** The persisted state: rows by id, and sources whose baseline is still owed (failed at first run). */
interface State extends StoredInventory {
  pendingBaseline?: string[];
}

function sameItems(a: Record<string, SoftwareItem>, b: Record<string, SoftwareItem>): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => b[k] !== undefined && JSON.stringify(a[k]) === JSON.stringify(b[k]));
}

export class SoftwareCollector implements Collector {
  readonly name = "software";
  private readonly reader: InventoryReader;
  private readonly debounceMs: number;
  private readonly settleMs: number;
  private readonly maxSettleTries: number;
  private ctx?: CollectorContext;
  private watcher?: FSWatcher;
  private debounceTimer?: NodeJS.Timeout;
  private rescanTimer?: NodeJS.Timeout;
  private offPolicy?: () => void;
  private unsubscribe?: () => void;
  private running?: Promise<void>;
  private again = false;
  private stopped = true;
  private settleTries = 0;

  constructor(opts: SoftwareCollectorOptions = {}) {
    this.reader = opts.reader ?? defaultSoftwareReader();
    this.debounceMs = opts.debounceMs ?? 200;
    this.settleMs = opts.settleMs ?? 1000;
    this.maxSettleTries = opts.settleTries ?? 5;
  }

  async start(ctx: CollectorContext): Promise<void> {
    this.ctx = ctx;
    this.stopped = false;
    this.settleTries = 0;
    // sources with their own change notifications (the Windows registry): armed before the first
    // read, so a change made during it is read again right after
    this.unsubscribe = this.reader.subscribe?.(
      () => this.trigger(),
      (err) => ctx.log.warn({ err }, "software: change notification failed; the periodic rescan still runs"),
    );
    // the first reconcile reports what changed while the agent was stopped (or the baseline)
    this.running = this.reconcile("start", true);
    try {
      await this.running;
    } finally {
      this.running = undefined;
    }
    await this.startWatching(ctx);
    // a notification that arrived during the first read
    if (this.again) {
      this.again = false;
      this.kick("change");
    }
    this.scheduleRescan();
    this.offPolicy = ctx.onPolicy(() => this.scheduleRescan());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.debounceTimer);
    clearTimeout(this.rescanTimer);
    this.offPolicy?.();
    this.offPolicy = undefined;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    const w = this.watcher;
    this.watcher = undefined;
    await w?.close();
    await this.running?.catch(() => undefined);
  }

  /** Re-read soon (debounced): several database writes in a row cause one read. */
  trigger(delayMs = this.debounceMs): void {
    if (this.stopped) return;
    clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => this.kick("change"), delayMs);
    this.debounceTimer.unref?.();
  }

  private kick(reason: string): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.reconcile(reason, false)
      .catch((err: unknown) => this.ctx?.fail(err))
      .finally(() => {
        this.running = undefined;
        if (this.again && !this.stopped) {
          this.again = false;
          this.kick(reason);
        }
      });
  }

  private scheduleRescan(): void {
    if (this.stopped || !this.ctx) return;
    clearTimeout(this.rescanTimer);
    const seconds = this.ctx.policy().software.rescanSeconds;
    this.rescanTimer = setTimeout(() => {
      this.kick("rescan");
      this.scheduleRescan();
    }, seconds * 1000);
    this.rescanTimer.unref?.();
  }

  private async startWatching(ctx: CollectorContext): Promise<void> {
    const targets: WatchTarget[] = [];
    for (const t of this.reader.watchTargets()) {
      try {
        if ((await stat(t.dir)).isDirectory()) targets.push(t);
      } catch {
        // not on this system
      }
    }
    if (targets.length === 0) return;
    const byDir = new Map(targets.map((t) => [t.dir, t]));
    const relevant = (p: string): boolean => {
      const t = byDir.get(dirname(p));
      return !t?.match || t.match(basename(p));
    };
    const watcher = watch(targets.map((t) => t.dir), {
      ignoreInitial: true,
      depth: 0,
      // unrelated churn in the database folders (dpkg's info/, lock files) is never even stat'ed
      ignored: (p: string) => !byDir.has(p) && !relevant(p),
    });
    this.watcher = watcher;
    watcher.on("all", (_event, p) => {
      if (relevant(p)) this.trigger();
    });
    // chokidar's own change events miss replacements of a file by rename: its per-file watch
    // follows the inode, and dpkg keeps the old one as status-old (link) before renaming
    // status-new over status — installs went unseen until the periodic rescan
    // (test/collectors/software/watch.test.ts, bench/software-latency.ts). The raw fs.watch
    // notifications of the watched folder name every entry renamed or written in it: they
    // trigger a re-read too (debounced, so one dpkg run is one read).
    watcher.on("raw", (_event, name, details) => {
      const watched = (details as { watchedPath?: unknown } | undefined)?.watchedPath;
      if (typeof watched !== "string") return;
      const p = byDir.has(watched) ? (name ? join(watched, name) : undefined) : watched;
      if (p !== undefined && relevant(p)) this.trigger();
    });
    watcher.on("error", (err) => ctx.log.warn({ err }, "software: package database watcher error; the periodic rescan still runs"));
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 10_000);
      watcher.once("ready", () => {
        clearTimeout(t);
        resolve();
      });
    });
    ctx.log.debug({ dirs: targets.map((t) => t.dir) }, "software: watching package databases");
  }

  private async reconcile(reason: string, initial: boolean): Promise<void> {
    const ctx = this.ctx!;
    const read = await this.reader.read({ changedOnly: reason === "change" });
    if (this.stopped && !initial) return;
    for (const f of read.failed) ctx.log.warn({ source: f.source, err: f.message }, `software: could not read ${f.source}; its last known packages are kept and the other sources are reported`);
    if (read.errors.length) {
      ctx.log.warn({ count: read.errors.length, first: read.errors.slice(0, 5) }, "software: skipped unreadable entries (the rest was read)");
    }
    const transient = read.items.filter((i) => i.state);
    if (transient.length && !initial && this.settleTries < this.maxSettleTries) {
      this.settleTries++;
      ctx.log.debug({ packages: transient.map((i) => `${i.name} ${i.state}`) }, "software: packages mid-operation; re-reading shortly");
      this.trigger(this.settleMs);
      return;
    }
    this.settleTries = 0;

    const last = ctx.state.get<State>(STATE_KEY);
    const now = currentInventory(read, last?.items);
    const failed = read.failed.map((f) => f.source);
    if (!last) {
      if (read.read.length === 0 && failed.length > 0) {
        throw new Error(`software: no source could be read (${read.failed.map((f) => `${f.source}: ${f.message}`).join("; ")})`);
      }
      await ctx.emit(inventoryEvent(Object.values(now), failed));
      await ctx.state.set<State>(STATE_KEY, { v: 1, items: now, pendingBaseline: failed.length ? failed : undefined });
      ctx.log.info({ count: Object.keys(now).length, failed }, "software: baseline inventory recorded");
      if (reason !== "change" && failed.length === 0) ctx.checked({ findings: 1 });
      return;
    }

    // a source that failed when the baseline was taken gets its own baseline, not N installs
    const owed = new Set(last.pendingBaseline ?? []);
    const baselineNow = [...owed].filter((s) => read.read.includes(s));
    const before: Record<string, SoftwareItem> = { ...last.items };
    const events = [];
    if (baselineNow.length) {
      const rows = Object.values(now).filter((i) => baselineNow.includes(i.source));
      for (const r of rows) before[r.id] = r;
      events.push(inventoryEvent(rows, []));
    }
    const changes = diffInventory(before, now);
    events.push(...changes.map((c) => changeToEvent(c)));
    const pending = [...owed].filter((s) => !baselineNow.includes(s));
    const next: State = { v: 1, items: now, pendingBaseline: pending.length ? pending : undefined };
    if (events.length) {
      await ctx.emit(...events);
      await ctx.state.set<State>(STATE_KEY, next);
      ctx.log.info({ reason, installed: changes.filter((c) => c.kind === "installed").length, updated: changes.filter((c) => c.kind === "updated").length, removed: changes.filter((c) => c.kind === "removed").length }, "software: changes reported");
    } else if (!sameItems(last.items, now) || (last.pendingBaseline?.length ?? 0) !== pending.length) {
      await ctx.state.set<State>(STATE_KEY, next);
    }
    // a full read of every source is a completed check (evidence); a partial one is not
    if (reason !== "change" && failed.length === 0) ctx.checked({ findings: events.length });
  }
}
