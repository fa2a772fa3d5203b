/** server/delivery/webhook.ts against a real local HTTP listener; waits are injected (no real backoff). */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { backoffMs, postWebhook, redactUrl, WebhookDelivery, type DeliveryResult } from "../../server/delivery/webhook.js";
import { withRetry } from "../../server/delivery/retry.js";
import { captureLog } from "./helpers.js";

interface Received { method: string; path: string; contentType: string | undefined; body: string }

async function listen(handler: (req: IncomingMessage, res: ServerResponse, n: number) => void): Promise<{ url: string; received: Received[]; server: Server }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      received.push({ method: req.method!, path: req.url!, contentType: req.headers["content-type"], body: Buffer.concat(chunks).toString("utf8") });
      handler(req, res, received.length);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  servers.push(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook/secret-part`, received, server };
}

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
});

/** records the waits instead of waiting */
function fakeClock(): { waits: number[]; clock: { sleep: (ms: number) => Promise<void>; random: () => number } } {
  const waits: number[] = [];
  return { waits, clock: { sleep: async (ms: number) => { waits.push(ms); }, random: () => 0.5 } };
}

describe("postWebhook", () => {
  it("a receiver failing until the 3rd try: delivered on the 3rd, after two backoff waits", async () => {
    const hook = await listen((_req, res, n) => {
      res.statusCode = n < 3 ? 503 : 200;
      res.end(n < 3 ? "busy" : "ok");
    });
    const { waits, clock } = fakeClock();
    const result = await postWebhook({ url: hook.url, json: { 件名: "定期報告", n: 1 } }, {
      clock, retry: { attempts: 5, baseDelayMs: 1000, maxDelayMs: 60_000, jitter: 0.5 },
    });
    expect(result.ok).toBe(true);
    expect(result.status).toBe(200);
    expect(result.attempts.map((a) => a.status)).toEqual([503, 503, 200]);
    expect(result.attempts.map((a) => a.ok)).toEqual([false, false, true]);
    // exponential: 1 s then 2 s steps, half of each random (random() = 0.5 → 75 %)
    expect(waits).toEqual([750, 1500]);
    expect(hook.received).toHaveLength(3);
    for (const r of hook.received) {
      expect(r.method).toBe("POST");
      expect(r.contentType).toBe("application/json; charset=utf-8");
      expect(JSON.parse(r.body)).toEqual({ 件名: "定期報告", n: 1 });
    }
  });

  it("a receiver that always fails: every try made, then one final failure", async () => {
    const hook = await listen((_req, res) => {
      res.statusCode = 500;
      res.end("broken");
    });
    const { waits, clock } = fakeClock();
    const result = await postWebhook({ url: hook.url, body: "a,b\n1,2\n", contentType: "text/csv; charset=utf-8" }, {
      clock, retry: { attempts: 4, baseDelayMs: 100, maxDelayMs: 250, jitter: 0 },
    });
    expect(result.ok).toBe(false);
    expect(result.status).toBe(500);
    expect(result.error).toContain("HTTP 500");
    expect(result.attempts).toHaveLength(4);
    expect(waits).toEqual([100, 200, 250]); // doubled, capped at maxDelayMs
    expect(hook.received).toHaveLength(4);
    expect(hook.received[0]!.contentType).toBe("text/csv; charset=utf-8");
    expect(hook.received[0]!.body).toBe("a,b\n1,2\n");
  });

  it("a 4xx other than 408/425/429 is not retried; Retry-After of a 429 is honoured", async () => {
    const bad = await listen((_req, res) => { res.statusCode = 400; res.end(); });
    const { waits, clock } = fakeClock();
    const r1 = await postWebhook({ url: bad.url, json: {} }, { clock, retry: { attempts: 5 } });
    expect(r1.ok).toBe(false);
    expect(r1.attempts).toHaveLength(1);
    expect(bad.received).toHaveLength(1);

    const limited = await listen((_req, res, n) => {
      if (n === 1) { res.statusCode = 429; res.setHeader("retry-after", "7"); } else res.statusCode = 204;
      res.end();
    });
    const r2 = await postWebhook({ url: limited.url, json: {} }, { clock, retry: { attempts: 3, maxDelayMs: 60_000 } });
    expect(r2.ok).toBe(true);
    expect(r2.attempts.map((a) => a.status)).toEqual([429, 204]);
    expect(waits).toEqual([7000]);
  });

  it("a receiver that never answers: each try times out and is retried; a closed port is a network error", async () => {
    const silent = await listen(() => { /* never answers */ });
    const { clock } = fakeClock();
    const r = await postWebhook({ url: silent.url, json: {} }, { clock, timeoutMs: 150, retry: { attempts: 2 } });
    expect(r.ok).toBe(false);
    expect(r.attempts).toHaveLength(2);
    expect(r.error).toBe("no answer within 150 ms");

    const closed = await listen(() => undefined);
    const url = closed.url;
    closed.server.close();
    const r2 = await postWebhook({ url, json: {} }, { clock, retry: { attempts: 2 } });
    expect(r2.ok).toBe(false);
    expect(r2.attempts).toHaveLength(2);
    expect(r2.error).toMatch(/ECONNREFUSED/);
  });
});

describe("backoff", () => {
  it("grows exponentially up to the cap, with the jitter share random", () => {
    const p = { attempts: 9, baseDelayMs: 1000, maxDelayMs: 8000, jitter: 0.5 };
    expect([1, 2, 3, 4, 5].map((n) => backoffMs(n, p, () => 0))).toEqual([500, 1000, 2000, 4000, 4000]);
    expect([1, 2, 3, 4, 5].map((n) => backoffMs(n, p, () => 0.999999))).toEqual([1000, 2000, 4000, 8000, 8000]);
    expect(backoffMs(3, { ...p, jitter: 0 }, () => 0.3)).toBe(4000);
  });

  it("an attempt that throws counts as a retryable failed try", async () => {
    let n = 0;
    const r = await withRetry(async () => {
      n++;
      if (n < 2) throw new Error("boom");
      return { ok: true, retryable: false };
    }, { clock: { sleep: async () => undefined } });
    expect(r.ok).toBe(true);
    expect(r.attempts[0]!.error).toBe("boom");
  });
});

describe("WebhookDelivery (background, bounded)", () => {
  it("send() returns at once; results arrive in onDone; the queue is bounded; close() ends a hung delivery", async () => {
    const flaky = await listen((_req, res, n) => { res.statusCode = n < 3 ? 502 : 200; res.end(); });
    const hung = await listen(() => { /* never answers */ });
    const results: Array<{ meta: string; result: DeliveryResult }> = [];
    const { log } = captureLog();
    const delivery = new WebhookDelivery<string>({
      log, concurrency: 1, maxQueued: 2, clock: { sleep: async () => undefined },
      retry: { attempts: 3 }, timeoutMs: 60_000,
      onDone: (job, result) => results.push({ meta: job.meta, result }),
    });
    expect(delivery.send({ url: flaky.url, json: { a: 1 } }, "flaky")).toBe(true);
    await delivery.drained();
    expect(results).toHaveLength(1);
    expect(results[0]!.meta).toBe("flaky");
    expect(results[0]!.result.ok).toBe(true);
    expect(results[0]!.result.attempts).toHaveLength(3);

    // one in flight (hung) + 2 waiting = full; the 4th is refused, not waited for
    expect(delivery.send({ url: hung.url, json: {} }, "hung")).toBe(true);
    expect(delivery.send({ url: hung.url, json: {} }, "w1")).toBe(true);
    expect(delivery.send({ url: hung.url, json: {} }, "w2")).toBe(true);
    expect(delivery.send({ url: hung.url, json: {} }, "refused")).toBe(false);
    await new Promise<void>((r) => {
      const t = setInterval(() => { if (hung.received.length >= 1) { clearInterval(t); r(); } }, 10);
    });
    await delivery.close();
    const hungResult = results.find((r) => r.meta === "hung")!;
    expect(hungResult.result.ok).toBe(false);
    expect(hungResult.result.error).toMatch(/stopping/);
    expect(results.map((r) => r.meta)).toEqual(["flaky", "hung"]); // the waiting ones were dropped at close
    expect(delivery.send({ url: flaky.url, json: {} }, "late")).toBe(false);
  });

  it("redacts the URL's path and query in logs", () => {
    expect(redactUrl("https://user:pw@hooks.example.jp/services/T0/B0/xyz?token=1")).toBe("https://hooks.example.jp/…");
    expect(redactUrl("not a url")).toBe("(not a URL)");
  });
});
