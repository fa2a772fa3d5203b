import { mkdtemp, readdir, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cachedParse, parseCacheDir } from "../../lib/parse-cache.js";
import { onPath } from "../../agent/collectors/software/reader.js";

describe("cachedParse (the snapshot's policy/signatures cache)", () => {
  let dir: string;
  let parser: URL;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kyoka-parse-cache-"));
    await writeFile(join(dir, "parser.js"), "// v1");
    parser = pathToFileURL(join(dir, "parser.js"));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("parses once per text and parser build, then answers from the cache", async () => {
    const cache = join(dir, "cache");
    let calls = 0;
    const parse = (text: string) => cachedParse("t", text, parser, async () => { calls++; return { text, n: [1, 2] }; }, cache);
    expect(await parse("a")).toEqual({ text: "a", n: [1, 2] });
    expect(await parse("a")).toEqual({ text: "a", n: [1, 2] });
    expect(calls).toBe(1);
    expect(await parse("b")).toEqual({ text: "b", n: [1, 2] });
    expect(calls).toBe(2);
    // a rebuilt parser (other mtime) misses
    await utimes(join(dir, "parser.js"), new Date(), new Date(Date.now() + 5000));
    await parse("a");
    expect(calls).toBe(3);
    // one entry per kind: the older ones are removed when a new one is written
    expect(await readdir(cache)).toHaveLength(1);
  });

  it("parses without a cache when the folder cannot be used, and never caches a failure", async () => {
    const blocked = join(dir, "file-not-dir");
    await writeFile(blocked, "x");
    let calls = 0;
    const parse = () => cachedParse("t", "c", parser, async () => { calls++; return 1; }, join(blocked, "sub"));
    expect(await parse()).toBe(1);
    expect(await parse()).toBe(1);
    expect(calls).toBe(2);
    await expect(cachedParse("t", "bad", parser, async () => { throw new Error("invalid"); }, join(dir, "c2"))).rejects.toThrow("invalid");
    await expect(cachedParse("t", "bad", parser, async () => { throw new Error("invalid"); }, join(dir, "c2"))).rejects.toThrow("invalid");
  });

  it("resolves the folder from the environment; KYOKA_CACHE_DIR='' turns it off", () => {
    expect(parseCacheDir({ KYOKA_CACHE_DIR: "/x" })).toBe("/x");
    expect(parseCacheDir({ KYOKA_CACHE_DIR: "" })).toBeUndefined();
    expect(parseCacheDir({ XDG_CACHE_HOME: "/c" })).toBe(join("/c", "kyoka"));
  });
});

describe("onPath (no fork for a missing tool)", () => {
  it("finds a tool on PATH and not a missing one", () => {
    expect(onPath("sh", "/nonexistent:/bin:/usr/bin")).toBe(true);
    expect(onPath("kyoka-no-such-tool", "/bin:/usr/bin")).toBe(false);
    expect(onPath("/bin/kyoka-no-such-tool", "/bin")).toBe(true); // a path: execFile decides
    expect(onPath("kyoka-no-such-tool", "")).toBe(true); // no PATH: execvp's default applies
  });
});
