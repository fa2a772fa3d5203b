/**
 * The fuzz suite's harness (test/fuzz/harness.ts) at a size beyond the test run's: hostile agents'
 * generated frames and generated HTTP requests against the built `kyoka server` (child process),
 * with an innocent agent delivering numbered events and /healthz sampled throughout.
 * Usage: npm run build && npx tsx bench/fuzz.ts [--frames 500000] [--requests 100000]
 * Prints the run's figures as one JSON line; exit 1 if the server exited, answered 5xx or the
 * innocent agent's events were not all acknowledged. All traffic is on 127.0.0.1.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { runFuzz } from "../test/fuzz/harness.js";
import { startServer, tmp } from "./lib.js";

const args = process.argv.slice(2);
const opt = (name: string, dflt: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};

async function main(): Promise<void> {
  const data = tmp("kyoka-bench-fuzz-");
  writeFileSync(join(data, "fuzz.yaml"), "authLimit:\n  maxFailures: 1000000\n");
  const server = await startServer(["--config", join(data, "fuzz.yaml")], data);
  let exited = false;
  server.child.once("exit", () => { exited = true; });
  const now = Date.now();
  const admin = (method: string, path: string, body: string, type: string): Promise<Response> =>
    fetch(server.url + path, { method, headers: { authorization: `Bearer ${server.adminToken}`, "content-type": type }, body });
  await admin("PUT", "/api/policy", "software:\n  prohibited:\n    - name: '*win*ny*'\n    - name: '*bit*torrent*client*'\n", "text/yaml");
  await admin("POST", "/api/approvals", JSON.stringify({ control: "software", match: { name: "*a*b*c*d*e*" }, scope: { all: true },
    validFrom: new Date(now - 60_000).toISOString(), validUntil: new Date(now + 86_400_000).toISOString(), reason: "bench: glob in force" }), "application/json");
  const innocentEvents = 2000;
  const r = await runFuzz({ url: server.url, adminToken: server.adminToken, enrollToken: server.enrollToken, alive: () => !exited },
    { frames: opt("frames", 500_000), requests: opt("requests", 100_000), hostileAgents: 6, httpConcurrency: 6, innocentEvents });
  const { fiveHundreds, hostileAgentIds: _ids, ...shown } = r;
  console.log(JSON.stringify({ ...shown, fiveHundreds: fiveHundreds.length, serverExited: exited }));
  const ok = !exited && fiveHundreds.length === 0 && r.innocent.ackedSeq === innocentEvents;
  if (!exited) await server.stop();
  process.exit(ok ? 0 : 1);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
