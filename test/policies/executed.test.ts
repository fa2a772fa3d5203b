/** software.executed rules: the policy section, the approval matcher, prohibited programs and the status at ingest. */
import { describe, expect, it } from "vitest";
import { inTrustedPath, matchExecuted, prohibitedProgram } from "../../policies/matchers/executed.js";
import { matcherFor } from "../../policies/matchers/index.js";
import { Policy, parsePolicyText, PolicyError } from "../../policies/policy.js";
import type { Approval } from "../../policies/schema.js";
import { loadCatalog } from "../../policies/catalog.js";
import { decide } from "../../policies/decide.js";

const SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const details = { path: "/home/taro/Downloads/tool-1.2", name: "tool-1.2", sha256: SHA, size: 1234, user: "taro", signer: null };
const winDetails = { path: "C:\\Users\\taro\\Downloads\\putty.exe", name: "putty.exe", sha256: SHA.replace(/0/g, "1"), signer: "Simon Tatham" };

describe("policy software.executed", () => {
  it("defaults: nothing trusted or prohibited, alert, 512 MiB and 64 MiB/s", () => {
    expect(Policy.parse({}).software.executed).toEqual({ trustedPaths: [], prohibited: [], response: "alert", hashMaxBytes: 512 * 1024 * 1024, hashBytesPerSecond: 64 * 1024 * 1024 });
  });
  it("a prohibited rule names sha256, signer or name; a malformed hash is refused with its line", () => {
    expect(() => parsePolicyText("software:\n  executed:\n    prohibited:\n      - reason: nothing to match\n")).toThrow(/sha256, signer or name/);
    try {
      parsePolicyText("software:\n  executed:\n    prohibited:\n      - sha256: abc\n");
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(PolicyError);
      expect((err as PolicyError).message).toMatch(/line 4: software\.executed\.prohibited\.0\.sha256: a SHA-256 is 64 hex digits/);
    }
    expect(() => parsePolicyText("software:\n  executed:\n    response: kill\n")).toThrow(PolicyError);
  });
});

describe("approval matching for software.executed", () => {
  it("by sha256 (any case), path glob, name glob, signer glob; every key must hold", () => {
    expect(matchExecuted({ sha256: SHA.toUpperCase() }, details)).toBe(true);
    expect(matchExecuted({ sha256: SHA.replace("9", "8") }, details)).toBe(false);
    expect(matchExecuted({ path: "/home/*/Downloads/*" }, details)).toBe(true);
    expect(matchExecuted({ path: "/opt/*" }, details)).toBe(false);
    expect(matchExecuted({ name: "tool-*" }, details)).toBe(true);
    expect(matchExecuted({ name: "tool-*", sha256: SHA.replace("9", "8") }, details)).toBe(false);
    expect(matchExecuted({ signer: "Simon*" }, winDetails)).toBe(true);
    expect(matchExecuted({ path: "c:\\users\\*\\downloads\\*" }, winDetails)).toBe(true);
    // an approval with a signer never covers an unsigned program
    expect(matchExecuted({ signer: "*" }, details)).toBe(false);
    expect(matchExecuted({ action: "execute" }, details)).toBe(true);
    expect(matchExecuted({ user: "taro" }, details)).toBe(true);
  });
  it("the software matcher hands software.executed to it (a version key matches nothing there)", () => {
    const m = matcherFor("software");
    expect(m({ sha256: SHA }, details, "software.executed")).toBe(true);
    expect(m({ name: "tool-*" }, { name: "tool-x", version: "1" }, "software.installed")).toBe(true);
    expect(m({ version: ">=1" }, details, "software.executed")).toBe(false);
  });
});

describe("prohibited programs and trusted folders", () => {
  it("a rule holds when every field it gives holds; it says what matched", () => {
    expect(prohibitedProgram([{ sha256: SHA.toUpperCase(), reason: "r" }], details)).toEqual({ rule: { sha256: SHA.toUpperCase(), reason: "r" }, by: ["sha256"] });
    expect(prohibitedProgram([{ signer: "Simon*", name: "putty*" }], winDetails)?.by).toEqual(["signer", "name"]);
    expect(prohibitedProgram([{ signer: "Simon*", name: "kitty*" }], winDetails)).toBeUndefined();
    expect(prohibitedProgram([{ signer: "*" }], details)).toBeUndefined(); // unsigned
    expect(prohibitedProgram([], details)).toBeUndefined();
    // a program that could not be hashed is not matched by a hash rule
    expect(prohibitedProgram([{ sha256: SHA }], { ...details, sha256: null })).toBeUndefined();
  });
  it("trusted folders are globs on the path", () => {
    expect(inTrustedPath(["/srv/tools/*"], "/srv/tools/bin/x")).toBe(true);
    expect(inTrustedPath(["/srv/tools/*"], "/srv/toolsx")).toBe(false);
    expect(inTrustedPath(["\\\\fileserver\\tools\\*"], "\\\\FILESERVER\\tools\\a.exe")).toBe(true);
    expect(inTrustedPath([], "/x")).toBe(false);
  });
});

const catalog = loadCatalog();
type Ctx = { agent: { id: string; tags: string[] }; policy: ReturnType<typeof Policy.parse>; approvals: Approval[]; now: Date };
const evaluate = (e: { type: "software.executed"; details: Record<string, unknown> }, c: Ctx) => decide({ ...e, agent: c.agent }, { catalog, policy: c.policy, approvals: c.approvals, now: c.now });

describe("status at ingest", () => {
  const now = new Date("2026-06-01T00:00:00Z");
  const agent = { id: "a1", tags: [] };
  const approval = (match: Approval["match"], id = "ap"): Approval => ({
    id, control: "software", match, scope: { all: true }, validFrom: "2026-01-01T00:00:00Z", validUntil: "2027-01-01T00:00:00Z", reason: "甲許可", createdAt: "2026-01-01T00:00:00Z",
  });
  it("needs_approval by default, 別記2 第10, medium", () => {
    expect(evaluate({ type: "software.executed", details }, { agent, policy: Policy.parse({}), approvals: [], now })).toMatchObject({
      control: "software", articles: ["別記2 第10"], severity: "medium", status: "needs_approval", approvalId: null,
    });
  });
  it("approved by an approval whose match covers it; an installed-software approval by name covers the name too", () => {
    const r = evaluate({ type: "software.executed", details }, { agent, policy: Policy.parse({}), approvals: [approval({ path: "/opt/*" }, "no"), approval({ sha256: SHA }, "yes")], now });
    expect(r).toMatchObject({ status: "approved", approvalId: "yes" });
  });
  it("a prohibited program is a critical violation no approval clears", () => {
    const policy = Policy.parse({ software: { executed: { prohibited: [{ signer: "Simon Tatham" }] } } });
    const d = evaluate({ type: "software.executed", details: winDetails }, { agent, policy, approvals: [approval({ signer: "*" })], now });
    expect(d).toMatchObject({ status: "violation", severity: "critical", approvalId: null });
    expect(d.reasons[0]).toEqual({ ja: '禁止プログラム規則 (signer "Simon Tatham") に一致', en: 'matched prohibited program rule (signer "Simon Tatham")' });
  });
});
