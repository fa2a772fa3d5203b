/**
 * Ingest throughput: N agents (default 1,000) over real WebSockets, each sending batches and
 * waiting for the ack before the next (like the agent's queue). The server runs in this thread,
 * the agents in a worker thread.
 *
 *   npx tsx test/server/bench-ingest.ts [agents=1000] [eventsPerAgent=200] [batch=50]
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { pino } from "pino";
import { startServer } from "../../server/server.js";

const agents = Number(process.argv[2] ?? 1000);
const perAgent = Number(process.argv[3] ?? 200);
const batch = Number(process.argv[4] ?? 50);

const CLIENT = `
const { parentPort, workerData } = require("node:worker_threads");
const { WebSocket } = require(workerData.wsPath);
const { url, creds, perAgent, batch } = workerData;
let connected = 0, done = 0;
const clients = creds.map((c) => {
  const ws = new WebSocket(url, { headers: { authorization: "Bearer " + c.agentId + ":" + c.secret } });
  let seq = 0;
  const sendNext = () => {
    const events = [];
    for (let i = 0; i < batch && seq < perAgent; i++) {
      seq++;
      events.push({ seq, type: "software.installed", observedAt: new Date().toISOString(), details: { name: "pkg-" + seq, version: "1." + seq, publisher: "bench" } });
    }
    ws.send(JSON.stringify({ t: "events", events }));
  };
  ws.on("open", () => ws.send(JSON.stringify({ t: "hello", agentId: c.agentId, hostname: "bench", os: "linux", version: "0", policyVersion: 1, lastSeq: 0 })));
  ws.on("message", (d) => {
    const m = JSON.parse(d.toString());
    if (m.t === "welcome") { if (++connected === creds.length) parentPort.postMessage({ connected }); }
    else if (m.t === "ack") { if (m.seq >= perAgent) { if (++done === creds.length) parentPort.postMessage({ done }); } else sendNext(); }
  });
  ws.on("error", (e) => parentPort.postMessage({ error: String(e) }));
  return { ws, sendNext };
});
parentPort.on("message", (m) => { if (m === "go") for (const c of clients) c.sendNext(); if (m === "close") { for (const c of clients) c.ws.close(); } });
`;

/**
 * CPU seconds of this process's main thread (the server: ws, decide, SQLite), not the client worker
 * nor zlib's pool: /proc/<pid>/task/<pid>/stat utime + stime. Less disturbed by a busy machine than
 * events/s, since time spent waiting for a core is not counted.
 */
function mainThreadCpuSeconds(): number {
  try {
    const stat = readFileSync(`/proc/${process.pid}/task/${process.pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return NaN;
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "kyoka-bench-"));
  const log = pino({ level: "warn" });
  const srv = await startServer({ port: 0, host: "127.0.0.1", dataDir: dir, log });
  try {
    const creds: Array<{ agentId: string; secret: string }> = [];
    for (let i = 0; i < agents; i++) {
      const r = await fetch(`${srv.url}/api/enroll`, { method: "POST", body: JSON.stringify({ token: srv.enrollToken, hostname: `pc-${i}`, os: "linux", version: "0" }) });
      creds.push(await r.json() as { agentId: string; secret: string });
    }
    const worker = new Worker(CLIENT, {
      eval: true,
      workerData: { url: srv.url.replace(/^http/, "ws") + "/agent", creds, perAgent, batch, wsPath: join(process.cwd(), "node_modules/ws/index.js") },
    });
    let started = 0;
    let cpu0 = 0;
    await new Promise<void>((resolve, reject) => {
      worker.on("message", (m: { connected?: number; done?: number; error?: string }) => {
        if (m.error) reject(new Error(m.error));
        if (m.connected) {
          started = performance.now();
          cpu0 = mainThreadCpuSeconds();
          worker.postMessage("go");
        }
        if (m.done) resolve();
      });
      worker.on("error", reject);
    });
    const seconds = (performance.now() - started) / 1000;
    const serverCpu = mainThreadCpuSeconds() - cpu0;
    const total = agents * perAgent;
    const metrics = await (await fetch(`${srv.url}/metrics`, { headers: { authorization: `Bearer ${srv.adminToken}` } })).text();
    const stored = /kyoka_events_ingested_total (\d+)/.exec(metrics)?.[1];
    process.stdout.write(`${agents} agents × ${perAgent} events (batches of ${batch}): ${total} events in ${seconds.toFixed(2)} s = ${Math.round(total / seconds)} events/s; server thread ${serverCpu.toFixed(2)} CPU s = ${(serverCpu * 1e6 / total).toFixed(1)} µs/event; stored ${stored}\n`);
    worker.postMessage("close");
    await new Promise((r) => setTimeout(r, 500));
    await worker.terminate();
  } finally {
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

void main();
