/**
 * The P2P collector driven by process events (live, as root): with a cycle period of an hour, a
 * program started after the first cycle can only be seen through its exec event — from the
 * kernel's proc connector, or from the polling fallback when the connector is unavailable. The
 * "client" is a copy of /bin/sleep named qbittorrent-nox (recognised by its name; it opens no
 * socket, so no namespace is needed).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { copyFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { P2pCollector } from "../../../agent/collectors/p2p/index.js";
import { loadSignatures } from "../../../agent/collectors/p2p/signatures.js";
import { procPidIdentities } from "../../../agent/os/linux/proc-events.js";
import { PollingProcessSource, ProcessEvents, type ProcessSource } from "../../../agent/os/process-events.js";
import { eventually, fakeContext, requireRoot } from "./live-helpers.js";

const log = pino({ level: "silent" });
let dir: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  requireRoot();
  dir = await mkdtemp(join(tmpdir(), "kyoka-p2p-events-"));
  await copyFile("/bin/sleep", join(dir, "qbittorrent-nox"));
});
afterAll(async () => {
  for (const c of children) c.kill("SIGKILL");
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function detectsAfterFirstCycle(events: ProcessEvents): Promise<P2pCollector> {
  const ctx = fakeContext("p2p: { scanSeconds: 3600, presentPaths: [] }");
  const collector = new P2pCollector({ signatures: loadSignatures(), processEvents: events });
  await collector.start(ctx);
  try {
    await eventually(async () => (collector.stats.cycles >= 1 ? true : undefined), "the first cycle");
    const client = spawn(join(dir, "qbittorrent-nox"), ["300"], { stdio: "ignore" });
    children.push(client);
    const running = await eventually(async () => ctx.events.find((e) => e.type === "p2p.running" && e.details.pid === client.pid), "p2p.running for the started client", 30_000);
    expect(running.details).toMatchObject({ family: "qBittorrent", name: "qbittorrent-nox", path: join(dir, "qbittorrent-nox") });
    // seen through the events: only the first cycle listed every process
    expect(collector.stats.fullLists).toBe(1);
    expect(collector.stats.updates).toBeGreaterThanOrEqual(1);

    // it exits: the next update drops it, and nothing is emitted for the exit
    const before = ctx.events.length;
    const updates = collector.stats.updates;
    client.kill("SIGKILL");
    await eventually(async () => (collector.stats.updates > updates ? true : undefined), "a cycle after the exit", 30_000);
    expect(ctx.events.slice(before).filter((e) => e.details.pid === client.pid)).toEqual([]);
    expect(ctx.failures).toEqual([]);
    return collector;
  } finally {
    await collector.stop();
  }
}

describe("P2P collector on process events (live)", () => {
  it("sees a client start through the kernel's exec event, without listing every process", async () => {
    const events = new ProcessEvents({ log });
    await detectsAfterFirstCycle(events);
    // the collector started and stopped the shared source
    expect(events.mode).toBeUndefined();
    expect(events.counts.exec).toBeGreaterThan(0);
  });

  it("falls back to polling when the connector is unavailable, and still sees the client start", async () => {
    const unavailable: ProcessSource = { mode: "netlink", start: async () => { throw new Error("EPERM"); }, stop: async () => undefined };
    let mode: string | undefined;
    const events = new ProcessEvents({ log, sources: () => [unavailable, new PollingProcessSource(procPidIdentities(), 100)] });
    events.onExec(() => { mode = events.mode; });
    await detectsAfterFirstCycle(events);
    expect(mode).toBe("poll");
  });
});
