/**
 * The hash-chained audit trail: intact → ok; a row edited, deleted, inserted, or the newest rows
 * cut off in the database → verify names the first bad row.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AuditLog, canonicalJson, rowHash } from "../../server/people/audit.js";
import { migrateSqlite } from "../../server/store-sqlite.js";

let dir: string;
let db: Database.Database;
let log: AuditLog;

function fill(n: number): void {
  for (let i = 1; i <= n; i++) {
    log.append({ actor: `user${i}`, role: "approver", organisationId: null, remote: "127.0.0.1", action: "request.approve", target: `r${i}`,
      details: { n: i, nested: { b: 1, a: [1, "x"] } }, reason: `理由 ${i}` });
  }
}

/** what a tamperer with the database file does: drop the append-only triggers first */
function tamper(sql: string, ...args: unknown[]): void {
  db.exec("DROP TRIGGER IF EXISTS audit_no_update; DROP TRIGGER IF EXISTS audit_no_delete;");
  db.prepare(sql).run(...args);
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "kyoka-audit-"));
  db = new Database(join(dir, "kyoka.db"));
  migrateSqlite(db);
  log = new AuditLog(db, dir);
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("audit chain", () => {
  it("canonical JSON sorts keys at every level", () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } })).toBe('{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}');
  });

  it("an intact trail verifies; each row's hash covers the previous hash", () => {
    fill(20);
    expect(log.verify()).toEqual({ ok: true, rows: 20, head: expect.objectContaining({ seq: 20 }) });
    const rows = [...log.all()];
    expect(rows[5]!.prevHash).toBe(rows[4]!.hash);
    const { hash: _h, ...rest } = rows[5]!;
    expect(rowHash(rows[4]!.hash, rest)).toBe(rows[5]!.hash);
  });

  it("the server cannot update or delete a row (append-only triggers)", () => {
    fill(2);
    expect(() => db.prepare(`UPDATE audit SET reason = 'x' WHERE seq = 1`).run()).toThrow(/append-only/);
    expect(() => db.prepare(`DELETE FROM audit WHERE seq = 1`).run()).toThrow(/append-only/);
  });

  it("an edited row is named", () => {
    fill(10);
    tamper(`UPDATE audit SET reason = '改ざん' WHERE seq = 7`);
    expect(log.verify()).toMatchObject({ ok: false, seq: 7, problem: "changed" });
  });

  it("an edited row whose hash was recomputed breaks the next row's link", () => {
    fill(10);
    const rows = [...log.all()];
    const edited = { ...rows[3]!, actor: "someone-else" };
    const { hash: _h, ...rest } = edited;
    tamper(`UPDATE audit SET actor = ?, hash = ? WHERE seq = 4`, edited.actor, rowHash(rows[2]!.hash, rest));
    expect(log.verify()).toMatchObject({ ok: false, seq: 5, problem: "inserted" });
  });

  it("a deleted row is named", () => {
    fill(10);
    tamper(`DELETE FROM audit WHERE seq = 4`);
    const r = log.verify();
    expect(r).toMatchObject({ ok: false, seq: 4, problem: "deleted" });
    expect(r.ok || r.message).toMatch(/audit row 4 deleted/);
  });

  it("an inserted row is named", () => {
    fill(10);
    // shift rows 6.. up by one and put a forged row in at 6
    tamper(`UPDATE audit SET seq = seq + 1000 WHERE seq >= 6`);
    tamper(`UPDATE audit SET seq = seq - 999 WHERE seq >= 1006`);
    const prev = [...log.all()][4]!;
    tamper(`INSERT INTO audit (seq, at, actor, role, organisation_id, remote, action, target, details, reason, prev_hash, hash)
      VALUES (6, ?, 'forger', 'admin', NULL, NULL, 'approval.create', 'x', '{}', 'fake', ?, ?)`, prev.at, prev.hash, "f".repeat(64));
    expect(log.verify()).toMatchObject({ ok: false, seq: 6, problem: "changed" });
    // even with a correct hash for the forged row, the next row's link names the insertion
    const forged = [...log.all()][5]!;
    const { hash: _h, ...rest } = forged;
    tamper(`UPDATE audit SET hash = ? WHERE seq = 6`, rowHash(prev.hash, rest));
    expect(log.verify()).toMatchObject({ ok: false, seq: 7, problem: "inserted" });
  });

  it("a row appended at the end without the chain is named", () => {
    fill(5);
    tamper(`INSERT INTO audit (seq, at, actor, role, organisation_id, remote, action, target, details, reason, prev_hash, hash)
      VALUES (6, '2026-01-01T00:00:00.000Z', 'forger', 'admin', NULL, NULL, 'approval.create', 'x', '{}', 'fake', ?, ?)`, "0".repeat(64), "1".repeat(64));
    expect(log.verify()).toMatchObject({ ok: false, seq: 6, problem: "inserted" });
  });

  it("the newest rows cut off: named from the head file", () => {
    fill(10);
    tamper(`DELETE FROM audit WHERE seq >= 9`);
    const r = log.verify();
    expect(r).toMatchObject({ ok: false, seq: 9, problem: "truncated" });
  });
});
