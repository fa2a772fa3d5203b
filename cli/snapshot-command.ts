/** `kyoka snapshot [--json]`: one-shot local inventory from every collector's snapshot source. */
import { snapshotSourceLoaders } from "../agent/collectors/snapshot-sources.js";

export async function runSnapshotCommand(flags: { json?: boolean }): Promise<void> {
  const started = Date.now();
  const doc: Record<string, unknown> = { takenAt: new Date().toISOString(), errors: [] as unknown[] };
  // per source: how long it took (wall, ms; the sources run concurrently)
  const sourceDurationMs: Record<string, number> = {};
  // each source's modules are imported on demand (included in its duration)
  const sources = snapshotSourceLoaders();
  const results = await Promise.allSettled(sources.map(async (s) => {
    const t0 = performance.now();
    try {
      return [s.name, await (await s.load()).snapshot()] as const;
    } finally {
      sourceDurationMs[s.name] = Math.round(performance.now() - t0);
    }
  }));
  results.forEach((r, i) => {
    if (r.status === "fulfilled") doc[r.value[0]] = r.value[1];
    else (doc.errors as unknown[]).push({ source: sources[i]!.name, message: String(r.reason instanceof Error ? r.reason.message : r.reason) });
  });
  doc.durationMs = Date.now() - started;
  doc.sourceDurationMs = sourceDurationMs;
  if (flags.json) {
    process.stdout.write(JSON.stringify(doc, null, 2) + "\n");
    return;
  }
  for (const [key, value] of Object.entries(doc)) {
    const summary = Array.isArray(value) ? `${value.length} item(s)` : typeof value === "object" && value ? `${Object.keys(value).length} field(s)` : String(value);
    process.stdout.write(`${key.padEnd(12)} ${summary}\n`);
  }
  process.stdout.write("(use --json for the full document)\n");
}
