import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { EventQueue } from "../../agent/queue.js";
import { agentUrl, backoffDelay, Transport, type TransportOptions } from "../../agent/transport.js";
import type { Policy } from "../../policies/policy.js";
import type { NewEvent } from "../../policies/schema.js";
import { FakeServer } from "./fake-server.js";
import { captureLog } from "../server/helpers.js";
import { silentLog, tempDir, waitFor } from "./helpers.js";

const ev = (i: number): NewEvent => ({ type: "software.installed", details: { name: `pkg-${i}`, version: "1.0" } });

let dir: string;
let cleanup: () => Promise<void>;
let server: FakeServer;
let queue: EventQueue;
let transport: Transport | undefined;
let policies: { version: number; policy: Policy }[];

async function startTransport(extra: Partial<TransportOptions> = {}): Promise<Transport> {
  transport = new Transport({
    server: server.url,
    credential: { agentId: "a1", secret: "s1", server: server.url },
    queue,
    log: silentLog(),
    hello: () => ({ hostname: "host", os: "Linux", version: "0.1.0", policyVersion: null }),
    onPolicy: (version, policy) => {
      policies.push({ version, policy });
    },
    baseBackoffMs: 20,
    maxBackoffMs: 100,
    rejectedRetryMs: 100,
    ...extra,
  });
  transport.start();
  return transport;
}

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
  server = new FakeServer();
  await server.start();
  server.addAgent("a1", "s1");
  queue = new EventQueue({ stateDir: dir, log: silentLog() });
  await queue.open();
  policies = [];
});
afterEach(async () => {
  await transport?.stop();
  transport = undefined;
  await queue.close();
  await server.stop();
  await cleanup();
});

describe("agentUrl and backoff", () => {
  it("derives <server>/agent from the --server URL", () => {
    expect(agentUrl("ws://127.0.0.1:8080")).toBe("ws://127.0.0.1:8080/agent");
    expect(agentUrl("wss://kyoka.example:443/")).toBe("wss://kyoka.example/agent");
    expect(agentUrl("ws://h:1/base/")).toBe("ws://h:1/base/agent");
    expect(agentUrl("ws://h:1/agent")).toBe("ws://h:1/agent");
    expect(() => agentUrl("ftp://h")).toThrow(/ws:\/\/ or wss:\/\//);
  });

  it("grows exponentially from 0.5 s to the 30 s cap, with full jitter", () => {
    const top = () => 0.999999;
    expect(backoffDelay(0, 500, 30_000, top)).toBe(499);
    expect(backoffDelay(1, 500, 30_000, top)).toBe(999);
    expect(backoffDelay(3, 500, 30_000, top)).toBe(3999);
    expect(backoffDelay(10, 500, 30_000, top)).toBe(29_999);
    expect(backoffDelay(1000, 500, 30_000, top)).toBe(29_999);
    expect(backoffDelay(5, 500, 30_000, () => 0)).toBe(0);
  });
});

describe("Transport", () => {
  it("sends hello with the credential, streams queued and new events, and deletes them only after the ack", async () => {
    server.autoAck = false;
    await queue.append([ev(1), ev(2), ev(3)]);
    await startTransport();
    await waitFor(() => server.stored.size === 3, "3 queued events at the server");
    const hello = server.received.find((m) => m.t === "hello");
    expect(hello).toMatchObject({ t: "hello", agentId: "a1", hostname: "host", lastSeq: 3 });

    // new events are sent with no further prompting
    await queue.append([ev(4), ev(5)]);
    await waitFor(() => server.stored.size === 5, "new events at the server");
    expect(queue.stats().pendingEvents).toBe(5); // nothing acked: nothing deleted

    server.ack(3);
    await waitFor(() => queue.stats().ackedSeq === 3, "ack 3 applied");
    expect(queue.stats().pendingEvents).toBe(2);
    expect((await queue.pending(0, 100, 1 << 20)).map((e) => e.seq)).toEqual([4, 5]);
    server.ack(5);
    await waitFor(() => queue.stats().pendingEvents === 0, "all acked");
    expect([...server.stored.keys()].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5]);
  });

  it("resumes after the server drops the connection mid-stream: every event arrives and nothing unacked is deleted", async () => {
    const acksApplied: { seq: number; serverAcked: number }[] = [];
    const realAck = queue.ack.bind(queue);
    queue.ack = async (seq: number) => {
      acksApplied.push({ seq, serverAcked: server.ackedSeq });
      return realAck(seq);
    };
    for (let b = 0; b < 6; b++) await queue.append(Array.from({ length: 500 }, (_, i) => ev(b * 500 + i)));
    server.dropAfterFrames = 3; // the 3rd frame is lost with the connection
    await startTransport({ window: 2 });
    await waitFor(() => queue.stats().pendingEvents === 0, "all 3000 events acked", 20_000);
    expect(server.connections).toBeGreaterThanOrEqual(2);
    expect([...server.stored.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: 3000 }, (_, i) => i + 1));
    // the queue only ever deleted what the server had acknowledged
    for (const a of acksApplied) expect(a.seq).toBeLessThanOrEqual(a.serverAcked);
    for (const m of server.received) if (m.t === "events") expect(m.events.length).toBeLessThanOrEqual(500);
  });

  it("keeps at most `window` unacknowledged frames in flight", async () => {
    server.autoAck = false;
    for (let b = 0; b < 5; b++) await queue.append(Array.from({ length: 100 }, (_, i) => ev(b * 100 + i)));
    await startTransport({ window: 2, batchMaxEvents: 100 });
    await waitFor(() => server.stored.size === 200, "two frames");
    await new Promise((r) => setTimeout(r, 100));
    expect(server.stored.size).toBe(200);
    server.ack(100);
    await waitFor(() => server.stored.size === 300, "a third frame after the ack");
  });

  it("reconnects after failed connections and resets once welcomed", async () => {
    server.dropNextConnections = 3;
    await queue.append([ev(1)]);
    const t = await startTransport({ random: () => 0.5 });
    await waitFor(() => server.stored.size === 1, "event after reconnecting");
    expect(server.connections).toBe(4);
    expect(t.stats()).toMatchObject({ welcomes: 1, connects: 4 });
    expect(t.connected).toBe(true);
  });

  it("sends a heartbeat every heartbeatSeconds", async () => {
    server.heartbeatSeconds = 0.05;
    await startTransport();
    await waitFor(() => server.received.filter((m) => m.t === "heartbeat").length >= 3, "3 heartbeats");
    const hb = server.received.find((m) => m.t === "heartbeat");
    expect(hb).toMatchObject({ t: "heartbeat" });
    expect(Number.isNaN(Date.parse((hb as { at: string }).at))).toBe(false);
  });

  it("applies a valid pushed policy and ignores an invalid policy or message", async () => {
    await startTransport();
    await waitFor(() => transport!.connected, "connected");
    server.send("not json at all");
    server.send({ t: "surprise", x: 1 });
    server.send({ t: "policy", version: 2, policy: { heartbeatSeconds: "often" } });
    server.send({ t: "policy", version: 3, policy: { heartbeatSeconds: 10, collectors: { p2p: { enabled: false } } } });
    await waitFor(() => policies.length === 1, "policy applied");
    expect(policies[0]!.version).toBe(3);
    expect(policies[0]!.policy.heartbeatSeconds).toBe(10);
    expect(policies[0]!.policy.collectors.p2p!.enabled).toBe(false);
    expect(policies[0]!.policy.software.rescanSeconds).toBe(300); // defaults filled in
    // the connection survived the junk
    await queue.append([ev(1)]);
    await waitFor(() => queue.stats().pendingEvents === 0, "event acked on the same connection");
    expect(server.connections).toBe(1);
  });

  it("on 4403 (revoked) keeps the events and retries slowly", async () => {
    server.mode = { kind: "close", code: 4403 };
    await queue.append([ev(1), ev(2)]);
    const t = await startTransport({ rejectedRetryMs: 50, random: () => 0 });
    await waitFor(() => server.connections >= 3, "retried");
    expect(t.stats().credentialRejected).toBe(true);
    expect(t.stats().lastCloseCode).toBe(4403);
    expect(queue.stats().pendingEvents).toBe(2);
    // once the credential is accepted again, the events flow
    server.mode = { kind: "accept" };
    await waitFor(() => queue.stats().pendingEvents === 0, "events delivered after the revocation is lifted");
    expect(t.stats().credentialRejected).toBe(false);
  });

  it("treats an unknown credential (4401) and an HTTP 401 upgrade refusal as credential errors", async () => {
    const t = await startTransport({ credential: { agentId: "nobody", secret: "x", server: server.url }, rejectedRetryMs: 50 });
    await waitFor(() => t.stats().lastCloseCode === 4401, "closed with 4401");
    expect(t.stats().credentialRejected).toBe(true);
    await t.stop();

    server.mode = { kind: "http", status: 401 };
    const t2 = await startTransport({ rejectedRetryMs: 50 });
    await waitFor(() => t2.stats().credentialRejected && t2.stats().connects >= 2, "401 seen and retried");
  });

  it("an HTTP 403 upgrade refusal (revoked, checked before the upgrade) is understood as 4403 was: events kept, slow retry, the server's reason logged", async () => {
    const { log, lines } = captureLog();
    server.mode = { kind: "http", status: 403, reason: "agent credential revoked at 2026-12-01T00:00:00.000Z" };
    await queue.append([ev(1)]);
    const t = await startTransport({ rejectedRetryMs: 50, log });
    await waitFor(() => t.stats().credentialRejected && t.stats().connects >= 3, "403 seen and retried slowly");
    expect(queue.stats().pendingEvents).toBe(1);
    const line = lines.find((l) => l.httpStatus === 403);
    expect(line?.msg).toMatch(/revoked this agent's credential/);
    expect(line?.reason).toBe("agent credential revoked at 2026-12-01T00:00:00.000Z");
    server.mode = { kind: "accept" };
    await waitFor(() => queue.stats().pendingEvents === 0, "delivered once accepted again");
  });

  it("an HTTP 429 with Retry-After (connection limit) is not a credential error and waits at least Retry-After", async () => {
    server.mode = { kind: "http", status: 429, reason: "too many connections", retryAfter: 1 };
    const t = await startTransport({ baseBackoffMs: 1, maxBackoffMs: 2 });
    await waitFor(() => t.stats().connects >= 1 && !t.connected, "first attempt refused");
    await new Promise((r) => setTimeout(r, 600));
    expect(t.stats().connects).toBe(1); // backoff alone would have retried within a few ms
    expect(t.stats().credentialRejected).toBe(false);
    server.mode = { kind: "accept" };
    await waitFor(() => t.connected, "connected after Retry-After", 5000);
    expect(t.stats().connects).toBe(2);
  });

  it("flush waits for the acks, and stop closes with 1000", async () => {
    await startTransport();
    await waitFor(() => transport!.connected, "connected");
    await queue.append([ev(1), ev(2)]);
    expect(await transport!.flush(5000)).toBe(true);
    expect(queue.stats().pendingEvents).toBe(0);
    await transport!.stop("test over");
    await waitFor(() => server.closeCodes.length === 1, "server saw the close");
    expect(server.closeCodes).toEqual([1000]);
    expect(server.received.at(-1)).toEqual({ t: "bye", reason: "test over" });
  });
});
