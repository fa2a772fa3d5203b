import { describe, expect, it } from "vitest";
import { defaultPolicyText, parsePolicyText, PolicyError } from "../../policies/policy.js";

describe("policy parsing", () => {
  it("parses the shipped default policy and fills every default", () => {
    const p = parsePolicyText(defaultPolicyText());
    expect(p.heartbeatSeconds).toBe(30);
    expect(p.p2p.response).toBe("alert");
    expect(p.asset.timezone).toBe("Asia/Tokyo");
    expect(p.media.scan.scanner).toBe("auto");
    expect(parsePolicyText("{}")).toEqual(parsePolicyText(""));
  });

  it("accepts JSON as well as YAML", () => {
    expect(parsePolicyText('{"heartbeatSeconds": 5, "p2p": {"response": "terminate"}}')).toMatchObject({ heartbeatSeconds: 5, p2p: { response: "terminate" } });
  });

  it("names the line of a YAML syntax error", () => {
    const text = "heartbeatSeconds: 30\nsoftware:\n  prohibited: [\n    { name: foo\n";
    try {
      parsePolicyText(text);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(PolicyError);
      expect((err as PolicyError).line).toBeGreaterThanOrEqual(3);
      expect((err as Error).message).toMatch(/^line \d+: /);
    }
  });

  it("names the line and path of a schema error", () => {
    const text = "heartbeatSeconds: 30\np2p:\n  response: explode\n";
    expect(() => parsePolicyText(text)).toThrow(/^line 3: p2p\.response: /);
    try { parsePolicyText(text); } catch (err) { expect((err as PolicyError).line).toBe(3); }
    expect(() => parsePolicyText("nonsense: 1\n")).toThrow(/line 1: .*nonsense/);
  });
});
