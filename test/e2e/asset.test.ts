/**
 * The PC ledger (台帳) end to end, with the real binary as child processes: the agent's asset
 * collector sends this PC's snapshot → the server raises asset.unregistered; a ledger CSV naming
 * this PC (its serial/MAC/hostname as the snapshot reported them) is imported → the event is
 * resolved and GET /api/assets shows the entry joined with the agent.
 */
import { describe, expect, it } from "vitest";
import { processScope, startAgent, startServer, waitFor } from "../helpers/kyoka.js";

interface ApiEvent {
  id: number; agentId: string; seq: number | null; type: string; status: string; articles: string[];
  details: Record<string, unknown>; resolution?: string | null; note?: string | null;
}

const { dir, track } = processScope();

const csvCell = (v: string): string => (/[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);

describe("asset ledger: agent snapshot → asset.unregistered → ledger import", () => {
  it("raises asset.unregistered for this PC, resolves it when the ledger gains the PC, and joins the entry", async () => {
    const server = track(await startServer({ dataDir: dir() }));
    track(startAgent({ server: server.wsUrl, stateDir: dir(), enrollToken: server.enrollToken, extra: ["--collectors", "asset"] }));

    const snapshot = await waitFor(async () => {
      const r = await server.api<ApiEvent[]>("/api/events?type=asset.snapshot");
      return r.body.length > 0 && r.body[0];
    }, "the agent's asset.snapshot", 60_000);
    const agentId = snapshot.agentId;

    const unregistered = await waitFor(async () => {
      const r = await server.api<ApiEvent[]>(`/api/events?type=asset.unregistered&agent=${agentId}`);
      return r.body.length > 0 && r.body;
    }, "asset.unregistered", 30_000);
    expect(unregistered).toHaveLength(1);
    expect(unregistered[0]).toMatchObject({
      agentId, seq: null, status: "needs_approval", resolution: null,
      articles: expect.arrayContaining(["個人情報取扱特記事項 第12 第8項"]),
      details: { pcId: snapshot.details.pcId },
    });
    const before = await server.api<{ unregisteredAgents: Array<{ id: string }> }>("/api/assets");
    expect(before.body.unregisteredAgents.map((a) => a.id)).toEqual([agentId]);

    // This PC as the ledger knows it: what its own snapshot reported.
    const inv = snapshot.details.inventory as {
      system: { serial: string }; baseboard: { serial: string }; nics: Array<{ mac: string; virtual: boolean }>; os: { hostname: string };
    };
    const serial = inv.system.serial || inv.baseboard.serial;
    const macs = inv.nics.filter((n) => !n.virtual && n.mac).map((n) => n.mac);
    const hostname = String(snapshot.details.hostname);
    const csv = [
      "資産番号,ホスト名,製造番号,MACアドレス,設置場所（作業場所）,管理者,登録日,備考",
      ["PC-2024-001", hostname, serial, macs.join(";"), "本庁舎3階", "山田 太郎", "2024/04/01", "e2e"].map(csvCell).join(","),
      ["PC-2024-002", "not-this-pc", "NO-SUCH-SERIAL", "", "倉庫", "", "", ""].map(csvCell).join(","),
    ].join("\r\n");
    const imported = await fetch(`${server.url}/api/assets/import`, {
      method: "POST", headers: { authorization: `Bearer ${server.adminToken}`, "content-type": "text/csv" }, body: csv,
    });
    expect(imported.status).toBe(200);
    expect(await imported.json()).toMatchObject({ imported: 2, errors: [] });

    const [resolved] = (await server.api<ApiEvent[]>(`/api/events?type=asset.unregistered&agent=${agentId}`)).body;
    expect(resolved).toMatchObject({ id: unregistered[0]!.id, resolution: "registered", note: expect.stringContaining("PC-2024-001") });

    const view = await server.api<{
      entries: Array<{ assetNo: string; flags: string[]; matchedBy: string | null; agent: { id: string; online: boolean; inventory: { pcId: string; hostname: string } | null } | null }>;
      unregisteredAgents: unknown[];
    }>("/api/assets");
    expect(view.status).toBe(200);
    expect(view.body.unregisteredAgents).toEqual([]);
    expect(view.body.entries.find((e) => e.assetNo === "PC-2024-001")).toMatchObject({
      flags: [], matchedBy: serial ? "serial" : macs.length ? "mac" : "hostname",
      agent: { id: agentId, online: true, inventory: { pcId: snapshot.details.pcId, hostname } },
    });
    expect(view.body.entries.find((e) => e.assetNo === "PC-2024-002")).toMatchObject({ flags: ["no_agent"], agent: null });

    // the export carries the imported entry back out
    const exported = await fetch(`${server.url}/api/assets/export`, { headers: { authorization: `Bearer ${server.adminToken}` } });
    expect(exported.headers.get("content-type")).toBe("text/csv; charset=utf-8");
    const bytes = Buffer.from(await exported.arrayBuffer());
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    expect(bytes.toString("utf8")).toContain("PC-2024-001");
  }, 120_000);
});
