/**
 * The media ledger (媒体台帳, server/media-ledger.ts): its view of media events (registered,
 * serialConflict), the statuses decide makes of them, the /api/media routes, and both through a
 * real in-process server with a WebSocket agent.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadCatalog } from "../../policies/catalog.js";
import { Policy } from "../../policies/policy.js";
import type { Approval, StoredEvent } from "../../policies/schema.js";
import { ConflictError } from "../../server/errors.js";
import { decide } from "../../policies/decide.js";
import { MediaLedger, MediaRecordInput, serialKey, withEvidence, type MediaRecord } from "../../server/media-ledger.js";
import { SqliteStore } from "../../server/store-sqlite.js";
import { api, connectAgent, enroll, ev, request, sendEvents, startTestServer, type TestServer } from "./helpers.js";

const log = pino({ level: "silent" });
const T0 = "2025-06-01T12:00:00.000Z";
const stick = { device: "/dev/sdb1", disk: "/dev/sdb", vendorId: "0781", productId: "5567", serial: "4C530001230518104F82", label: "KYOKA" };

let dir = "";
let store: SqliteStore;
let ledger: MediaLedger;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "kyoka-media-ledger-"));
  store = new SqliteStore(dir);
  ledger = new MediaLedger({ store, log });
  await ledger.load();
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const owner = { owner: "情報システム課 山田" };

describe("MediaRecordInput (zod)", () => {
  it("accepts a record and normalises USB ids to 4 lower-case hex digits", () => {
    expect(MediaRecordInput.parse({ serial: " ABC ", vendorId: "0x781", productId: "5567", ...owner })).toMatchObject({ serial: "ABC", vendorId: "0781", productId: "5567" });
  });
  it("refuses a record without serial or 管理者, with a bad id, or with unknown keys", () => {
    expect(MediaRecordInput.safeParse({ serial: "", ...owner }).success).toBe(false);
    expect(MediaRecordInput.safeParse({ serial: "A" }).success).toBe(false);
    expect(MediaRecordInput.safeParse({ serial: "A", vendorId: "xyz", ...owner }).success).toBe(false);
    expect(MediaRecordInput.safeParse({ serial: "A", colour: "red", ...owner }).success).toBe(false);
  });
});

describe("MediaLedger.annotate", () => {
  it("an unknown medium is registered: false; a registered one registered: true with its ledger id (serial case-insensitive)", async () => {
    expect(ledger.annotate("media.inserted", stick, "pc-1", T0)).toMatchObject({ registered: false, serialConflict: false });
    const rec = await ledger.register({ serial: stick.serial.toLowerCase(), vendorId: "0781", productId: "5567", ...owner });
    const d = ledger.annotate("media.inserted", stick, "pc-1", T0);
    expect(d).toMatchObject({ ...stick, registered: true, serialConflict: false, mediumId: rec.id });
    expect(d.conflictWith).toBeUndefined();
  });

  it("what the agent says about registered / serialConflict is overwritten", () => {
    const d = ledger.annotate("media.inserted", { ...stick, registered: true, serialConflict: false, mediumId: "forged" }, "pc-1", T0);
    expect(d).toMatchObject({ registered: false, serialConflict: false });
    expect(d.mediumId).toBeUndefined();
  });

  it("a record without ids matches any device with its serial; a volume serial (loop image) works the same", async () => {
    await ledger.register({ serial: "1234-ABCD", ...owner });
    const loop = { device: "/dev/loop3", disk: "/dev/loop3", vendorId: null, productId: null, serial: "1234-abcd", serialSource: "volume" };
    expect(ledger.annotate("media.inserted", loop, "pc-1", T0)).toMatchObject({ registered: true, serialConflict: false });
  });

  it("the registered serial on another vendor/product id: not registered, serial conflict", async () => {
    await ledger.register({ serial: stick.serial, vendorId: "0781", productId: "5567", ...owner });
    const clone = { ...stick, vendorId: "abcd", productId: "1234" };
    expect(ledger.annotate("media.inserted", clone, "pc-1", T0)).toMatchObject({
      registered: false, serialConflict: true, registeredAs: { vendorId: "0781", productId: "5567" },
    });
  });

  it("the same serial attached to two PCs at once is a conflict for both later sightings, with the other as evidence", () => {
    expect(ledger.annotate("media.inserted", stick, "pc-1", T0).serialConflict).toBe(false);
    const second = ledger.annotate("media.inserted", stick, "pc-2", T0);
    expect(second).toMatchObject({ serialConflict: true, conflictWith: [{ agentId: "pc-1", device: "/dev/sdb1", vendorId: "0781", productId: "5567" }] });
    // copy-out of either is flagged too
    const files = { files: [{ path: "/media/a", size: 1, sha256: "00" }] };
    expect(ledger.annotate("media.copy_out", { ...stick, ...files }, "pc-1", T0).serialConflict).toBe(true);
    expect(ledger.annotate("media.copy_out", { ...stick, ...files }, "pc-2", T0).serialConflict).toBe(true);
  });

  it("moved from one PC to another (removed first) is no conflict; two partitions of one stick neither", () => {
    ledger.annotate("media.inserted", stick, "pc-1", T0);
    ledger.annotate("media.inserted", { ...stick, device: "/dev/sdb2" }, "pc-1", T0);
    expect(ledger.annotate("media.inserted", { ...stick, device: "/dev/sdb2" }, "pc-1", T0).serialConflict).toBe(false);
    ledger.annotate("media.removed", stick, "pc-1", T0);
    ledger.annotate("media.removed", { ...stick, device: "/dev/sdb2" }, "pc-1", T0);
    expect(ledger.annotate("media.inserted", stick, "pc-2", T0).serialConflict).toBe(false);
    expect(ledger.annotate("media.copy_out", stick, "pc-2", T0).serialConflict).toBe(false);
  });

  it("two disks of the same PC with one serial conflict", () => {
    ledger.annotate("media.inserted", stick, "pc-1", T0);
    expect(ledger.annotate("media.inserted", { ...stick, device: "/dev/sdc1", disk: "/dev/sdc" }, "pc-1", T0).serialConflict).toBe(true);
  });

  it("a serial seen earlier with another vendor/product id conflicts even when not attached now", () => {
    ledger.annotate("media.inserted", stick, "pc-1", T0);
    ledger.annotate("media.removed", stick, "pc-1", T0);
    const other = ledger.annotate("media.inserted", { ...stick, vendorId: "1234", productId: "0001" }, "pc-1", T0);
    expect(other).toMatchObject({ serialConflict: true, conflictWith: [{ vendorId: "0781", productId: "5567" }] });
  });

  it("a medium with no serial at all is unregistered and never in conflict", () => {
    const anon = { device: "/dev/sdd", serial: null };
    ledger.annotate("media.inserted", anon, "pc-1", T0);
    expect(ledger.annotate("media.inserted", anon, "pc-2", T0)).toMatchObject({ registered: false, serialConflict: false });
  });

  it("other event types pass through untouched", () => {
    const d = { result: "infected", serial: stick.serial };
    expect(ledger.annotate("media.scanned", d, "pc-1", T0)).toBe(d);
    expect(ledger.annotate("software.installed", d, "pc-1", T0)).toBe(d);
  });

  it("register refuses a serial already registered (ConflictError → 409); remove takes it out (soft delete in the store)", async () => {
    const rec = await ledger.register({ serial: "S1", ...owner });
    await expect(ledger.register({ serial: "s1", ...owner })).rejects.toSatisfy((e) => e instanceof ConflictError && (e as ConflictError).extra.id === rec.id);
    expect(await ledger.remove(rec.id)).toBe(true);
    expect(await ledger.remove(rec.id)).toBe(false);
    expect(ledger.list()).toEqual([]);
    expect(await store.listRegisteredMedia()).toEqual([]);
    expect(serialKey(" s1 ")).toBe("S1");
  });

  it("load() restores the ledger and which media are attached where from the store", async () => {
    const rec = await ledger.register({ serial: "PERSIST", label: "会議用", ...owner, note: "貸出用" });
    // an insertion stored before a restart: pc-1 still has it
    const details = ledger.annotate("media.inserted", { ...stick, serial: "PERSIST" }, "pc-1", T0);
    await store.createAgent({ id: "pc-1", secretHash: "x", hostname: "pc-1", os: "linux", version: "0", enrolledAt: T0 });
    await store.insertEvents([{
      agentId: "pc-1", seq: 1, control: "media", type: "media.inserted", articles: [], severity: "low", status: "info",
      observedAt: T0, receivedAt: T0, details, approvalId: null, reasons: [],
    }]);
    const again = new MediaLedger({ store, log });
    await again.load();
    expect(again.list()).toEqual<MediaRecord[]>([rec]);
    expect(again.annotate("media.inserted", { ...stick, serial: "PERSIST" }, "pc-2", T0)).toMatchObject({ registered: true, serialConflict: true });
  });
});

describe("observe → decide: the ledger's view decides media events", () => {
  const agent = { id: "pc-1", tags: [] };
  const now = new Date(T0);
  const catalog = loadCatalog();
  const decideMedia = (type: "media.inserted" | "media.copy_out", details: Record<string, unknown>, agentId = "pc-1", approvals: Approval[] = []) => {
    const seen = ledger.observe(type, details, agentId, T0);
    return decide({ type, details: withEvidence(details, seen?.evidence), agent: { ...agent, id: agentId } },
      { catalog, policy: Policy.parse({}), approvals, ledgers: { media: seen?.view }, now });
  };
  const approval = (over: Partial<Approval> = {}): Approval => ({
    id: "ap-1", control: "media", match: { serial: stick.serial, action: "copy_out" }, scope: { agents: ["pc-1"] },
    validFrom: "2025-06-01T00:00:00Z", validUntil: "2025-06-02T00:00:00Z", reason: "納品データの持ち出し", createdAt: T0, ...over,
  });

  it("media.inserted: unregistered → needs_approval (第12 第8項), registered → info, serial conflict → needs_approval high", async () => {
    const un = decideMedia("media.inserted", stick);
    expect(un).toMatchObject({ status: "needs_approval", severity: "medium", articles: ["別記2 第11", "個人情報取扱特記事項 第12 第8項"], reasons: [{ ja: "媒体台帳に未登録", en: "not in the media ledger" }] });
    ledger.observe("media.removed", stick, "pc-1", T0);
    const rec = await ledger.register({ serial: stick.serial, vendorId: stick.vendorId, productId: stick.productId, ...owner });
    expect(decideMedia("media.inserted", stick)).toMatchObject({ status: "info", reasons: [{ en: `registered in the media ledger (${rec.id})` }] });
    const other = decideMedia("media.inserted", stick, "pc-2");
    expect(other).toMatchObject({ status: "needs_approval", severity: "high" });
    expect(other.reasons.map((r) => r.en)).toEqual(["serial number also belongs to another medium", "no approval can clear this"]);
  });

  it("media.copy_out: approved only when the approval covers the serial, this PC and now; never while the serial is in conflict", () => {
    ledger.observe("media.inserted", stick, "pc-1", T0);
    const details = { ...stick, files: [] };
    expect(decideMedia("media.copy_out", details)).toMatchObject({ status: "needs_approval", severity: "high" });
    expect(decideMedia("media.copy_out", details, "pc-1", [approval()])).toMatchObject({ status: "approved", approvalId: "ap-1" });
    expect(decideMedia("media.copy_out", { ...details, serial: "OTHER" }, "pc-1", [approval()]).status).toBe("needs_approval");
    expect(decideMedia("media.copy_out", details, "pc-1", [approval({ scope: { agents: ["pc-2"] } })]).status).toBe("needs_approval");
    ledger.observe("media.inserted", stick, "pc-2", T0);
    expect(decideMedia("media.copy_out", details, "pc-1", [approval()])).toMatchObject({ status: "needs_approval", approvalId: null });
  });

  it("an agent cannot pre-fill the evidence: registered / serialConflict / mediumId are the server's", () => {
    const forged = { ...stick, registered: true, serialConflict: false, mediumId: "forged" };
    const seen = ledger.observe("media.inserted", forged, "pc-1", T0)!;
    expect(withEvidence(forged, seen.evidence)).toMatchObject({ registered: false, serialConflict: false });
    expect(withEvidence(forged, seen.evidence)).not.toHaveProperty("mediumId");
  });
});

describe("/api/media and ingest through the server", () => {
  let srv: TestServer;
  beforeEach(async () => {
    srv = await startTestServer();
  });
  afterEach(async () => {
    await srv.stop();
  });

  it("POST validates, GET lists, DELETE removes; admin token required", async () => {
    expect((await request(srv, "GET", "/api/media")).status).toBe(401);
    const bad = await api<{ error: string }>(srv, "POST", "/api/media", { serial: "X" });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatch(/owner/);
    expect((await request(srv, "POST", "/api/media", { raw: "{not json", token: srv.adminToken })).status).toBe(400);
    const created = await api<MediaRecord>(srv, "POST", "/api/media", { serial: "AA01", vendorId: "0781", productId: "5567", label: "KYOKA", owner: "山田", note: "業務用" });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ serial: "AA01", vendorId: "0781", productId: "5567", label: "KYOKA", owner: "山田", note: "業務用" });
    expect(Date.parse(created.json.registeredAt)).not.toBeNaN();
    expect((await api(srv, "POST", "/api/media", { serial: "aa01", owner: "鈴木" })).status).toBe(409);
    expect((await api<MediaRecord[]>(srv, "GET", "/api/media")).json).toEqual([created.json]);
    expect((await api(srv, "DELETE", `/api/media/${created.json.id}`)).status).toBe(204);
    expect((await api(srv, "DELETE", `/api/media/${created.json.id}`)).status).toBe(404);
    expect((await api<MediaRecord[]>(srv, "GET", "/api/media")).json).toEqual([]);
  });

  it("an agent's media events are stored with registered / serialConflict and the status they make", async () => {
    const cred = await enroll(srv, "pc-1");
    const other = await enroll(srv, "pc-2");
    const c1 = await connectAgent(srv, cred);
    const c2 = await connectAgent(srv, other);
    await sendEvents(c1, [ev(1, "media.inserted", stick)]);
    await api(srv, "POST", "/api/media", { serial: stick.serial, vendorId: stick.vendorId, productId: stick.productId, owner: "山田" });
    await sendEvents(c1, [ev(2, "media.removed", stick), ev(3, "media.inserted", stick)]);
    await sendEvents(c2, [ev(1, "media.inserted", stick)]);
    const events = (await api<StoredEvent[]>(srv, "GET", "/api/events?type=media.inserted")).json.reverse();
    expect(events.map((e) => [e.agentId, e.status, e.details.registered, e.details.serialConflict])).toEqual([
      [cred.agentId, "needs_approval", false, false],
      [cred.agentId, "info", true, false],
      [other.agentId, "needs_approval", true, true],
    ]);
    c1.close();
    c2.close();
  });
});
