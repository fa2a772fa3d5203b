import { describe, expect, it } from "vitest";
import { isSnapshotDue, previousRun } from "../../lib/cron-due.js";

const at = (iso: string) => new Date(iso);
const prev = (expr: string, now: string, tz = "Asia/Tokyo") => previousRun(expr, tz, at(now))?.toISOString() ?? null;

describe("previousRun: the latest scheduled time not after now", () => {
  it("daily at 09:00 Tokyo", () => {
    expect(prev("0 9 * * *", "2024-10-01T03:00:00Z")).toBe("2024-10-01T00:00:00.000Z"); // 12:00 JST → 09:00 today
    expect(prev("0 9 * * *", "2024-10-01T23:30:00Z")).toBe("2024-10-01T00:00:00.000Z"); // 08:30 JST → 09:00 yesterday
    expect(prev("0 9 * * *", "2024-10-01T00:00:00Z")).toBe("2024-10-01T00:00:00.000Z"); // exactly 09:00
    expect(prev("0 9 * * *", "2024-01-01T00:30:00Z")).toBe("2024-01-01T00:00:00.000Z"); // across the year in UTC
  });

  it("weekdays only: Monday 08:00 looks back to Friday", () => {
    expect(prev("0 9 * * 1-5", "2024-10-06T23:00:00Z")).toBe("2024-10-04T00:00:00.000Z");
    expect(prev("0 9 * * mon-fri", "2024-10-06T23:00:00Z")).toBe("2024-10-04T00:00:00.000Z");
  });

  it("several times a day, steps, lists", () => {
    expect(prev("*/15 * * * *", "2024-10-01T03:07:30Z")).toBe("2024-10-01T03:00:00.000Z");
    expect(prev("0 9,13 * * *", "2024-10-01T05:00:00Z")).toBe("2024-10-01T04:00:00.000Z"); // 14:00 JST → 13:00
    expect(prev("0 9,13 * * *", "2024-10-01T02:00:00Z")).toBe("2024-10-01T00:00:00.000Z"); // 11:00 JST → 09:00
  });

  it("monthly: further back than a week", () => {
    expect(prev("30 2 1 * *", "2024-10-15T00:00:00Z")).toBe("2024-09-30T17:30:00.000Z"); // 1 Oct 02:30 JST
  });

  it("a six-field expression with seconds", () => {
    expect(prev("30 0 9 * * *", "2024-10-01T03:00:00Z")).toBe("2024-10-01T00:00:30.000Z");
  });

  it("another timezone, across a daylight-saving change", () => {
    // New York moved to EDT on 2024-03-10; 09:00 EDT = 13:00Z, 09:00 EST (the day before) = 14:00Z
    expect(prev("0 9 * * *", "2024-03-11T12:00:00Z", "America/New_York")).toBe("2024-03-10T13:00:00.000Z");
    expect(prev("0 9 * * *", "2024-03-10T12:00:00Z", "America/New_York")).toBe("2024-03-09T14:00:00.000Z");
  });

  it("null when the expression did not fire within ~400 days; throws on an invalid one", () => {
    expect(prev("0 9 29 2 *", "2025-10-01T00:00:00Z")).toBeNull(); // leap day: last on 2024-02-29
    expect(prev("0 9 29 2 *", "2024-10-01T00:00:00Z")).toBe("2024-02-29T00:00:00.000Z");
    expect(() => previousRun("0 9 30 2 *", "Asia/Tokyo", new Date())).toThrow();
    expect(() => previousRun("not cron", "Asia/Tokyo", new Date())).toThrow();
  });
});

describe("isSnapshotDue", () => {
  const now = at("2024-10-01T03:00:00Z"); // 12:00 JST; the last scheduled time was 09:00 JST = 00:00Z
  it("due when no snapshot was ever taken", () => {
    expect(isSnapshotDue(undefined, "0 9 * * *", "Asia/Tokyo", now)).toBe(true);
  });
  it("not due when a snapshot was taken after the last scheduled time", () => {
    expect(isSnapshotDue("2024-10-01T00:00:05.000Z", "0 9 * * *", "Asia/Tokyo", now)).toBe(false);
  });
  it("due when the PC was off at the scheduled time (last snapshot before it)", () => {
    expect(isSnapshotDue("2024-09-30T00:00:05.000Z", "0 9 * * *", "Asia/Tokyo", now)).toBe(true);
    expect(isSnapshotDue("2024-09-20T00:00:05.000Z", "0 9 * * *", "Asia/Tokyo", now)).toBe(true);
  });
  it("due when the stored time is in the future or unreadable", () => {
    expect(isSnapshotDue("2030-01-01T00:00:00.000Z", "0 9 * * *", "Asia/Tokyo", now)).toBe(true);
    expect(isSnapshotDue("garbage", "0 9 * * *", "Asia/Tokyo", now)).toBe(true);
  });
  it("not due for a schedule that has not fired for over a year, once a snapshot exists", () => {
    expect(isSnapshotDue("2025-01-01T00:00:00.000Z", "0 9 29 2 *", "Asia/Tokyo", at("2025-10-01T00:00:00Z"))).toBe(false);
  });
});
