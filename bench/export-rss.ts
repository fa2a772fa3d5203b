/**
 * Export of many events in constant memory: stores N events (default 1,000,000) straight into a
 * fresh embedded SQLite database, starts the real `kyoka server` on it (child process), and
 * measures the server's RSS while idle and while GET /api/events/export streams every event as
 * CSV and as NDJSON to a client that reads as fast as it can. Target: the peak during an export
 * within 50 MB of the idle RSS (issue 12).
 * Usage: npx tsc -p tsconfig.json && npx tsx bench/export-rss.ts [--events 1000000]
 */
import { randomUUID } from "node:crypto";
import { availableParallelism, loadavg } from "node:os";
import { SqliteStore } from "../server/store-sqlite.js";
import type { EventRow } from "../server/store.js";
import { rssMiB, sleep, startServer, tmp } from "./lib.js";

const args = process.argv.slice(2);
const total = Number(args[args.indexOf("--events") + 1] ?? 0) || 1_000_000;

function fill(dataDir: string): void {
  const store = new SqliteStore(dataDir, { synchronous: "NORMAL" });
  const agents = Array.from({ length: 100 }, () => randomUUID());
  const start = Date.parse("2026-01-01T00:00:00Z");
  const articles = ["別記2 第10"];
  const seqs = new Map<string, number>();
  for (let done = 0; done < total;) {
    const rows: EventRow[] = [];
    for (let i = 0; i < 10_000 && done < total; i++, done++) {
      const agentId = agents[done % agents.length]!;
      const seq = (seqs.get(agentId) ?? 0) + 1;
      seqs.set(agentId, seq);
      const at = new Date(start + done * 1000).toISOString();
      rows.push({
        agentId, seq, control: "software", type: "software.installed", articles, severity: "medium", status: "needs_approval",
        observedAt: at, receivedAt: at, approvalId: null, reasons: [{ ja: "カタログの既定: 甲許可待ち", en: "catalog default: needs approval" }],
        details: { name: `package-${done % 5000}`, version: `1.${done % 100}.0`, publisher: "Example 株式会社", source: "dpkg" },
      });
    }
    store.insertEventsSync(rows);
  }
  void store.close();
}

async function main(): Promise<void> {
  const data = tmp("kyoka-bench-export-");
  const t0 = performance.now();
  fill(data);
  console.log(`stored ${total.toLocaleString("en")} events in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const server = await startServer([], data);
  const pid = server.child.pid!;
  try {
    await sleep(3000);
    let idle = 0;
    for (let i = 0; i < 20; i++) {
      idle = Math.max(idle, rssMiB(pid));
      await sleep(100);
    }
    console.log(`server idle RSS ${idle.toFixed(1)} MiB`);
    for (const format of ["csv", "ndjson"] as const) {
      let peak = 0;
      const sampler = setInterval(() => { peak = Math.max(peak, rssMiB(pid)); }, 50);
      const started = performance.now();
      const res = await fetch(`${server.url}/api/events/export?format=${format}`, { headers: { authorization: `Bearer ${server.adminToken}` } });
      if (res.status !== 200 || !res.body) throw new Error(`export: ${res.status}`);
      let bytes = 0;
      let lines = 0;
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        bytes += chunk.length;
        for (let i = 0; i < chunk.length; i++) if (chunk[i] === 0x0a) lines++;
      }
      clearInterval(sampler);
      peak = Math.max(peak, rssMiB(pid));
      const seconds = (performance.now() - started) / 1000;
      const records = format === "csv" ? lines - 1 : lines;
      if (records !== total) throw new Error(`${format}: ${records} records, expected ${total}`);
      console.log(`${format}: ${records.toLocaleString("en")} events, ${(bytes / 1048576).toFixed(0)} MiB in ${seconds.toFixed(1)} s ` +
        `(${Math.round(records / seconds).toLocaleString("en")} events/s); server RSS peak ${peak.toFixed(1)} MiB = idle + ${(peak - idle).toFixed(1)} MiB`);
    }
    console.log(`load average ${loadavg().map((l) => l.toFixed(2)).join(" ")} (${availableParallelism()} CPUs)`);
  } finally {
    await server.stop();
  }
}

await main();
