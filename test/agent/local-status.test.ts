/**
 * What the agent tells its user (agent/local-status.ts): a pushed {t:"approvals"} is written to
 * status.json at once and logged (in force until when / 許可されました, ended / 期限が切れました,
 * withdrawn, a request approved / denied with its note); `kyoka status` reads that file —
 * approvals in force until when (those past their end by this PC's clock left out), pending
 * requests, recent decisions, in English and Japanese — and says when the agent is not running.
 * The live path (a real agent, a real server, the 2 s bound) is test/e2e/workflow.test.ts.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LocalStatus, STATUS_FILE, type AgentStatusFile } from "../../agent/local-status.js";
import type { ServerApprovals } from "../../policies/schema.js";
import { run, tempDir, removeDir } from "../helpers/kyoka.js";
import { captureLog } from "../server/helpers.js";

const dir = tempDir("kyoka-local-status-");
afterAll(() => removeDir(dir));

const inDays = (n: number) => new Date(Date.now() + n * 86_400_000).toISOString();
const approval = (id: string, name: string, validUntil: string, requestId?: string): ServerApprovals["approvals"][number] => ({
  id, control: "software", match: { name, version: ">=2" }, validFrom: inDays(-1), validUntil, reason: "業務で必要", ...(requestId ? { requestId } : {}),
});
const req = (id: string, status: "pending" | "approved" | "denied", decisionNote: string | null = null): ServerApprovals["requests"][number] => ({
  id, control: "software", match: { name: `pkg-${id}` }, status, validUntil: inDays(30), reason: `理由 ${id}`, requestedAt: inDays(-1), decisionNote,
});
const read = (): AgentStatusFile => JSON.parse(readFileSync(join(dir, STATUS_FILE), "utf8")) as AgentStatusFile;
const settle = () => new Promise((r) => setTimeout(r, 50));

describe("the agent's status file and log lines", () => {
  const logs = captureLog();
  const status = new LocalStatus(dir, "wss://kyoka.example", {
    agentId: () => "agent-1", connected: () => true, policyVersion: () => 7, queue: () => ({ pendingEvents: 2, ackedSeq: 40, lastSeq: 42 }),
  }, logs.log);

  it("a push is in status.json at once, each new approval logged with its end", async () => {
    status.start(60_000);
    const until = inDays(10);
    const a1 = approval("a1", "foo*", until, "r1");
    status.received({ t: "approvals", serverTime: new Date().toISOString(), approvals: [a1], requests: [req("r2", "pending")] });
    await settle();
    const s = read();
    expect(s).toMatchObject({ agentId: "agent-1", connected: true, running: true, policyVersion: 7, queue: { pendingEvents: 2 } });
    expect(s.approvals).toEqual([a1]);
    expect(s.requests.map((r) => [r.id, r.status])).toEqual([["r2", "pending"]]);
    expect(s.approvalsReceivedAt).not.toBeNull();
    const msgs = logs.lines.map((l) => String(l.msg));
    expect(msgs).toContain(`甲許可 in force for this PC: software name=foo* version=>=2 until ${until} / 許可されました（${until} まで）`);
  });

  it("the next push: an ended approval, a withdrawn one, a request approved and one denied are logged", async () => {
    const past = new Date(Date.now() - 1000).toISOString();
    // first the ones that will go
    status.received({ t: "approvals", serverTime: new Date().toISOString(),
      approvals: [approval("a1", "foo*", inDays(10), "r1"), approval("a2", "short", past), approval("a3", "revoked", inDays(5))], requests: [req("r2", "pending"), req("r3", "pending")] });
    logs.lines.length = 0;
    status.received({ t: "approvals", serverTime: new Date().toISOString(),
      approvals: [approval("a1", "foo*", inDays(10), "r1")], requests: [req("r2", "approved", "承認します"), req("r3", "denied", "業務外")] });
    await settle();
    const msgs = logs.lines.map((l) => String(l.msg));
    expect(msgs.some((m) => m.startsWith("甲許可 ended: software name=short") && m.includes("許可の期限が切れました"))).toBe(true);
    expect(msgs.some((m) => m.startsWith("甲許可 withdrawn: software name=revoked") && m.includes("許可が取り消されました"))).toBe(true);
    expect(msgs).toContain("申請 r2 approved / 承認されました: software name=pkg-r2");
    expect(msgs).toContain("申請 r3 denied / 却下されました: software name=pkg-r3 — 業務外");
    expect(read().approvals.map((a) => a.id)).toEqual(["a1"]);
  });

  it("the periodic look writes only what changed: an idle agent does not write to the disk", async () => {
    const d = tempDir("kyoka-local-status-idle-");
    let pending = 0;
    const s2 = new LocalStatus(d, "wss://kyoka.example", {
      agentId: () => "agent-2", connected: () => true, policyVersion: () => 1, queue: () => ({ pendingEvents: pending, ackedSeq: 0, lastSeq: pending }),
    }, logs.log);
    try {
      s2.start(10);
      await new Promise((r) => setTimeout(r, 120)); // ≈ 10 looks
      expect(s2.writes).toBe(1); // the start only
      const first = readFileSync(join(d, STATUS_FILE), "utf8");
      pending = 3;
      await new Promise((r) => setTimeout(r, 60));
      expect(s2.writes).toBe(2);
      const second = JSON.parse(readFileSync(join(d, STATUS_FILE), "utf8")) as AgentStatusFile;
      expect(second.queue).toMatchObject({ pendingEvents: 3, lastSeq: 3 });
      expect(second.updatedAt >= (JSON.parse(first) as AgentStatusFile).updatedAt).toBe(true);
      await s2.stop();
      expect(s2.writes).toBe(3); // the stop: running false
    } finally {
      removeDir(d);
    }
  });

  it("stop: running false in the file", async () => {
    await status.stop();
    expect(read().running).toBe(false);
  });
});

describe("kyoka status", () => {
  const kyokaStatus = async (...extra: string[]) => {
    const p = run(["status", "--state-dir", dir, ...extra]);
    const { code } = await p.exited;
    return { code, out: p.stdout(), err: p.stderr() };
  };

  it("lists what is permitted until when, what is pending and what was decided — English and Japanese; a stopped agent says so", async () => {
    const until = inDays(10);
    const { LocalStatus: LS } = await import("../../agent/local-status.js");
    const s = new LS(dir, "wss://kyoka.example", { agentId: () => "agent-1", connected: () => true, policyVersion: () => 3, queue: () => null }, captureLog().log);
    s.received({ t: "approvals", serverTime: new Date().toISOString(),
      // one already past its end by this PC's clock: not shown as in force
      approvals: [approval("a1", "foo*", until, "r1"), approval("a9", "gone", new Date(Date.now() - 60_000).toISOString())],
      requests: [req("r2", "pending"), req("r3", "denied", "業務外")] });
    await s.stop(); // the file says running: false — as after the agent stopped
    const { code, out } = await kyokaStatus();
    expect(code).toBe(0);
    expect(out).toMatch(/^agent agent-1 — not running 停止中, server wss:\/\/kyoka.example: not connected 未接続$/m);
    expect(out).toMatch(/^policy version ポリシー版: 3;/m);
    expect(out).toContain("approvals in force for this PC 有効な甲許可 (1)");
    expect(out).toContain(`  - software name=foo* version=>=2 until ${until} (申請 r1)`);
    expect(out).not.toContain("name=gone");
    expect(out).toContain("pending requests 審査中の申請 (1):");
    expect(out).toMatch(/^ {2}- r2 software name=pkg-r2 until \S+: 理由 r2$/m);
    expect(out).toContain("recently decided 最近の決定:");
    expect(out).toContain("  - r3 denied 却下: 業務外");
    const json = JSON.parse((await kyokaStatus("--json")).out) as AgentStatusFile & { agentRunning: boolean };
    expect(json.agentRunning).toBe(false);
    expect(json.approvals.map((a) => a.id)).toEqual(["a1"]);
  });

  it("no status file: a usage error naming the folder (exit 2)", async () => {
    const empty = tempDir("kyoka-no-status-");
    try {
      const p = run(["status", "--state-dir", empty]);
      expect((await p.exited).code).toBe(2);
      expect(p.stderr()).toContain(`no agent status in ${empty}`);
    } finally {
      removeDir(empty);
    }
  });
});
