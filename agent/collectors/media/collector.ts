/**
 * The media collector: removable media inserted / removed (with identity and encryption), a
 * virus scan on insertion (別記2 第11), read-only until the scan is clean (policy
 * readOnlyUntilScanned), and files written onto the medium (持ち出し, 別記2 第2) in batches.
 *
 * Linux is event-driven: kernel uevents (netlink) for block devices and poll(2) on
 * /proc/self/mountinfo for mounts kick a cycle at once (and `udevadm monitor` where udev runs);
 * a cheap poll of /proc/self/mountinfo + /proc/partitions is the safety net, every 15 s while
 * both sources run, else every policy.media.pollSeconds. A medium that appears unmounted is announced once it is
 * mounted or after `settleMs` (a LUKS stick is never mounted by itself). Windows: device
 * arrival/removal through CM_Register_Notification (win32.ts) the same way, and removal
 * requests on a mounted volume release the agent's handles so an eject is not refused.
 */
import type { Collector, CollectorContext } from "../../collector.js";
import type { Logger } from "../../../lib/log.js";
import type { NewEvent } from "../../../policies/schema.js";
import type { Policy } from "../../../policies/policy.js";
import { scanMedium } from "./clamav.js";
import { CopyOutWatcher } from "./copy-out.js";
import { HashPool } from "./hash.js";
import { readerForPlatform } from "./platform.js";
import type { CopiedFile, MediaReader, Medium, ReadOnlyState, RemovalEvent, ScanOutcome, VolumeEncryption } from "./types.js";
import { ledgerSerial } from "./ledger-serial.js";

export { ledgerSerial };

export interface MediaCollectorOptions {
  /** the OS reader (default: this platform's) */
  reader?: MediaReader;
  /** explicit scanner binaries and PATH (default: PATH) */
  clamscanPath?: string;
  clamdscanPath?: string;
  scannerPathEnv?: string;
  scanTimeoutMs?: number;
  /** announce an unmounted medium after this long (default max(3 s, 2 poll periods)) */
  settleMs?: number;
  /** copy-out batching and stability (defaults: 1000 files, 300 ms quiet, 300 ms stable, 15 s reconcile) */
  copyOut?: { maxBatch?: number; quietMs?: number; stableMs?: number; reconcileMs?: number; maxBatchAgeMs?: number };
  /** the poll period while device and mount events are both watched (default 15 s: the safety net) */
  safetyPollMs?: number;
  /** full list() every this many polls even when the change token is unchanged (default 15) */
  fullListEvery?: number;
}

/** Persisted per medium, so a restart reports only what changed while the agent was down. */
interface PersistedMedium {
  medium: Medium;
  scanned: boolean;
}
const STATE_KEY = "media";

interface Tracked {
  medium: Medium;
  firstSeen: number;
  announced: boolean;
  scanned: boolean;
  scanning: AbortController | null;
  /** we made the mount read-only and must make it writable again after a clean scan */
  madeReadOnly: boolean;
  readOnly: ReadOnlyState;
  /** why read-only could not be set or released (reported in media.scanned), and the OS error */
  readOnlyError: { detail: string; code?: number } | null;
  copyOut: CopyOutWatcher | null;
  copyOutMount: string | null;
  /** the removal-request registration on the mounted volume (Windows), and whether it asked to eject */
  removal: (() => void) | null;
  released: boolean;
  /** the encryption read at insertion (reader.encryptionOf), kept over later listings */
  enc: VolumeEncryption | null;
  batch: number;
}

function identity(m: Medium): Record<string, unknown> {
  return { device: m.device, vendorId: m.vendorId, productId: m.productId, ...ledgerSerial(m), label: m.label };
}

export class MediaCollector implements Collector {
  readonly name = "media";
  private ctx: CollectorContext | null = null;
  private log: Logger | null = null;
  private reader: MediaReader | null = null;
  private readonly tracked = new Map<string, Tracked>();
  private timer: NodeJS.Timeout | null = null;
  private stopWatch: (() => void) | null = null;
  private running: Promise<void> | null = null;
  private rerun = false;
  private stopped = true;
  private lastToken: string | null = null;
  private pollsSinceList = 0;
  private failures = 0;
  private emitting: Promise<void> = Promise.resolve();
  private readonly hashPool = new HashPool(2);
  private readonly background = new Set<Promise<void>>();

  constructor(private readonly opts: MediaCollectorOptions = {}) {}

  async start(ctx: CollectorContext): Promise<void> {
    this.ctx = ctx;
    this.log = ctx.log.child({ component: "collector:media" });
    this.reader = this.opts.reader ?? readerForPlatform(this.log);
    await this.reader.prepare?.();
    this.stopped = false;
    this.restored = false;
    this.lastToken = null;
    await this.cycle(true);
    this.stopWatch = this.reader.watch?.(() => this.kick()) ?? null;
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.stopWatch?.();
    this.stopWatch = null;
    await this.running?.catch(() => undefined);
    for (const t of this.tracked.values()) {
      t.scanning?.abort();
      await this.stopCopyOut(t);
    }
    await Promise.allSettled([...this.background]);
    await this.emitting.catch(() => undefined);
    await this.persist().catch(() => undefined);
    this.tracked.clear();
  }

  /** Media known right now (for tests and the snapshot). */
  current(): Medium[] {
    return [...this.tracked.values()].map((t) => t.medium);
  }

  /** The copy-out watch on a medium: folder watches open and whether it is released for an eject (tests). */
  copyOutOf(key: string): { watching: number; paused: boolean } | null {
    const w = this.tracked.get(key)?.copyOut;
    return w ? { watching: w.watching, paused: w.isPaused } : null;
  }

  private policy(): Policy["media"] {
    return this.ctx!.policy().media;
  }

  private schedule(): void {
    if (this.stopped) return;
    const live = this.reader?.live?.();
    const eventDriven = live?.has("uevent") && live.has("mountinfo");
    const ms = Math.max(50, this.policy().pollSeconds * 1000, eventDriven ? (this.opts.safetyPollMs ?? 15_000) : 0);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.cycle(false).finally(() => this.schedule());
    }, ms);
  }

  /** An OS notification arrived: run a full cycle now. */
  private kick(): void {
    if (this.stopped) return;
    this.lastToken = null;
    if (this.running) {
      this.rerun = true;
      return;
    }
    void this.cycle(true);
  }

  private cycle(force: boolean): Promise<void> {
    if (this.running) {
      this.rerun ||= force;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.rerun = false;
          await this.cycleOnce(force);
        } while (this.rerun && !this.stopped);
        this.failures = 0;
      } catch (e) {
        this.failures++;
        this.log?.error({ err: (e as Error).message, failures: this.failures }, "media cycle failed; will retry next poll");
        if (this.failures >= 5) this.ctx?.fail(e);
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }

  private async cycleOnce(force: boolean): Promise<void> {
    const reader = this.reader!;
    const pending = [...this.tracked.values()].some((t) => !t.announced);
    this.pollsSinceList++;
    if (!force && !pending && reader.changeToken && this.pollsSinceList < (this.opts.fullListEvery ?? 15)) {
      const token = await reader.changeToken();
      if (token === this.lastToken) return;
      this.lastToken = token;
    } else if (reader.changeToken) {
      this.lastToken = await reader.changeToken();
    }
    this.pollsSinceList = 0;
    const policy = this.policy();
    const media = await reader.list({ treatAsRemovable: policy.treatAsRemovable });
    if (this.stopped) return;
    const now = Date.now();
    const seen = new Set<string>();
    const firstCycle = this.tracked.size === 0 && !this.restored;
    if (firstCycle) this.restored = true;
    const persisted = firstCycle ? (this.ctx!.state.get<Record<string, PersistedMedium>>(STATE_KEY) ?? {}) : {};

    for (const m of media) {
      seen.add(m.key);
      let t = this.tracked.get(m.key);
      if (!t) {
        const before = persisted[m.key];
        t = {
          medium: m,
          firstSeen: now,
          announced: !!before,
          scanned: before?.scanned ?? false,
          scanning: null,
          madeReadOnly: false,
          readOnly: "off",
          readOnlyError: null,
          copyOut: null,
          copyOutMount: null,
          removal: null,
          released: false,
          enc: null,
          batch: 0,
        };
        this.tracked.set(m.key, t);
        if (before) this.log!.info({ device: m.device }, "medium still attached since before the restart; watching it again");
      } else {
        t.medium = t.enc ? { ...m, encrypted: t.enc.encrypted, encryption: t.enc.encryption } : m;
      }
      if (!t.announced && (m.mount || now - t.firstSeen >= this.settleMs())) {
        t.announced = true;
        await this.announce(t);
      }
      if (t.announced) await this.followMount(t);
    }
    // removed while the agent was down
    for (const [key, p] of Object.entries(persisted)) {
      if (!seen.has(key)) this.queue({ type: "media.removed", details: { ...identity(p.medium), mount: p.medium.mount, whileAgentDown: true } });
    }
    for (const [key, t] of [...this.tracked]) {
      if (seen.has(key)) continue;
      this.tracked.delete(key);
      t.scanning?.abort();
      await this.stopCopyOut(t);
      if (t.announced) {
        this.log!.info({ device: t.medium.device, serial: t.medium.serial }, "removable medium removed");
        this.queue({ type: "media.removed", details: { ...identity(t.medium), mount: t.medium.mount } });
      }
    }
    await this.persist();
    this.ctx!.checked({ findings: media.length }); // a full list of the media attached: a completed check (evidence)
  }

  private restored = false;

  private settleMs(): number {
    return this.opts.settleMs ?? Math.max(3000, 2000 * this.policy().pollSeconds);
  }

  private async announce(t: Tracked): Promise<void> {
    // the encryption is read once, here (Windows: BitLocker To Go), never per poll
    if (this.reader!.encryptionOf) {
      try {
        t.enc = await this.reader!.encryptionOf(t.medium);
      } catch (e) {
        this.log!.warn({ device: t.medium.device, err: (e as Error).message }, "could not read the medium's encryption");
      }
      if (t.enc) t.medium = { ...t.medium, encrypted: t.enc.encrypted, encryption: t.enc.encryption };
    }
    const m = t.medium;
    this.log!.info({ device: m.device, vendorId: m.vendorId, productId: m.productId, ...ledgerSerial(m), mount: m.mount }, "removable medium inserted");
    this.queue({
      type: "media.inserted",
      details: {
        device: m.device,
        disk: m.disk,
        vendorId: m.vendorId,
        productId: m.productId,
        ...ledgerSerial(m),
        vendor: m.vendor,
        model: m.model,
        label: m.label,
        fsType: m.fsType,
        uuid: m.uuid,
        size: m.size,
        mount: m.mount,
        bus: m.bus,
        encrypted: m.encrypted,
        encryption: m.encryption,
        ...(t.enc ? { bitlocker: t.enc.bitlocker } : {}),
      },
    });
    // 第12 第10項(2): a medium with no encryption (null = could not tell: not reported as plain)
    if (m.encrypted === false) {
      this.queue({ type: "media.unencrypted", details: { ...identity(m), fsType: m.fsType, size: m.size, mount: m.mount } });
    }
  }

  /** Start / restart / stop the copy-out watcher and the scan as the mount comes and goes. */
  private async followMount(t: Tracked): Promise<void> {
    const mount = t.medium.mount;
    if (t.copyOutMount === mount) return;
    await this.stopCopyOut(t);
    if (!mount) return;
    const policy = this.policy();
    const scanWanted = policy.scan.enabled && !t.scanned && !t.scanning;
    // read-only first, so nothing can be written between insertion and a clean scan
    if (scanWanted && policy.readOnlyUntilScanned) {
      if (t.medium.mountReadOnly) t.readOnly = "already";
      else if (!this.reader!.setReadOnly) t.readOnly = "not-supported";
      else {
        const r = await this.reader!.setReadOnly(t.medium, true);
        if (r.ok) {
          t.madeReadOnly = true;
          t.readOnly = "enforced";
          this.log!.info({ device: t.medium.device, mount, method: r.method }, "medium made read-only until its virus scan is clean");
        } else if (r.reason === "already") {
          t.readOnly = "already";
          this.log!.info({ device: t.medium.device, mount, detail: r.detail }, "medium already read-only; the agent will not make it writable");
        } else {
          t.readOnly = r.reason;
          t.readOnlyError = { detail: r.detail, ...(r.code !== undefined ? { code: r.code } : {}) };
          this.log!.warn({ device: t.medium.device, mount, detail: r.detail, code: r.code }, "could not make the medium read-only before the scan; scanning it writable");
        }
      }
    }
    t.copyOutMount = mount;
    const watcher = new CopyOutWatcher({
      mount,
      log: this.log!,
      hashPool: this.hashPool,
      ...this.opts.copyOut,
      onBatch: (files) => this.reportCopyOut(t, mount, files),
      onError: (e) => this.log!.error({ mount, err: (e as Error).message }, "copy-out reporting failed"),
    });
    t.copyOut = watcher;
    try {
      await watcher.start();
    } catch (e) {
      this.log!.error({ mount, err: (e as Error).message }, "could not watch the medium for copy-out; will retry next cycle");
      t.copyOut = null;
      t.copyOutMount = null;
    }
    t.released = false;
    t.removal = this.reader!.watchRemoval?.(t.medium, (e) => this.onRemovalRequest(t, mount, e)) ?? null;
    if (scanWanted) this.startScan(t, mount);
  }

  /**
   * Windows asks before it ejects a medium: every handle the agent holds on it (the folder
   * watch, files being hashed, the scan) is released before this returns, or the eject is
   * refused ("device in use"). If the eject fails, watching (and a scan not finished) resumes.
   */
  private onRemovalRequest(t: Tracked, mount: string, e: RemovalEvent): void {
    if (this.stopped || t.copyOutMount !== mount) return;
    if (e === "query-remove") {
      t.released = true;
      t.copyOut?.pause();
      if (t.scanning) {
        t.scanning.abort();
        t.scanning = null;
      }
      this.log!.info({ device: t.medium.device, mount }, "eject requested: handles on the medium released");
    } else if (e === "query-remove-failed") {
      if (!t.released) return;
      t.released = false;
      this.log!.info({ device: t.medium.device, mount }, "eject did not happen: watching the medium again");
      void t.copyOut?.resume().catch((err: unknown) => this.log!.error({ mount, err: (err as Error).message }, "could not resume watching the medium"));
      const policy = this.policy();
      if (policy.scan.enabled && !t.scanned && !t.scanning) this.startScan(t, mount);
    } else {
      this.kick();
    }
  }

  private async stopCopyOut(t: Tracked): Promise<void> {
    const w = t.copyOut;
    t.copyOut = null;
    t.copyOutMount = null;
    t.removal?.();
    t.removal = null;
    if (w) await w.stop();
  }

  private reportCopyOut(t: Tracked, mount: string, files: CopiedFile[]): Promise<void> {
    t.batch++;
    const m = t.medium;
    this.log!.info({ device: m.device, mount, count: files.length, batch: t.batch }, "files written to removable medium (持ち出し)");
    return this.queue({
      type: "media.copy_out",
      details: {
        device: m.device,
        vendorId: m.vendorId,
        productId: m.productId,
        ...ledgerSerial(m),
        label: m.label,
        mount,
        files,
        count: files.length,
        totalBytes: files.reduce((s, f) => s + f.size, 0),
        batch: t.batch,
      },
    });
  }

  private startScan(t: Tracked, mount: string): void {
    const ac = new AbortController();
    t.scanning = ac;
    const policy = this.policy();
    const job = (async () => {
      this.log!.info({ device: t.medium.device, mount }, "scanning inserted medium for viruses");
      let outcome: ScanOutcome;
      try {
        outcome = await scanMedium(mount, {
          scanner: policy.scan.scanner,
          databasePath: policy.scan.databasePath,
          clamscanPath: this.opts.clamscanPath,
          clamdscanPath: this.opts.clamdscanPath,
          pathEnv: this.opts.scannerPathEnv,
          timeoutMs: this.opts.scanTimeoutMs,
          signal: ac.signal,
        });
      } catch (e) {
        outcome = { result: "failed", signatures: [], infectedFiles: [], scanner: null, durationMs: 0, scannedFiles: null, error: (e as Error).message };
      }
      if (ac.signal.aborted || this.stopped || !this.tracked.has(t.medium.key)) return; // removed mid-scan
      t.scanning = null;
      t.scanned = true;
      if (t.madeReadOnly) {
        if (outcome.result === "clean") {
          // a reader that dismounts the volume (Windows): the copy-out watch's handles are released first
          const paused = this.reader!.readOnlyRemounts === true && !t.released ? t.copyOut : null;
          paused?.pause();
          const r = await this.reader!.setReadOnly!(t.medium, false);
          if (paused && t.copyOut === paused && !t.released && !this.stopped) {
            await paused.resume().catch((err: unknown) => this.log!.error({ mount, err: (err as Error).message }, "could not resume watching the medium"));
          }
          t.readOnly = r.ok ? "released" : "failed";
          t.madeReadOnly = !r.ok;
          if (!r.ok) {
            t.readOnlyError = { detail: r.detail, ...(r.code !== undefined ? { code: r.code } : {}) };
            this.log!.error({ mount, detail: r.detail, code: r.code }, "scan clean but the medium could not be made writable again");
          } else {
            this.log!.info({ device: t.medium.device, mount, method: r.method }, "scan clean: the medium is writable again");
          }
        } else {
          t.readOnly = "kept";
        }
      }
      const level = outcome.result === "infected" ? "error" : outcome.result === "clean" ? "info" : "warn";
      this.log![level]({ device: t.medium.device, mount, result: outcome.result, signatures: outcome.signatures, error: outcome.error }, "medium virus scan finished");
      await this.queue({
        type: "media.scanned",
        details: {
          ...identity(t.medium),
          mount,
          result: outcome.result,
          signatures: outcome.signatures,
          infectedFiles: outcome.infectedFiles,
          scanner: outcome.scanner,
          durationMs: outcome.durationMs,
          scannedFiles: outcome.scannedFiles,
          readOnly: t.readOnly,
          ...(t.readOnlyError ? { readOnlyError: t.readOnlyError.detail, ...(t.readOnlyError.code !== undefined ? { readOnlyCode: t.readOnlyError.code } : {}) } : {}),
          ...(outcome.error ? { error: outcome.error } : {}),
        },
      });
      await this.persist();
    })().catch((e) => this.log!.error({ err: (e as Error).message }, "media scan bookkeeping failed"));
    this.background.add(job);
    void job.finally(() => this.background.delete(job));
  }

  /** Emit in order (one chain), so inserted precedes scanned and copy_out of the same medium. */
  private queue(ev: NewEvent): Promise<void> {
    const ctx = this.ctx!;
    const p = this.emitting.then(() => ctx.emit({ ...ev, observedAt: ev.observedAt ?? new Date().toISOString() }));
    this.emitting = p.catch((e) => {
      this.log?.error({ err: (e as Error).message, type: ev.type }, "could not queue a media event");
      ctx.fail(e);
    });
    return this.emitting;
  }

  private async persist(): Promise<void> {
    const out: Record<string, PersistedMedium> = {};
    for (const [k, t] of this.tracked) if (t.announced) out[k] = { medium: t.medium, scanned: t.scanned };
    await this.ctx!.state.set(STATE_KEY, out);
  }
}
