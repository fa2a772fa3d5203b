/**
 * Incident report drafts (事故報告書（案）) on a real server: a realistic P2P detection (the
 * p2p collector's p2p.running with its terminate response, as agent/collectors/p2p sends it)
 * through the real agent WebSocket and group commit, the PC in the ledger (台帳), then
 * GET /api/events/:id/incident-report in HTML and Markdown; the organisation check for
 * contractor-side users.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StoredEvent } from "../../policies/schema.js";
import {
  api, connectAs, enroll, events, request, sendEvents, startTestServer, type Credential, type TestClient, type TestServer,
} from "./helpers.js";

const PASSWORD = "correct horse battery";
let srv: TestServer;
let credA: Credential;
let credB: Credential;
let agentA: TestClient;
let agentB: TestClient;
const tokens: Record<string, string> = {};
let p2p: StoredEvent;
let bViolation: StoredEvent;
let infoEvent: StoredEvent;


const at = (msAgo: number) => new Date(Date.now() - msAgo).toISOString();
const get = (who: string, path: string) => request(srv, "GET", path, { token: tokens[who] ?? srv.adminToken });

beforeAll(async () => {
  srv = await startTestServer();
  for (const name of ["contractor-a", "contractor-b"]) expect((await api(srv, "POST", "/api/organisations", { name, kind: "contractor" })).status).toBe(201);
  expect((await api(srv, "POST", "/api/organisations", { name: "city", kind: "client" })).status).toBe(201);
  for (const [login, role, organisation] of [["con-a", "contractor", "contractor-a"], ["desk-a", "desk", "contractor-a"], ["con-b", "contractor", "contractor-b"], ["aud", "auditor", "city"]]) {
    expect((await api(srv, "POST", "/api/users", { login, password: PASSWORD, role, organisation })).status).toBe(201);
    const r = await request<{ csrfToken: string }>(srv, "POST", "/api/login", { body: { login, password: PASSWORD } });
    const cookie = String(r.headers["set-cookie"]).split(";")[0]!;
    const t = await request<{ token: string }>(srv, "POST", "/api/tokens", { body: { name: "t" }, headers: { cookie, "x-csrf-token": r.json.csrfToken } });
    tokens[login!] = t.json.token;
  }
  credA = await enroll(srv, "kyo-pc-017");
  credB = await enroll(srv, "pc-b");
  expect((await api(srv, "PUT", `/api/agents/${credA.agentId}/organisation`, { organisation: "contractor-a" })).status).toBe(200);
  expect((await api(srv, "PUT", `/api/agents/${credB.agentId}/organisation`, { organisation: "contractor-b" })).status).toBe(200);
  const csv = "資産番号,ホスト名,製造番号,MACアドレス,設置場所（作業場所）,管理者,登録日,備考\nA-0017,kyo-pc-017,SN123,,本社3F 開発室,山田 太郎,2026-04-01,\n";
  expect((await request(srv, "POST", "/api/assets/import", { raw: csv, token: srv.adminToken, headers: { "content-type": "text/csv" } })).status).toBe(200);
  agentA = await connectAs(srv, credA, "kyo-pc-017");
  agentB = await connectAs(srv, credB, "pc-b");

  // what the p2p collector sends (agent/collectors/p2p: details(finding) + terminate.ts's result)
  const running = {
    family: "Transmission", familyId: "transmission", name: "transmission-daemon", path: "/usr/bin/transmission-daemon",
    sha256: "9f2c6b0a3d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccddeeff", pid: 48213, confidence: "high",
    response: "terminated", signal: "SIGTERM",
  };
  await sendEvents(agentA, [
    { seq: 1, type: "network.listening", observedAt: at(2 * 3600_000), details: { port: 22, process: "sshd", address: "0.0.0.0" } }, // 2 h before: not related
    { seq: 2, type: "asset.snapshot", observedAt: at(20 * 60_000), details: { hostname: "kyo-pc-017", users: [{ user: "tanaka", tty: "pts/0", date: "2026-12-03", time: "09:00", ip: "" }] } },
    { seq: 3, type: "p2p.installed", observedAt: at(10 * 60_000), details: { family: "Transmission", name: "transmission-daemon", path: "/usr/bin/transmission-daemon" } },
    { seq: 4, type: "p2p.running", observedAt: at(60_000), details: running },
    { seq: 5, type: "p2p.traffic", observedAt: at(50_000), details: { family: "Transmission", pid: 48213, ports: [51413] } },
  ]);
  const stored = await events(srv, `?agent=${credA.agentId}&limit=20`);
  p2p = stored.find((e) => e.type === "p2p.running")!;
  infoEvent = stored.find((e) => e.type === "network.listening")!;
  await sendEvents(agentB, [{ seq: 1, type: "p2p.running", observedAt: at(1000), details: { family: "Winny", name: "winny.exe", pid: 7 } }]);
  bViolation = (await events(srv, `?agent=${credB.agentId}&type=p2p.running`))[0]!;
}, 120_000);

afterAll(async () => {
  agentA?.close();
  agentB?.close();
  await srv?.stop();
});

describe("GET /api/events/:id/incident-report", () => {
  it("HTML: names the process, what kyoka did, the clause, the times, the PC's ledger line, the user, the related events and the parts to fill in", async () => {
    expect(p2p).toMatchObject({ status: "violation", severity: "critical" });
    const r = await get("con-a", `/api/events/${p2p.id}/incident-report`);
    expect(r.status).toBe(200);
    expect(r.headers["content-type"]).toBe("text/html; charset=utf-8");
    const html = r.text;
    expect(html).toContain('<html lang="ja">');
    expect(html).toContain("事故報告書（案）");
    expect(html).toContain("kyo-pc-017 で「ファイル交換ソフトの実行」を検知しました。");
    expect(html).toContain("transmission-daemon");
    expect(html).toContain("/usr/bin/transmission-daemon");
    expect(html).toContain("プロセス（transmission-daemon、PID 48213）を強制終了しました（SIGTERM）");
    expect(html).toContain("個人情報取扱特記事項 第12 第9項 — ファイル交換ソフトの禁止");
    expect(html).toContain("別記2 第17");
    const jst = (iso: string) => { const s = new Date(Date.parse(iso) + 9 * 3600_000).toISOString(); return `${s.slice(0, 4)}/${s.slice(5, 7)}/${s.slice(8, 10)} ${s.slice(11, 19)} JST`; };
    expect(html).toContain(`<tr><th>検知日時（PC の時計）</th><td>${jst(p2p.observedAt)}</td></tr>`);
    expect(html).toContain(`<tr><th>受信日時（サーバー）</th><td>${jst(p2p.receivedAt)}</td></tr>`);
    expect(html).toContain("<tr><th>台帳: 資産番号</th><td>A-0017</td></tr>");
    expect(html).toContain("本社3F 開発室");
    expect(html).toContain("山田 太郎");
    expect(html).toContain("contractor-a");
    expect(html).toContain("tanaka（");
    // related: the install, the snapshot and the traffic around it; not the event 2 hours before
    expect(html).toContain("ファイル交換ソフトのインストール");
    expect(html).toContain("ファイル交換ソフトの通信");
    expect(html).not.toContain("sshd");
    expect(html).toContain("8. 原因（乙記入）");
    expect(html).toContain("9. 再発防止策（乙記入）");
  });

  it("Markdown: the same draft", async () => {
    const r = await get("desk-a", `/api/events/${p2p.id}/incident-report?format=md`);
    expect(r.status).toBe(200);
    expect(r.headers["content-type"]).toBe("text/markdown; charset=utf-8");
    const text = r.text;
    expect(text.startsWith("# 事故報告書（案）\n")).toBe(true);
    expect(text).toContain("| 種別 | ファイル交換ソフトの実行（p2p.running） |");
    expect(text).toContain("プロセス（transmission-daemon、PID 48213）を強制終了しました（SIGTERM）");
    expect(text).toContain("- 個人情報取扱特記事項 第12 第9項 — ファイル交換ソフトの禁止");
    expect(text).toContain("## 8. 原因（乙記入）");
    expect(text).toContain("## 9. 再発防止策（乙記入）");
    expect(text).toMatch(/\| 検知日時（PC の時計） \| \d{4}\/\d{2}\/\d{2} \d{2}:\d{2}:\d{2} JST \|/);
  });

  it("403 for another organisation's contractor or desk; 甲's roles read any; 404 unknown; 400 for an event that is no incident", async () => {
    expect((await get("con-b", `/api/events/${p2p.id}/incident-report`)).status).toBe(403);
    expect((await get("con-a", `/api/events/${bViolation.id}/incident-report`)).status).toBe(403);
    expect((await get("desk-a", `/api/events/${bViolation.id}/incident-report?format=md`)).status).toBe(403);
    const own = await get("con-b", `/api/events/${bViolation.id}/incident-report?format=md`);
    expect(own.status).toBe(200);
    expect(own.text).toContain("Winny");
    expect((await get("aud", `/api/events/${bViolation.id}/incident-report`)).status).toBe(200);
    expect((await get("admin", `/api/events/${p2p.id}/incident-report`)).status).toBe(200);
    expect((await get("admin", "/api/events/999999/incident-report")).status).toBe(404);
    const info = await get("admin", `/api/events/${infoEvent.id}/incident-report`);
    expect(info.status).toBe(400);
    expect(info.text).toContain("not an incident");
    expect((await get("admin", `/api/events/${p2p.id}/incident-report?format=pdf`)).status).toBe(400);
  });
});
