/**
 * Simulated agents over real WebSocket connections against the real server (child process) and its
 * embedded SQLite, on this machine. Scenarios (run one by name, or all):
 *   throughput  1,000 concurrent agents sending as fast as acks return → events/s durably stored
 *   idle        10,000 connected idle agents → server RSS
 *   latency     2,000 events/s from 100 agents → ack latency p50/p95/p99
 * Usage: npx tsx bench/server-load.ts [throughput|idle|latency] [--seconds 10]
 * All traffic is on 127.0.0.1.
 */
import WebSocket from "ws";
import { cpuSeconds, enroll, percentile, rssMiB, startServer, type Server } from "./lib.js";

const args = process.argv.slice(2);
const which = args.find((a) => !a.startsWith("--")) ?? "all";
const seconds = Number(args[args.indexOf("--seconds") + 1] ?? 0) || 10;

interface SimAgent { ws: WebSocket; seq: number; acked: number; pending: Map<number, number> }

async function connect(server: Server, name: string, onAck?: (a: SimAgent, seq: number) => void): Promise<SimAgent> {
  const cred = await enroll(server, name);
  const ws = new WebSocket(`${server.url.replace(/^http/, "ws")}/agent`, {
    headers: { authorization: `Bearer ${cred.agentId}:${cred.secret}` },
    perMessageDeflate: true,
  });
  const agent: SimAgent = { ws, seq: 0, acked: 0, pending: new Map() };
  await new Promise<void>((resolve, reject) => {
    ws.once("error", reject);
    ws.once("open", () => {
      ws.send(JSON.stringify({ t: "hello", agentId: cred.agentId, hostname: name, os: "linux", version: "bench", policyVersion: null, lastSeq: 0 }));
    });
    ws.on("message", (data: Buffer) => {
      const msg = JSON.parse(data.toString()) as { t: string; seq?: number };
      if (msg.t === "welcome") resolve();
      else if (msg.t === "ack") {
        agent.acked = msg.seq!;
        onAck?.(agent, msg.seq!);
      }
    });
  });
  return agent;
}

function batch(agent: SimAgent, n: number): string {
  const now = new Date().toISOString();
  const events = [];
  for (let i = 0; i < n; i++) {
    agent.seq++;
    events.push({ seq: agent.seq, type: "agent.selftest", observedAt: now, details: { n: agent.seq, host: "bench" } });
  }
  return JSON.stringify({ t: "events", events });
}

async function connectMany(server: Server, n: number, onAck?: (a: SimAgent, seq: number) => void): Promise<SimAgent[]> {
  const agents: SimAgent[] = [];
  for (let i = 0; i < n; i += 100) {
    agents.push(...(await Promise.all(Array.from({ length: Math.min(100, n - i) }, (_, j) => connect(server, `bench-${i + j}`, onAck)))));
  }
  return agents;
}

async function throughput(): Promise<void> {
  const server = await startServer();
  const BATCH = 100;
  let stored = 0;
  let running = true;
  const agents = await connectMany(server, 1000, (a, seq) => {
    stored += BATCH;
    if (running && seq === a.seq) a.ws.send(batch(a, BATCH));
  });
  const cpu0 = cpuSeconds(server.child.pid!);
  const t0 = Date.now();
  stored = 0;
  for (const a of agents) a.ws.send(batch(a, BATCH));
  await new Promise((r) => setTimeout(r, seconds * 1000));
  running = false;
  const elapsed = (Date.now() - t0) / 1000;
  const cpu = cpuSeconds(server.child.pid!) - cpu0;
  console.log(JSON.stringify({ scenario: "throughput", agents: 1000, batch: BATCH, seconds: elapsed, storedEvents: stored, eventsPerSecond: Math.round(stored / elapsed), serverCpuCores: +(cpu / elapsed).toFixed(2), serverRssMiB: Math.round(rssMiB(server.child.pid!)) }));
  agents.forEach((a) => a.ws.terminate());
  await server.stop();
}

async function idle(): Promise<void> {
  const server = await startServer();
  const rss0 = rssMiB(server.child.pid!);
  const agents = await connectMany(server, 10_000);
  await new Promise((r) => setTimeout(r, 5000));
  console.log(JSON.stringify({ scenario: "idle", agents: agents.length, serverRssMiBBefore: Math.round(rss0), serverRssMiB: Math.round(rssMiB(server.child.pid!)) }));
  agents.forEach((a) => a.ws.terminate());
  await server.stop();
}

async function latency(): Promise<void> {
  const server = await startServer();
  const lat: number[] = [];
  const agents = await connectMany(server, 100, (a, seq) => {
    const sent = a.pending.get(seq);
    if (sent !== undefined) { lat.push(Number(process.hrtime.bigint() / 1000n) / 1000 - sent); a.pending.delete(seq); }
  });
  // each agent sends one event every 50 ms → 2,000 events/s in all
  const cpu0 = cpuSeconds(server.child.pid!);
  const self0 = process.cpuUsage();
  const t0 = Date.now();
  const timers = agents.map((a, i) => setTimeout(() => {
    const iv = setInterval(() => {
      a.ws.send(batch(a, 1));
      a.pending.set(a.seq, Number(process.hrtime.bigint() / 1000n) / 1000);
    }, 50);
    timers.push(iv as unknown as NodeJS.Timeout);
  }, (i * 50) / agents.length));
  await new Promise((r) => setTimeout(r, seconds * 1000));
  timers.forEach((t) => { clearTimeout(t); clearInterval(t); });
  const elapsed = (Date.now() - t0) / 1000;
  const cpu = cpuSeconds(server.child.pid!) - cpu0;
  const self = process.cpuUsage(self0);
  lat.sort((x, y) => x - y);
  console.log(JSON.stringify({ scenario: "latency", agents: 100, serverCpuCores: +(cpu / elapsed).toFixed(2), clientCpuCores: +((self.user + self.system) / 1e6 / elapsed).toFixed(2), eventsPerSecond: Math.round(lat.length / elapsed), acks: lat.length, p50ms: +percentile(lat, 50).toFixed(2), p95ms: +percentile(lat, 95).toFixed(2), p99ms: +percentile(lat, 99).toFixed(2), maxMs: +lat[lat.length - 1]!.toFixed(2) }));
  agents.forEach((a) => a.ws.terminate());
  await server.stop();
}

const scenarios: Record<string, () => Promise<void>> = { throughput, idle, latency };
for (const [name, fn] of Object.entries(scenarios)) {
  if (which === "all" || which === name) await fn();
}
process.exit(0);
