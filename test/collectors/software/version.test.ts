import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { compareDebian, compareDotted, compareRpm, parseRange, RangeSyntaxError, rpmvercmp, satisfies } from "../../../lib/version/index.js";

/** A deterministic PRNG so a failing pair can be reproduced. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Valid Debian versions rich in the cases that matter: epochs, ~, +, letters, leading zeros, revisions. */
function genDebian(r: () => number): string {
  const pick = <T>(a: T[]): T => a[Math.floor(r() * a.length)]!;
  const part = (): string => {
    let s = String(Math.floor(r() * 12));
    const n = Math.floor(r() * 4);
    for (let k = 0; k < n; k++) {
      s += pick([".", ".", "~", "+", "a", "b", "rc", "~rc", "0", "00", "1", "10", "z", "A", "~~", ".0"]);
      if (r() < 0.6) s += String(Math.floor(r() * 20));
    }
    return s;
  };
  let v = part();
  if (r() < 0.25) v = `${Math.floor(r() * 3)}:${v}`;
  if (r() < 0.6) v += `-${pick(["1", "2", "0ubuntu1", "1~bpo1", "1+b1", "10", "1.1", "a", "1~", "0"])}`;
  return v;
}

describe("Debian versions (dpkg's algorithm)", () => {
  it("known cases", () => {
    expect(compareDebian("1.0~rc1", "1.0")).toBe(-1);
    expect(compareDebian("1.0", "1.0+b1")).toBe(-1);
    expect(compareDebian("1:0.1", "2.0")).toBe(1);
    expect(compareDebian("1.0-1", "1.0-1~bpo1")).toBe(1);
    expect(compareDebian("1.01", "1.1")).toBe(0);
    expect(compareDebian("1.0a", "1.0+")).toBe(-1);
    expect(compareDebian("2.36-9+deb12u14", "2.36-9+deb12u4")).toBe(1);
    expect(compareDebian("0:1.0", "1.0")).toBe(0);
  });

  it("agrees with the real `dpkg --compare-versions` on 600 generated pairs", () => {
    const r = rng(20240601);
    const pairs: [string, string][] = [];
    for (let k = 0; k < 600; k++) {
      const a = genDebian(r);
      // a third of the pairs are near-equal variants, where the algorithm's details show
      const b = r() < 0.33 ? a.replace(/\d+$/, (d) => String(Number(d) + (r() < 0.5 ? 0 : 1))) + (r() < 0.3 ? "~" : "") : genDebian(r);
      pairs.push([a, b]);
    }
    // one shell, many dpkg runs: prints <, = or > per pair
    const q = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`;
    const script = pairs
      .map(([a, b]) => `if dpkg --compare-versions ${q(a)} lt ${q(b)}; then echo '<'; elif dpkg --compare-versions ${q(a)} eq ${q(b)}; then echo '='; else echo '>'; fi`)
      .join("\n");
    const out = execFileSync("sh", ["-s"], { input: script, encoding: "utf8", maxBuffer: 16 * 1024 * 1024 }).trim().split("\n");
    expect(out).toHaveLength(pairs.length);
    const mismatches = pairs
      .map(([a, b], k) => ({ a, b, dpkg: out[k], ours: ["<", "=", ">"][compareDebian(a, b) + 1] }))
      .filter((m) => m.dpkg !== m.ours);
    expect(mismatches).toEqual([]);
  });
});

describe("RPM versions (rpmvercmp)", () => {
  const cases: [string, string, number][] = [
    ["1.0", "1.0", 0], ["1.0", "2.0", -1], ["2.0", "1.0", 1], ["2.0.1", "2.0.1", 0], ["2.0", "2.0.1", -1],
    ["2.0.1a", "2.0.1a", 0], ["2.0.1a", "2.0.1", 1], ["5.5p1", "5.5p1", 0], ["5.5p1", "5.5p2", -1], ["5.5p10", "5.5p1", 1],
    ["10xyz", "10.1xyz", -1], ["xyz10", "xyz10.1", -1], ["xyz.4", "xyz.4", 0], ["xyz.4", "8", -1], ["8", "xyz.4", 1],
    ["xyz.4", "2", -1], ["5.5p2", "5.6p1", -1], ["5.6p1", "6.5p1", -1], ["6.0.rc1", "6.0", 1], ["6.0", "6.0.rc1", -1],
    ["10b2", "10a1", 1], ["10a2", "10b2", -1], ["1.0aa", "1.0aa", 0], ["1.0a", "1.0aa", -1], ["1.0aa", "1.0a", 1],
    ["10.0001", "10.0001", 0], ["10.0001", "10.1", 0], ["10.0001", "10.0039", -1], ["4.999.9", "5.0", -1],
    ["20101121", "20101121", 0], ["20101121", "20101122", -1], ["2_0", "2_0", 0], ["2.0", "2_0", 0], ["a", "a", 0],
    ["a+", "a+", 0], ["a+", "a_", 0], ["+a", "_a", 0], ["+_", "_+", 0], ["1.0~rc1", "1.0~rc1", 0], ["1.0~rc1", "1.0", -1],
    ["1.0", "1.0~rc1", 1], ["1.0~rc1", "1.0~rc2", -1], ["1.0~rc1~git123", "1.0~rc1", -1], ["1.0^", "1.0", 1],
    ["1.0^git1", "1.0", 1], ["1.0^git1", "1.01", -1], ["1.0^20160101", "1.0.1", -1], ["1.0~rc1^git1", "1.0~rc1", 1],
    ["1.0^git1~pre", "1.0^git1", -1],
  ];
  it.each(cases)("rpmvercmp(%s, %s) = %i", (a, b, want) => {
    expect(rpmvercmp(a, b)).toBe(want);
  });
  it("EVR: epoch first, release only when both have one", () => {
    expect(compareRpm("1:1.0-1", "2.0-1")).toBe(1);
    expect(compareRpm("3.0.7-27.el9", "3.0.7-24.el9")).toBe(1);
    expect(compareRpm("3.0.7", "3.0.7-24.el9")).toBe(0);
    expect(compareRpm("0:1.0-1", "1.0-1")).toBe(0);
  });
});

describe("dotted versions (Windows, macOS)", () => {
  it("numeric segments, trailing zeros equal", () => {
    expect(compareDotted("1.2", "1.2.0.0")).toBe(0);
    expect(compareDotted("1.10", "1.9")).toBe(1);
    expect(compareDotted("24.001.20604", "24.1.20605")).toBe(-1);
    expect(compareDotted("6.0.2 (33403)", "6.0.2 (33404)")).toBe(-1);
    expect(compareDotted("1.0", "1.0a")).toBe(-1);
    expect(compareDotted("11.2401.0.0", "11.2312.1.0")).toBe(1);
  });
});

describe("version ranges", () => {
  it("comparators, wildcards and alternatives", () => {
    expect(satisfies("1.5", ">=1.2 <2", compareDotted)).toBe(true);
    expect(satisfies("2.0", ">=1.2 <2", compareDotted)).toBe(false);
    expect(satisfies("1.2.9", "1.2.*", compareDotted)).toBe(true);
    expect(satisfies("1.2", "1.2.*", compareDotted)).toBe(true);
    expect(satisfies("1.20", "1.2.*", compareDotted)).toBe(false);
    expect(satisfies("1.2.3", "=1.2.3", compareDotted)).toBe(true);
    expect(satisfies("1.2.3", "1.2.3", compareDotted)).toBe(true);
    expect(satisfies("1.2.3.0", "==1.2.3", compareDotted)).toBe(true);
    expect(satisfies("1.0.5", "!=1.0.5", compareDotted)).toBe(false);
    expect(satisfies("2.5", "<2 || >=3", compareDotted)).toBe(false);
    expect(satisfies("3.1", "<2 || >=3", compareDotted)).toBe(true);
    expect(satisfies("anything", "*", compareDotted)).toBe(true);
    expect(satisfies("1.5", ">= 1.2  < 2", compareDotted)).toBe(true);
  });
  it("uses the ecosystem's comparator", () => {
    // Debian: 2.0~rc1 is before 2.0 (so < 2.0) but after 2 (dpkg compares the ".0" first)
    expect(satisfies("2.0~rc1-1", "<2.0", compareDebian)).toBe(true);
    expect(satisfies("2.0~rc1-1", "<2", compareDebian)).toBe(false);
    expect(satisfies("1:1.0-1", ">=2", compareDebian)).toBe(true);
    expect(satisfies("1:1.2.4-1", "1.2.*", compareDebian)).toBe(true);
    expect(satisfies("1.2~rc1-1", "1.2.*", compareDebian)).toBe(true);
    expect(satisfies("3.0.7-27.el9", ">=3.0.7-25", compareRpm)).toBe(true);
  });
  it("refuses what it cannot read", () => {
    expect(() => parseRange("")).toThrow(RangeSyntaxError);
    expect(() => parseRange(">=")).toThrow(/no version/);
    expect(() => parseRange("1.*.2")).toThrow(/last segment/);
    expect(() => parseRange(">=1.2.*")).toThrow(/no operator/);
    expect(() => parseRange("1 ||")).toThrow(/empty alternative/);
    expect(() => parseRange("=>1")).toThrow(RangeSyntaxError);
  });
});
