/**
 * Retries with exponential backoff and jitter, and a bounded queue that runs deliveries off the
 * caller's path (ingest never waits for a mail server or a webhook). Shared by the webhook
 * delivery (webhook.ts), the report delivery and the alert notifications (server/notify/).
 *
 * Time is injectable (`now`, `sleep`, `random`) so tests drive the retries without waiting.
 */
import type { Logger } from "../../lib/log.js";

export interface RetryPolicy {
  /** tries in all, the first one included (default 5) */
  attempts: number;
  /** the wait before the 2nd try; doubled for each further one (default 1 s) */
  baseDelayMs: number;
  /** no wait is longer than this (default 60 s) */
  maxDelayMs: number;
  /** 0..1: the share of each wait that is random (default 0.5: a wait is 50–100 % of its step) */
  jitter: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 1_000, maxDelayMs: 60_000, jitter: 0.5 };

/** How a delivery waits and reads the time; tests pass their own. */
export interface DeliveryClock {
  now(): number;
  /** resolves after `ms`, or rejects with the signal's reason when it aborts */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** 0 ≤ x < 1 */
  random(): number;
}

export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason instanceof Error ? signal.reason : new Error("aborted"));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal!.reason instanceof Error ? signal!.reason : new Error("aborted"));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

export const SYSTEM_CLOCK: DeliveryClock = { now: () => Date.now(), sleep: abortableSleep, random: Math.random };

/**
 * The wait before try `attempt + 1` (attempt ≥ 1): base·2^(attempt−1), capped at maxDelayMs,
 * of which a `jitter` share is random — so many failing deliveries do not retry in step.
 */
export function backoffMs(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const step = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  const jitter = Math.min(1, Math.max(0, policy.jitter));
  return Math.round(step * (1 - jitter) + step * jitter * random());
}

/** One try's outcome, as a delivery reports it. */
export interface AttemptOutcome {
  ok: boolean;
  /** false: trying again cannot help (e.g. HTTP 400, a refused recipient) */
  retryable: boolean;
  /** e.g. the HTTP status */
  status?: number;
  error?: string;
  /** the receiver asked to wait this long (HTTP Retry-After), capped by maxDelayMs */
  retryAfterMs?: number;
}

export interface AttemptRecord extends AttemptOutcome {
  attempt: number;
  at: string;
  ms: number;
}

/** The final result of a delivery after its retries. */
export interface DeliveryResult {
  ok: boolean;
  attempts: AttemptRecord[];
  /** the last try's status / error */
  status?: number;
  error?: string;
  startedAt: string;
  finishedAt: string;
}

/**
 * Run `attempt` until it succeeds, fails for good, the tries are used up, or `signal` aborts.
 * Never throws: a thrown error is a retryable failed try.
 */
export async function withRetry(
  attempt: (n: number, signal?: AbortSignal) => Promise<AttemptOutcome>,
  opts: { retry?: Partial<RetryPolicy>; clock?: Partial<DeliveryClock>; signal?: AbortSignal } = {},
): Promise<DeliveryResult> {
  const policy: RetryPolicy = { ...DEFAULT_RETRY, ...opts.retry };
  const clock: DeliveryClock = { ...SYSTEM_CLOCK, ...opts.clock };
  const attempts: AttemptRecord[] = [];
  const startedAt = new Date(clock.now()).toISOString();
  const max = Math.max(1, Math.floor(policy.attempts));
  for (let n = 1; n <= max; n++) {
    if (opts.signal?.aborted) {
      attempts.push({ attempt: n, at: new Date(clock.now()).toISOString(), ms: 0, ok: false, retryable: false, error: "stopped before this try (server stopping)" });
      break;
    }
    const t0 = clock.now();
    let outcome: AttemptOutcome;
    try {
      outcome = await attempt(n, opts.signal);
    } catch (err) {
      outcome = { ok: false, retryable: true, error: errorText(err) };
    }
    attempts.push({ ...outcome, attempt: n, at: new Date(t0).toISOString(), ms: Math.max(0, clock.now() - t0) });
    if (outcome.ok || !outcome.retryable || n === max) break;
    const wait = outcome.retryAfterMs !== undefined
      ? Math.min(policy.maxDelayMs, Math.max(0, outcome.retryAfterMs))
      : backoffMs(n, policy, clock.random);
    try {
      await clock.sleep(wait, opts.signal);
    } catch {
      attempts.push({ attempt: n + 1, at: new Date(clock.now()).toISOString(), ms: 0, ok: false, retryable: false, error: "stopped while waiting to retry (server stopping)" });
      break;
    }
  }
  const last = attempts[attempts.length - 1]!;
  return {
    ok: last.ok, attempts, status: last.status, error: last.ok ? undefined : last.error,
    startedAt, finishedAt: new Date(clock.now()).toISOString(),
  };
}

export function errorText(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as Error & { cause?: unknown }).cause;
    const code = (err as NodeJS.ErrnoException).code;
    const inner = cause instanceof Error ? `: ${(cause as NodeJS.ErrnoException).code ?? cause.message}` : "";
    return `${code ? `${code} ` : ""}${err.message}${inner}`;
  }
  return String(err);
}

export interface DeliveryQueueOptions<J> {
  log: Logger;
  /** the work of one job (with its retries); its result goes to onDone */
  run(job: J, signal: AbortSignal): Promise<DeliveryResult>;
  /** after each job, with its final result (e.g. record a failure as an event) */
  onDone?(job: J, result: DeliveryResult): void;
  /** jobs waiting at most; more are dropped and logged (default 1,000) */
  maxQueued?: number;
  /** jobs running at once (default 4) */
  concurrency?: number;
  /** names the queue in logs */
  name: string;
}

/**
 * A bounded queue of deliveries run in the background. `enqueue` never waits: it returns false
 * (and logs) when the queue is full or closed. `close()` aborts the running jobs' waits and
 * requests and drops what still waits (logged), so a stopping server is not held up by a
 * receiver that never answers.
 */
export class DeliveryQueue<J> {
  private readonly waiting: J[] = [];
  private running = 0;
  private closed = false;
  private readonly abort = new AbortController();
  private idle: Array<() => void> = [];
  private readonly maxQueued: number;
  private readonly concurrency: number;
  /** jobs dropped because the queue was full */
  dropped = 0;

  constructor(private readonly opts: DeliveryQueueOptions<J>) {
    this.maxQueued = opts.maxQueued ?? 1_000;
    this.concurrency = Math.max(1, opts.concurrency ?? 4);
  }

  get size(): number {
    return this.waiting.length + this.running;
  }

  enqueue(job: J): boolean {
    if (this.closed) {
      this.opts.log.warn({ queue: this.opts.name }, "delivery not queued: the server is stopping");
      return false;
    }
    if (this.waiting.length >= this.maxQueued) {
      this.dropped++;
      if (this.dropped === 1 || this.dropped % 100 === 0) {
        this.opts.log.error({ queue: this.opts.name, maxQueued: this.maxQueued, dropped: this.dropped },
          "delivery queue full: delivery dropped (the receiver is down or too slow)");
      }
      return false;
    }
    this.waiting.push(job);
    this.pump();
    return true;
  }

  /** Resolves when nothing waits or runs (tests, report generation). */
  drained(): Promise<void> {
    if (this.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  async close(): Promise<void> {
    if (this.closed) return this.drained();
    this.closed = true;
    if (this.waiting.length) {
      this.opts.log.warn({ queue: this.opts.name, dropped: this.waiting.length }, "server stopping: queued deliveries dropped");
      this.waiting.length = 0;
    }
    this.abort.abort(new Error("server stopping"));
    return this.drained();
  }

  private pump(): void {
    while (this.running < this.concurrency && this.waiting.length) {
      const job = this.waiting.shift()!;
      this.running++;
      void this.runOne(job);
    }
    if (this.size === 0) {
      const idle = this.idle;
      this.idle = [];
      for (const f of idle) f();
    }
  }

  private async runOne(job: J): Promise<void> {
    let result: DeliveryResult;
    try {
      result = await this.opts.run(job, this.abort.signal);
    } catch (err) {
      const at = new Date().toISOString();
      result = { ok: false, attempts: [], error: errorText(err), startedAt: at, finishedAt: at };
    }
    try {
      this.opts.onDone?.(job, result);
    } catch (err) {
      this.opts.log.error({ err, queue: this.opts.name }, "after-delivery hook failed");
    }
    this.running--;
    this.pump();
  }
}
