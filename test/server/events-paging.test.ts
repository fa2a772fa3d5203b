/**
 * GET /api/events pages (keyset cursor in the Link header) and GET /api/events/export (every
 * matching event, streamed as CSV or NDJSON).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StoredEvent } from "../../policies/schema.js";
import { exportEvents } from "../../server/events-export.js";
import { SqliteStore } from "../../server/store-sqlite.js";
import type { EventRow } from "../../server/store.js";
import { api, connectAgent, enroll, ev, request, sendEvents, startTestServer, type TestClient, type TestServer } from "./helpers.js";

/** the `rel="next"` target of a Link header, or undefined */
function nextLink(link: string | string[] | undefined): string | undefined {
  const text = Array.isArray(link) ? link.join(",") : link;
  return text ? /<([^>]+)>;\s*rel="next"/.exec(text)?.[1] : undefined;
}

describe("server: events paging and export", () => {
  let srv: TestServer;
  let agent: TestClient;
  let other: TestClient;
  let seq = 0;
  let otherSeq = 0;

  async function send(n: number, type = "software.inventory", details: (i: number) => Record<string, unknown> = (i) => ({ name: `pkg-${i}` })): Promise<void> {
    for (let done = 0; done < n;) {
      const k = Math.min(500, n - done);
      await sendEvents(agent, Array.from({ length: k }, (_, i) => ev(++seq, type, details(done + i))));
      done += k;
    }
  }

  beforeAll(async () => {
    srv = await startTestServer();
    agent = await connectAgent(srv, await enroll(srv, "pc-paging"));
    other = await connectAgent(srv, await enroll(srv, "pc-other"));
    await send(2_345);
  });
  afterAll(async () => {
    agent.close();
    other.close();
    await srv.stop();
  });

  it("following the Link header returns every event exactly once, newest first, while new events arrive between pages", async () => {
    const before = (await api<StoredEvent[]>(srv, "GET", "/api/events?limit=10000&control=software")).json.map((e) => e.id);
    let path: string | undefined = "/api/events?limit=300&control=software";
    const seen: number[] = [];
    let pages = 0;
    while (path) {
      const r = await api<StoredEvent[]>(srv, "GET", path);
      expect(r.status, path).toBe(200);
      expect(r.json.length).toBeLessThanOrEqual(300);
      seen.push(...r.json.map((e) => e.id));
      pages++;
      // new events arrive between pages (this agent and another one)
      await send(7);
      await sendEvents(other, [ev(++otherSeq, "software.installed", { name: `new-${otherSeq}` })]);
      path = nextLink(r.headers.link);
      if (path) expect(path).toMatch(/control=software/);
    }
    expect(pages).toBe(Math.ceil(before.length / 300));
    expect(new Set(seen).size).toBe(seen.length); // no event twice
    expect(seen).toEqual(before); // every event that was there, in order, and none of the new ones
    expect([...seen].sort((a, b) => b - a)).toEqual(seen);
  });

  it("the last page has no Link; filters and the limit carry over; a bad cursor is 400", async () => {
    const r = await api<StoredEvent[]>(srv, "GET", "/api/events?type=software.installed&limit=2");
    const next = nextLink(r.headers.link)!;
    expect(next).toContain("type=software.installed");
    expect(next).toContain("limit=2");
    const second = await api<StoredEvent[]>(srv, "GET", next);
    expect(second.json.every((e) => e.type === "software.installed")).toBe(true);
    expect(second.json[0]!.id).toBeLessThan(r.json[1]!.id);
    const all = await api<StoredEvent[]>(srv, "GET", "/api/events?limit=10000");
    expect(all.headers.link).toBeUndefined();
    for (const cursor of ["abc", "0", "-5", "1.5"]) {
      const bad = await api<{ error: string }>(srv, "GET", `/api/events?cursor=${cursor}`);
      expect(bad.status, cursor).toBe(400);
      expect(bad.json.error).toMatch(/bad query: cursor/);
    }
  });

  it("export as CSV: UTF-8 with BOM, CRLF, Japanese headers, every matching event oldest first, formula cells neutralised", async () => {
    await send(1, "software.installed", () => ({ name: "名前, \"quoted\"\nline" }));
    const [latest] = (await api<StoredEvent[]>(srv, "GET", "/api/events?limit=1")).json;
    // the desk's own text lands at the start of a cell: a formula there must not run in Excel
    expect((await api(srv, "POST", `/api/events/${latest!.id}/resolve`, { resolution: "+cmd|' /C calc'!A0", note: "=HYPERLINK(\"http://evil\")" })).status).toBe(200);
    const r = await request(srv, "GET", `/api/events/export?format=csv&agent=${encodeURIComponent(latest!.agentId)}`, { token: srv.adminToken });
    expect(r.status).toBe(200);
    expect(r.headers["content-type"]).toMatch(/^text\/csv; charset=utf-8/);
    expect(r.headers["content-disposition"]).toMatch(/attachment; filename="kyoka-events-\d{8}\.csv"/);
    expect(r.headers["cache-control"]).toBe("no-store");
    const raw = Buffer.from(r.text, "utf8");
    expect([...raw.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const text = r.text.slice(1);
    const header = text.slice(0, text.indexOf("\r\n"));
    expect(header).toBe("ID,受信日時,発生日時,エージェントID,連番,管理項目,種別,条項,重大度,状態,理由,甲許可ID,対応,対応メモ,対応日時,詳細");
    expect(text.endsWith("\r\n")).toBe(true);
    expect(text.split("\r\n").length - 1).toBe(seq + 1); // header + one record per event, CRLF each
    expect(text.replace(/\r\n/g, "")).not.toContain("\n"); // no bare LF: the name's line break is escaped in the details JSON
    const ids = [...text.matchAll(/^(\d+),/gm)].map((m) => Number(m[1]));
    expect(ids.length).toBe(seq);
    expect([...ids].sort((a, b) => a - b)).toEqual(ids); // oldest first
    expect(text).toContain(`,'+cmd|' /C calc'!A0,"'=HYPERLINK(""http://evil"")",`);
    expect(text).not.toMatch(/,[=+]/);
    expect(text).toContain('""name"":""名前, \\""quoted\\""\\nline""');
  });

  it("export as NDJSON: one event per line, the same as GET /api/events, filtered by type and period", async () => {
    const r = await request(srv, "GET", "/api/events/export?format=ndjson&type=software.installed", { token: srv.adminToken });
    expect(r.status).toBe(200);
    expect(r.headers["content-type"]).toMatch(/^application\/x-ndjson/);
    const lines = r.text.trimEnd().split("\n").map((l) => JSON.parse(l) as StoredEvent);
    const listed = (await api<StoredEvent[]>(srv, "GET", "/api/events?type=software.installed&limit=10000")).json.reverse();
    expect(lines).toEqual(listed);

    const future = new Date(Date.now() + 3_600_000).toISOString();
    const none = await request(srv, "GET", `/api/events/export?format=ndjson&from=${encodeURIComponent(future)}`, { token: srv.adminToken });
    expect(none.text).toBe("");
    const all = await request(srv, "GET", `/api/events/export?format=ndjson&to=${encodeURIComponent(future)}`, { token: srv.adminToken });
    expect(all.text.trimEnd().split("\n").length).toBe(seq + otherSeq);
  });

  it("export refuses bad parameters with 400 and needs the admin token", async () => {
    for (const q of ["format=xlsx", "from=yesterday", "colour=red", "control=printer"]) {
      const r = await api<{ error: string }>(srv, "GET", `/api/events/export?${q}`);
      expect(r.status, q).toBe(400);
      expect(r.json.error, q).toMatch(/bad query/);
    }
    expect((await request(srv, "GET", "/api/events/export")).status).toBe(401);
  });
});

describe("store: the NDJSON export's lines are the stored JSON text passed through", () => {
  it("each line is exactly JSON.stringify of the event queryEvents returns, for any text in the details; the export uses them", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kyoka-lines-"));
    const store = new SqliteStore(dir, { synchronous: "NORMAL" });
    try {
      const texts = ['"q" \\ b', "\u0001\n\t\b\f\r\u001f\u007f", "\u2028\u2029", "😀 日本語", "</script>", "", "\ud800 lone", "=cmd|' /C calc'!A0"];
      const rows: EventRow[] = texts.map((t, i) => ({
        agentId: `agent-${i % 2}`, seq: i % 3 === 0 ? null : i, control: "software", type: "software.installed", articles: ["別記2 第10"],
        severity: "medium", status: "needs_approval", observedAt: "2026-12-01T00:00:00.000Z", receivedAt: "2026-12-01T00:00:00.000Z",
        details: { name: t, nested: { list: [1, 2.5, -0, 1e21, null, true, t] }, 名前: t }, approvalId: i % 2 ? `ap-${i}` : null,
        reasons: [{ ja: `理由 ${t}`, en: `reason ${t}` }],
      }));
      await store.insertEvents(rows);
      await store.resolveEvent(2, "approved", "メモ \"x\"", "2026-12-02T00:00:00.000Z");
      const events = await store.queryEvents({ order: "asc", limit: 100 });
      expect(events).toHaveLength(texts.length);
      const lines = await store.queryEventLines({ order: "asc", limit: 100 });
      expect(lines).toEqual(events.map((e) => JSON.stringify(e)));
      // filters and keyset apply as to queryEvents
      expect(await store.queryEventLines({ agent: "agent-1", afterId: 2, order: "asc", limit: 2, bulk: true }))
        .toEqual((await store.queryEvents({ agent: "agent-1", afterId: 2, order: "asc", limit: 2 })).map((e) => JSON.stringify(e)));
      let text = "";
      for await (const piece of exportEvents(store, {}, "ndjson")) text += piece.toString("utf8");
      expect(text).toBe(events.map((e) => `${JSON.stringify(e)}\n`).join(""));
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
