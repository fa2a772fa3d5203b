import { describe, expect, it } from "vitest";
import { compileGlob, globMatch, MATCH_MAX_CHARS } from "../../policies/matchers/glob.js";

describe("glob matcher (linear, no RegExp from user text)", () => {
  it("* matches any run (also empty), ? one character; anchored; case-insensitive", () => {
    expect(globMatch("winny*", "Winny 2.0")).toBe(true);
    expect(globMatch("winny*", "a winny")).toBe(false);
    expect(globMatch("*torrent*", "qBittorrent")).toBe(true);
    expect(globMatch("v?.0", "v2.0")).toBe(true);
    expect(globMatch("v?.0", "v.0")).toBe(false);
    expect(globMatch("a*b*c", "abc")).toBe(true);
    expect(globMatch("a*b*c", "aXbYcZ")).toBe(false);
    expect(globMatch("a*b*c", "aXbYbc")).toBe(true);
    expect(globMatch("*", "")).toBe(true);
    expect(globMatch("", "")).toBe(true);
    expect(globMatch("", "x")).toBe(false);
    expect(globMatch("**a**", "bab")).toBe(true);
    expect(globMatch("a.b", "aXb")).toBe(false); // . is a plain character
    expect(globMatch("(a|b)+", "(a|b)+")).toBe(true); // so are regex metacharacters
    expect(globMatch("*.EXE", "setup.exe")).toBe(true);
  });

  it("agrees with a reference matcher on every short pattern and text over {a, b}", () => {
    const ref = (p: string, s: string): boolean => {
      if (p === "") return s === "";
      if (p[0] === "*") return ref(p.slice(1), s) || (s !== "" && ref(p, s.slice(1)));
      return s !== "" && (p[0] === "?" || p[0] === s[0]) && ref(p.slice(1), s.slice(1));
    };
    const words = (alphabet: string[], max: number): string[] => {
      const out = [""];
      for (let n = 1; n <= max; n++) for (const w of out.filter((x) => x.length === n - 1)) for (const c of alphabet) out.push(w + c);
      return out;
    };
    const pats = words(["a", "b", "*", "?"], 4);
    const texts = words(["a", "b"], 5);
    let checked = 0;
    for (const p of pats) for (const s of texts) {
      expect(globMatch(p, s), `${p} vs ${s}`).toBe(ref(p, s));
      checked++;
    }
    expect(checked).toBe(pats.length * texts.length);
  });

  it("a value that is not a string never matches and never throws (String({toString: 1}) would)", () => {
    expect(globMatch("*", { toString: 1 })).toBe(false);
    expect(globMatch("*", 42)).toBe(false);
    expect(globMatch("*", null)).toBe(false);
    expect(globMatch("*", undefined)).toBe(false);
    expect(globMatch({ toString: 1 }, "x")).toBe(false);
  });

  it("a text longer than MATCH_MAX_CHARS never matches", () => {
    expect(globMatch("*", "x".repeat(MATCH_MAX_CHARS))).toBe(true);
    expect(globMatch("*", "x".repeat(MATCH_MAX_CHARS + 1))).toBe(false);
  });

  it("regression (issue 11, freezes): a 120 KB name against *bit*torrent*client* and *a*b*c* against 6 KB complete", () => {
    const t0 = performance.now();
    const g = compileGlob("*bit*torrent*client*");
    expect(g.test("bit".repeat(40_000))).toBe(false); // 120 KB of near-misses
    expect(g.test(`${"bit".repeat(40_000)}torrent client`)).toBe(true);
    const t1 = performance.now();
    expect(globMatch("*a*b*c*", "a".repeat(6000))).toBe(false);
    expect(globMatch("*a*b*c*", `${"a".repeat(6000)}bc`)).toBe(true);
    const t2 = performance.now();
    // timing goes to the log, not into an assertion (bench/glob.ts measures properly)
    console.info(`glob: 120 KB vs *bit*torrent*client* ${(t1 - t0).toFixed(1)} ms; 6 KB vs *a*b*c* ${(t2 - t1).toFixed(1)} ms`);
  });
});
