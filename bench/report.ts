/**
 * A monthly compliance report for a large fleet (issue 15): stores 1,000 PCs × 30 days × 5
 * controls ≈ 5 million events (and the agents' check evidence, 150,000 PC × control × day rows)
 * straight into a fresh embedded SQLite database, starts the real `kyoka server` on it (child
 * process), and times GET /api/reports/compliance for the month in each format while sampling the
 * server's RSS (its VmHWM: the peak) and how slowly it answers /healthz meanwhile (the build gives
 * the event loop a turn between its steps). Target: ≤ 30 s and ≤ 300 MB (server RSS) per report.
 * Usage: npx tsc -p tsconfig.json && npx tsx bench/report.ts [--pcs 1000] [--per-day 33] [--formats json,csv,html]
 *   [--keep DIR: fill DIR once and keep it; later runs with the same --keep reuse it]
 */
import { availableParallelism, loadavg } from "node:os";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PeopleDb } from "../server/people/db.js";
import { SqliteStore } from "../server/store-sqlite.js";
import type { EventRow } from "../server/store.js";
import type { Control, EventType, Status } from "../policies/schema.js";
import { sleep, startServer, tmp } from "./lib.js";

const args = process.argv.slice(2);
const arg = (name: string, dflt: string): string => (args.includes(name) ? args[args.indexOf(name) + 1]! : dflt);
const PCS = Number(arg("--pcs", "1000"));
const PER_DAY = Number(arg("--per-day", "33")); // events per PC × control × day
const FORMATS = arg("--formats", "json,csv,html").split(",");
const FROM = "2026-11-01";
const DAYS = 30;

const TYPES: Array<[Control, EventType]> = [
  ["software", "software.executed"], ["network", "network.connection"], ["media", "media.inserted"], ["p2p", "p2p.present"], ["asset", "asset.snapshot"],
];
const REASONS = Object.freeze([{ ja: "カタログの既定", en: "catalog default" }]) as EventRow["reasons"];

function vm(pid: number, field: "VmRSS" | "VmHWM"): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

function fill(dataDir: string): number {
  const store = new SqliteStore(dataDir, { synchronous: "NORMAL" });
  const people = new PeopleDb(store.handle);
  const orgs = Array.from({ length: 5 }, (_, i) => people.createOrganisation(`contractor-${i + 1}`, "contractor", "2026-10-01T00:00:00.000Z").id);
  const db = store.handle;
  const agentIds = Array.from({ length: PCS }, (_, i) => `pc-${String(i).padStart(4, "0")}`);
  db.transaction(() => {
    const add = db.prepare(`INSERT INTO agents (id, secret_hash, hostname, os, version, enrolled_at, organisation_id) VALUES (?, 'x', ?, 'linux', 'bench', '2026-10-01T00:00:00.000Z', ?)`);
    agentIds.forEach((id, i) => add.run(id, id, orgs[i % orgs.length]));
    const ev = db.prepare(`INSERT INTO check_evidence (agent_id, control, collector, day, checks, first_at, last_at) VALUES (?, ?, ?, ?, 1, ?, ?)`);
    for (const [i, id] of agentIds.entries()) {
      for (let d = 0; d < DAYS; d++) {
        // one PC in 50 is silent for the third week
        if (i % 50 === 7 && d >= 14 && d < 21) continue;
        const day = new Date(Date.parse(`${FROM}T00:00:00Z`) + d * 86_400_000).toISOString().slice(0, 10);
        for (const [c] of TYPES) ev.run(id, c, c, day, `${day}T03:00:00.000Z`, `${day}T03:00:00.000Z`);
      }
    }
  })();
  const start = Date.parse(`${FROM}T00:00:00+09:00`);
  let n = 0;
  let rows: EventRow[] = [];
  const seqs = new Map<string, number>();
  for (let d = 0; d < DAYS; d++) {
    for (const [i, agentId] of agentIds.entries()) {
      for (const [control, type] of TYPES) {
        for (let k = 0; k < PER_DAY; k++) {
          const at = new Date(start + d * 86_400_000 + (k * 86_400_000) / PER_DAY + i).toISOString();
          const status: Status = k % 97 === 0 ? "violation" : k % 31 === 0 ? "needs_approval" : k % 13 === 0 ? "approved" : "info";
          const seq = (seqs.get(agentId) ?? 0) + 1;
          seqs.set(agentId, seq);
          rows.push({ agentId, seq, control, type, articles: ["別記2 第10"], severity: "info", status, observedAt: at, receivedAt: at, details: {}, detailsJson: "{}", approvalId: null, reasons: REASONS });
          n++;
          if (rows.length === 20_000) { store.insertEventsSync(rows); rows = []; }
        }
      }
    }
  }
  if (rows.length) store.insertEventsSync(rows);
  db.pragma("wal_checkpoint(TRUNCATE)");
  void store.close();
  return n;
}

async function main(): Promise<void> {
  const keep = args.includes("--keep") ? arg("--keep", "") : undefined;
  const data = keep ?? tmp("kyoka-bench-report-");
  let n = PCS * DAYS * TYPES.length * PER_DAY;
  if (!keep || !existsSync(join(keep, "filled"))) {
    const t0 = performance.now();
    n = fill(data);
    if (keep) writeFileSync(join(keep, "filled"), String(n));
    console.log(`stored ${n.toLocaleString("en")} events (${PCS} PCs × ${DAYS} days × ${TYPES.length} controls × ${PER_DAY}) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  } else {
    n = Number(readFileSync(join(keep, "filled"), "utf8"));
    console.log(`reusing ${keep}: ${n.toLocaleString("en")} events`);
  }
  const server = await startServer([], data);
  const pid = server.child.pid!;
  try {
    await sleep(2000);
    const idle = vm(pid, "VmRSS");
    console.log(`server idle RSS ${idle.toFixed(1)} MiB (peak so far ${vm(pid, "VmHWM").toFixed(1)} MiB)`);
    for (const format of FORMATS) {
      let peak = 0;
      const sampler = setInterval(() => { peak = Math.max(peak, vm(pid, "VmRSS")); }, 50);
      // the server keeps answering while it builds the report: /healthz every 100 ms, the slowest answer
      let probing = true;
      let slowest = 0;
      const probe = (async () => {
        while (probing) {
          const t = performance.now();
          // a fresh connection each time (an idle keep-alive one may be closed by the server meanwhile)
          await fetch(`${server.url}/healthz`, { headers: { connection: "close" } }).then((r) => r.arrayBuffer());
          slowest = Math.max(slowest, performance.now() - t);
          await sleep(100);
        }
      })();
      const started = performance.now();
      const res = await fetch(`${server.url}/api/reports/compliance?from=${FROM}&to=2026-11-30&format=${format}`, { headers: { authorization: `Bearer ${server.adminToken}` } });
      const body = Buffer.from(await res.arrayBuffer());
      clearInterval(sampler);
      const seconds = (performance.now() - started) / 1000;
      probing = false;
      await probe;
      if (res.status !== 200) throw new Error(`${format}: HTTP ${res.status} ${body.toString().slice(0, 300)}`);
      peak = Math.max(peak, vm(pid, "VmRSS"));
      let check = "";
      if (format === "json") {
        const r = JSON.parse(body.toString()) as { summary: { pcs: number; verdicts: Record<string, number>; events: Record<string, number> } };
        const events = Object.values(r.summary.events).reduce((a, b) => a + b, 0);
        if (r.summary.pcs !== PCS || events !== n) throw new Error(`json: ${r.summary.pcs} PCs, ${events} events; expected ${PCS}, ${n}`);
        check = ` (${r.summary.pcs} PCs, ${events.toLocaleString("en")} events; verdicts ${JSON.stringify(r.summary.verdicts)})`;
      }
      console.log(`${format}: ${(body.length / 1048576).toFixed(1)} MiB in ${seconds.toFixed(1)} s; server RSS peak ${peak.toFixed(1)} MiB (VmHWM ${vm(pid, "VmHWM").toFixed(1)} MiB); slowest /healthz meanwhile ${slowest.toFixed(0)} ms${check}`);
    }
    console.log(`load average ${loadavg().map((l) => l.toFixed(2)).join(" ")} (${availableParallelism()} CPUs)`);
  } finally {
    await server.stop();
  }
}

await main();
