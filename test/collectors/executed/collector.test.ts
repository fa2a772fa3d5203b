/** The executed collector's logic on a scripted platform (real temp files for hashing, no /proc). */
import { createHash } from "node:crypto";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { ByteBudget, ExecutedCollector, PathIndex, type ExecutedPlatform, type ProcessStart, type ProcessStartSource, type StartedProcess } from "../../../agent/collectors/executed/index.js";
import { ExecutableHasher } from "../../../agent/collectors/p2p/hash.js";
import { recordingContext } from "../../helpers/collector-context.js";
import { removeDir, tempDir } from "../../helpers/kyoka.js";

const dir = tempDir("kyoka-executed-unit-");
afterAll(() => removeDir(dir));

function file(name: string, content: string): { path: string; sha256: string } {
  const path = join(dir, name);
  writeFileSync(path, content);
  chmodSync(path, 0o755);
  return { path, sha256: createHash("sha256").update(content).digest("hex") };
}

/** A platform whose package index, processes and signer the test scripts. */
class ScriptedPlatform implements ExecutedPlatform {
  readonly os = "win32" as const;
  packaged = new Set<string>();
  token = "1";
  builds = 0;
  procs = new Map<number, StartedProcess>();
  signerCalls = 0;
  mediumFails = false;
  async buildIndex(): Promise<PathIndex> {
    this.builds++;
    const i = new PathIndex();
    i.addPaths(this.packaged, "scripted");
    return i;
  }
  async indexToken(): Promise<string> { return this.token; }
  processStarts(): ProcessStartSource {
    return { kind: "scripted", start: async () => undefined, stop: async () => undefined };
  }
  async running(): Promise<ProcessStart[]> { return [...this.procs.values()].map((p) => ({ pid: p.pid, exe: p.path })); }
  describe(start: ProcessStart): StartedProcess | undefined { return this.procs.get(start.pid); }
  async signer(): Promise<{ signer: string | null; status: string }> {
    this.signerCalls++;
    return { signer: "Example Signer", status: "valid" };
  }
  async medium(): Promise<null> {
    if (this.mediumFails) throw new Error("media reader failed");
    return null;
  }
  isAlive(): boolean { return false; }
  /** the collector's callback for "the package databases changed" */
  changed?: () => void;
  watchIndex(onChange: () => void): () => void {
    this.changed = onChange;
    return () => { this.changed = undefined; };
  }
}

function started(pid: number, path: string, extra: Partial<StartedProcess> = {}): StartedProcess {
  return { pid, path, readPath: path, ppid: 1, parentExe: "C:\\Windows\\explorer.exe", user: "taro", ...extra };
}

describe("executed collector (scripted platform)", () => {
  it("reports a program once per hash with its signer, counts the rest, skips packaged ones; a package installed later is picked up", async () => {
    const platform = new ScriptedPlatform();
    const a = file("a.exe", "program A");
    const b = file("b.exe", "program B");
    platform.packaged.add(b.path);
    platform.procs.set(10, started(10, a.path));
    platform.procs.set(11, started(11, b.path));
    const copy = file("a-copy.exe", "program A");
    platform.procs.set(12, started(12, copy.path));
    const ctx = recordingContext({});
    let clock = Date.parse("2026-12-03T00:00:00Z");
    const c = new ExecutedCollector({ platform, persistEveryMs: 10, now: () => clock });
    await c.start(ctx);
    c.enqueue([{ pid: 10, exe: a.path }, { pid: 11, exe: b.path }, { pid: 12, exe: copy.path }, { pid: 99 /* gone */ }]);
    await c.drained();
    expect(ctx.events).toHaveLength(1);
    expect(ctx.events[0]).toMatchObject({ type: "software.executed", details: { path: a.path, sha256: a.sha256, signer: "Example Signer", signatureStatus: "valid", user: "taro", parent: { pid: 1, exe: "C:\\Windows\\explorer.exe" }, medium: null } });
    expect(c.counts()[a.sha256]?.count).toBe(2);
    expect(c.stats).toMatchObject({ starts: 4, packaged: 1, reported: 1, counted: 1 });

    // a new package's program: the database moved, so the index is rebuilt before judging it
    const d = file("d.exe", "program D");
    platform.packaged.add(d.path);
    platform.token = "2";
    platform.procs.set(13, started(13, d.path));
    clock += 1000;
    c.enqueue([{ pid: 13, exe: d.path }]);
    await c.drained();
    expect(ctx.events).toHaveLength(1);
    expect(platform.builds).toBe(2);
    // counts reach the state without an event
    await new Promise((r) => setTimeout(r, 50));
    expect(ctx.state.get<Record<string, { count: number }>>("seen")?.[a.sha256]?.count).toBe(2);
    await c.stop();
  });

  it("an unreadable program is reported once with the reason; a failing medium lookup does not lose the event", async () => {
    const platform = new ScriptedPlatform();
    platform.mediumFails = true;
    const missing = join(dir, "vanished.exe");
    platform.procs.set(20, started(20, missing));
    platform.procs.set(21, started(21, missing));
    const ctx = recordingContext({});
    const c = new ExecutedCollector({ platform });
    await c.start(ctx);
    c.enqueue([{ pid: 20 }, { pid: 21 }]);
    await c.drained();
    expect(ctx.events).toHaveLength(1);
    expect(ctx.events[0]!.details).toMatchObject({ path: missing, sha256: null, hashError: "unreadable: ENOENT", medium: null });
    expect(ctx.failures).toEqual([]);
    await c.stop();
  });

  it("trusted folders are neither reported nor hashed nor asked for a signer", async () => {
    const platform = new ScriptedPlatform();
    const t = file("trusted-tool.exe", "trusted");
    platform.procs.set(30, started(30, t.path));
    const ctx = recordingContext({ software: { executed: { trustedPaths: [`${dir}/trusted-*`] } } });
    const c = new ExecutedCollector({ platform });
    await c.start(ctx);
    c.enqueue([{ pid: 30, exe: t.path }]);
    await c.drained();
    expect(ctx.events).toEqual([]);
    expect(platform.signerCalls).toBe(0);
    expect(c.stats.trusted).toBe(1);
    await c.stop();
  });

  it("a source's hold on a start (fanotify's fd) is let go exactly once: at once when skipped, after the look when examined, at stop when still queued", async () => {
    const platform = new ScriptedPlatform();
    const pkg = file("packaged-tool.exe", "packaged");
    platform.packaged.add(pkg.path);
    const a = file("held-a.exe", "held A");
    platform.procs.set(40, started(40, a.path));
    const ctx = recordingContext({});
    const c = new ExecutedCollector({ platform });
    await c.start(ctx);
    const released: string[] = [];
    const hold = (name: string) => () => { released.push(name); };
    c.enqueue([{ pid: 41, exe: pkg.path, release: hold("packaged") }, { pid: 40, exe: a.path, release: hold("examined") }]);
    expect(released).toEqual(["packaged"]);
    await c.drained();
    expect(released).toEqual(["packaged", "examined"]);
    expect(ctx.events).toHaveLength(1);
    // queued behind a slow look: stop lets it go without looking
    platform.procs.set(42, started(42, a.path));
    platform.procs.set(43, started(43, a.path));
    c.enqueue([{ pid: 42, exe: a.path, release: hold("first") }, { pid: 43, exe: a.path, release: hold("queued") }]);
    await c.stop();
    expect(released.sort()).toEqual(["examined", "first", "packaged", "queued"]);
  });
});

describe("hashing budget and reasons", () => {
  it("a burst of package-database changes (an install writes many files) is one background rebuild once quiet; a steady stream still rebuilds after the longest wait", async () => {
    vi.useFakeTimers();
    try {
      const platform = new ScriptedPlatform();
      const c = new ExecutedCollector({ platform, indexQuietMs: 1000, indexMaxWaitMs: 10_000, now: () => Date.now() });
      await c.start(recordingContext({}));
      const atStart = platform.builds;
      for (let i = 0; i < 200; i++) { platform.changed!(); await vi.advanceTimersByTimeAsync(5); }
      expect(platform.builds).toBe(atStart); // still writing: not yet
      await vi.advanceTimersByTimeAsync(1000);
      expect(platform.builds).toBe(atStart + 1);
      // a change every 500 ms for 25 s: never quiet for 1 s, yet rebuilt every ≤ 10 s
      for (let i = 0; i < 50; i++) { platform.changed!(); await vi.advanceTimersByTimeAsync(500); }
      expect(platform.builds).toBeGreaterThanOrEqual(atStart + 3);
      expect(platform.builds).toBeLessThanOrEqual(atStart + 4);
      await c.stop();
      expect(platform.changed).toBeUndefined();
    } finally {
      vi.useRealTimers();
    }
  });

  it("ByteBudget: a second file waits for the budget to refill", async () => {
    let t = 0;
    const budget = new ByteBudget(1000, () => t);
    await budget.take(1000); // the first second's worth
    let done = false;
    const p = budget.take(500).then(() => { done = true; });
    await new Promise((r) => setTimeout(r, 30));
    expect(done).toBe(false);
    t = 600; // 600 bytes refilled
    await p;
    expect(done).toBe(true);
  });

  it("identifyOrReason: too large with its size, not a file, unreadable, and beforeRead only on a miss", async () => {
    const h = new ExecutableHasher([], 16, 10);
    const big = file("big.bin", "x".repeat(11));
    expect(await h.identifyOrReason(big.path)).toEqual({ reason: "too_large", size: 11 });
    expect(await h.identifyOrReason(dir)).toEqual({ reason: "not_a_file" });
    expect(await h.identifyOrReason(join(dir, "nope"))).toEqual({ reason: "unreadable", error: "ENOENT" });
    const small = file("small.bin", "tiny");
    const reads: number[] = [];
    const before = async (n: number) => { reads.push(n); };
    expect(await h.identifyOrReason(small.path, before)).toMatchObject({ sha256: small.sha256, size: 4 });
    expect(await h.identifyOrReason(small.path, before)).toMatchObject({ sha256: small.sha256 });
    expect(reads).toEqual([4]);
  });
});
