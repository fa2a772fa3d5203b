/**
 * Alert notifications (メール通知): after each commit, every stored event is matched against the
 * rules of the server config (status, severity, control, type, organisation); a match becomes an
 * e-mail (SMTP, nodemailer; Japanese subject and body, UTF-8) and/or a webhook (kyoka JSON, Slack,
 * Teams) — sent in the background from a bounded queue, never on the ingest path.
 *
 * Per rule:
 *  - digest (まとめ通知): up to `digest.after` events within `digest.windowSeconds` are sent one
 *    message each; further ones are collected and sent as ONE digest when that window ends;
 *  - rate limit: at most `rateLimit.maxMessages` messages (single or digest) per
 *    `rateLimit.windowSeconds`; events beyond wait for the next digest (nothing is dropped: a
 *    digest lists at most `digest.maxListed` events and counts the rest).
 * A channel that fails is retried (server/delivery/retry.ts); when its tries are used up the
 * failure goes to `onFailure` (server.ts records it as an agent.delivery_failed event the desk
 * sees). Notification failures themselves are never notified again (no loop).
 */
import { readFileSync } from "node:fs";
import nodemailer from "nodemailer";
import type { Logger } from "../../lib/log.js";
import { controlOf, type StoredEvent } from "../../policies/schema.js";
import {
  DeliveryQueue, SYSTEM_CLOCK, withRetry, type AttemptOutcome, type DeliveryClock, type DeliveryResult,
} from "../delivery/retry.js";
import { postWebhook, redactUrl } from "../delivery/webhook.js";
import type { NotificationsConfig, NotifyRule } from "./config.js";
import { renderMail, renderWebhook, type NotifyEvent, type NotifyMessage } from "./message.js";

/** A channel whose tries are used up. */
export interface NotifyFailure {
  rule: string;
  channel: "email" | "webhook";
  /** the addresses, or the webhook URL without its path (it often holds a secret) */
  target: string;
  attempts: number;
  error: string;
  /** the events the message was about */
  eventIds: number[];
  agentIds: string[];
  total: number;
}

/** Timers of the rate limit and the digest; tests drive them by hand. */
export interface NotifyClock {
  now(): number;
  /** run `fn` after `ms`; returns a cancel function */
  setTimer(fn: () => void, ms: number): () => void;
}

/** how often messages dropped from a full queue are reported (one failure event per rule × channel) */
const DROP_REPORT_MS = 60_000;

const SYSTEM_NOTIFY_CLOCK: NotifyClock = {
  now: () => Date.now(),
  setTimer: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return () => clearTimeout(t);
  },
};

export interface NotifierDeps {
  config: NotificationsConfig;
  log: Logger;
  /** the organisation of an agent's PC (id and name), synchronously (the rules' filter) */
  organisationOf(agentId: string): { id: string; name: string } | undefined;
  /** the PC's hostname for the message */
  hostnameOf(agentId: string): Promise<string | undefined>;
  onFailure(f: NotifyFailure): void;
  /** each message's final outcome per channel (metrics) */
  onOutcome?(channel: "email" | "webhook", result: "sent" | "failed"): void;
  clock?: NotifyClock;
  /** retry waits (tests: no real waiting) */
  deliveryClock?: Partial<DeliveryClock>;
  /** another mail transport (nodemailer's), e.g. for tests; default from config.smtp */
  transport?: nodemailer.Transporter;
}

interface Job {
  rule: NotifyRule;
  channel: "email" | "webhook";
  message: NotifyMessage;
}

/** The rate limit's and digest's memory of one rule. Bounded: a few timestamps and ≤ maxListed events. */
interface RuleState {
  /** when the recent single messages were sent (at most digest.after kept) */
  singles: number[];
  /** when the recent messages were sent (at most rateLimit.maxMessages kept) */
  sends: number[];
  pending: StoredEvent[];
  pendingTotal: number;
  pendingSince: number;
  cancelTimer?: () => void;
}

/** Whether an event is a notification's own failure (never notified again). */
function isNotifyFailure(e: StoredEvent): boolean {
  return e.type === "agent.delivery_failed" && typeof e.details.rule === "string";
}

export function ruleMatches(rule: NotifyRule, e: StoredEvent, organisation: () => { id: string; name: string } | undefined): boolean {
  const m = rule.match;
  if (m.status && !m.status.includes(e.status)) return false;
  if (m.severity && !m.severity.includes(e.severity)) return false;
  if (m.control && !m.control.includes(e.control ?? controlOf(e.type))) return false;
  if (m.type && !m.type.includes(e.type)) return false;
  if (m.organisation) {
    const org = organisation();
    if (!org || !(m.organisation.includes(org.id) || m.organisation.includes(org.name))) return false;
  }
  return true;
}

function raceAbort<T>(p: Promise<T>, signal: AbortSignal | undefined, onAbort: () => T): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.resolve(onAbort());
  return new Promise<T>((resolve, reject) => {
    const abort = (): void => resolve(onAbort());
    signal.addEventListener("abort", abort, { once: true });
    p.then((v) => { signal.removeEventListener("abort", abort); resolve(v); },
      (err: unknown) => { signal.removeEventListener("abort", abort); reject(err instanceof Error ? err : new Error(String(err))); });
  });
}

/** An SMTP error → whether another try can help: 4xx replies and connection trouble yes, 5xx no. */
export function mailOutcome(err: unknown): AttemptOutcome {
  const e = err as { responseCode?: number; code?: string; message?: string; response?: string };
  const code = typeof e.responseCode === "number" ? e.responseCode : undefined;
  const text = `${e.code ? `${e.code} ` : ""}${(e.response ?? e.message ?? String(err)).slice(0, 500)}`;
  if (code !== undefined && code >= 500) return { ok: false, retryable: false, status: code, error: text };
  if (e.code === "EENVELOPE" || e.code === "EAUTH") return { ok: false, retryable: false, status: code, error: text };
  return { ok: false, retryable: true, status: code, error: text };
}

export class Notifier {
  private readonly states = new Map<string, RuleState>();
  private readonly queue: DeliveryQueue<Job>;
  private readonly clock: NotifyClock;
  private readonly deliveryClock: DeliveryClock;
  private readonly transport: nodemailer.Transporter | undefined;
  private closed = false;
  /** messages dropped from a full queue, per rule × channel, until their one failure report */
  private readonly dropped = new Map<string, { job: Job; count: number; eventIds: number[]; agentIds: Set<string> }>();

  constructor(private readonly deps: NotifierDeps) {
    this.clock = deps.clock ?? SYSTEM_NOTIFY_CLOCK;
    this.deliveryClock = { ...SYSTEM_CLOCK, ...deps.deliveryClock };
    const { config } = deps;
    for (const r of config.rules) this.states.set(r.name, { singles: [], sends: [], pending: [], pendingTotal: 0, pendingSince: 0 });
    this.transport = deps.transport ?? (config.smtp ? createMailTransport(config.smtp) : undefined);
    this.queue = new DeliveryQueue<Job>({
      name: "notify", log: deps.log, maxQueued: config.maxQueued, concurrency: 4,
      run: (job, signal) => this.deliver(job, signal),
      onDone: (job, result) => this.done(job, result),
    });
  }

  /** Whether any rule exists (server.ts builds the stored events for it only then). */
  get active(): boolean {
    return this.deps.config.rules.length > 0 && !this.closed;
  }

  /** After a commit (server.ts onCommit): match, then queue. Synchronous and bounded; never throws. */
  onCommitted(events: StoredEvent[]): void {
    if (!this.active) return;
    for (const e of events) {
      if (isNotifyFailure(e)) continue;
      let org: { id: string; name: string } | undefined | null = null;
      const organisation = (): { id: string; name: string } | undefined => {
        if (org === null) org = this.deps.organisationOf(e.agentId);
        return org;
      };
      for (const rule of this.deps.config.rules) {
        try {
          if (ruleMatches(rule, e, organisation)) this.arrive(rule, e);
        } catch (err) {
          this.deps.log.error({ err, rule: rule.name, eventId: e.id }, "notification rule failed on an event; the event is stored");
        }
      }
    }
  }

  /** Resolves when nothing waits to be sent (digests still waiting for their window are not sent). */
  drained(): Promise<void> {
    return this.queue.drained();
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const s of this.states.values()) s.cancelTimer?.();
    for (const key of [...this.dropped.keys()]) this.reportDropped(key);
    await this.queue.close();
    this.transport?.close();
  }

  // --- rate limit and digest -------------------------------------------------------------------

  private arrive(rule: NotifyRule, e: StoredEvent): void {
    const s = this.states.get(rule.name)!;
    const now = this.clock.now();
    const digestMs = rule.digest.windowSeconds * 1000;
    const rateMs = rule.rateLimit.windowSeconds * 1000;
    s.singles = s.singles.filter((t) => t > now - digestMs);
    s.sends = s.sends.filter((t) => t > now - rateMs);
    if (s.pendingTotal > 0) {
      this.addPending(s, rule, e);
      return;
    }
    if (s.singles.length < rule.digest.after && s.sends.length < rule.rateLimit.maxMessages) {
      s.singles.push(now);
      s.sends.push(now);
      this.send(rule, { rule: rule.name, kind: "event", events: [], total: 1 }, [e]);
      return;
    }
    // a burst (more than digest.after in the window) or the rate limit reached: collect for a digest
    s.pendingSince = now;
    this.addPending(s, rule, e);
    const burst = s.singles.length >= rule.digest.after;
    let at = burst ? now + digestMs : now;
    if (s.sends.length >= rule.rateLimit.maxMessages) at = Math.max(at, s.sends[0]! + rateMs);
    this.schedule(s, rule, at - now);
    this.deps.log.info({ rule: rule.name, burst, sendAt: new Date(at).toISOString() }, "notifications collected for a digest");
  }

  private addPending(s: RuleState, rule: NotifyRule, e: StoredEvent): void {
    s.pendingTotal++;
    if (s.pending.length < rule.digest.maxListed) s.pending.push(e);
  }

  private schedule(s: RuleState, rule: NotifyRule, ms: number): void {
    s.cancelTimer?.();
    s.cancelTimer = this.clock.setTimer(() => this.flushDigest(rule), Math.max(0, ms));
  }

  private flushDigest(rule: NotifyRule): void {
    const s = this.states.get(rule.name)!;
    s.cancelTimer = undefined;
    if (this.closed || s.pendingTotal === 0) return;
    const now = this.clock.now();
    const rateMs = rule.rateLimit.windowSeconds * 1000;
    s.sends = s.sends.filter((t) => t > now - rateMs);
    if (s.sends.length >= rule.rateLimit.maxMessages) {
      this.schedule(s, rule, s.sends[0]! + rateMs - now);
      return;
    }
    s.sends.push(now);
    const events = s.pending;
    const total = s.pendingTotal;
    const from = new Date(s.pendingSince).toISOString();
    s.pending = [];
    s.pendingTotal = 0;
    this.send(rule, total === 1
      ? { rule: rule.name, kind: "event", events: [], total: 1 }
      : { rule: rule.name, kind: "digest", events: [], total, from, to: new Date(now).toISOString() }, events);
  }

  private send(rule: NotifyRule, message: NotifyMessage, events: StoredEvent[]): void {
    // the PC and organisation are looked up by the delivery, off this path
    const msg: NotifyMessage = { ...message, events: events.map((event) => ({ event, hostname: null, organisation: null })) };
    if (rule.email) this.enqueue({ rule, channel: "email", message: msg });
    if (rule.webhook) this.enqueue({ rule, channel: "webhook", message: msg });
  }

  private enqueue(job: Job): void {
    if (this.queue.enqueue(job)) return;
    this.deps.onOutcome?.(job.channel, "failed");
    // dropped (queue full): ONE failure per rule × channel per DROP_REPORT_MS, however many were dropped
    const key = `${job.rule.name}\u0000${job.channel}`;
    let d = this.dropped.get(key);
    if (!d) {
      d = { job, count: 0, eventIds: [], agentIds: new Set() };
      this.dropped.set(key, d);
      this.clock.setTimer(() => this.reportDropped(key), this.closed ? 0 : DROP_REPORT_MS);
    }
    d.count += job.message.total;
    for (const n of job.message.events) {
      if (d.eventIds.length < 200) d.eventIds.push(n.event.id);
      d.agentIds.add(n.event.agentId);
    }
  }

  private reportDropped(key: string): void {
    const d = this.dropped.get(key);
    if (!d) return;
    this.dropped.delete(key);
    this.deps.log.error({ rule: d.job.rule.name, channel: d.job.channel, events: d.count }, "notifications dropped: the queue is full (the receiver is down or too slow)");
    this.deps.onFailure({
      ...this.failure(d.job, 0, `not sent: the notification queue was full (${d.count} event(s) in dropped messages)`),
      eventIds: d.eventIds, agentIds: [...d.agentIds], total: d.count,
    });
  }

  // --- delivery ----------------------------------------------------------------------------------

  private async withContext(m: NotifyMessage): Promise<NotifyMessage> {
    const events: NotifyEvent[] = [];
    for (const n of m.events) {
      let hostname: string | undefined;
      try {
        hostname = await this.deps.hostnameOf(n.event.agentId);
      } catch { /* the agent id is shown instead */ }
      events.push({ event: n.event, hostname: hostname ?? null, organisation: this.deps.organisationOf(n.event.agentId)?.name ?? null });
    }
    return { ...m, events };
  }

  private async deliver(job: Job, signal: AbortSignal): Promise<DeliveryResult> {
    const { config } = this.deps;
    const message = await this.withContext(job.message);
    const retry = config.retry;
    if (job.channel === "webhook") {
      const hook = job.rule.webhook!;
      return postWebhook({ url: hook.url, headers: hook.headers, json: renderWebhook(message, hook.format, config.dashboardUrl) },
        { timeoutMs: config.webhookTimeoutMs, retry, clock: this.deliveryClock, signal });
    }
    const mail = renderMail(message, config.dashboardUrl);
    const email = job.rule.email!;
    const transport = this.transport!;
    return withRetry(async (_n, sig) => {
      const sent = transport.sendMail({
        from: config.smtp?.from, to: email.to, cc: email.cc, subject: mail.subject, text: mail.text,
        textEncoding: "base64", headers: { "X-Kyoka-Rule": encodeURIComponent(job.rule.name) },
      }).then((): AttemptOutcome => ({ ok: true, retryable: false }), (err: unknown) => mailOutcome(err));
      return raceAbort(sent, sig, () => ({ ok: false, retryable: false, error: "stopped (server stopping)" }));
    }, { retry, clock: this.deliveryClock, signal });
  }

  private target(job: Job): string {
    return job.channel === "email" ? job.rule.email!.to.join(", ") : redactUrl(job.rule.webhook!.url);
  }

  private failure(job: Job, attempts: number, error: string): NotifyFailure {
    const ids = job.message.events.map((n) => n.event.id);
    return {
      rule: job.rule.name, channel: job.channel, target: this.target(job), attempts, error, eventIds: ids,
      agentIds: [...new Set(job.message.events.map((n) => n.event.agentId))], total: job.message.total,
    };
  }

  private done(job: Job, result: DeliveryResult): void {
    const log = { rule: job.rule.name, channel: job.channel, target: this.target(job), kind: job.message.kind, events: job.message.total, attempts: result.attempts.length };
    this.deps.onOutcome?.(job.channel, result.ok ? "sent" : "failed");
    if (result.ok) {
      this.deps.log.info(log, "notification sent");
      return;
    }
    this.deps.log.error({ ...log, error: result.error }, "notification failed after its retries; recorded as agent.delivery_failed");
    this.deps.onFailure(this.failure(job, result.attempts.length, result.error ?? "failed"));
  }
}

export function createMailTransport(smtp: NonNullable<NotificationsConfig["smtp"]>): nodemailer.Transporter {
  const pass = smtp.passFile ? readFileSync(smtp.passFile, "utf8").trim() : smtp.pass;
  return nodemailer.createTransport({
    host: smtp.host, port: smtp.port, secure: smtp.secure, requireTLS: smtp.requireTLS,
    ...(smtp.user ? { auth: { user: smtp.user, pass } } : {}),
    connectionTimeout: smtp.timeoutMs, greetingTimeout: smtp.timeoutMs, socketTimeout: smtp.timeoutMs,
    ...(smtp.caFile ? { tls: { ca: readFileSync(smtp.caFile) } } : {}),
  });
}
