/** ack.rejected (README: protocol): the agent logs each event the server refused and deletes it with the rest. */
import { afterEach, beforeEach, expect, it } from "vitest";
import { EventQueue } from "../../agent/queue.js";
import { Transport } from "../../agent/transport.js";
import { captureLog } from "../server/helpers.js";
import { FakeServer } from "./fake-server.js";
import { silentLog, tempDir, waitFor } from "./helpers.js";

let dir: string;
let cleanup: () => Promise<void>;
let server: FakeServer;
let queue: EventQueue;
let transport: Transport | undefined;

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
  server = new FakeServer();
  await server.start();
  server.addAgent("a1", "s1");
  queue = new EventQueue({ stateDir: dir, log: silentLog() });
  await queue.open();
});
afterEach(async () => {
  await transport?.stop();
  await queue.close();
  await server.stop();
  await cleanup();
});

it("an event the server refused is logged with its seq, path and message, counted, and deleted from the queue like the acked ones", async () => {
  const logs = captureLog();
  server.rejectSeqs.add(2);
  transport = new Transport({
    server: server.url, credential: { agentId: "a1", secret: "s1", server: server.url }, queue, log: logs.log,
    hello: () => ({ hostname: "host", os: "Linux", version: "0.1.0", policyVersion: null }), onPolicy: () => undefined,
    baseBackoffMs: 20, maxBackoffMs: 100,
  });
  transport.start();
  await queue.append([1, 2, 3].map((i) => ({ type: "software.installed" as const, details: { name: `pkg-${i}` } })));
  await waitFor(() => queue.stats().ackedSeq === 3, "the ack of seq 3");
  expect(queue.stats().pendingEvents).toBe(0);
  expect(transport.stats().eventsRejected).toBe(1);
  expect(logs.lines.filter((l) => l.msg === "the server refused an event (not stored): deleted from the queue").map((l) => [l.seq, l.path, l.issue]))
    .toEqual([[2, "details.name", "refused by the fake server"]]);
});
