/**
 * Limits that keep one hostile client from holding the server: connection caps for WebSocket
 * upgrades (total and per IP), the hello deadline and ping interval, and a log sampler so that a
 * flood of refusals does not become a flood of log lines. (Failed authentications are limited per
 * address by server/auth-limit.ts, shared by the HTTP API, enrollment and both WebSockets.)
 */

/** The server's connection and socket limits (ServerOptions.limits, `limits:` in the config file). */
export interface ConnectionLimits {
  /** WebSocket connections (agents + stream) at once; more are refused with HTTP 503 */
  maxConnections: number;
  /** WebSocket connections from one IP address at once; more are refused with HTTP 429 */
  maxConnectionsPerIp: number;
  /** an authenticated agent that has not said hello after this long is closed (4408) */
  helloTimeoutMs: number;
  /** a ping every interval; a socket that did not answer the previous one is terminated */
  pingIntervalMs: number;
}

export const DEFAULT_LIMITS: ConnectionLimits = {
  maxConnections: 20_000,
  // offices behind one NAT address: hundreds of PCs may share an IP
  maxConnectionsPerIp: 1_000,
  helloTimeoutMs: 10_000,
  pingIntervalMs: 30_000,
};

export function resolveLimits(given: Partial<ConnectionLimits> | undefined): ConnectionLimits {
  return { ...DEFAULT_LIMITS, ...Object.fromEntries(Object.entries(given ?? {}).filter(([, v]) => v !== undefined)) };
}

/** Counts open WebSocket connections, in total and per remote address. */
export class ConnectionGate {
  private readonly perIp = new Map<string, number>();
  private total = 0;

  constructor(private readonly limits: Pick<ConnectionLimits, "maxConnections" | "maxConnectionsPerIp">) {}

  get open(): number {
    return this.total;
  }

  /**
   * Take a slot for `ip`: a release function, or the HTTP status of the refusal (503: the server
   * is full, 429: this address holds too many). The release function is idempotent.
   */
  acquire(ip: string): (() => void) | { status: 429 | 503; message: string } {
    if (this.total >= this.limits.maxConnections) {
      return { status: 503, message: `server connection limit reached (${this.limits.maxConnections})` };
    }
    const n = this.perIp.get(ip) ?? 0;
    if (n >= this.limits.maxConnectionsPerIp) {
      return { status: 429, message: `too many connections from ${ip} (limit ${this.limits.maxConnectionsPerIp})` };
    }
    this.perIp.set(ip, n + 1);
    this.total++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      const m = (this.perIp.get(ip) ?? 1) - 1;
      if (m <= 0) this.perIp.delete(ip);
      else this.perIp.set(ip, m);
    };
  }
}

/**
 * Sampled logging: at most `perWindow` lines per key per window; the next line logged for that key
 * says how many were suppressed in between.
 */
export class LogSampler {
  private readonly windows = new Map<string, { start: number; logged: number; suppressed: number }>();

  constructor(private readonly perWindow = 5, private readonly windowMs = 60_000, private readonly now: () => number = Date.now) {}

  /** undefined: do not log this one; else log it, with `suppressed` lines dropped since the last logged one. */
  sample(key: string): { suppressed: number } | undefined {
    const t = this.now();
    let w = this.windows.get(key);
    if (!w || t - w.start >= this.windowMs) {
      const suppressed = w?.suppressed ?? 0;
      if (this.windows.size >= 10_000) this.windows.clear();
      w = { start: t, logged: 1, suppressed: 0 };
      this.windows.set(key, w);
      return { suppressed };
    }
    if (w.logged < this.perWindow) {
      w.logged++;
      const suppressed = w.suppressed;
      w.suppressed = 0;
      return { suppressed };
    }
    w.suppressed++;
    return undefined;
  }
}
