/**
 * BitLocker To Go on Windows, read once per insertion: the shell property
 * System.Volume.BitLockerProtection (values as Explorer's verbs use them), Win32_EncryptableVolume
 * only as the fallback (fixtures in the reader script's JSON shape), the PROPVARIANT decoding, and
 * the collector asking the reader once per medium — never per poll — with the result in
 * media.inserted (details.bitlocker) and media.unencrypted only for a volume known to be plain.
 * No Windows machine: the property system and WMI are replaced by injected functions (Wine has no
 * BitLocker).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { MediaCollector } from "../../../agent/collectors/media/collector.js";
import { createMediaSnapshotSource } from "../../../agent/collectors/media/snapshot.js";
import { bitLockerFromShellProperty, parseEncryptableVolume } from "../../../agent/collectors/media/parse-win32.js";
import type { Medium } from "../../../agent/collectors/media/types.js";
import { Win32MediaReader } from "../../../agent/collectors/media/win32.js";
import { propVariantInteger } from "../../../agent/os/win32/shell-property.js";
import { root } from "../../helpers/kyoka.js";
import { fakeContext, waitFor } from "./helpers.js";

const fx = (name: string) => readFileSync(join(root, "test/fixtures/win32/media", name), "utf8");

describe("BitLocker To Go parsers", () => {
  it("System.Volume.BitLockerProtection values", () => {
    expect(bitLockerFromShellProperty(1)).toEqual({ encrypted: true, encryption: "bitlocker", bitlocker: { state: "on", locked: false, source: "shell-property" } });
    expect(bitLockerFromShellProperty(2)).toEqual({ encrypted: false, encryption: null, bitlocker: { state: "off", locked: false, source: "shell-property" } });
    expect(bitLockerFromShellProperty(6)).toMatchObject({ encrypted: true, bitlocker: { state: "locked", locked: true } });
    expect(bitLockerFromShellProperty(3)?.bitlocker.state).toBe("encrypting");
    expect(bitLockerFromShellProperty(5)).toMatchObject({ encrypted: true, bitlocker: { state: "suspended" } });
    // nothing said: the fallback decides
    expect(bitLockerFromShellProperty(0)).toBeNull();
    expect(bitLockerFromShellProperty(null)).toBeNull();
    expect(bitLockerFromShellProperty(9)).toMatchObject({ encrypted: null, bitlocker: { state: "unknown (9)", locked: null } });
  });

  it("Win32_EncryptableVolume (fixtures)", () => {
    expect(parseEncryptableVolume(fx("win32-encryptablevolume-on.json"))).toEqual({ encrypted: true, encryption: "bitlocker", bitlocker: { state: "on", locked: false, source: "Win32_EncryptableVolume" } });
    expect(parseEncryptableVolume(fx("win32-encryptablevolume-locked.json"))).toEqual({ encrypted: true, encryption: "bitlocker", bitlocker: { state: "locked", locked: true, source: "Win32_EncryptableVolume" } });
    expect(parseEncryptableVolume(fx("win32-encryptablevolume-off.json"))).toEqual({ encrypted: false, encryption: null, bitlocker: { state: "off", locked: false, source: "Win32_EncryptableVolume" } });
    expect(parseEncryptableVolume(fx("win32-encryptablevolume-suspended.json"))).toMatchObject({ encrypted: true, bitlocker: { state: "suspended" } });
    // no instance for that letter (PowerShell printed nothing)
    expect(parseEncryptableVolume("")).toBeNull();
  });

  it("PROPVARIANT integers", () => {
    const pv = (vt: number, write: (b: Buffer) => void) => { const b = Buffer.alloc(24); b.writeUInt16LE(vt, 0); write(b); return b; };
    expect(propVariantInteger(pv(3, (b) => b.writeInt32LE(6, 8)))).toBe(6);
    expect(propVariantInteger(pv(19, (b) => b.writeUInt32LE(2, 8)))).toBe(2);
    expect(propVariantInteger(pv(2, (b) => b.writeInt16LE(1, 8)))).toBe(1);
    expect(propVariantInteger(pv(0, () => undefined))).toBeNull();
    expect(propVariantInteger(pv(31, () => undefined))).toBeNull(); // VT_LPWSTR: not an integer
  });
});

describe("the Windows reader's encryptionOf", () => {
  const m = { device: "E:" } as Medium;
  it("the shell property first; Win32_EncryptableVolume only when it fails or says nothing", async () => {
    let wmi = 0;
    const viaShell = new Win32MediaReader(undefined, {
      notifier: null,
      shellProperty: (path, name) => { expect([path, name]).toEqual(["E:\\", "System.Volume.BitLockerProtection"]); return 6; },
      encryptableVolume: async () => { wmi++; return fx("win32-encryptablevolume-on.json"); },
    });
    expect(await viaShell.encryptionOf(m)).toMatchObject({ bitlocker: { state: "locked", source: "shell-property" } });
    expect(wmi).toBe(0);

    const shellFails = new Win32MediaReader(undefined, {
      notifier: null,
      shellProperty: () => { throw new Error("PSGetPropertyKeyFromName failed: 0x80070490"); },
      encryptableVolume: async (letter) => { wmi++; expect(letter).toBe("E:"); return fx("win32-encryptablevolume-locked.json"); },
    });
    expect(await shellFails.encryptionOf(m)).toMatchObject({ bitlocker: { state: "locked", source: "Win32_EncryptableVolume" } });
    const shellSilent = new Win32MediaReader(undefined, { notifier: null, shellProperty: () => 0, encryptableVolume: async () => { wmi++; return ""; } });
    expect(await shellSilent.encryptionOf(m)).toBeNull();
    expect(wmi).toBe(2);
    // not a drive letter: nothing is asked
    expect(await shellSilent.encryptionOf({ device: "\\\\?\\Volume{x}" } as Medium)).toBeNull();
    expect(wmi).toBe(2);
  });
});

describe("the collector reads BitLocker once per insertion", () => {
  const collectors: MediaCollector[] = [];
  afterEach(async () => { await Promise.all(collectors.splice(0).map((c) => c.stop())); });

  function medium(letter: string): Medium {
    // as the Windows inventory lists it: encryption unknown until announced
    return {
      key: `${letter}:{${letter}}`, device: `${letter}:`, disk: null, vendorId: "0781", productId: "5581", serial: `SER-${letter}`, vendor: "SanDisk", model: "Ultra",
      label: null, fsType: "NTFS", uuid: `{${letter}}`, size: 1 << 30, mount: null, mountReadOnly: false, bus: "usb", encrypted: null, encryption: null, fuse: false,
    };
  }

  it("media.inserted carries details.bitlocker; a plain volume → media.unencrypted, a locked one not; later polls ask nothing", async () => {
    const asked: string[] = [];
    const shell: Record<string, number> = { "E:\\": 6, "F:\\": 2 };
    const state = { media: [] as Medium[], n: 0 };
    // polled (no notifier): every poll lists (fullListEvery 1), so each could ask again
    const reader = new Win32MediaReader(undefined, {
      notifier: null,
      inventory: async () => state.media.map((x) => ({ ...x })),
      token: () => String(state.n),
      shellProperty: (path) => { asked.push(path); return shell[path] ?? 0; },
      encryptableVolume: async () => "",
    });
    const ctx = fakeContext({ media: { pollSeconds: 0.05, scan: { enabled: false } } });
    const c = new MediaCollector({ reader, settleMs: 50, fullListEvery: 1 });
    collectors.push(c);
    await c.start(ctx);
    state.media = [medium("E"), medium("F")];
    state.n++;
    const inserted = await waitFor("two media.inserted", () => { const evs = ctx.events.filter((e) => e.type === "media.inserted"); return evs.length === 2 && evs; }, 10_000);
    const byDevice = Object.fromEntries(inserted.map((e) => [e.details.device, e.details]));
    expect(byDevice["E:"]).toMatchObject({ encrypted: true, encryption: "bitlocker", bitlocker: { state: "locked", locked: true, source: "shell-property" } });
    expect(byDevice["F:"]).toMatchObject({ encrypted: false, encryption: null, bitlocker: { state: "off", source: "shell-property" } });
    expect(ctx.events.filter((e) => e.type === "media.unencrypted").map((e) => e.details.device)).toEqual(["F:"]);
    // many more polls (each a full list, fullListEvery 1): the property is not asked again
    const cyclesBefore = ctx.checks.length;
    await waitFor("ten more cycles", () => ctx.checks.length >= cyclesBefore + 10, 10_000);
    expect(asked.sort()).toEqual(["E:\\", "F:\\"]);
    // and the medium keeps the state read at insertion
    expect(c.current().find((x) => x.device === "E:")).toMatchObject({ encrypted: true, encryption: "bitlocker" });

    // `kyoka snapshot` (one look) reads it once per medium too
    asked.length = 0;
    const snap = await createMediaSnapshotSource({ reader }).snapshot() as Record<string, unknown>[];
    expect(snap.find((x) => x.device === "E:")).toMatchObject({ encrypted: true, bitlocker: { state: "locked" } });
    expect(asked.sort()).toEqual(["E:\\", "F:\\"]);
  });
});
