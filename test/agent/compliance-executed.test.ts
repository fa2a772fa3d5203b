/**
 * The local compliance check (agent/compliance.ts) judging the snapshot's `executed` section
 * (programs from outside any package, 別記2 第10): the programs running now and those the agent
 * has seen, once per SHA-256, decided as the server decides software.executed — needs_approval by
 * default, a prohibited hash a violation, a 甲許可 by hash or path glob approved — in the report
 * and in the text a contractor reads. The snapshot command's own run is in test/e2e/snapshot.test.ts.
 */
import { describe, expect, it } from "vitest";
import { complianceText, evaluateCompliance, pushedApprovals, type SnapshotDoc } from "../../agent/compliance.js";
import { loadCatalog } from "../../policies/catalog.js";
import { Policy } from "../../policies/policy.js";

const catalog = loadCatalog();

const A = "a".repeat(64);
const B = "b".repeat(64);
const C = "c".repeat(64);
const D = "d".repeat(64);

function doc(executed: unknown): SnapshotDoc {
  return { takenAt: "2026-12-03T05:00:00.000Z", errors: [], software: { items: [] }, p2p: [], network: { interfaces: [], listening: [], connections: [] }, media: [], hardware: {}, executed };
}

const EXECUTED = {
  indexed: 1000,
  running: [
    { path: "/home/hanako/Downloads/tool", name: "tool", sha256: A, size: 10, processes: 2, pids: [10, 11], users: ["hanako"] },
    { path: "/home/hanako/bin/big", name: "big", sha256: null, size: 900_000_000, hashError: "too_large", processes: 1, pids: [12], users: ["hanako"] },
  ],
  seen: [
    // the same program as a running one: judged once
    { key: A, sha256: A, path: "/home/hanako/Downloads/tool", runs: 4, firstSeen: "2026-12-01T00:00:00Z", lastSeen: "2026-12-03T04:00:00Z" },
    { key: B, sha256: B, path: "/media/usb/evil", runs: 1, firstSeen: "2026-12-02T00:00:00Z", lastSeen: "2026-12-02T00:00:00Z" },
    { key: C, sha256: C, path: "/srv/tools/report", runs: 7, firstSeen: "2026-11-02T00:00:00Z", lastSeen: "2026-12-02T09:00:00Z" },
    { key: D, sha256: D, path: "/opt/site/x", runs: 2, firstSeen: "2026-11-02T00:00:00Z", lastSeen: "2026-12-01T09:00:00Z" },
  ],
  seenTotal: 4,
};

const now = new Date("2026-12-03T05:00:00.000Z");
const approval = (id: string, match: Record<string, string>) => ({ id, control: "software", match, validFrom: "2026-01-01T00:00:00Z", validUntil: "2027-01-01T00:00:00Z", reason: "site tool" });

describe("the local check judges programs from outside packages (executed)", () => {
  it("each program once: running and seen, needs_approval by default, a prohibited hash a violation, a 甲許可 by hash or path approved", () => {
    const policy = Policy.parse({ software: { executed: { prohibited: [{ sha256: B, reason: "known bad" }] } } });
    const r = evaluateCompliance(doc(EXECUTED), {
      policy, policySource: { source: "server", version: 7 }, now, catalog,
      approvals: pushedApprovals([approval("ap-hash", { sha256: C }), approval("ap-path", { path: "/opt/site/*" })]),
      agent: { id: "pc-1", tags: [] },
    });
    const ex = r.controls.find((c) => c.section === "executed")!;
    expect(ex).toMatchObject({ control: "software", collector: "executed", verdict: "needs_action", checked: 5, articles: ["別記2 第10"] });
    expect(ex.title.ja).toBe("パッケージ外のプログラムの実行（未導入ソフトウェア）");
    const by = Object.fromEntries(ex.findings.map((f) => [f.subject.split(" ")[0], [f.status, f.action, f.approvalId]]));
    expect(by).toEqual({
      "/home/hanako/Downloads/tool": ["needs_approval", "running (2 process(es))", null],
      "/home/hanako/bin/big": ["needs_approval", "running (1 process(es))", null],
      "/media/usb/evil": ["violation", "ran 1 time(s) (last 2026-12-02T00:00:00Z)", null],
      "/srv/tools/report": ["approved", "ran 7 time(s) (last 2026-12-02T09:00:00Z)", "ap-hash"],
      "/opt/site/x": ["approved", "ran 2 time(s) (last 2026-12-01T09:00:00Z)", "ap-path"],
    });
    expect(ex.findings.find((f) => f.status === "violation")).toMatchObject({ type: "software.executed", severity: "critical" });
    expect(r.needsAction).toBe(true);

    const ja = complianceText(r, "ja");
    expect(ja).toMatch(/^\[要対応\] パッケージ外のプログラムの実行（未導入ソフトウェア） \(software\/executed; 別記2 第10\) — 5 件を確認、許可済み 2 件$/m);
    expect(ja).toContain(`  違反 別記2 第10: /media/usb/evil (SHA-256 ${B.slice(0, 16)}…) ran 1 time(s) (last 2026-12-02T00:00:00Z)\n`);
    expect(ja).toContain(`  甲許可待ち 別記2 第10: /home/hanako/Downloads/tool (SHA-256 ${A.slice(0, 16)}…) running (2 process(es))\n`);
    expect(ja).toContain("  甲許可待ち 別記2 第10: /home/hanako/bin/big running (1 process(es))\n");
    expect(ja).not.toContain("/srv/tools/report");
    // the software control's own line is unchanged
    expect(ja).toMatch(/^\[問題なし\] ソフトウェアの無許可導入・更新・削除の禁止 \(software; 別記2 第10\) — 0 件を確認$/m);
    expect(complianceText(r, "en")).toMatch(/^\[needs action\] Program run from outside any installed package \(portable, copied, downloaded\) \(software\/executed; 別記2 第10\)/m);
  });

  it("nothing from outside packages → ok; the collector disabled → off; the section unreadable → not checked (needs action)", () => {
    const empty = evaluateCompliance(doc({ indexed: 10, running: [], seen: null, seenError: "not enrolled" }), { policy: Policy.parse({}), policySource: { source: "default" }, now, catalog });
    expect(empty.controls.find((c) => c.section === "executed")).toMatchObject({ verdict: "ok", checked: 0, findings: [] });

    const off = evaluateCompliance(doc(EXECUTED), { policy: Policy.parse({ collectors: { executed: { enabled: false } } }), policySource: { source: "default" }, now, catalog });
    expect(off.controls.find((c) => c.section === "executed")).toMatchObject({ verdict: "off", findings: [] });
    expect(off.needsAction).toBe(false);

    const broken = { ...doc(undefined), errors: [{ source: "executed", message: "index: EACCES" }] };
    delete (broken as Record<string, unknown>).executed;
    const unchecked = evaluateCompliance(broken, { policy: Policy.parse({}), policySource: { source: "default" }, now, catalog });
    expect(unchecked.controls.find((c) => c.section === "executed")).toMatchObject({ verdict: "unchecked", error: "index: EACCES" });
    expect(unchecked.needsAction).toBe(true);
  });

  it("sections: only those asked for are judged (the scheduled snapshot leaves executed out)", () => {
    const r = evaluateCompliance(doc(EXECUTED), { policy: Policy.parse({}), policySource: { source: "default" }, now, catalog, sections: new Set(["software", "p2p", "network", "media", "hardware"]) });
    expect(r.controls.map((c) => c.section)).toEqual(["software", "p2p", "network", "media", "hardware"]);
    expect(r.needsAction).toBe(false);
  });
});
