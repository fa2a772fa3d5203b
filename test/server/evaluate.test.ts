import { describe, expect, it } from "vitest";
import { Policy } from "../../policies/policy.js";
import type { Approval } from "../../policies/schema.js";
import { approvalInForce, evaluate, scopeCovers, type EvaluateContext } from "../../server/evaluate.js";

const now = new Date("2025-06-01T12:00:00Z");
const agent = { id: "agent-1", tags: ["kyoto", "lab"] };

function approval(over: Partial<Approval> = {}): Approval {
  return {
    id: "ap-1",
    control: "software",
    match: { name: "Visual Studio Code*" },
    scope: { all: true },
    validFrom: "2025-01-01T00:00:00Z",
    validUntil: "2026-01-01T00:00:00Z",
    reason: "開発用",
    createdAt: "2025-01-01T00:00:00Z",
    ...over,
  };
}

function ctx(over: Partial<EvaluateContext> = {}): EvaluateContext {
  return { agent, policy: Policy.parse({}), approvals: [], now, ...over };
}

describe("evaluate: catalog defaults", () => {
  it("software.installed without approval needs approval, medium, 別記2 第10", () => {
    expect(evaluate({ type: "software.installed", details: { name: "vim" } }, ctx())).toEqual({
      control: "software", articles: ["別記2 第10"], severity: "medium", status: "needs_approval", approvalId: null,
    });
  });
  it("p2p.running is a critical violation", () => {
    const r = evaluate({ type: "p2p.running", details: { family: "Winny" } }, ctx());
    expect(r).toMatchObject({ control: "p2p", status: "violation", severity: "critical" });
  });
  it("asset.snapshot is info", () => {
    expect(evaluate({ type: "asset.snapshot", details: {} }, ctx()).status).toBe("info");
  });
  it("agent.silent needs approval with severity high", () => {
    expect(evaluate({ type: "agent.silent", details: {} }, ctx())).toMatchObject({ control: "agent", status: "needs_approval", severity: "high" });
  });
});

describe("evaluate: policy rules", () => {
  const policy = Policy.parse({ software: { prohibited: [{ name: "*torrent*" }, { name: "TeamViewer", publisher: "TeamViewer*" }] } });
  it("prohibited software (glob, case-insensitive) installed or updated is a critical violation", () => {
    for (const type of ["software.installed", "software.updated"] as const) {
      expect(evaluate({ type, details: { name: "qBittorrent" } }, ctx({ policy }))).toMatchObject({ status: "violation", severity: "critical" });
    }
  });
  it("prohibited software removed is not a violation (removing it is the fix, still needs approval)", () => {
    expect(evaluate({ type: "software.removed", details: { name: "qBittorrent" } }, ctx({ policy })).status).toBe("needs_approval");
  });
  it("a publisher in the rule must match too", () => {
    expect(evaluate({ type: "software.installed", details: { name: "TeamViewer", publisher: "TeamViewer GmbH" } }, ctx({ policy })).status).toBe("violation");
    expect(evaluate({ type: "software.installed", details: { name: "TeamViewer", publisher: "Other" } }, ctx({ policy })).status).toBe("needs_approval");
    expect(evaluate({ type: "software.installed", details: { name: "TeamViewer" } }, ctx({ policy })).status).toBe("needs_approval");
  });
  it("an approval never clears prohibited software", () => {
    const r = evaluate({ type: "software.installed", details: { name: "uTorrent" } },
      ctx({ policy, approvals: [approval({ match: { name: "*" } })] }));
    expect(r).toMatchObject({ status: "violation", approvalId: null });
  });
  it("media.unencrypted follows policy.media.unencrypted", () => {
    expect(evaluate({ type: "media.unencrypted", details: {} }, ctx()).status).toBe("info");
    const strict = Policy.parse({ media: { unencrypted: "needs_approval" } });
    expect(evaluate({ type: "media.unencrypted", details: {} }, ctx({ policy: strict })).status).toBe("needs_approval");
  });
  it("media.scanned infected is a critical violation, clean is info", () => {
    expect(evaluate({ type: "media.scanned", details: { result: "infected" } }, ctx())).toMatchObject({ status: "violation", severity: "critical" });
    expect(evaluate({ type: "media.scanned", details: { result: "clean" } }, ctx())).toMatchObject({ status: "info", severity: "info" });
  });
});

describe("evaluate: approvals (甲許可)", () => {
  const vscode = { type: "software.installed" as const, details: { name: "Visual Studio Code", version: "1.90.0" } };
  it("a matching approval in force for all agents approves and names itself", () => {
    expect(evaluate(vscode, ctx({ approvals: [approval()] }))).toMatchObject({ status: "approved", approvalId: "ap-1", severity: "medium" });
  });
  it("another control's approval does not apply", () => {
    expect(evaluate(vscode, ctx({ approvals: [approval({ control: "network" })] })).status).toBe("needs_approval");
  });
  it("a non-matching name does not apply", () => {
    expect(evaluate({ type: "software.installed", details: { name: "Slack" } }, ctx({ approvals: [approval()] })).status).toBe("needs_approval");
  });
  it("validity window: validFrom inclusive, validUntil exclusive", () => {
    const a = approval({ validFrom: now.toISOString(), validUntil: "2025-06-01T13:00:00Z" });
    expect(evaluate(vscode, ctx({ approvals: [a] })).status).toBe("approved");
    const ended = approval({ validFrom: "2025-01-01T00:00:00Z", validUntil: now.toISOString() });
    expect(evaluate(vscode, ctx({ approvals: [ended] })).status).toBe("needs_approval");
    const future = approval({ validFrom: "2025-06-01T12:00:01Z", validUntil: "2025-07-01T00:00:00Z" });
    expect(evaluate(vscode, ctx({ approvals: [future] })).status).toBe("needs_approval");
  });
  it("validity uses offsets correctly (+09:00)", () => {
    // 21:00+09:00 = 12:00Z: in force from exactly now
    const a = approval({ validFrom: "2025-06-01T21:00:00+09:00", validUntil: "2025-06-02T21:00:00+09:00" });
    expect(approvalInForce(a, now)).toBe(true);
    expect(approvalInForce(a, new Date("2025-06-01T11:59:59Z"))).toBe(false);
  });
  it("scope by agents list", () => {
    expect(evaluate(vscode, ctx({ approvals: [approval({ scope: { agents: ["agent-1"] } })] })).status).toBe("approved");
    expect(evaluate(vscode, ctx({ approvals: [approval({ scope: { agents: ["agent-2"] } })] })).status).toBe("needs_approval");
  });
  it("scope by tags", () => {
    expect(evaluate(vscode, ctx({ approvals: [approval({ scope: { tags: ["osaka", "lab"] } })] })).status).toBe("approved");
    expect(evaluate(vscode, ctx({ approvals: [approval({ scope: { tags: ["osaka"] } })] })).status).toBe("needs_approval");
    expect(scopeCovers({ tags: ["x"] }, { id: "a", tags: [] })).toBe(false);
  });
  it("match.action restricts to install/update/remove", () => {
    const installOnly = approval({ match: { name: "Visual Studio Code", action: "install" } });
    expect(evaluate(vscode, ctx({ approvals: [installOnly] })).status).toBe("approved");
    expect(evaluate({ ...vscode, type: "software.removed" }, ctx({ approvals: [installOnly] })).status).toBe("needs_approval");
  });
  it("the first approval that holds wins; non-matching ones are skipped", () => {
    const r = evaluate(vscode, ctx({ approvals: [approval({ id: "no", scope: { agents: ["x"] } }), approval({ id: "yes" })] }));
    expect(r.approvalId).toBe("yes");
  });
  it("clearable info events (media.inserted) can be approved", () => {
    const media = approval({ control: "media", match: { serial: "ABC123" } });
    expect(evaluate({ type: "media.inserted", details: { serial: "ABC123" } }, ctx({ approvals: [media] })).status).toBe("approved");
    expect(evaluate({ type: "media.inserted", details: { serial: "ZZZ" } }, ctx({ approvals: [media] })).status).toBe("info");
  });
  it("non-clearable events are never approved", () => {
    const any = approval({ control: "p2p", match: {} });
    expect(evaluate({ type: "p2p.present", details: {} }, ctx({ approvals: [any] })).status).toBe("violation");
    const media = approval({ control: "media", match: {} });
    expect(evaluate({ type: "media.removed", details: {} }, ctx({ approvals: [media] })).status).toBe("info");
  });
  it("infected media stays a violation whatever the approvals", () => {
    const media = approval({ control: "media", match: {} });
    expect(evaluate({ type: "media.scanned", details: { result: "infected" } }, ctx({ approvals: [media] })).status).toBe("violation");
  });
  it("network approval by ssid", () => {
    const net = approval({ control: "network", match: { ssid: "office-*" } });
    expect(evaluate({ type: "network.attached", details: { ssid: "office-5g" } }, ctx({ approvals: [net] })).status).toBe("approved");
    expect(evaluate({ type: "network.attached", details: { ssid: "cafe" } }, ctx({ approvals: [net] })).status).toBe("needs_approval");
  });
});
