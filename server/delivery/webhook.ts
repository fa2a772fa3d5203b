/**
 * Webhook delivery: POST a JSON value (or a ready body) to a URL with a timeout per try, retried
 * with exponential backoff and jitter (retry.ts), ending in one final result. `WebhookDelivery`
 * runs them in the background from a bounded queue, so a caller (the ingest's after-commit hook,
 * a report schedule) never waits for a receiver.
 *
 * What is retried: network errors, timeouts, HTTP 408, 425, 429 and 5xx (a `Retry-After` is
 * honoured up to maxDelayMs). Any other status (400, 401, 404, a redirect…) fails at once:
 * sending the same request again cannot help. Redirects are not followed.
 */
import type { Logger } from "../../lib/log.js";
import {
  DeliveryQueue, errorText, SYSTEM_CLOCK, withRetry,
  type AttemptOutcome, type DeliveryClock, type DeliveryResult, type RetryPolicy,
} from "./retry.js";

export { backoffMs, DEFAULT_RETRY, type DeliveryClock, type DeliveryResult, type RetryPolicy } from "./retry.js";

export interface WebhookRequest {
  url: string;
  /** a JSON value (sent as application/json; charset=utf-8), or a ready body with `contentType` */
  json?: unknown;
  body?: string | Uint8Array;
  contentType?: string;
  headers?: Record<string, string>;
}

export interface WebhookOptions {
  /** each try gives up after this (default 10 s) */
  timeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  clock?: Partial<DeliveryClock>;
  /** aborts the waits and the request in flight (server stopping) */
  signal?: AbortSignal;
  /** another fetch (tests); default Node's built-in fetch */
  fetch?: typeof fetch;
}

export const DEFAULT_WEBHOOK_TIMEOUT_MS = 10_000;

const RETRYABLE_STATUS = new Set([408, 425, 429]);

/** `Retry-After: <seconds>` or an HTTP date → milliseconds from now. */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function requestBody(req: WebhookRequest): { body: string | Uint8Array<ArrayBuffer>; contentType: string } {
  if (req.body !== undefined) return { body: typeof req.body === "string" ? req.body : new Uint8Array(req.body), contentType: req.contentType ?? "application/octet-stream" };
  return { body: JSON.stringify(req.json ?? null), contentType: req.contentType ?? "application/json; charset=utf-8" };
}

/** One try: the outcome, never an exception. */
async function postOnce(req: WebhookRequest, opts: WebhookOptions, clock: DeliveryClock, signal?: AbortSignal): Promise<AttemptOutcome> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_WEBHOOK_TIMEOUT_MS;
  const timeout = AbortSignal.timeout(timeoutMs);
  const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
  const { body, contentType } = requestBody(req);
  try {
    const res = await (opts.fetch ?? fetch)(req.url, {
      method: "POST",
      headers: { "user-agent": "kyoka-server", ...req.headers, "content-type": contentType },
      body,
      redirect: "manual",
      signal: combined,
    });
    // the answer's body is not needed: release the connection without waiting for it
    await res.body?.cancel().catch(() => undefined);
    if (res.status >= 200 && res.status < 300) return { ok: true, retryable: false, status: res.status };
    const retryable = res.status >= 500 || RETRYABLE_STATUS.has(res.status);
    return {
      ok: false, retryable, status: res.status, error: `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ""}`,
      retryAfterMs: retryable ? parseRetryAfter(res.headers.get("retry-after"), clock.now()) : undefined,
    };
  } catch (err) {
    if (signal?.aborted) return { ok: false, retryable: false, error: "stopped (server stopping)" };
    if (timeout.aborted) return { ok: false, retryable: true, error: `no answer within ${timeoutMs} ms` };
    return { ok: false, retryable: true, error: errorText(err) };
  }
}

/** POST with retries; resolves with the final result (never rejects). */
export function postWebhook(req: WebhookRequest, opts: WebhookOptions = {}): Promise<DeliveryResult> {
  const clock: DeliveryClock = { ...SYSTEM_CLOCK, ...opts.clock };
  return withRetry((_n, signal) => postOnce(req, opts, clock, signal), { retry: opts.retry, clock, signal: opts.signal });
}

/** A URL without its credentials and query (for logs and events: a webhook URL often holds a secret). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname.length > 1 ? "/…" : "/"}`;
  } catch {
    return "(not a URL)";
  }
}

export interface WebhookJob<M = unknown> {
  request: WebhookRequest;
  /** what the caller needs in onDone (e.g. the report id, the rule's name) */
  meta: M;
}

export interface WebhookDeliveryOptions<M> extends Omit<WebhookOptions, "signal"> {
  log: Logger;
  /** after the final result (success or not) */
  onDone?(job: WebhookJob<M>, result: DeliveryResult): void;
  /** deliveries waiting at most (default 1,000) */
  maxQueued?: number;
  /** deliveries in flight at once (default 4) */
  concurrency?: number;
}

/**
 * Background webhook deliveries: `send()` queues and returns at once (false when the queue is
 * full or the server is stopping); each delivery's final result goes to `onDone`.
 */
export class WebhookDelivery<M = unknown> {
  private readonly queue: DeliveryQueue<WebhookJob<M>>;

  constructor(private readonly opts: WebhookDeliveryOptions<M>) {
    const log = opts.log;
    this.queue = new DeliveryQueue<WebhookJob<M>>({
      name: "webhook", log, maxQueued: opts.maxQueued, concurrency: opts.concurrency,
      run: (job, signal) => postWebhook(job.request, { ...this.opts, signal }),
      onDone: (job, result) => {
        const target = redactUrl(job.request.url);
        if (result.ok) log.debug({ url: target, attempts: result.attempts.length }, "webhook delivered");
        else log.warn({ url: target, attempts: result.attempts.length, error: result.error }, "webhook delivery failed after its retries");
        opts.onDone?.(job, result);
      },
    });
  }

  send(request: WebhookRequest, meta: M): boolean {
    return this.queue.enqueue({ request, meta });
  }

  get pending(): number {
    return this.queue.size;
  }

  drained(): Promise<void> {
    return this.queue.drained();
  }

  close(): Promise<void> {
    return this.queue.close();
  }
}
