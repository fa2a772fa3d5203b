/**
 * decide() (policies/decide.ts), table-driven: one row per case with the exact status, severity,
 * approval and reasons (both languages), then every event type × policy × approval × ledger view
 * checked against the invariants the catalog promises.
 */
import { describe, expect, it } from "vitest";
import { loadCatalog } from "../../policies/catalog.js";
import { Policy } from "../../policies/policy.js";
import { EVENT_TYPES, controlOf, type Approval, type Details, type EventType, type Reason, type Severity, type Status } from "../../policies/schema.js";
import { approvalInForce, decide, scopeCovers, type MediaView } from "../../policies/decide.js";

const catalog = loadCatalog();
const now = new Date("2025-06-01T12:00:00Z");
const agent = { id: "agent-1", tags: ["kyoto", "lab"] };

function approval(over: Partial<Approval> = {}): Approval {
  return {
    id: "ap-1", control: "software", match: { name: "Visual Studio Code*" }, scope: { all: true },
    validFrom: "2025-01-01T00:00:00Z", validUntil: "2026-01-01T00:00:00Z", reason: "開発用", createdAt: "2025-01-01T00:00:00Z",
    ...over,
  };
}

const P = {
  none: Policy.parse({}),
  prohibited: Policy.parse({ software: { prohibited: [{ name: "*torrent*" }, { name: "winny*", reason: "P2P" }, { name: "TeamViewer", publisher: "TeamViewer*" }] } }),
  strictMedia: Policy.parse({ media: { unencrypted: "needs_approval" } }),
  networks: Policy.parse({
    network: {
      approvedNetworks: [{ name: "本庁舎LAN", cidr: "10.1.0.0/16" }, { ssid: "office-*" }, { gatewayMac: "00:1c:0e:ec:5c:00" }],
      approvedDestinations: [{ cidr: "127.0.0.0/8" }, { cidr: "203.0.113.0/24", ports: [443] }],
      approvedListeningPorts: [{ port: 22, protocol: "tcp", process: "sshd" }],
    },
  }),
};

const L: Record<string, MediaView | undefined> = {
  none: undefined,
  registered: { registered: true, serialConflict: false, mediumId: "m-1" },
  unregistered: { registered: false, serialConflict: false, mediumId: null },
  conflict: { registered: true, serialConflict: true, mediumId: "m-1" },
};

const DEFAULT_NA: Reason = { ja: "カタログの既定: 甲許可待ち", en: "catalog default: needs approval" };
const DEFAULT_INFO: Reason = { ja: "カタログの既定: 情報", en: "catalog default: info" };
const DEFAULT_VIOLATION: Reason = { ja: "カタログの既定: 違反", en: "catalog default: violation" };
const AP1: Reason = { ja: "甲許可 ap-1 (有効期限 2026-01-01) に一致", en: "matched approval ap-1 (valid until 2026-01-01)" };

interface Case {
  name: string;
  type: EventType;
  details?: Details;
  policy?: Policy;
  approvals?: Approval[];
  media?: MediaView;
  agent?: { id: string; tags: string[] };
  status: Status;
  severity?: Severity;
  approvalId?: string | null;
  reasons: Reason[];
}

const vscode = { name: "Visual Studio Code", version: "1.90.0" };
const stick = { device: "/dev/sdb1", vendorId: "0781", productId: "5567", serial: "ABC123" };
const mediaApproval = approval({ control: "media", match: { serial: "ABC123" } });

const CASES: Case[] = [
  // --- catalog defaults
  { name: "software.installed, no rule, no approval: needs_approval medium", type: "software.installed", details: { name: "vim" }, status: "needs_approval", severity: "medium", reasons: [DEFAULT_NA] },
  { name: "software.inventory is info", type: "software.inventory", details: { count: 0, items: [] }, status: "info", severity: "info", reasons: [DEFAULT_INFO] },
  { name: "p2p.running is a critical violation", type: "p2p.running", details: { family: "Winny" }, status: "violation", severity: "critical", reasons: [DEFAULT_VIOLATION] },
  { name: "p2p.installed: no approval clears it", type: "p2p.installed", details: {}, approvals: [approval({ control: "p2p", match: {} })], status: "violation", reasons: [DEFAULT_VIOLATION] },
  { name: "p2p.present", type: "p2p.present", details: {}, status: "violation", reasons: [DEFAULT_VIOLATION] },
  { name: "p2p.traffic", type: "p2p.traffic", details: { ports: [6881] }, status: "violation", reasons: [DEFAULT_VIOLATION] },
  { name: "asset.snapshot is info", type: "asset.snapshot", details: {}, status: "info", reasons: [DEFAULT_INFO] },
  { name: "asset.hardware_changed needs approval", type: "asset.hardware_changed", details: { component: "memory" }, status: "needs_approval", severity: "medium", reasons: [DEFAULT_NA] },
  { name: "asset.hardware_changed approved by {component}", type: "asset.hardware_changed", details: { component: "memory" }, approvals: [approval({ control: "asset", match: { component: "memory" } })], status: "approved", approvalId: "ap-1", reasons: [DEFAULT_NA, AP1] },
  { name: "asset.unregistered (server-made) needs approval, high", type: "asset.unregistered", details: { pcId: "p" }, status: "needs_approval", severity: "high", reasons: [DEFAULT_NA] },
  { name: "agent.silent (server-made) needs approval, high", type: "agent.silent", details: { missedHeartbeats: 3 }, status: "needs_approval", severity: "high", reasons: [DEFAULT_NA] },
  { name: "agent.silent approved for a tag (maintenance window)", type: "agent.silent", details: {}, approvals: [approval({ control: "agent", match: {}, scope: { tags: ["lab"] } })], status: "approved", approvalId: "ap-1", reasons: [DEFAULT_NA, AP1] },
  { name: "agent.started info", type: "agent.started", status: "info", reasons: [DEFAULT_INFO] },
  { name: "agent.stopped info (low)", type: "agent.stopped", status: "info", severity: "low", reasons: [DEFAULT_INFO] },
  { name: "agent.degraded info", type: "agent.degraded", details: { reason: "queue_shed" }, status: "info", reasons: [DEFAULT_INFO] },
  { name: "agent.selftest info", type: "agent.selftest", status: "info", reasons: [DEFAULT_INFO] },
  { name: "agent.check info", type: "agent.check", details: { control: "p2p", collector: "p2p", completedAt: "2026-12-03T00:00:00.000Z", ok: true, findings: 0 }, status: "info", reasons: [DEFAULT_INFO] },
  { name: "agent.delivery_failed (server-made) needs approval, high", type: "agent.delivery_failed", details: { channel: "email", rule: "p2p", attempts: 4, eventIds: [1] }, status: "needs_approval", severity: "high", reasons: [DEFAULT_NA] },

  // --- software: prohibited rules (policy) and approvals
  { name: "prohibited (glob, any case) installed: critical violation", type: "software.installed", details: { name: "qBittorrent" }, policy: P.prohibited, status: "violation", severity: "critical", reasons: [{ ja: '禁止ソフトウェア規則 "*torrent*" に一致', en: 'matched prohibited rule "*torrent*"' }] },
  { name: "prohibited updated, rule with a reason", type: "software.updated", details: { name: "Winny 2.0b7.1" }, policy: P.prohibited, status: "violation", reasons: [{ ja: '禁止ソフトウェア規則 "winny*" に一致（P2P）', en: 'matched prohibited rule "winny*" (P2P)' }] },
  { name: "prohibited removed: removing is the fix, still needs approval", type: "software.removed", details: { name: "qBittorrent" }, policy: P.prohibited, status: "needs_approval", reasons: [DEFAULT_NA] },
  { name: "prohibited rule's publisher must match too", type: "software.installed", details: { name: "TeamViewer", publisher: "Other" }, policy: P.prohibited, status: "needs_approval", reasons: [DEFAULT_NA] },
  { name: "prohibited rule with publisher matching", type: "software.installed", details: { name: "TeamViewer", publisher: "TeamViewer GmbH" }, policy: P.prohibited, status: "violation", reasons: [{ ja: '禁止ソフトウェア規則 "TeamViewer" に一致', en: 'matched prohibited rule "TeamViewer"' }] },
  { name: "an approval never clears prohibited software", type: "software.installed", details: { name: "uTorrent" }, policy: P.prohibited, approvals: [approval({ match: { name: "*" } })], status: "violation", approvalId: null, reasons: [{ ja: '禁止ソフトウェア規則 "*torrent*" に一致', en: 'matched prohibited rule "*torrent*"' }] },
  { name: "a matching approval for all agents approves and names itself", type: "software.installed", details: vscode, approvals: [approval()], status: "approved", severity: "medium", approvalId: "ap-1", reasons: [DEFAULT_NA, AP1] },
  { name: "another control's approval does not apply", type: "software.installed", details: vscode, approvals: [approval({ control: "network" })], status: "needs_approval", reasons: [DEFAULT_NA] },
  { name: "a non-matching name does not apply", type: "software.installed", details: { name: "Slack" }, approvals: [approval()], status: "needs_approval", reasons: [DEFAULT_NA] },
  { name: "validFrom is inclusive", type: "software.installed", details: vscode, approvals: [approval({ validFrom: now.toISOString(), validUntil: "2025-06-01T13:00:00Z" })], status: "approved", reasons: [DEFAULT_NA, { ja: "甲許可 ap-1 (有効期限 2025-06-01) に一致", en: "matched approval ap-1 (valid until 2025-06-01)" }] },
  { name: "validUntil is exclusive", type: "software.installed", details: vscode, approvals: [approval({ validUntil: now.toISOString() })], status: "needs_approval", reasons: [DEFAULT_NA] },
  { name: "an approval not yet in force", type: "software.installed", details: vscode, approvals: [approval({ validFrom: "2025-06-01T12:00:01Z", validUntil: "2025-07-01T00:00:00Z" })], status: "needs_approval", reasons: [DEFAULT_NA] },
  { name: "scope by agents: covered", type: "software.installed", details: vscode, approvals: [approval({ scope: { agents: ["agent-1"] } })], status: "approved", reasons: [DEFAULT_NA, AP1] },
  { name: "scope by agents: not covered", type: "software.installed", details: vscode, approvals: [approval({ scope: { agents: ["agent-2"] } })], status: "needs_approval", reasons: [DEFAULT_NA] },
  { name: "scope by tags: covered", type: "software.installed", details: vscode, approvals: [approval({ scope: { tags: ["osaka", "lab"] } })], status: "approved", reasons: [DEFAULT_NA, AP1] },
  { name: "scope by tags: not covered", type: "software.installed", details: vscode, approvals: [approval({ scope: { tags: ["osaka"] } })], status: "needs_approval", reasons: [DEFAULT_NA] },
  { name: "match.action install does not cover a removal", type: "software.removed", details: vscode, approvals: [approval({ match: { name: "Visual Studio Code", action: "install" } })], status: "needs_approval", reasons: [DEFAULT_NA] },
  { name: "match.version range", type: "software.updated", details: { ...vscode, source: "dpkg" }, approvals: [approval({ match: { name: "Visual*", version: ">=1.80 <2" } })], status: "approved", reasons: [DEFAULT_NA, AP1] },
  { name: "the first approval that holds wins", type: "software.installed", details: vscode, approvals: [approval({ id: "no", scope: { agents: ["x"] } }), approval({ id: "yes" })], status: "approved", approvalId: "yes", reasons: [DEFAULT_NA, { ja: "甲許可 yes (有効期限 2026-01-01) に一致", en: "matched approval yes (valid until 2026-01-01)" }] },
  { name: "a name that is not a string matches no rule and no approval (total)", type: "software.installed", details: { name: { toString: 1 } }, policy: P.prohibited, approvals: [approval({ match: { name: "*" } })], status: "needs_approval", reasons: [DEFAULT_NA] },

  // --- software.executed: a program run from outside any package
  { name: "software.executed: needs_approval medium", type: "software.executed", details: { path: "/home/t/Downloads/x", name: "x", sha256: "a".repeat(64) }, status: "needs_approval", severity: "medium", reasons: [DEFAULT_NA] },
  { name: "software.executed approved by sha256", type: "software.executed", details: { path: "/home/t/Downloads/x", name: "x", sha256: "a".repeat(64) }, approvals: [approval({ match: { sha256: "A".repeat(64) } })], status: "approved", approvalId: "ap-1", reasons: [DEFAULT_NA, AP1] },
  { name: "software.executed prohibited by sha256: critical violation no approval clears", type: "software.executed", details: { path: "/tmp/x", name: "x", sha256: "b".repeat(64) }, policy: Policy.parse({ software: { executed: { prohibited: [{ sha256: "b".repeat(64), reason: "banned" }] } } }), approvals: [approval({ match: { sha256: "b".repeat(64) } })], status: "violation", severity: "critical", approvalId: null, reasons: [{ ja: `禁止プログラム規則 (sha256 "${"b".repeat(64)}") に一致（banned）`, en: `matched prohibited program rule (sha256 "${"b".repeat(64)}") (banned)` }] },

  // --- network: the policy's approved lists, then approvals
  { name: "network.attached in an approved cidr: approved by the policy", type: "network.attached", details: { iface: "eth0", address: "10.1.2.3", cidr: "10.1.0.0/16" }, policy: P.networks, status: "approved", approvalId: null, reasons: [{ ja: 'ポリシーの承認済みネットワーク "本庁舎LAN" に一致', en: 'matched approved network "本庁舎LAN" of the policy' }] },
  { name: "network.changed to an approved ssid", type: "network.changed", details: { iface: "wlan0", address: "192.168.9.2", ssid: "office-5g" }, policy: P.networks, status: "approved", reasons: [{ ja: 'ポリシーの承認済みネットワーク "office-*" に一致', en: 'matched approved network "office-*" of the policy' }] },
  { name: "network.attached behind an approved gateway MAC written the macOS way", type: "network.attached", details: { iface: "en0", address: "172.16.0.5", gatewayMac: "0:1c:e:ec:5c:0" }, policy: P.networks, status: "approved", reasons: [{ ja: 'ポリシーの承認済みネットワーク "00:1c:0e:ec:5c:00" に一致', en: 'matched approved network "00:1c:0e:ec:5c:00" of the policy' }] },
  { name: "network.attached elsewhere: needs approval (high)", type: "network.attached", details: { iface: "eth0", address: "192.168.1.5" }, policy: P.networks, status: "needs_approval", severity: "high", reasons: [DEFAULT_NA] },
  { name: "network.attached approved by ssid approval", type: "network.attached", details: { ssid: "cafe-free" }, approvals: [approval({ control: "network", match: { ssid: "cafe-*" } })], status: "approved", reasons: [DEFAULT_NA, AP1] },
  { name: "network.connection to an approved destination and port", type: "network.connection", details: { remoteAddress: "203.0.113.7", remotePort: 443, process: "curl" }, policy: P.networks, status: "approved", reasons: [{ ja: 'ポリシーの承認済み宛先 "203.0.113.0/24 (443)" に一致', en: 'matched approved destination "203.0.113.0/24 (443)" of the policy' }] },
  { name: "network.connection to an approved cidr on another port", type: "network.connection", details: { remoteAddress: "203.0.113.7", remotePort: 80 }, policy: P.networks, status: "needs_approval", reasons: [DEFAULT_NA] },
  { name: "network.connection approved by destination approval", type: "network.connection", details: { remoteAddress: "198.51.100.9", remotePort: 8443 }, approvals: [approval({ control: "network", match: { destination: "198.51.100.0/24:8443" } })], status: "approved", reasons: [DEFAULT_NA, AP1] },
  { name: "network.listening on an approved port by the named process", type: "network.listening", details: { port: 22, protocol: "tcp", process: "sshd", exe: "/usr/sbin/sshd" }, policy: P.networks, status: "approved", reasons: [{ ja: 'ポリシーの承認済み待受ポート "22/tcp sshd" に一致', en: 'matched approved listening port "22/tcp sshd" of the policy' }] },
  { name: "network.listening on port 22 by another process", type: "network.listening", details: { port: 22, protocol: "tcp", process: "nc", exe: "/usr/bin/nc" }, policy: P.networks, status: "needs_approval", severity: "medium", reasons: [DEFAULT_NA] },

  // --- media: the media ledger's view, the scan, the policy
  { name: "media.inserted, unregistered: needs approval medium (第12 第8項)", type: "media.inserted", details: stick, media: L.unregistered, status: "needs_approval", severity: "medium", reasons: [{ ja: "媒体台帳に未登録", en: "not in the media ledger" }] },
  { name: "media.inserted, registered: info", type: "media.inserted", details: stick, media: L.registered, status: "info", severity: "low", reasons: [{ ja: "媒体台帳に登録済み (m-1)", en: "registered in the media ledger (m-1)" }] },
  { name: "media.inserted, serial conflict: needs approval high, and no approval clears it", type: "media.inserted", details: stick, media: L.conflict, approvals: [mediaApproval], status: "needs_approval", severity: "high", approvalId: null, reasons: [{ ja: "シリアル番号が別の媒体と重複", en: "serial number also belongs to another medium" }, { ja: "この判定は甲許可では解除できない", en: "no approval can clear this" }] },
  { name: "media.inserted, unregistered but approved by serial", type: "media.inserted", details: stick, media: L.unregistered, approvals: [mediaApproval], status: "approved", approvalId: "ap-1", reasons: [{ ja: "媒体台帳に未登録", en: "not in the media ledger" }, AP1] },
  { name: "media.inserted, no ledger view (no media ledger): the catalog default", type: "media.inserted", details: stick, media: L.none, status: "info", reasons: [DEFAULT_INFO] },
  { name: "media.inserted, another serial's approval does not apply", type: "media.inserted", details: { ...stick, serial: "ZZZ" }, media: L.unregistered, approvals: [mediaApproval], status: "needs_approval", reasons: [{ ja: "媒体台帳に未登録", en: "not in the media ledger" }] },
  { name: "media.copy_out needs approval (high)", type: "media.copy_out", details: { ...stick, files: [] }, media: L.registered, status: "needs_approval", severity: "high", reasons: [DEFAULT_NA] },
  { name: "media.copy_out approved by {serial, action: copy_out}", type: "media.copy_out", details: { ...stick, files: [] }, media: L.registered, approvals: [approval({ control: "media", match: { serial: "ABC123", action: "copy_out" } })], status: "approved", reasons: [DEFAULT_NA, AP1] },
  { name: "media.copy_out of a serial in conflict: not cleared", type: "media.copy_out", details: { ...stick, files: [] }, media: L.conflict, approvals: [approval({ control: "media", match: { serial: "ABC123", action: "copy_out" } })], status: "needs_approval", approvalId: null, reasons: [{ ja: "シリアル番号が別の媒体と重複", en: "serial number also belongs to another medium" }, { ja: "この判定は甲許可では解除できない", en: "no approval can clear this" }] },
  { name: "media.scanned infected: critical violation whatever the approvals", type: "media.scanned", details: { ...stick, result: "infected" }, approvals: [approval({ control: "media", match: {} })], status: "violation", severity: "critical", reasons: [{ ja: "ウイルスチェックでウイルスを検出", en: "virus found by the scan (result: infected)" }] },
  { name: "media.scanned clean: info", type: "media.scanned", details: { ...stick, result: "clean" }, status: "info", severity: "info", reasons: [DEFAULT_INFO] },
  { name: "media.unencrypted follows the policy (info by default)", type: "media.unencrypted", details: stick, status: "info", reasons: [{ ja: "ポリシー media.unencrypted により情報", en: "policy media.unencrypted: info" }] },
  { name: "media.unencrypted with unencrypted: needs_approval", type: "media.unencrypted", details: stick, policy: P.strictMedia, status: "needs_approval", reasons: [{ ja: "ポリシー media.unencrypted により甲許可待ち", en: "policy media.unencrypted: needs approval" }] },
  { name: "media.unencrypted needs_approval, approved by serial", type: "media.unencrypted", details: stick, policy: P.strictMedia, approvals: [mediaApproval], status: "approved", reasons: [{ ja: "ポリシー media.unencrypted により甲許可待ち", en: "policy media.unencrypted: needs approval" }, AP1] },
  { name: "media.removed is info and never approved", type: "media.removed", details: stick, approvals: [approval({ control: "media", match: {} })], status: "info", reasons: [DEFAULT_INFO] },
];

describe("decide: the table", () => {
  it.each(CASES)("$name", (c) => {
    const d = decide(
      { type: c.type, details: c.details ?? {}, agent: c.agent ?? agent },
      { catalog, policy: c.policy ?? P.none, approvals: c.approvals ?? [], ledgers: { media: c.media }, now },
    );
    expect(d.status).toBe(c.status);
    if (c.severity) expect(d.severity).toBe(c.severity);
    if (c.approvalId !== undefined) expect(d.approvalId).toBe(c.approvalId);
    expect(d.reasons).toEqual(c.reasons);
    expect(d.control).toBe(controlOf(c.type));
    expect(d.articles).toEqual(catalog.events[c.type].articles);
  });

  it("covers every event type", () => {
    expect(new Set(CASES.map((c) => c.type))).toEqual(new Set(EVENT_TYPES));
  });
});

describe("decide: every event type × policy × approval × ledger view", () => {
  const details = (type: EventType): Details => ({
    name: "qBittorrent", version: "4.6", ...stick, result: "infected", ssid: "office-1", address: "10.1.0.9", remoteAddress: "203.0.113.1",
    remotePort: 443, port: 22, protocol: "tcp", process: "sshd", component: "disk", ...(type === "media.scanned" ? {} : { result: "clean" }),
  });
  const approvalsFor = (type: EventType): Record<string, Approval[]> => ({
    none: [],
    inForce: [approval({ control: controlOf(type), match: {} })],
    expired: [approval({ control: controlOf(type), match: {}, validUntil: "2025-02-01T00:00:00Z" })],
    otherAgent: [approval({ control: controlOf(type), match: {}, scope: { agents: ["agent-9"] } })],
  });
  const policies = { none: P.none, prohibited: P.prohibited, strictMedia: P.strictMedia, networks: P.networks };
  let combos = 0;
  for (const type of EVENT_TYPES) {
    it(`${type}: violation is never approved; only clearable types get an approval; reasons always given in both languages`, () => {
      const entry = catalog.events[type];
      for (const [pn, policy] of Object.entries(policies)) {
        for (const [an, approvals] of Object.entries(approvalsFor(type))) {
          for (const [ln, media] of Object.entries(L)) {
            const d = decide({ type, details: details(type), agent }, { catalog, policy, approvals, ledgers: { media }, now });
            const where = `${type} policy=${pn} approvals=${an} ledger=${ln}`;
            combos++;
            expect(d.reasons.length, where).toBeGreaterThan(0);
            for (const r of d.reasons) {
              expect(r.ja, where).toMatch(/\S/);
              expect(r.en, where).toMatch(/\S/);
            }
            if (d.approvalId !== null) {
              expect(entry.clearable, where).toBe(true);
              expect(an, where).toBe("inForce");
              expect(d.status, where).toBe("approved");
              expect(d.reasons.at(-1)!.en, where).toMatch(/^matched approval ap-1/);
            }
            if (an !== "inForce" && d.status === "approved") expect(d.reasons[0]!.en, where).toMatch(/of the policy$/);
            if (entry.defaultStatus === "violation") expect(d.status, where).toBe("violation");
            if (d.status === "violation") expect(d.approvalId, where).toBeNull();
            if (ln === "conflict" && (type === "media.inserted" || type === "media.copy_out")) expect(d.status, where).toBe("needs_approval");
            if (!entry.clearable && an === "inForce") expect(d.approvalId, where).toBeNull();
            if (entry.priority === "routine") expect(["info", "approved"], where).toContain(d.status);
          }
        }
      }
      expect(combos).toBeGreaterThan(0);
    });
  }
});

describe("approval validity and scope helpers", () => {
  it("validity uses offsets correctly (+09:00)", () => {
    const a = approval({ validFrom: "2025-06-01T21:00:00+09:00", validUntil: "2025-06-02T21:00:00+09:00" });
    expect(approvalInForce(a, now)).toBe(true);
    expect(approvalInForce(a, new Date("2025-06-01T11:59:59Z"))).toBe(false);
  });
  it("an empty tag list is covered by no tag scope", () => {
    expect(scopeCovers({ tags: ["x"] }, { id: "a", tags: [] })).toBe(false);
  });
});
