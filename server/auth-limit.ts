/**
 * Failed authentications per client address (wrong admin token, wrong enrollment token): after
 * `maxFailures` failures within `windowMs`, every authenticated request from that address is
 * answered 429 until the window ends — right or wrong credential, so a guesser learns nothing
 * more. Logged at a sampled rate: the first failure of an address in a window, the moment it is
 * blocked, and at most `logLinesPerWindow` such lines in a window over all addresses; the rest is
 * counted and reported in one summary line when the next window starts.
 */
import type { Logger } from "../lib/log.js";
import { RateLimitedError } from "./errors.js";

export interface AuthFailureLimiterOptions {
  /** failures allowed per address and window (default 20) */
  maxFailures?: number;
  /** window length (default 60 s) */
  windowMs?: number;
  /** log lines per window over all addresses (default 20) */
  logLinesPerWindow?: number;
  /** addresses remembered at most (default 10,000; the oldest windows are forgotten first) */
  maxAddresses?: number;
  /** what a key is, in the 429 message (default "this address"; the login limiter: "this login from this address") */
  keyLabel?: string;
  now?: () => number;
}

interface Window {
  start: number;
  failures: number;
  /** requests answered 429 in this window */
  refused: number;
}

export class AuthFailureLimiter {
  private readonly maxFailures: number;
  private readonly windowMs: number;
  private readonly logLines: number;
  private readonly maxAddresses: number;
  private readonly now: () => number;
  private readonly keyLabel: string;
  private readonly windows = new Map<string, Window>();
  /** the global log budget's window */
  private logWindow = { start: 0, lines: 0, unlogged: 0, refused: 0 };

  constructor(private readonly log: Logger, opts: AuthFailureLimiterOptions = {}) {
    this.maxFailures = opts.maxFailures ?? 20;
    this.windowMs = opts.windowMs ?? 60_000;
    this.logLines = opts.logLinesPerWindow ?? 20;
    this.maxAddresses = opts.maxAddresses ?? 10_000;
    this.now = opts.now ?? Date.now;
    this.keyLabel = opts.keyLabel ?? "this address";
  }

  /** Throw RateLimitedError when `ip` used up its failures in this window. */
  check(ip: string): void {
    const w = this.current(ip, false);
    if (!w || w.failures < this.maxFailures) return;
    w.refused++;
    this.logBudget().refused++;
    const retryAfter = Math.max(1, Math.ceil((w.start + this.windowMs - this.now()) / 1000));
    throw new RateLimitedError(`too many failed authentications from ${this.keyLabel}; retry in ${retryAfter} s`, retryAfter);
  }

  /** A successful authentication of `key` before it was blocked: its failures are forgotten. */
  succeeded(key: string): void {
    this.windows.delete(key);
  }

  /** Count a failed authentication of `ip` (what failed: "admin token", "enrollment token"). */
  failed(ip: string, what: string, path: string): void {
    const w = this.current(ip, true)!;
    w.failures++;
    const budget = this.logBudget();
    const worth = w.failures === 1 || w.failures === this.maxFailures;
    if (!worth || budget.lines >= this.logLines) {
      budget.unlogged++;
      return;
    }
    budget.lines++;
    if (w.failures === this.maxFailures) {
      this.log.warn({ remote: ip, what, path, failures: w.failures, windowSeconds: this.windowMs / 1000 },
        `authentication failed ${w.failures} times from ${ip}: further requests answered 429 until the window ends`);
    } else {
      this.log.warn({ remote: ip, what, path }, `authentication failed (${what}); further failures from this address are counted, not logged`);
    }
  }

  private current(ip: string, create: boolean): Window | undefined {
    const now = this.now();
    let w = this.windows.get(ip);
    if (w && now - w.start >= this.windowMs) {
      this.windows.delete(ip);
      w = undefined;
    }
    if (!w && create) {
      if (this.windows.size >= this.maxAddresses) this.forgetOldest(now);
      w = { start: now, failures: 0, refused: 0 };
      this.windows.set(ip, w);
    }
    return w;
  }

  private forgetOldest(now: number): void {
    for (const [ip, w] of this.windows) if (now - w.start >= this.windowMs) this.windows.delete(ip);
    // still full: Map order is insertion order, the first entries are the oldest windows
    for (const ip of this.windows.keys()) {
      if (this.windows.size < this.maxAddresses) break;
      this.windows.delete(ip);
    }
  }

  private logBudget(): { start: number; lines: number; unlogged: number; refused: number } {
    const now = this.now();
    const b = this.logWindow;
    if (now - b.start >= this.windowMs) {
      if (b.unlogged > 0 || b.refused > 0) {
        this.log.warn({ unloggedFailures: b.unlogged, refused: b.refused, windowSeconds: this.windowMs / 1000 },
          "authentication failures in the last window that were counted but not logged one by one");
      }
      this.logWindow = { start: now, lines: 0, unlogged: 0, refused: 0 };
    }
    return this.logWindow;
  }
}
