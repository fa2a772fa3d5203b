/**
 * Group commit: events from every connection are queued and written in ONE transaction per tick
 * (setImmediate), or at once when `maxQueued` events are waiting. Each submitter's callback runs
 * only AFTER the commit, so an ack always means "durably stored". Duplicates ((agentId, seq)
 * already stored) are ignored by the store and still count as stored.
 */
import type { Logger } from "../lib/log.js";
import type { EventRow } from "./store.js";

export type BatchWriter = (rows: EventRow[]) => Array<number | null> | Promise<Array<number | null>>;

/** Called after a commit; null for a rejected batch. */
export type BatchDone = (err: Error | null) => void;

export interface CommitInfo {
  rows: EventRow[];
  /** per row: its new id, or null for a duplicate */
  ids: Array<number | null>;
  inserted: number;
  seconds: number;
}

export interface IngestOptions {
  log: Logger;
  /** flush at once when this many events are queued (default 10,000) */
  maxQueued?: number;
  /** after each commit, before the callbacks: stream broadcast, metrics */
  onCommit?: (info: CommitInfo) => void;
}

interface Pending {
  rows: EventRow[];
  done: BatchDone | undefined;
}

export class Ingest {
  private pending: Pending[] = [];
  private queued = 0;
  private immediate: NodeJS.Immediate | undefined;
  private writing: Promise<void> | undefined;
  private readonly maxQueued: number;
  private closed = false;

  constructor(private readonly writer: BatchWriter, private readonly opts: IngestOptions) {
    this.maxQueued = opts.maxQueued ?? 10_000;
  }

  /** Queue rows for the next commit; `done` runs after it (or with the error if it failed). */
  submit(rows: EventRow[], done?: BatchDone): void {
    if (this.closed) {
      done?.(new Error("ingest is closed"));
      return;
    }
    if (rows.length === 0 && this.pending.length === 0 && !this.writing) {
      done?.(null);
      return;
    }
    // (an empty batch behind pending ones waits for their commit: its callback must not overtake them)
    this.pending.push({ rows, done });
    this.queued += rows.length;
    if (this.writing) return; // the running commit schedules the next one
    if (this.queued >= this.maxQueued) {
      this.cancelImmediate();
      void this.commit();
    } else {
      this.immediate ??= setImmediate(() => {
        this.immediate = undefined;
        void this.commit();
      });
    }
  }

  /** Write whatever is queued now; resolves when every queued batch has been committed. */
  async flush(): Promise<void> {
    this.cancelImmediate();
    while (this.writing || this.pending.length) {
      if (this.writing) await this.writing;
      else await this.commit();
    }
  }

  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
  }

  private cancelImmediate(): void {
    if (this.immediate) {
      clearImmediate(this.immediate);
      this.immediate = undefined;
    }
  }

  private commit(): Promise<void> {
    if (this.pending.length === 0) return Promise.resolve();
    const batches = this.pending;
    this.pending = [];
    this.queued = 0;
    const rows = batches.length === 1 ? batches[0]!.rows : batches.flatMap((b) => b.rows);
    const started = process.hrtime.bigint();
    let result: Array<number | null> | Promise<Array<number | null>>;
    try {
      result = this.writer(rows);
    } catch (err) {
      this.failed(batches, rows.length, err);
      return Promise.resolve();
    }
    if (Array.isArray(result)) {
      this.committed(batches, rows, result, started);
      this.afterCommit();
      return Promise.resolve();
    }
    const p = result.then(
      (ids) => this.committed(batches, rows, ids, started),
      (err: unknown) => this.failed(batches, rows.length, err),
    ).finally(() => {
      this.writing = undefined;
      this.afterCommit();
    });
    this.writing = p;
    return p;
  }

  private afterCommit(): void {
    if (this.pending.length && !this.writing && !this.immediate) {
      this.immediate = setImmediate(() => {
        this.immediate = undefined;
        void this.commit();
      });
    }
  }

  private committed(batches: Pending[], rows: EventRow[], ids: Array<number | null>, started: bigint): void {
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    let inserted = 0;
    for (const id of ids) if (id !== null) inserted++;
    try {
      this.opts.onCommit?.({ rows, ids, inserted, seconds });
    } catch (err) {
      this.opts.log.error({ err }, "after-commit hook failed; the events are stored");
    }
    for (const b of batches) {
      try {
        b.done?.(null);
      } catch (err) {
        this.opts.log.error({ err }, "ack callback failed");
      }
    }
  }

  private failed(batches: Pending[], count: number, err: unknown): void {
    this.opts.log.error({ err, events: count, batches: batches.length }, "event batch not stored; no ack sent");
    const e = err instanceof Error ? err : new Error(String(err));
    for (const b of batches) {
      try {
        b.done?.(e);
      } catch (cbErr) {
        this.opts.log.error({ err: cbErr }, "ack callback failed");
      }
    }
  }
}
