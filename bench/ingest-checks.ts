/**
 * The per-event work the server adds at ingest, in-process: the frame schema, checkEvent
 * (policies/details.ts) and decide (server/decide.ts) on a software.installed like the ingest
 * bench's. Usage: npx tsx bench/ingest-checks.ts
 */
import { loadCatalog, serverOnlyTypes } from "../policies/catalog.js";
import { checkEvent } from "../policies/details.js";
import { Policy } from "../policies/policy.js";
import { AgentMessage } from "../policies/schema.js";
import { decide } from "../policies/decide.js";

const N = 200_000;
const events = Array.from({ length: 50 }, (_, i) => ({
  seq: i + 1, type: "software.installed", observedAt: new Date().toISOString(), details: { name: `pkg-${i}`, version: `1.${i}`, publisher: "bench" },
}));
const frame = { t: "events", events };

function time(name: string, per: number, f: () => void, n: number): void {
  for (let i = 0; i < 1000; i++) f();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) f();
  console.log(`${name}: ${(Number(process.hrtime.bigint() - t0) / 1e3 / n / per).toFixed(2)} µs per event`);
}

const serverOnly = serverOnlyTypes();
const catalog = loadCatalog();
const policy = Policy.parse({ software: { prohibited: [{ name: "*torrent*" }, { name: "winny*" }] } });
time("frame schema (AgentMessage, 50 events)", 50, () => AgentMessage.safeParse(frame), N / 50);
time("checkEvent", 1, () => checkEvent(events[3], { serverOnly }), N);
time("decide (2 prohibited rules, no approval)", 1, () => decide({ type: "software.installed", details: events[3]!.details, agent: { id: "a", tags: [] } }, { catalog, policy, approvals: [], now: new Date() }), N);
