/**
 * The bounded walk of presentPaths (agent/collectors/p2p/present.ts): a pass visits at most
 * maxFiles entries per step and resumes; a finished pass rests, and while it rests the collector
 * asks nothing of the disk (resting() is what lets the 2 s P2P cycle skip listing the homes).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { P2pCollector } from "../../../agent/collectors/p2p/index.js";
import type { P2pPlatform } from "../../../agent/collectors/p2p/platform.js";
import { PresentWalker } from "../../../agent/collectors/p2p/present.js";
import { loadSignatures } from "../../../agent/collectors/p2p/signatures.js";
import { removeDir, tempDir } from "../../helpers/kyoka.js";
import { eventually, fakeContext } from "./live-helpers.js";

const root = tempDir("kyoka-p2p-present-");
afterAll(() => removeDir(root));

describe("the presentPaths walk", () => {
  it("walks in bounded steps, then rests for restMs before the next pass", async () => {
    for (const d of ["a", "b", "a/c"]) mkdirSync(join(root, d), { recursive: true });
    for (const f of ["a/1", "a/2", "b/3", "a/c/4", "top"]) writeFileSync(join(root, f), f);
    let now = 1_000;
    const w = new PresentWalker(600_000, () => now);
    expect(w.resting()).toBe(false);
    const seen: string[] = [];
    let steps = 0;
    for (;;) {
      const r = await w.step([root], 2);
      steps++;
      seen.push(...r.files.map((f) => f.path.slice(root.length + 1)));
      if (r.passDone) break;
      expect(w.resting()).toBe(false); // mid-pass
    }
    expect(seen.sort()).toEqual(["a/1", "a/2", "a/c/4", "b/3", "top"]);
    expect(steps).toBeGreaterThan(1);
    expect(w.resting()).toBe(true);
    expect((await w.step([root], 100)).files).toEqual([]);
    now += 600_000;
    expect(w.resting()).toBe(false);
    // the next pass: no folder changed, so no file is stat'ed or returned
    expect((await w.step([root], 100)).files).toEqual([]);
    expect(w.stats).toMatchObject({ folders: 4, unchangedFolders: 4, fileStats: 0 });
  });

  it("after the first pass only the folders whose entries changed are looked into; every fullEvery-th pass looks at everything", async () => {
    const top = join(root, "inc");
    for (const d of ["a", "b"]) mkdirSync(join(top, d), { recursive: true });
    for (const f of ["a/1", "a/2", "b/3"]) writeFileSync(join(top, f), f);
    let now = 0;
    const w = new PresentWalker(1000, () => now, false, 3);
    const pass = async () => { now += 1000; return (await w.step([top], 1000)).files.map((f) => f.path.slice(top.length + 1)).sort(); };
    expect(await pass()).toEqual(["a/1", "a/2", "b/3"]); // pass 1: full
    // a new file in a (a's mtime moves); b/3 rewritten in place (b's mtime does not move)
    await new Promise((r) => setTimeout(r, 20));
    writeFileSync(join(top, "a/new-client"), "x");
    writeFileSync(join(top, "b/3"), "rewritten in place");
    expect(await pass()).toEqual(["a/1", "a/2", "a/new-client"]); // pass 2: only a is looked into
    expect(w.stats).toMatchObject({ folders: 3, unchangedFolders: 2, fileStats: 3 });
    expect(await pass()).toEqual([]); // pass 3: nothing changed
    expect(await pass()).toEqual(["a/1", "a/2", "a/new-client", "b/3"]); // pass 4 = 1 + fullEvery: everything
  });
});

describe("the synchronous walk gives the event loop back", () => {
  it("a timer due during a long step runs before the step ends", async () => {
    const big = join(root, "big");
    for (let d = 0; d < 30; d++) {
      mkdirSync(join(big, `d${d}`), { recursive: true });
      for (let f = 0; f < 10; f++) writeFileSync(join(big, `d${d}`, `f${f}`), "x");
    }
    // a slice of 0 ms: the loop is given back between any two folders (the agent's is 5 ms)
    const w = new PresentWalker(1000, Date.now, true, 6, 0);
    let timerRan = false, stepDone = false, timerBeforeDone = false;
    setTimeout(() => { timerRan = true; timerBeforeDone = !stepDone; }, 0);
    const r = await w.step([big], 100_000);
    stepDone = true;
    expect(r.files).toHaveLength(300);
    expect(timerRan).toBe(true);
    expect(timerBeforeDone).toBe(true);
  });
});

describe("the P2P cycle while the walk rests", () => {
  it("does not list the homes (or touch the disk for presentPaths) between two passes", async () => {
    const home = join(root, "home-user");
    mkdirSync(join(home, "Downloads"), { recursive: true });
    writeFileSync(join(home, "Downloads", "readme.txt"), "nothing to see");
    let homeLists = 0;
    const platform: P2pPlatform = {
      os: "linux",
      listProcesses: async () => [],
      executableOf: () => undefined,
      installed: async () => undefined,
      isAlive: () => false,
    };
    const ctx = fakeContext("p2p: { scanSeconds: 0.02, presentPaths: ['~/Downloads'] }");
    const c = new P2pCollector({ signatures: loadSignatures(), platform, processEvents: null, presentRestMs: 600_000, homeDirs: async () => { homeLists++; return [home]; } });
    await c.start(ctx);
    try {
      await eventually(async () => (c.stats.cycles >= 20 ? true : undefined), "twenty cycles");
      expect(homeLists).toBe(1); // the first pass only
      expect(ctx.failures).toEqual([]);
    } finally {
      await c.stop();
    }
  });
});
