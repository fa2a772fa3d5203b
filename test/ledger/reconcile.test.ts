import { describe, expect, it } from "vitest";
import type { LedgerEntry } from "../../policies/ledger.js";
import { reconcile, type AgentForLedger } from "../../server/ledger/reconcile.js";

const NOW = new Date("2024-10-15T00:00:00Z");
const daysAgo = (d: number) => new Date(NOW.getTime() - d * 86_400_000).toISOString();
const entry = (assetNo: string, over: Partial<LedgerEntry> = {}): LedgerEntry => ({
  assetNo, hostname: "", serial: "", macs: [], location: "", owner: "", registeredAt: "", note: "", ...over,
});
const agent = (id: string, over: Partial<AgentForLedger> = {}, inv?: Partial<NonNullable<AgentForLedger["inventory"]>>): AgentForLedger => ({
  id, hostname: `host-${id}`, lastSeen: daysAgo(0),
  ...(inv ? { inventory: { pcId: `pc-${id}`, serial: "", macs: [], ...inv } } : {}),
  ...over,
});

describe("reconcile: ledger ↔ agents", () => {
  it("matches by serial, then MAC, then hostname", () => {
    const ledger = [
      entry("K-1", { serial: "5q2xkz3 ", hostname: "wrong-name" }),
      entry("K-2", { macs: ["aa:bb:cc:dd:ee:02"], hostname: "also-wrong" }),
      entry("K-3", { hostname: "KYO-PC-0003" }),
    ];
    const agents = [
      agent("a3", { hostname: "kyo-pc-0003.corp.example.lg.jp" }),
      agent("a2", {}, { macs: ["00:00:00:00:00:09", "AA-BB-CC-DD-EE-02"] }),
      agent("a1", {}, { serial: "5Q2XKZ3" }),
    ];
    const r = reconcile(ledger, agents, NOW, 14);
    expect(r.entries.map((e) => [e.entry.assetNo, e.agentId, e.matchedBy, e.flags])).toEqual([
      ["K-1", "a1", "serial", []],
      ["K-2", "a2", "mac", []],
      ["K-3", "a3", "hostname", []],
    ]);
    expect(r.unregisteredAgents).toEqual([]);
  });

  it("a serial match wins over a hostname match that points elsewhere", () => {
    const ledger = [entry("K-1", { hostname: "pc-x" }), entry("K-2", { serial: "SER-2" })];
    // the agent is called pc-x but its serial is K-2's: K-2 gets it, K-1 has no agent
    const r = reconcile(ledger, [agent("a", { hostname: "PC-X" }, { serial: "SER-2" })], NOW, 14);
    expect(r.entries.map((e) => [e.entry.assetNo, e.agentId ?? null, e.flags])).toEqual([
      ["K-1", null, ["no_agent"]],
      ["K-2", "a", []],
    ]);
  });

  it("placeholder serials never match", () => {
    const r = reconcile([entry("K-1", { serial: "To Be Filled By O.E.M." })], [agent("a", {}, { serial: "To Be Filled By O.E.M." })], NOW, 14);
    expect(r.entries[0]!.flags).toEqual(["no_agent"]);
    expect(r.unregisteredAgents).toEqual(["a"]);
  });

  it("flags: no_agent for an entry nobody matches; unseen for an agent silent longer than unseenDays", () => {
    const ledger = [entry("K-1", { hostname: "fresh" }), entry("K-2", { hostname: "stale" }), entry("K-3", { hostname: "never" }), entry("K-4", { hostname: "gone" })];
    const agents = [
      agent("a1", { hostname: "fresh", lastSeen: daysAgo(13.9) }),
      agent("a2", { hostname: "stale", lastSeen: new Date(NOW.getTime() - 15 * 86_400_000) }),
      agent("a3", { hostname: "never", lastSeen: null }),
    ];
    const r = reconcile(ledger, agents, NOW, 14);
    expect(r.entries.map((e) => [e.entry.assetNo, e.flags])).toEqual([
      ["K-1", []], ["K-2", ["unseen"]], ["K-3", ["unseen"]], ["K-4", ["no_agent"]],
    ]);
  });

  it("agents that match no entry are unregistered (私用PCの疑い)", () => {
    const r = reconcile([entry("K-1", { hostname: "pc-1" })], [agent("a1", { hostname: "pc-1" }), agent("private", { hostname: "my-laptop" }, { serial: "XYZ" })], NOW, 14);
    expect(r.unregisteredAgents).toEqual(["private"]);
  });

  it("two agents for one entry: the most recently seen takes it; an older enrolment of the same PC is not 'unregistered'", () => {
    const ledger = [entry("K-1", { serial: "SER-1" })];
    const old = agent("old", { lastSeen: daysAgo(30) }, { serial: "SER-1", pcId: "pc-same" });
    const fresh = agent("new", { lastSeen: daysAgo(0) }, { serial: "SER-1", pcId: "pc-same" });
    const r = reconcile(ledger, [old, fresh], NOW, 14);
    expect(r.entries[0]!.agentId).toBe("new");
    expect(r.unregisteredAgents).toEqual([]);
    // a different PC with the same hostname is still reported
    const other = reconcile([entry("K-1", { hostname: "pc" })], [agent("x", { hostname: "pc", lastSeen: daysAgo(1) }), agent("y", { hostname: "pc" })], NOW, 14);
    expect(other.entries[0]!.agentId).toBe("y");
    expect(other.unregisteredAgents).toEqual(["x"]);
  });

  it("each agent matches at most one entry", () => {
    const ledger = [entry("K-1", { macs: ["aa:bb:cc:dd:ee:01"] }), entry("K-2", { macs: ["aa:bb:cc:dd:ee:01"] })];
    const r = reconcile(ledger, [agent("a", {}, { macs: ["aa:bb:cc:dd:ee:01"] })], NOW, 14);
    expect(r.entries.map((e) => e.agentId ?? null)).toEqual(["a", null]);
    expect(r.entries[1]!.flags).toEqual(["no_agent"]);
  });

  it("empty inputs", () => {
    expect(reconcile([], [], NOW, 14)).toEqual({ entries: [], unregisteredAgents: [] });
    expect(reconcile([], [agent("a")], NOW, 14).unregisteredAgents).toEqual(["a"]);
  });
});
