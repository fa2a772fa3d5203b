/**
 * The PC ledger (台帳) through the HTTP API of a real in-process server: CSV import (UTF-8,
 * Shift_JIS), export with BOM, bad rows by line, GET /api/assets joined with the agents' newest
 * asset.snapshot, and the server-made asset.unregistered event (raised once, resolved on import).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import iconv from "iconv-lite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { snapshotEvent } from "../../agent/collectors/asset/index.js";
import { normalize, type RawInventory } from "../../agent/collectors/asset/inventory.js";
import { catalogEntry } from "../../policies/catalog.js";
import type { StoredEvent } from "../../policies/schema.js";
import type { AssetsView } from "../../server/assets.js";
import {
  api, connectAgent, enroll, events, request, sendEvents, startTestServer, waitFor, type Credential, type TestClient, type TestServer,
} from "./helpers.js";

const fixtures = fileURLToPath(new URL("../fixtures/", import.meta.url));
const raw = (p: string) => JSON.parse(readFileSync(join(fixtures, p), "utf8")) as RawInventory;
// Windows laptop: serial 5Q2XKZ3, MACs a0:b3:39:ab:cd:ef c4:c6:e6:12:34:56, host KYO-PC-0123
const windowsInv = normalize(raw("win32/asset/si-latitude.json"));
// MacBook: serial C02XK1ABMD6T, MACs 36:a1:b2:c3:d4:01 3c:a6:f6:11:22:33, host kyo-mbp-07.local
const macInv = normalize(raw("darwin/asset/si-macbook.json"));
// Linux VM: no serial, MAC 02:fc:00:00:00:01, host vm
const linuxInv = normalize(raw("linux/asset/si-vm.json"));

const HEADER = "資産番号,ホスト名,製造番号,MACアドレス,設置場所（作業場所）,管理者,登録日,備考";

function importCsv(srv: TestServer, body: Buffer | string, query = "") {
  return request<{ imported: number; mode: string; encoding: string; errors: { line: number; message: string }[]; warnings: unknown[]; ledgerSize: number }>(
    srv, "POST", `/api/assets/import${query}`, { raw: body, token: srv.adminToken, headers: { "content-type": "text/csv" } },
  );
}

async function assets(srv: TestServer): Promise<AssetsView> {
  const r = await api<AssetsView>(srv, "GET", "/api/assets");
  expect(r.status).toBe(200);
  return r.json;
}

describe("server: ledger CSV import and export", () => {
  let srv: TestServer;
  beforeAll(async () => { srv = await startTestServer(); });
  afterAll(async () => { await srv.stop(); });

  it("imports a UTF-8 CSV (no BOM) and lists it in GET /api/assets", async () => {
    const csv = [HEADER,
      "A-001,KYO-PC-0123,5Q2XKZ3,A0-B3-39-AB-CD-EF,本庁舎3階 情報政策課,山田 太郎,2024/4/1,",
      "A-002,kyo-mbp-07,,3c:a6:f6:11:22:33,別館,佐藤 花子,2024-05-10,貸与PC",
    ].join("\n");
    const r = await importCsv(srv, csv);
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ imported: 2, mode: "replace", encoding: "utf-8", errors: [], ledgerSize: 2 });
    const v = await assets(srv);
    expect(v.entries.map((e) => e.assetNo)).toEqual(["A-001", "A-002"]);
    expect(v.entries[0]).toMatchObject({ location: "本庁舎3階 情報政策課", owner: "山田 太郎", registeredAt: "2024-04-01", macs: ["a0:b3:39:ab:cd:ef"] });
  });

  it("imports a Shift_JIS CSV (Excel in Japan) and replaces the ledger by default", async () => {
    const csv = iconv.encode([HEADER, "B-100,pc-shomu-01,SN-777,,総務課 執務室,鈴木 一郎,2023/12/01,予備機"].join("\r\n") + "\r\n", "Shift_JIS");
    expect(csv.includes(Buffer.from("総務課", "utf8"))).toBe(false); // really not UTF-8
    const r = await importCsv(srv, csv);
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ imported: 1, encoding: "shift_jis", errors: [], ledgerSize: 1 });
    const v = await assets(srv);
    expect(v.entries).toHaveLength(1);
    expect(v.entries[0]).toMatchObject({ assetNo: "B-100", location: "総務課 執務室", owner: "鈴木 一郎", note: "予備機", registeredAt: "2023-12-01" });
  });

  it("?mode=upsert merges by 資産番号 and keeps the other entries", async () => {
    const r = await importCsv(srv, [HEADER, "B-100,pc-shomu-01,SN-777,,総務課 倉庫,鈴木 一郎,2023/12/01,", "B-101,pc-shomu-02,,,総務課,,,"].join("\n"), "?mode=upsert");
    expect(r.json).toMatchObject({ imported: 2, mode: "upsert", ledgerSize: 2 });
    const v = await assets(srv);
    expect(v.entries.map((e) => [e.assetNo, e.location])).toEqual([["B-100", "総務課 倉庫"], ["B-101", "総務課"]]);
  });

  it("reports a bad MAC row by its line and imports the rest", async () => {
    const csv = [HEADER,
      "C-001,pc-a,SER-A,aa:bb:cc:dd:ee:01,,,,",
      "C-002,pc-b,SER-B,zz:bb:cc:dd:ee:02,,,,",
      "C-003,pc-c,SER-C,AABB.CCDD.EE03,,,,",
    ].join("\r\n");
    const r = await importCsv(srv, csv);
    expect(r.status).toBe(200);
    expect(r.json.imported).toBe(2);
    expect(r.json.errors).toEqual([{ line: 3, message: expect.stringContaining("zz:bb:cc:dd:ee:02") }]);
    const v = await assets(srv);
    expect(v.entries.map((e) => e.assetNo)).toEqual(["C-001", "C-003"]);
    expect(v.entries[1]!.macs).toEqual(["aa:bb:cc:dd:ee:03"]);
  });

  it("refuses a file without one good row (400) and leaves the ledger as it was", async () => {
    const r = await importCsv(srv, "名前,住所\n山田,東京\n");
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ imported: 0, errors: [{ line: 1, message: expect.stringContaining("資産番号") }] });
    expect((await assets(srv)).entries.map((e) => e.assetNo)).toEqual(["C-001", "C-003"]);
    expect((await importCsv(srv, "{}", "?mode=sideways")).status).toBe(400);
    expect((await request(srv, "POST", "/api/assets/import", { raw: HEADER })).status).toBe(401);
  });

  it("exports UTF-8 with BOM, Japanese headers, a filename; the export imports back unchanged", async () => {
    await importCsv(srv, [HEADER,
      "D-001,KYO-PC-0123,5Q2XKZ3,a0:b3:39:ab:cd:ef;c4:c6:e6:12:34:56,\"本庁舎, 3階\",山田 太郎,2024-04-01,\"=cmd|' /C calc'!A0\"",
      "D-002,host-2,,,,,,\"二行の\n備考\"",
    ].join("\r\n"));
    const before = (await assets(srv)).entries.map(({ flags: _f, agent: _a, matchedBy: _m, ...e }) => e);
    const r = await request(srv, "GET", "/api/assets/export", { token: srv.adminToken });
    expect(r.status).toBe(200);
    expect(r.headers["content-type"]).toBe("text/csv; charset=utf-8");
    expect(r.headers["content-disposition"]).toMatch(/^attachment; filename="kyoka-ledger-\d{8}\.csv"/);
    const bytes = Buffer.from(r.text, "utf8");
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    expect(r.text.slice(1).split("\r\n")[0]).toBe(HEADER);
    expect(r.text).toContain("'=cmd"); // formula neutralised for Excel

    const again = await importCsv(srv, bytes);
    expect(again.json).toMatchObject({ imported: 2, encoding: "utf-8-bom", errors: [] });
    const after = (await assets(srv)).entries.map(({ flags: _f, agent: _a, matchedBy: _m, ...e }) => e);
    expect(after).toEqual(before);
    expect(after[0]!.note).toBe("=cmd|' /C calc'!A0");
    expect(after[1]!.note).toBe("二行の\n備考");
  });
});

describe("server: GET /api/assets and asset.unregistered", () => {
  let srv: TestServer;
  let win: Credential, mac: Credential, linux: Credential;
  let winC: TestClient, macC: TestClient;
  beforeAll(async () => {
    srv = await startTestServer();
    [win, mac] = [await enroll(srv, "KYO-PC-0123"), await enroll(srv, "kyo-mbp-07")];
  });
  afterAll(async () => {
    winC?.close();
    macC?.close();
    await srv.stop();
  });

  const snapshot = (seq: number, inv = windowsInv) => ({ seq, ...snapshotEvent(inv, new Date().toISOString()) });
  const unregisteredOf = (agentId: string) => events(srv, `?type=asset.unregistered&agent=${agentId}`);

  it("a snapshot from a PC with no ledger entry raises one asset.unregistered (needs_approval, catalog articles)", async () => {
    winC = await connectAgent(srv, win);
    await sendEvents(winC, [snapshot(1)]);
    const [e] = await waitFor(async () => {
      const list = await unregisteredOf(win.agentId);
      return list.length ? list : undefined;
    });
    expect(e).toMatchObject({
      agentId: win.agentId, seq: null, control: "asset", type: "asset.unregistered", status: "needs_approval",
      articles: catalogEntry("asset.unregistered").articles, resolution: null,
      details: { hostname: "KYO-PC-0123", serial: "5Q2XKZ3", macs: ["a0:b3:39:ab:cd:ef", "c4:c6:e6:12:34:56"] },
    });
    const v = await assets(srv);
    expect(v.unregisteredAgents.find((a) => a.id === win.agentId)).toMatchObject({
      online: true, eventId: e!.id, inventory: { serial: "5Q2XKZ3", hostname: "KYO-PC-0123" },
    });
    // enrolled, never sent a snapshot: listed, but no event (no inventory to show)
    expect(v.unregisteredAgents.find((a) => a.id === mac.agentId)).toMatchObject({ inventory: null, eventId: null });
    expect(await unregisteredOf(mac.agentId)).toEqual([]);
  });

  it("a second snapshot while still unregistered raises nothing new", async () => {
    await sendEvents(winC, [snapshot(2)]);
    // reconciliations run one at a time: this import's runs after the one seq 2 asked for
    expect((await importCsv(srv, HEADER, "?mode=upsert")).json).toMatchObject({ imported: 0, ledgerSize: 0 });
    expect(await unregisteredOf(win.agentId)).toHaveLength(1);
  });

  it("importing a ledger with the PC resolves the event ('registered', note names 資産番号) and joins the entry", async () => {
    macC = await connectAgent(srv, mac);
    await sendEvents(macC, [snapshot(1, macInv)]);
    await waitFor(async () => (await unregisteredOf(mac.agentId)).length === 1);

    const r = await importCsv(srv, [HEADER,
      "E-001,,5Q2XKZ3,,本庁舎,山田,,",                      // the Windows PC by serial
      "E-002,,,3C-A6-F6-11-22-33,別館,佐藤,,",               // the MacBook by MAC
      "E-003,ghost-pc,NOPE-1,,倉庫,,,",                       // nobody
    ].join("\n"));
    expect(r.json.imported).toBe(3);

    const [winEv] = await unregisteredOf(win.agentId);
    expect(winEv).toMatchObject({ resolution: "registered", note: expect.stringContaining("E-001") });
    expect(winEv!.resolvedAt).toEqual(expect.any(String));
    const [macEv] = await unregisteredOf(mac.agentId);
    expect(macEv).toMatchObject({ resolution: "registered", note: expect.stringContaining("E-002") });

    const v = await assets(srv);
    expect(v.unregisteredAgents).toEqual([]);
    const byNo = new Map(v.entries.map((e) => [e.assetNo, e]));
    expect(byNo.get("E-001")).toMatchObject({ flags: [], matchedBy: "serial", agent: { id: win.agentId, online: true, inventory: { serial: "5Q2XKZ3" } } });
    expect(byNo.get("E-002")).toMatchObject({ flags: [], matchedBy: "mac", agent: { id: mac.agentId } });
    expect(byNo.get("E-003")).toMatchObject({ flags: ["no_agent"], matchedBy: null, agent: null });
  });

  it("flags an entry whose agent was last seen more than unseenDays ago as unseen", async () => {
    linux = await enroll(srv, "vm");
    const c = await connectAgent(srv, linux);
    await sendEvents(c, [snapshot(1, linuxInv)]);
    await waitFor(async () => (await unregisteredOf(linux.agentId)).length === 1);
    c.close();
    await waitFor(async () => {
      const agents = (await api<Array<{ id: string; online: boolean }>>(srv, "GET", "/api/agents")).json;
      return agents.find((a) => a.id === linux.agentId)?.online === false;
    });
    const db = new Database(join(srv.dir, "kyoka.db"));
    db.prepare("UPDATE agents SET last_seen = ? WHERE id = ?").run("2020-01-01T00:00:00.000Z", linux.agentId);
    db.close();

    await importCsv(srv, [HEADER, "F-001,VM,,,,,,"].join("\n"), "?mode=upsert"); // by hostname
    const v = await assets(srv);
    expect(v.unseenDays).toBe(14);
    expect(v.entries.find((e) => e.assetNo === "F-001")).toMatchObject({
      flags: ["unseen"], matchedBy: "hostname", agent: { id: linux.agentId, online: false, lastSeen: "2020-01-01T00:00:00.000Z" },
    });
    expect((await unregisteredOf(linux.agentId))[0]).toMatchObject({ resolution: "registered", note: expect.stringContaining("F-001") });
  });

  it("taking the PC out of the ledger raises asset.unregistered again", async () => {
    await importCsv(srv, [HEADER, "E-002,,,3c:a6:f6:11:22:33,別館,佐藤,,"].join("\n")); // replace: E-001 and F-001 gone
    const list = await unregisteredOf(win.agentId);
    expect(list).toHaveLength(2);
    expect(list[0]).toMatchObject({ resolution: null, status: "needs_approval" });
    const v = await assets(srv);
    expect(v.unregisteredAgents.map((a) => a.id).sort()).toEqual([win.agentId, linux.agentId].sort());
  });
});
