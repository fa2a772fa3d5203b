/**
 * The durable event queue (like Santa's spool): `<stateDir>/queue/`.
 *
 * - Append-only segment files `00000001.seg`, … (rolled at ~4 MiB), one JSON line per record
 *   `{"seq":N,"p":0|1,"e":{type,observedAt,details}}`; every append() is one write + one fsync.
 * - `acked` holds `{ackedSeq, lastSeq}` (tmp + fsync + rename): the server's acknowledgment and the
 *   highest seq ever assigned, so a seq is never reused even when every segment has been deleted.
 * - Nothing is deleted before the server acknowledged it, except when the queue is full:
 *   routine telemetry (p=0) is shed first — a new routine event is dropped, and an important one
 *   (p=1: needs_approval, violation, agent health) makes room by compacting away the oldest routine
 *   records. An accepted important record is never dropped; a new important event that cannot fit
 *   is refused. Whatever was shed is reported once as `agent.degraded` {reason:"queue_shed"} as
 *   soon as there is room for it.
 * - After a crash, open() truncates a torn last line and skips records at or below the ack.
 */
import { mkdir, open, readdir, readFile, rename, unlink, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "../lib/log.js";
import { catalogEntry, serverOnlyTypes } from "../policies/catalog.js";
import { checkEvent } from "../policies/details.js";
import { EVENT_TYPES, type AgentEvent, type EventType, type NewEvent } from "../policies/schema.js";
import { fsyncDir, writeFileAtomic } from "./state.js";

export const ROUTINE = 0;
export const IMPORTANT = 1;
export type Priority = typeof ROUTINE | typeof IMPORTANT;

/**
 * The catalog's `priority` of the type: `important` for anything the server may decide is
 * needs_approval or violation (an infected media.scanned, an unregistered media.inserted, …) and
 * agent health; `routine` telemetry is shed first.
 */
export function priorityOf(type: EventType): Priority {
  return catalogEntry(type).priority === "important" ? IMPORTANT : ROUTINE;
}

export interface QueueOptions {
  stateDir: string;
  log: Logger;
  /** bound on the bytes of records waiting for an ack (default 64 MiB) */
  maxBytes?: number;
  /** a new segment is started past this size (default 4 MiB) */
  segmentBytes?: number;
  /** a single event larger than this is refused: it could never be sent in one frame (default 256 KiB) */
  maxEventBytes?: number;
  /** when compacting, free this many bytes beyond what is needed, so compaction is rare (default min(1 MiB, maxBytes/16)) */
  compactSlackBytes?: number;
}

export interface ShedCounts {
  /** events dropped or refused since the queue was opened */
  events: number;
  bytes: number;
  byType: Record<string, number>;
  /** of those, important events refused because only important records filled the queue */
  importantRefused: number;
}

/**
 * Tests only: KYOKA_TEST_AGENT_CLOCK_OFFSET_MS shifts the agent's clock for observedAt (e.g. -86400000:
 * a PC a day behind), to show the server judges approvals by its own clock — every event's, stamped
 * here or by its collector. Ignored unless
 * NODE_ENV is "test" or VITEST is set.
 */
function testClockOffsetMs(): number {
  if (process.env.NODE_ENV !== "test" && !process.env.VITEST) return 0;
  const n = Number(process.env.KYOKA_TEST_AGENT_CLOCK_OFFSET_MS ?? 0);
  return Number.isFinite(n) ? n : 0;
}

export interface QueueStats {
  pendingEvents: number;
  pendingBytes: number;
  lastSeq: number;
  ackedSeq: number;
  shed: ShedCounts;
  /** events refused because they were invalid or too large */
  rejected: number;
}

interface Segment {
  id: number;
  file: string;
  /** bytes in the file */
  size: number;
  /** the highest seq written into the file */
  maxSeq: number;
}

/** One record waiting for an ack: where its line lives. */
interface Rec {
  seq: number;
  p: Priority;
  type: EventType;
  seg: Segment;
  offset: number;
  bytes: number;
}

const SEGMENT_RE = /^(\d{8,})\.seg$/;
const EVENT_TYPE_SET = new Set<string>(EVENT_TYPES);

function emptyShed(): ShedCounts {
  return { events: 0, bytes: 0, byType: {}, importantRefused: 0 };
}

function addShed(into: ShedCounts, type: string, bytes: number, refused: boolean): void {
  into.events++;
  into.bytes += bytes;
  into.byType[type] = (into.byType[type] ?? 0) + 1;
  if (refused) into.importantRefused++;
}

function segmentName(id: number): string {
  return `${String(id).padStart(8, "0")}.seg`;
}

function recordLine(seq: number, p: Priority, eventJson: string): string {
  return `{"seq":${seq},"p":${p},"e":${eventJson}}\n`;
}

export class EventQueue {
  readonly dir: string;
  private readonly log: Logger;
  private readonly maxBytes: number;
  private readonly segmentBytes: number;
  private readonly maxEventBytes: number;
  private readonly compactSlackBytes: number;

  private segments: Segment[] = [];
  /** records waiting for an ack, in seq order */
  private records: Rec[] = [];
  private pendingBytes = 0;
  private lastSeq = 0;
  private ackedSeq = 0;
  private writeSeg: Segment | undefined;
  private writeFh: FileHandle | undefined;
  private lock: Promise<unknown> = Promise.resolve();
  private readonly shedTotal: ShedCounts = emptyShed();
  /** shed since the last agent.degraded report */
  private shedUnreported: ShedCounts = emptyShed();
  private rejected = 0;
  private readonly listeners = new Set<() => void>();
  private state: "new" | "open" | "closed" = "new";

  constructor(opts: QueueOptions) {
    this.dir = join(opts.stateDir, "queue");
    this.log = opts.log;
    this.maxBytes = opts.maxBytes ?? 64 * 1024 * 1024;
    this.segmentBytes = opts.segmentBytes ?? 4 * 1024 * 1024;
    this.maxEventBytes = Math.min(opts.maxEventBytes ?? 256 * 1024, this.maxBytes);
    this.compactSlackBytes = opts.compactSlackBytes ?? Math.min(1024 * 1024, Math.floor(this.maxBytes / 16));
  }

  private get ackFile(): string {
    return join(this.dir, "acked");
  }

  /** Run `fn` alone: appends, acks, compactions and reads never interleave. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  /** Read the ack file and the segments; truncate a torn tail; drop segments that are fully acked. */
  open(): Promise<void> {
    return this.exclusive(async () => {
      if (this.state !== "new") throw new Error("queue already opened");
      await mkdir(this.dir, { recursive: true });
      let persistedLast = 0;
      try {
        const raw = JSON.parse(await readFile(this.ackFile, "utf8")) as { ackedSeq?: unknown; lastSeq?: unknown };
        if (typeof raw.ackedSeq === "number" && raw.ackedSeq >= 0) this.ackedSeq = Math.floor(raw.ackedSeq);
        if (typeof raw.lastSeq === "number" && raw.lastSeq >= 0) persistedLast = Math.floor(raw.lastSeq);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
          this.log.error({ err: (err as Error).message, file: this.ackFile }, "queue ack file unreadable: resending from the start (the server stores each seq once)");
        }
      }

      await this.loadShed();
      const names = await readdir(this.dir);
      for (const name of names) {
        if (name.endsWith(".tmp")) await unlink(join(this.dir, name)).catch(() => undefined);
      }
      const ids = names.map((n) => SEGMENT_RE.exec(n)).filter((m): m is RegExpExecArray => m !== null)
        .map((m) => Number(m[1])).sort((a, b) => a - b);

      let maxSeen = 0;
      let skipped = 0;
      for (const id of ids) {
        const seg: Segment = { id, file: join(this.dir, segmentName(id)), size: 0, maxSeq: 0 };
        const buf = await readFile(seg.file);
        let pos = 0;
        let goodEnd = 0;
        const recs: Rec[] = [];
        while (pos < buf.length) {
          const nl = buf.indexOf(10, pos);
          if (nl < 0) break; // torn: no newline
          const rec = this.parseLine(buf.subarray(pos, nl), seg, pos, nl + 1 - pos);
          if (rec) {
            goodEnd = nl + 1;
            seg.maxSeq = Math.max(seg.maxSeq, rec.seq);
            maxSeen = Math.max(maxSeen, rec.seq);
            if (rec.seq > this.ackedSeq && rec.seq > (recs.at(-1)?.seq ?? this.records.at(-1)?.seq ?? 0)) recs.push(rec);
          } else {
            skipped++;
          }
          pos = nl + 1;
        }
        if (goodEnd < buf.length) {
          // A torn or garbage tail (crash during a write): cut it so appends continue after a whole line.
          this.log.warn({ segment: seg.file, droppedBytes: buf.length - goodEnd }, "queue segment had a torn tail: truncated it");
          const fh = await open(seg.file, "r+");
          try {
            await fh.truncate(goodEnd);
            await fh.sync();
          } finally {
            await fh.close();
          }
        }
        seg.size = goodEnd;
        if (recs.length === 0 || seg.maxSeq <= this.ackedSeq) {
          await unlink(seg.file).catch(() => undefined);
          continue;
        }
        this.segments.push(seg);
        for (const r of recs) {
          this.records.push(r);
          this.pendingBytes += r.bytes;
        }
      }
      if (skipped) this.log.warn({ skipped }, "queue: skipped unreadable lines in the middle of segments");
      this.lastSeq = Math.max(maxSeen, this.ackedSeq, persistedLast);
      this.state = "open";
      this.log.info({ pendingEvents: this.records.length, pendingBytes: this.pendingBytes, lastSeq: this.lastSeq, ackedSeq: this.ackedSeq }, "queue opened");
    });
  }

  private parseLine(line: Buffer, seg: Segment, offset: number, bytes: number): Rec | undefined {
    try {
      const raw = JSON.parse(line.toString("utf8")) as { seq?: unknown; p?: unknown; e?: { type?: unknown } };
      if (typeof raw.seq !== "number" || !Number.isInteger(raw.seq) || raw.seq < 1) return undefined;
      if (raw.p !== ROUTINE && raw.p !== IMPORTANT) return undefined;
      if (!raw.e || typeof raw.e !== "object" || typeof raw.e.type !== "string" || !EVENT_TYPE_SET.has(raw.e.type)) return undefined;
      return { seq: raw.seq, p: raw.p, type: raw.e.type as EventType, seg, offset, bytes };
    } catch {
      return undefined;
    }
  }

  /** Called (synchronously) after events were appended: the transport sends them promptly. */
  onAppend(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private notify(): void {
    for (const l of [...this.listeners]) {
      try {
        l();
      } catch (err) {
        this.log.error({ err }, "queue append listener threw");
      }
    }
  }

  /**
   * Queue events durably: seq numbers assigned in order, one write and one fsync for the batch.
   * Resolves with the events accepted (a shed or refused event is counted, not returned).
   */
  async append(events: NewEvent[], opts: { source?: string } = {}): Promise<AgentEvent[]> {
    const accepted = await this.exclusive(() => this.appendLocked(events, opts.source));
    if (accepted.length) this.notify();
    return accepted.filter((e) => e.seq > 0 && !(e as { report?: true }).report).map(({ seq, type, observedAt, details }) => ({ seq, type, observedAt, details }));
  }

  private async appendLocked(events: NewEvent[], source?: string): Promise<(AgentEvent & { report?: true })[]> {
    if (this.state !== "open") throw new Error(`queue is ${this.state === "new" ? "not open" : "closed"}`);
    const offset = testClockOffsetMs();
    const now = new Date(Date.now() + offset).toISOString();
    // a collector that stamped its event itself (asset, media, evidence) is shifted the same way
    const stamp = (t: string | undefined): string => {
      if (t === undefined) return now;
      const ms = offset === 0 ? NaN : Date.parse(t);
      return Number.isNaN(ms) ? t : new Date(ms + offset).toISOString();
    };
    interface Item { event: Omit<AgentEvent, "seq">; json: string; p: Priority; report: boolean }
    const items: Item[] = [];

    const report = this.shedUnreported.events > 0;
    if (report) {
      const s = this.shedUnreported;
      const event = {
        type: "agent.degraded" as const,
        observedAt: now,
        details: { reason: "queue_shed", shedEvents: s.events, shedBytes: s.bytes, byType: { ...s.byType }, importantRefused: s.importantRefused },
      };
      items.push({ event, json: JSON.stringify(event), p: IMPORTANT, report: true });
    }
    for (const ev of events) {
      // the same check as the server's (policies/details.ts): an event the server would refuse is
      // dropped here, logged with the collector that made it, and never queued
      const check = checkEvent({ seq: 1, type: ev.type, observedAt: stamp(ev.observedAt), details: ev.details }, { serverOnly: serverOnlyTypes() });
      if (!check.ok) {
        this.rejected++;
        this.log.error({ collector: source ?? "unknown", type: String(ev.type).slice(0, 64), path: check.path, issue: check.message },
          `invalid event from collector ${source ?? "unknown"} dropped by the queue (not sent)`);
        continue;
      }
      const json = `{"type":${JSON.stringify(check.event.type)},"observedAt":${JSON.stringify(check.event.observedAt)},"details":${check.detailsJson}}`;
      items.push({ event: JSON.parse(json) as Omit<AgentEvent, "seq">, json, p: priorityOf(check.event.type), report: false });
    }
    if (items.length === 0) return [];

    // Plan: which items fit, which are shed, which routine records must be compacted away.
    const batchShed = emptyShed();
    let budget = this.maxBytes - this.pendingBytes;
    const routines = this.records.filter((r) => r.p === ROUTINE);
    let routineLeft = routines.reduce((n, r) => n + r.bytes, 0);
    let dropN = 0;
    let seq = this.lastSeq;
    const lines: string[] = [];
    const out: (AgentEvent & { report?: true })[] = [];
    let reportAccepted = false;
    for (const item of items) {
      const line = recordLine(seq + 1, item.p, item.json);
      const bytes = Buffer.byteLength(line);
      let fits = bytes <= budget;
      if (bytes > this.maxEventBytes) {
        this.rejected++;
        this.log.error({ type: item.event.type, bytes, maxEventBytes: this.maxEventBytes }, "event too large for the queue: refused");
        addShed(batchShed, item.event.type, bytes, false);
        continue;
      }
      // The shed report waits for free room; it never sheds anything itself.
      if (!fits && item.p === IMPORTANT && !item.report && budget + routineLeft >= bytes) {
        while (budget < bytes) {
          const r = routines[dropN++]!;
          budget += r.bytes;
          routineLeft -= r.bytes;
        }
        fits = true;
      }
      if (!fits) {
        if (!item.report) addShed(batchShed, item.event.type, bytes, item.p === IMPORTANT);
        continue;
      }
      budget -= bytes;
      seq++;
      lines.push(line);
      out.push(item.report ? { seq, ...item.event, report: true } : { seq, ...item.event });
      if (item.report) reportAccepted = true;
    }
    if (dropN > 0) {
      let slack = 0;
      while (slack < this.compactSlackBytes && dropN < routines.length) slack += routines[dropN++]!.bytes;
      await this.compact(new Set(routines.slice(0, dropN)), batchShed);
    }
    if (reportAccepted) {
      this.shedUnreported = emptyShed();
    }
    this.mergeShed(batchShed);
    if (batchShed.events) this.log.warn({ shedEvents: batchShed.events, shedBytes: batchShed.bytes, byType: batchShed.byType }, "queue full: shed events");
    if (lines.length) await this.write(lines, out);
    // the unreported counts survive a restart (after the report itself is on disk)
    if (batchShed.events || reportAccepted) await this.persistShed();
    return out;
  }

  private get shedFile(): string {
    return join(this.dir, "shed.json");
  }

  private async persistShed(): Promise<void> {
    if (this.shedUnreported.events === 0) await unlink(this.shedFile).catch(() => undefined);
    else await writeFileAtomic(this.shedFile, JSON.stringify(this.shedUnreported));
  }

  private async loadShed(): Promise<void> {
    try {
      const raw = JSON.parse(await readFile(this.shedFile, "utf8")) as Partial<ShedCounts>;
      if (typeof raw.events === "number" && raw.events > 0) {
        const s = this.shedUnreported;
        s.events = raw.events;
        s.bytes = typeof raw.bytes === "number" ? raw.bytes : 0;
        s.importantRefused = typeof raw.importantRefused === "number" ? raw.importantRefused : 0;
        s.byType = raw.byType && typeof raw.byType === "object" ? { ...raw.byType } : {};
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") this.log.warn({ err: (err as Error).message }, "queue shed counts unreadable: starting from zero");
    }
  }

  private mergeShed(batch: ShedCounts): void {
    for (const target of [this.shedTotal, this.shedUnreported]) {
      target.events += batch.events;
      target.bytes += batch.bytes;
      target.importantRefused += batch.importantRefused;
      for (const [t, n] of Object.entries(batch.byType)) target.byType[t] = (target.byType[t] ?? 0) + n;
    }
  }

  /** Append lines to the current segment (rolling if needed) with one write and one fsync. */
  private async write(lines: string[], events: AgentEvent[]): Promise<void> {
    const buf = Buffer.from(lines.join(""), "utf8");
    let seg = this.writeSeg ?? this.segments.at(-1);
    let fresh = false;
    if (!seg || seg.size >= this.segmentBytes || (seg.size > 0 && seg.size + buf.length > this.segmentBytes)) {
      await this.closeWriter();
      const id = (this.segments.at(-1)?.id ?? 0) + 1;
      seg = { id, file: join(this.dir, segmentName(id)), size: 0, maxSeq: 0 };
      fresh = true;
    }
    if (this.writeSeg !== seg || !this.writeFh) {
      await this.closeWriter();
      this.writeFh = await open(seg.file, "a");
      this.writeSeg = seg;
    }
    const fh = this.writeFh;
    const start = seg.size;
    try {
      let off = 0;
      while (off < buf.length) {
        const { bytesWritten } = await fh.write(buf, off, buf.length - off);
        off += bytesWritten;
      }
      if (fresh) await fh.sync();
      else await fh.datasync();
    } catch (err) {
      // Undo a partial write so the segment ends on a whole line; a new segment is removed.
      await fh.truncate(start).catch(() => undefined);
      await this.closeWriter().catch(() => undefined);
      if (fresh) await unlink(seg.file).catch(() => undefined);
      this.log.error({ err: (err as Error).message, segment: seg.file }, "queue write failed: events not queued");
      throw err;
    }
    if (fresh) {
      this.segments.push(seg);
      await fsyncDir(this.dir);
    }
    let offset = start;
    lines.forEach((line, i) => {
      const bytes = Buffer.byteLength(line);
      const ev = events[i]!;
      this.records.push({ seq: ev.seq, p: priorityOf(ev.type), type: ev.type, seg, offset, bytes });
      offset += bytes;
      this.pendingBytes += bytes;
    });
    seg.size = offset;
    seg.maxSeq = events.at(-1)!.seq;
    this.lastSeq = seg.maxSeq;
  }

  private async closeWriter(): Promise<void> {
    const fh = this.writeFh;
    this.writeFh = undefined;
    this.writeSeg = undefined;
    await fh?.close();
  }

  /**
   * Remove `drop` (the oldest routine records): rewrite the segments that hold them, keeping
   * every other record, into a temp file; fsync; rename it over the first of them; unlink the rest.
   */
  private async compact(drop: Set<Rec>, shed: ShedCounts): Promise<void> {
    const first = [...drop][0]!.seg;
    let last = first;
    for (const r of drop) last = r.seg;
    const i0 = this.segments.indexOf(first);
    const i1 = this.segments.indexOf(last);
    const range = this.segments.slice(i0, i1 + 1);
    const inRange = new Set(range);
    const kept: Rec[] = [];
    const chunks: Buffer[] = [];
    let size = 0;
    const bySeg = new Map<Segment, Rec[]>();
    for (const r of this.records) {
      if (!inRange.has(r.seg) || drop.has(r)) continue;
      let list = bySeg.get(r.seg);
      if (!list) bySeg.set(r.seg, (list = []));
      list.push(r);
    }
    for (const seg of range) {
      const list = bySeg.get(seg);
      if (!list?.length) continue;
      const buf = await readFile(seg.file);
      for (const r of list) {
        chunks.push(buf.subarray(r.offset, r.offset + r.bytes));
        kept.push(r);
      }
    }
    if (this.writeSeg && inRange.has(this.writeSeg)) await this.closeWriter();
    if (kept.length) {
      const tmp = `${first.file}.compact.tmp`;
      const fh = await open(tmp, "w");
      try {
        const data = Buffer.concat(chunks);
        await fh.writeFile(data);
        await fh.sync();
        size = data.length;
      } finally {
        await fh.close();
      }
      await rename(tmp, first.file);
      await fsyncDir(this.dir);
    }
    for (const seg of range) {
      if (kept.length && seg === first) continue;
      await unlink(seg.file).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== "ENOENT") throw err;
      });
    }
    await fsyncDir(this.dir);

    // Update the index to match the files.
    let offset = 0;
    for (const r of kept) {
      r.seg = first;
      r.offset = offset;
      offset += r.bytes;
    }
    first.size = size;
    first.maxSeq = kept.at(-1)?.seq ?? 0;
    this.segments = this.segments.filter((s) => !inRange.has(s) || (kept.length > 0 && s === first));
    this.records = this.records.filter((r) => !drop.has(r));
    for (const r of drop) {
      this.pendingBytes -= r.bytes;
      addShed(shed, r.type, r.bytes, false);
    }
    this.log.warn({ droppedRoutine: drop.size, rewrittenSegments: range.length }, "queue full: compacted away the oldest routine events");
  }

  /**
   * The records to send after `afterSeq`: at most maxCount events and about maxBytes bytes
   * (always at least one event when there is one).
   */
  pending(afterSeq: number, maxCount: number, maxBytes: number): Promise<AgentEvent[]> {
    return this.exclusive(async () => {
      if (this.state !== "open") return [];
      let lo = 0;
      let hi = this.records.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (this.records[mid]!.seq <= afterSeq) lo = mid + 1;
        else hi = mid;
      }
      const pick: Rec[] = [];
      let bytes = 0;
      for (let i = lo; i < this.records.length && pick.length < maxCount; i++) {
        const r = this.records[i]!;
        if (pick.length > 0 && bytes + r.bytes > maxBytes) break;
        pick.push(r);
        bytes += r.bytes;
      }
      const out: AgentEvent[] = [];
      let i = 0;
      while (i < pick.length) {
        const seg = pick[i]!.seg;
        let j = i;
        while (j + 1 < pick.length && pick[j + 1]!.seg === seg) j++;
        const start = pick[i]!.offset;
        const end = pick[j]!.offset + pick[j]!.bytes;
        const buf = Buffer.alloc(end - start);
        const fh = await open(seg.file, "r");
        try {
          let off = 0;
          while (off < buf.length) {
            const { bytesRead } = await fh.read(buf, off, buf.length - off, start + off);
            if (bytesRead === 0) throw new Error(`queue segment ${seg.file} is shorter than its index`);
            off += bytesRead;
          }
        } finally {
          await fh.close();
        }
        for (let k = i; k <= j; k++) {
          const r = pick[k]!;
          const line = buf.subarray(r.offset - start, r.offset - start + r.bytes).toString("utf8");
          const raw = JSON.parse(line) as { seq: number; e: Omit<AgentEvent, "seq"> };
          out.push({ seq: raw.seq, type: raw.e.type, observedAt: raw.e.observedAt, details: raw.e.details });
        }
        i = j + 1;
      }
      return out;
    });
  }

  /**
   * The server has durably stored every seq ≤ `seq`: persist that, forget those records and
   * delete the segments that hold nothing newer. A pending shed report is then queued if it fits.
   */
  async ack(seq: number): Promise<void> {
    const reported = await this.exclusive(async () => {
      if (this.state !== "open") return false;
      if (!Number.isInteger(seq) || seq <= this.ackedSeq) return false;
      if (seq > this.lastSeq) {
        // The server holds more than this queue ever assigned (e.g. a restored state dir):
        // never reuse those numbers.
        this.log.warn({ ackedSeq: seq, lastSeq: this.lastSeq }, "server acknowledged a seq beyond the last one queued: continuing after it");
        this.lastSeq = seq;
      }
      this.ackedSeq = seq;
      let n = 0;
      while (n < this.records.length && this.records[n]!.seq <= seq) {
        this.pendingBytes -= this.records[n]!.bytes;
        n++;
      }
      this.records.splice(0, n);
      await writeFileAtomic(this.ackFile, JSON.stringify({ ackedSeq: this.ackedSeq, lastSeq: this.lastSeq }));
      const done = this.segments.filter((s) => s.maxSeq <= seq);
      if (done.length) {
        if (this.writeSeg && done.includes(this.writeSeg)) await this.closeWriter();
        for (const s of done) {
          await unlink(s.file).catch((err: NodeJS.ErrnoException) => {
            if (err.code !== "ENOENT") throw err;
          });
        }
        this.segments = this.segments.filter((s) => s.maxSeq > seq);
      }
      if (this.shedUnreported.events > 0) return (await this.appendLocked([])).length > 0;
      return false;
    });
    if (reported) this.notify();
  }

  stats(): QueueStats {
    return {
      pendingEvents: this.records.length,
      pendingBytes: this.pendingBytes,
      lastSeq: this.lastSeq,
      ackedSeq: this.ackedSeq,
      shed: { ...this.shedTotal, byType: { ...this.shedTotal.byType } },
      rejected: this.rejected,
    };
  }

  /** Close the segment file; further appends are refused. */
  close(): Promise<void> {
    return this.exclusive(async () => {
      if (this.state === "closed") return;
      this.state = "closed";
      await this.closeWriter();
    });
  }
}
