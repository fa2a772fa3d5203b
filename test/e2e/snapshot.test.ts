/**
 * `kyoka snapshot [--json]` as a user runs it (the built CLI in a child process): every section,
 * the hardware inventory typed and the same as the agent's reader gives, and the caches it keeps
 * between runs (parsed policy/signatures, executable hashes) in KYOKA_CACHE_DIR.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Inventory, normalize } from "../../agent/collectors/asset/inventory.js";
import { pcIdentity } from "../../agent/collectors/asset/identity.js";
import { readSystemInformation } from "../../agent/collectors/asset/read.js";
import { processScope, run } from "../helpers/kyoka.js";

const scope = processScope();

async function snapshot(args: string[], cacheDir: string): Promise<{ code: number | null; out: string; err: string }> {
  const p = scope.track(run(["snapshot", ...args], { KYOKA_CACHE_DIR: cacheDir }));
  const { code } = await p.exited;
  return { code, out: p.stdout(), err: p.stderr() };
}

describe("kyoka snapshot", () => {
  it("--json prints every section; the hardware is the agent's inventory of this PC; a second run answers from its caches", async () => {
    const cache = scope.dir();
    const first = await snapshot(["--json"], cache);
    expect(first.code, first.err).toBe(0);
    const doc = JSON.parse(first.out) as Record<string, unknown> & { errors: unknown[]; hardware: Record<string, unknown>; p2p: unknown[] };
    expect(doc.errors).toEqual([]);
    for (const section of ["hardware", "software", "network", "media", "p2p"]) expect(doc[section], section).toBeDefined();
    expect(Object.keys(doc.sourceDurationMs as object).sort()).toEqual(["hardware", "media", "network", "p2p", "software"]);

    const { pcId, pcIdBasis, ...inv } = doc.hardware;
    const typed = Inventory.parse(inv);
    expect(typed.errors).toEqual([]);
    // the same reader the agent's asset collector uses, in this process
    const agentView = normalize(await readSystemInformation());
    expect(pcId).toBe(pcIdentity(agentView).id);
    expect(pcIdBasis).toBe(pcIdentity(agentView).basis);
    const stable = (i: Inventory) => ({ ...i, users: [], cpu: { ...i.cpu, speedGHz: 0 } });
    expect(stable(typed)).toEqual(stable(agentView));

    // the caches: policy and signatures parsed once, and the hashes of the executables it identified
    const files = readdirSync(cache).sort();
    expect(files.filter((f) => f.startsWith("policy-") || f.startsWith("p2p-signatures-"))).toHaveLength(2);
    expect(files).toContain("p2p-hashes.json");
    const hashes = JSON.parse(readFileSync(join(cache, "p2p-hashes.json"), "utf8")) as { version: string; value: { markersKey: string; entries: [string, { sha256: string }][] } };
    expect(hashes.value.markersKey).toMatch(/^[0-9a-f]{64}$/);
    // at least this test's own node binary was running and was identified
    expect(hashes.value.entries.length).toBeGreaterThan(0);
    expect(hashes.value.entries.every(([k, v]) => /^\d+:\d+:\d+:\d+:\d+$/.test(k) && /^[0-9a-f]{64}$/.test(v.sha256))).toBe(true);

    const second = await snapshot(["--json"], cache);
    expect(second.code, second.err).toBe(0);
    const again = JSON.parse(second.out) as typeof doc;
    expect(again.errors).toEqual([]);
    expect(again.hardware.pcId).toBe(pcId);
  }, 60_000);

  it("without --json prints one summary line per section and how to get the document", async () => {
    const r = await snapshot([], scope.dir());
    expect(r.code, r.err).toBe(0);
    for (const section of ["hardware", "software", "network", "media", "p2p"]) expect(r.out).toMatch(new RegExp(`^${section}\\s+\\d+ (item|field)`, "m"));
    expect(r.out).toContain("--json");
  }, 60_000);

  it("works with the cache turned off (KYOKA_CACHE_DIR='') and with an unusable cache folder", async () => {
    const off = await snapshot(["--json"], "");
    expect(off.code, off.err).toBe(0);
    expect((JSON.parse(off.out) as { errors: unknown[] }).errors).toEqual([]);
    const blocked = await snapshot(["--json"], "/proc/version/not-a-dir");
    expect(blocked.code, blocked.err).toBe(0);
    expect((JSON.parse(blocked.out) as { errors: unknown[] }).errors).toEqual([]);
  }, 60_000);
});
