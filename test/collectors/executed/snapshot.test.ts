/**
 * The executed section of `kyoka snapshot` on this machine (real /proc, real dpkg index): a
 * program running from a home folder is listed with its SHA-256, processes and user; the OS's own
 * programs and the snapshot's node are not; the run counts come from the agent's state folder
 * (most recently run first), and a folder that is not an agent's says so.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ExecutedSnapshotSource } from "../../../agent/collectors/executed/snapshot.js";
import { LinuxExecutedPlatform } from "../../../agent/collectors/executed/linux.js";
import { PathIndex } from "../../../agent/collectors/executed/package-index.js";
import { removeDir, tempDir } from "../../helpers/kyoka.js";
import { runProgram, uniqueProgram } from "./live-helpers.js";
import type { ChildProcess } from "node:child_process";

const work = tempDir("kyoka-executed-snapshot-");
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) c.kill("SIGKILL");
  removeDir(work);
});

describe("kyoka snapshot: executed", () => {
  it("lists the programs running from outside packages with hash, processes and user; reads the agent's run counts", async () => {
    const prog = uniqueProgram(join(work, "home", "taro", "Downloads"), "portable-tool");
    const a = runProgram(prog.path), b = runProgram(prog.path);
    children.push(a, b);
    const stateDir = join(work, "agent-state");
    mkdirSync(join(stateDir, "state"), { recursive: true });
    const older = "a".repeat(64), newer = "B".repeat(64);
    writeFileSync(join(stateDir, "state", "executed.json"), JSON.stringify({ seen: {
      [older]: { count: 3, firstSeen: "2026-12-01T00:00:00.000Z", lastSeen: "2026-12-01T09:00:00.000Z", path: "/home/taro/old-tool" },
      [newer]: { count: 12, firstSeen: "2026-12-02T00:00:00.000Z", lastSeen: "2026-12-03T09:00:00.000Z", path: "/home/taro/new-tool" },
      "unhashed:/home/taro/huge.bin:too_large:900000000": { count: 1, firstSeen: "2026-12-02T00:00:00.000Z", lastSeen: "2026-12-02T00:00:00.000Z", path: "/home/taro/huge.bin" },
      broken: "not a row",
    } }));

    const doc = await new ExecutedSnapshotSource({ platform: new LinuxExecutedPlatform(), stateDir }).snapshot();
    expect(doc.indexed).toBeGreaterThan(1000);
    const row = doc.running.find((r) => r.path === prog.path);
    expect(row).toMatchObject({ name: "portable-tool", sha256: prog.sha256, processes: 2, users: ["root"] });
    expect(row!.pids.sort()).toEqual([a.pid, b.pid].sort());
    // the OS's programs and the snapshot's own node are not "from outside"
    expect(doc.running.filter((r) => /^\/(usr\/)?s?bin\//.test(r.path) || r.path === process.execPath)).toEqual([]);

    expect(doc.seen).toEqual([
      { key: newer, sha256: newer.toLowerCase(), path: "/home/taro/new-tool", runs: 12, firstSeen: "2026-12-02T00:00:00.000Z", lastSeen: "2026-12-03T09:00:00.000Z" },
      { key: "unhashed:/home/taro/huge.bin:too_large:900000000", sha256: null, path: "/home/taro/huge.bin", runs: 1, firstSeen: "2026-12-02T00:00:00.000Z", lastSeen: "2026-12-02T00:00:00.000Z" },
      { key: older, sha256: older, path: "/home/taro/old-tool", runs: 3, firstSeen: "2026-12-01T00:00:00.000Z", lastSeen: "2026-12-01T09:00:00.000Z" },
    ]);
    expect(doc.seenTotal).toBe(3);
  }, 60_000);

  it("a folder that holds no agent state: seen is null with the reason; an agent that saw nothing yet: an empty list", async () => {
    const none = await new ExecutedSnapshotSource({ platform: new LinuxExecutedPlatform(), stateDir: join(work, "no-such-folder") }).snapshot();
    expect(none.seen).toBeNull();
    expect(none.seenError).toMatch(/no agent state here/);
    const empty = join(work, "fresh-agent");
    mkdirSync(empty);
    const fresh = await new ExecutedSnapshotSource({ platform: new LinuxExecutedPlatform(), stateDir: empty }).snapshot();
    expect(fresh).toMatchObject({ seen: [], seenTotal: 0 });
  }, 60_000);

  it("the package index is kept in the snapshot cache until the package databases move", async () => {
    const cache = join(work, "cache");
    const before = process.env.KYOKA_CACHE_DIR;
    process.env.KYOKA_CACHE_DIR = cache;
    try {
      const prog = uniqueProgram(join(work, "home", "jiro"), "cached-tool");
      children.push(runProgram(prog.path));
      const first = await new ExecutedSnapshotSource().snapshot();
      const file = join(cache, "executed-index.bin");
      const stored = readFileSync(file);
      const meta = PathIndex.packedMeta(stored)!;
      expect(meta).toMatch(/^executed-index-3\|linux\|/);
      expect(PathIndex.fromPacked(stored)!.lookup("/usr/bin/sleep")).toMatchObject({ kind: "package", source: "dpkg:coreutils" });
      const second = await new ExecutedSnapshotSource().snapshot();
      expect(second.indexed).toBe(first.indexed);
      expect(second.running.find((r) => r.path === prog.path)).toMatchObject({ sha256: prog.sha256 });
      expect(second.running.map((r) => r.path)).not.toContain("/usr/bin/sleep");

      // the second snapshot read the cached index: one that also lists the program (same
      // databases) makes it packaged; a cached index of another version is rebuilt
      const doctored = PathIndex.fromPacked(stored)!;
      const withProg = new PathIndex();
      withProg.addPaths(["/usr/bin/sleep", prog.path], "dpkg:doctored");
      writeFileSync(file, withProg.toPacked(meta));
      expect((await new ExecutedSnapshotSource().snapshot()).running.map((r) => r.path)).not.toContain(prog.path);
      writeFileSync(file, withProg.toPacked("executed-index-0|linux|old"));
      const rebuilt = await new ExecutedSnapshotSource().snapshot();
      expect(rebuilt.running.map((r) => r.path)).toContain(prog.path);
      expect(rebuilt.indexed).toBe(doctored.size);
    } finally {
      if (before === undefined) delete process.env.KYOKA_CACHE_DIR; else process.env.KYOKA_CACHE_DIR = before;
    }
  }, 60_000);
});
