/**
 * Live media tests on real filesystems: exFAT (FUSE) and ext4 images on loop devices, a LUKS
 * image, ClamAV with a custom signature. Root is required (CI runs as root); missing tools are
 * installed from Debian by ensureTools().
 */
import { createHash } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MediaCollector } from "../../../agent/collectors/media/index.js";
import type { NewEvent } from "../../../policies/schema.js";
import { Cleanup, ensureTools, fakeContext, loopOf, sh, waitFor, type RecordingContext } from "./helpers.js";

// The EICAR test string, assembled so this file itself is not flagged by scanners.
const EICAR = ["X5O!P%@AP[4\\PZX54(P^)7CC)7}$", "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"].join("");

const cleanup = new Cleanup();
let tmp = "";
let sigs = "";

function sha256(data: string | Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

function eventsOf(ctx: RecordingContext, type: string, device: string): NewEvent[] {
  return ctx.events.filter((e) => e.type === type && e.details.device === device);
}

function basePolicy(extra: Record<string, unknown> = {}) {
  return {
    media: {
      treatAsRemovable: ["/dev/loop*"],
      pollSeconds: 0.2,
      scan: { enabled: false },
      ...extra,
    },
  };
}

function newCollector(extra: ConstructorParameters<typeof MediaCollector>[0] = {}) {
  return new MediaCollector({ settleMs: 500, copyOut: { stableMs: 300, quietMs: 1000, reconcileMs: 2000 }, ...extra });
}

function makeExt4(name: string, sizeMb = 32): string {
  const img = join(tmp, `${name}.img`);
  sh("truncate", ["-s", `${sizeMb}M`, img]);
  sh("mkfs.ext4", ["-q", "-F", "-L", name.toUpperCase().slice(0, 15), img]);
  return img;
}

/** ext4 via `mount -o loop`: the loop device is auto-cleared on umount, like a stick pulled out. */
function mountExt4(img: string, dir: string): string {
  mkdirSync(dir, { recursive: true });
  cleanup.mount(["-o", "loop", img], dir);
  return loopOf(img);
}

beforeAll(() => {
  ensureTools();
  tmp = mkdtempSync(join(tmpdir(), "kyoka-media-"));
  sigs = join(tmp, "sigs");
  mkdirSync(sigs);
  // MD5 of the 68-byte EICAR string : size : name (no freshclam here)
  writeFileSync(join(sigs, "test.hdb"), "44d88612fea8a8f36de82e1278abb02f:68:Test.EICAR\n");
});

afterAll(() => {
  cleanup.all();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe("media collector on Linux (live, loop devices)", () => {
  it("exFAT (FUSE) medium: inserted, unencrypted, copy-out batched with sizes and SHA-256, removed", async () => {
    const img = join(tmp, "exfat.img");
    sh("truncate", ["-s", "64M", img]);
    sh("mkfs.exfat", ["-L", "KYOKAEX", img]);
    const ctx = fakeContext(basePolicy());
    const c = newCollector();
    await c.start(ctx);
    try {
      const dev = cleanup.losetup(img);
      const dir = join(tmp, "exfat");
      mkdirSync(dir);
      cleanup.mount([dev], dir, "mount.exfat-fuse");
      // a file present at insertion is not copy-out
      const inserted = await waitFor("media.inserted (exfat)", () => eventsOf(ctx, "media.inserted", dev)[0]);
      expect(inserted.details).toMatchObject({ device: dev, fsType: "exfat", label: "KYOKAEX", mount: dir, bus: "loop", encrypted: false, size: 64 * 1024 * 1024 });
      // no USB serial on a loop device: the volume serial (filesystem UUID) stands in for it
      expect(inserted.details).toMatchObject({ serial: inserted.details.uuid, serialSource: "volume", vendorId: null });
      expect(inserted.details.uuid).toMatch(/^[0-9A-F]{4}-[0-9A-F]{4}$/);
      await waitFor("media.unencrypted", () => eventsOf(ctx, "media.unencrypted", dev)[0]);

      const files: Record<string, Buffer> = {
        [join(dir, "report.txt")]: Buffer.from("持ち出し test\n"),
        [join(dir, "data.bin")]: Buffer.alloc(300_000, 7),
        [join(dir, "empty.dat")]: Buffer.alloc(0),
      };
      for (const [p, b] of Object.entries(files)) await writeFile(p, b);
      const got = await waitFor("copy_out of 3 files", () => {
        const all = eventsOf(ctx, "media.copy_out", dev).flatMap((e) => e.details.files as { path: string; size: number; sha256: string }[]);
        return all.length >= 3 ? all : null;
      });
      expect(got).toHaveLength(3);
      for (const [p, b] of Object.entries(files)) {
        expect(got.find((f) => f.path === p)).toEqual({ path: p, size: b.length, sha256: sha256(b) });
      }
      const first = eventsOf(ctx, "media.copy_out", dev)[0]!;
      expect(first.details).toMatchObject({ device: dev, mount: dir, batch: 1 });
      expect(first.details.count).toBe((first.details.files as unknown[]).length);

      // 2,000 small files → a handful of events that together list all of them
      const before = eventsOf(ctx, "media.copy_out", dev).length;
      mkdirSync(join(dir, "bulk"));
      for (let i = 0; i < 2000; i++) await writeFile(join(dir, "bulk", `f${i}.txt`), `file ${i}\n`);
      const bulk = await waitFor(
        "copy_out of 2000 files",
        () => {
          const evs = eventsOf(ctx, "media.copy_out", dev).slice(before);
          const paths = new Set(evs.flatMap((e) => (e.details.files as { path: string }[]).map((f) => f.path)));
          return paths.size >= 2000 ? { evs, paths } : null;
        },
        90_000,
      );
      expect(bulk.paths.size).toBe(2000);
      expect(bulk.evs.length).toBeGreaterThanOrEqual(2);
      expect(bulk.evs.length).toBeLessThanOrEqual(10);
      for (const e of bulk.evs) expect((e.details.files as unknown[]).length).toBeLessThanOrEqual(1000);
      const total = bulk.evs.reduce((s, e) => s + (e.details.totalBytes as number), 0);
      expect(total).toBe(Array.from({ length: 2000 }, (_, i) => `file ${i}\n`.length).reduce((a, b) => a + b, 0));

      cleanup.umount(dir);
      cleanup.detach(dev);
      const removed = await waitFor("media.removed (exfat)", () => eventsOf(ctx, "media.removed", dev)[0]);
      expect(removed.details).toMatchObject({ device: dev, label: "KYOKAEX" });
    } finally {
      await c.stop();
    }
    expect(ctx.failures).toEqual([]);
  }, 150_000);

  it("ext4 medium: inserted with its mount; files present at insertion are not copy-out; unmounted → removed", async () => {
    const img = makeExt4("kyokaext");
    // put a file on it before it is "inserted"
    const pre = join(tmp, "pre");
    const dev0 = mountExt4(img, pre);
    writeFileSync(join(pre, "already-there.txt"), "old\n");
    cleanup.umount(pre);
    await waitFor("autoclear of the staging loop", () => !sh("losetup", ["-a"]).includes(`${dev0}:`) || null, 10_000).catch(() => undefined);

    const ctx = fakeContext(basePolicy());
    const c = newCollector();
    await c.start(ctx);
    try {
      const dir = join(tmp, "ext4");
      const dev = mountExt4(img, dir);
      const inserted = await waitFor("media.inserted (ext4)", () => eventsOf(ctx, "media.inserted", dev)[0]);
      expect(inserted.details).toMatchObject({ fsType: "ext4", label: "KYOKAEXT", mount: dir, encrypted: false, encryption: null });
      await writeFile(join(dir, "new.txt"), "new\n");
      const co = await waitFor("copy_out new.txt", () => eventsOf(ctx, "media.copy_out", dev)[0]);
      const paths = (co.details.files as { path: string }[]).map((f) => f.path);
      expect(paths).toContain(join(dir, "new.txt"));
      expect(paths).not.toContain(join(dir, "already-there.txt"));

      cleanup.umount(dir); // mount -o loop: the loop device goes away with the mount
      await waitFor("media.removed (ext4)", () => eventsOf(ctx, "media.removed", dev)[0]);
    } finally {
      await c.stop();
    }
  }, 60_000);

  it("LUKS medium is recognised as encrypted; no media.unencrypted for it", async () => {
    const img = join(tmp, "luks.img");
    const key = join(tmp, "luks.key");
    sh("truncate", ["-s", "32M", img]);
    writeFileSync(key, "correct horse battery staple");
    sh("cryptsetup", ["luksFormat", "--batch-mode", "--type", "luks2", "--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000", "--key-file", key, img]);
    const ctx = fakeContext(basePolicy());
    const c = newCollector();
    await c.start(ctx);
    try {
      const dev = cleanup.losetup(img);
      const inserted = await waitFor("media.inserted (luks)", () => eventsOf(ctx, "media.inserted", dev)[0]);
      expect(inserted.details).toMatchObject({ device: dev, encrypted: true, encryption: "luks2", mount: null });
      expect(eventsOf(ctx, "media.unencrypted", dev)).toEqual([]);
      cleanup.detach(dev);
      await waitFor("media.removed (luks)", () => eventsOf(ctx, "media.removed", dev)[0]);
    } finally {
      await c.stop();
    }
  }, 60_000);

  it("ClamAV: EICAR on the medium → infected with the signature name; no scanner → scanner-missing", async () => {
    const img = makeExt4("kyokavir");
    const staging = join(tmp, "vir-stage");
    mountExt4(img, staging);
    writeFileSync(join(staging, "eicar.com"), EICAR);
    writeFileSync(join(staging, "readme.txt"), "harmless\n");
    cleanup.umount(staging);

    const ctx = fakeContext(basePolicy({ scan: { enabled: true, scanner: "clamscan", databasePath: sigs } }));
    const c = newCollector();
    await c.start(ctx);
    let dev = "";
    try {
      const dir = join(tmp, "vir");
      dev = mountExt4(img, dir);
      const scanned = await waitFor("media.scanned (infected)", () => eventsOf(ctx, "media.scanned", dev)[0], 60_000);
      expect(scanned.details).toMatchObject({ result: "infected", scanner: "clamscan", mount: dir, readOnly: "off" });
      const sigNames = scanned.details.signatures as string[];
      expect(sigNames).toHaveLength(1);
      expect(sigNames[0]).toMatch(/^Test\.EICAR/);
      expect(scanned.details.infectedFiles).toEqual([{ path: join(dir, "eicar.com"), signature: sigNames[0] }]);
      expect(typeof scanned.details.durationMs).toBe("number");
      cleanup.umount(dir);
      await waitFor("media.removed", () => eventsOf(ctx, "media.removed", dev)[0]);
    } finally {
      await c.stop();
    }

    // a configured scanner binary that does not exist → scanner-missing (not silence)
    const ctx2 = fakeContext(basePolicy({ scan: { enabled: true, scanner: "clamscan", databasePath: sigs } }));
    const c2 = newCollector({ clamscanPath: join(tmp, "no-such-clamscan") });
    await c2.start(ctx2);
    try {
      const dir = join(tmp, "vir2");
      dev = mountExt4(img, dir);
      const scanned = await waitFor("media.scanned (missing)", () => eventsOf(ctx2, "media.scanned", dev)[0], 30_000);
      expect(scanned.details).toMatchObject({ result: "scanner-missing", scanner: null, signatures: [], infectedFiles: [] });
      cleanup.umount(dir);
    } finally {
      await c2.stop();
    }

    // auto with a PATH holding no ClamAV at all → scanner-missing
    const ctx3 = fakeContext(basePolicy({ scan: { enabled: true, scanner: "auto" } }));
    const c3 = newCollector({ scannerPathEnv: join(tmp, "empty-bin") });
    await c3.start(ctx3);
    try {
      const dir = join(tmp, "vir3");
      dev = mountExt4(img, dir);
      const scanned = await waitFor("media.scanned (auto, no PATH)", () => eventsOf(ctx3, "media.scanned", dev)[0], 30_000);
      expect(scanned.details.result).toBe("scanner-missing");
      cleanup.umount(dir);
    } finally {
      await c3.stop();
    }
  }, 120_000);

  it("readOnlyUntilScanned: a write before the scan fails, and after a clean scan succeeds", async () => {
    const img = makeExt4("kyokaro");
    const gate = join(tmp, "scan-gate");
    const slow = join(tmp, "slow-clamscan.sh");
    // a scanner held until the test opens the gate: the read-only window is observed deterministically
    writeFileSync(slow, `#!/bin/sh\nwhile [ ! -e '${gate}' ]; do sleep 0.1; done\nexec clamscan "$@"\n`);
    chmodSync(slow, 0o755);
    const ctx = fakeContext(basePolicy({ readOnlyUntilScanned: true, scan: { enabled: true, scanner: "clamscan", databasePath: sigs } }));
    const c = newCollector({ clamscanPath: slow });
    await c.start(ctx);
    try {
      const dir = join(tmp, "ro");
      const dev = mountExt4(img, dir);
      await waitFor("media.inserted (ro)", () => eventsOf(ctx, "media.inserted", dev)[0]);
      const err = await waitFor("the mount to become read-only", async () => {
        try {
          await writeFile(join(dir, `probe-${Date.now()}.txt`), "x");
          return null;
        } catch (e) {
          return e as NodeJS.ErrnoException;
        }
      });
      expect(err.code).toBe("EROFS");
      expect(eventsOf(ctx, "media.scanned", dev)).toEqual([]);

      writeFileSync(gate, "");
      const scanned = await waitFor("media.scanned (clean)", () => eventsOf(ctx, "media.scanned", dev)[0], 60_000);
      expect(scanned.details).toMatchObject({ result: "clean", scanner: "clamscan", readOnly: "released", signatures: [], infectedFiles: [] });
      await writeFile(join(dir, "after-scan.txt"), "written after a clean scan\n");
      const co = await waitFor("copy_out after release", () => eventsOf(ctx, "media.copy_out", dev)[0]);
      expect((co.details.files as { path: string }[]).map((f) => f.path)).toContain(join(dir, "after-scan.txt"));
      cleanup.umount(dir);
    } finally {
      await c.stop();
    }
  }, 90_000);

  it("snapshot lists the media attached now", async () => {
    const { createMediaSnapshotSource } = await import("../../../agent/collectors/media/index.js");
    const img = makeExt4("kyokasnap", 16);
    const dir = join(tmp, "snap");
    const dev = mountExt4(img, dir);
    try {
      const snap = (await createMediaSnapshotSource({ treatAsRemovable: ["/dev/loop*"] }).snapshot()) as { device: string; mount: string; fsType: string }[];
      expect(snap.find((m) => m.device === dev)).toMatchObject({ mount: dir, fsType: "ext4" });
    } finally {
      cleanup.umount(dir);
    }
  });
});
