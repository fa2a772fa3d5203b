import { describe, expect, it } from "vitest";
import { serverOnlyTypes } from "../../policies/catalog.js";
import { boundsIssue, checkEvent, DETAIL_LIMITS, DETAILS_SCHEMAS } from "../../policies/details.js";
import { EVENT_TYPES } from "../../policies/schema.js";

const at = "2026-12-03T08:00:00.000Z";
const event = (type: string, details: unknown, seq = 1): unknown => ({ seq, type, observedAt: at, details });

describe("details bounds (every event type)", () => {
  it("accepts ordinary details and returns them serialized", () => {
    const r = checkEvent(event("software.installed", { name: "curl", version: "8.5.0-2", publisher: null, extra: { a: [1, 2, { b: "c" }] } }));
    expect(r.ok).toBe(true);
    if (r.ok) expect(JSON.parse(r.detailsJson)).toEqual({ name: "curl", version: "8.5.0-2", publisher: null, extra: { a: [1, 2, { b: "c" }] } });
  });

  it("refuses nesting deeper than 8 levels without recursing into it (100,000 deep)", () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = { a: deep };
    expect(boundsIssue(deep)).toEqual({ path: `details${".a".repeat(8)}`, message: "nested deeper than 8 levels" });
    let ok: unknown = 1;
    for (let i = 0; i < 7; i++) ok = { a: ok };
    expect(boundsIssue(ok)).toBeUndefined();
  });

  it("refuses long strings, long arrays, long keys, too many keys and non-finite numbers, naming the path", () => {
    expect(boundsIssue({ note: "x".repeat(DETAIL_LIMITS.string + 1) })?.path).toBe("details.note");
    expect(boundsIssue({ list: new Array(DETAIL_LIMITS.array + 1).fill(0) })?.message).toMatch(/array longer than 10000/);
    expect(boundsIssue({ ["k".repeat(300)]: 1 })?.message).toMatch(/key longer/);
    expect(boundsIssue(Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, i])))?.message).toMatch(/more than 256 keys/);
    expect(boundsIssue({ n: [1, Infinity] })).toEqual({ path: "details.n.1", message: "number is not finite" });
    expect(boundsIssue({ n: JSON.parse("1e999") as number })?.message).toBe("number is not finite");
  });

  it("refuses details over 64 KiB serialized, but lets the list types carry up to 768 KiB", () => {
    const many = { name: "x", chunks: Array.from({ length: 40 }, () => "y".repeat(2000)) };
    const r = checkEvent(event("software.installed", many));
    expect(r).toMatchObject({ ok: false, path: "details", message: expect.stringMatching(/bytes serialized, over 65536/) as string });
    const inv = { count: 1, items: Array.from({ length: 3000 }, (_, i) => ({ name: `pkg-${i}`, version: "1.0.0-1", source: "dpkg" })) };
    expect(checkEvent(event("software.inventory", inv)).ok).toBe(true);
  });

  it("counts UTF-8 bytes: 30,000 kana (90 KB) are over the limit", () => {
    const r = checkEvent(event("agent.degraded", { a: "あ".repeat(4000), b: "い".repeat(4000), c: "う".repeat(4000), d: "え".repeat(4000), e: "お".repeat(4000), f: "か".repeat(4000), g: "き".repeat(4000), h: "く".repeat(2000) }));
    expect(r).toMatchObject({ ok: false, path: "details" });
  });
});

describe("details schema per event type", () => {
  it("has one schema for every event type", () => {
    for (const t of EVENT_TYPES) expect(DETAILS_SCHEMAS[t]).toBeDefined();
  });

  it("refuses a software name that is not a string ({toString: 1}) or too long, naming the field", () => {
    expect(checkEvent(event("software.installed", { name: { toString: 1 } }))).toMatchObject({ ok: false, path: "details.name" });
    expect(checkEvent(event("software.updated", { name: "n".repeat(1025) }))).toMatchObject({ ok: false, path: "details.name" });
    expect(checkEvent(event("software.removed", {}))).toMatchObject({ ok: false, path: "details.name" });
  });

  it("checks the fields the server reads, and their types: ports, pids, scan result", () => {
    expect(checkEvent(event("network.connection", { remoteAddress: "203.0.113.5", remotePort: 70000 }))).toMatchObject({ ok: false, path: "details.remotePort" });
    expect(checkEvent(event("network.connection", { remoteAddress: "203.0.113.5", remotePort: 443, pid: 12, process: "curl" })).ok).toBe(true);
    expect(checkEvent(event("p2p.running", { pid: -1 }))).toMatchObject({ ok: false, path: "details.pid" });
    expect(checkEvent(event("media.scanned", { device: "/dev/sdb1" }))).toMatchObject({ ok: false, path: "details.result" });
    expect(checkEvent(event("media.scanned", { device: "/dev/sdb1", result: "infected", signatures: ["Eicar"] })).ok).toBe(true);
  });

  it("refuses an unknown type or a bad observedAt at the field that is wrong", () => {
    expect(checkEvent(event("software.exploded", {}))).toMatchObject({ ok: false, path: "type" });
    expect(checkEvent({ seq: 1, type: "agent.started", observedAt: "yesterday", details: {} })).toMatchObject({ ok: false, path: "observedAt" });
    expect(checkEvent({ seq: 1, type: "agent.started", observedAt: at, details: [] })).toMatchObject({ ok: false, path: "details" });
  });

  it("refuses the catalog's server-only types when asked (agents), accepts them otherwise (the server's own events)", () => {
    const serverOnly = serverOnlyTypes();
    expect([...serverOnly].sort()).toEqual(["agent.delivery_failed", "agent.silent", "asset.unregistered"]);
    expect(checkEvent(event("agent.silent", { lastSeen: at, missedHeartbeats: 3 }), { serverOnly })).toEqual({ ok: false, path: "type", message: "agent.silent is made by the server only" });
    expect(checkEvent(event("agent.silent", { lastSeen: at, missedHeartbeats: 3 })).ok).toBe(true);
  });
});

describe("event envelope", () => {
  // found by the fuzz suite: a stored seq above 2^53 − 1 made every GET /api/events that listed it
  // answer 500 (the response schema allows only safe integers) — one PC poisoned the desk's list
  it("regression (issue 11, fuzz): a seq beyond the safe integers is refused, never stored", () => {
    for (const seq of [2 ** 53, 1e300, Number.MAX_VALUE]) {
      expect(checkEvent(event("agent.selftest", {}, seq)).ok, String(seq)).toBe(false);
    }
    expect(checkEvent(event("agent.selftest", {}, 2 ** 53 - 1)).ok).toBe(true);
  });
});
