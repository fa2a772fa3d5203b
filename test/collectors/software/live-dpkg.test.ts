/**
 * Live test on this Linux machine: real .deb packages installed and removed with dpkg, the real
 * collector (LinuxSoftwareReader, chokidar watching /var/lib/dpkg) reporting them. Needs root
 * (CI runs as root); it fails, not skips, without it.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SoftwareCollector } from "../../../agent/collectors/software/index.js";
import type { NewEvent } from "../../../policies/schema.js";
import { buildDeb, dpkg as runDpkg, requireRoot, uniquePackageName } from "../../helpers/dpkg.js";
import { MemoryState, recordingContext } from "../../helpers/collector-context.js";
import { waitFor } from "./helpers.js";

const pkg = uniquePackageName("kyoka-test");
let dir: string;
const debs: Record<string, string> = {};

/** dpkg, retried while another dpkg (another test file) holds the lock (test/helpers/dpkg.ts). */
async function dpkg(...args: string[]): Promise<void> {
  await runDpkg(args);
}

const mine = (events: NewEvent[]): NewEvent[] => events.filter((e) => e.details.name === pkg);

describe("software collector on the live system (dpkg)", () => {
  beforeAll(async () => {
    requireRoot("live-dpkg.test.ts");
    dir = mkdtempSync(join(tmpdir(), "kyoka-sw-"));
    debs["1.0"] = await buildDeb(dir, { name: pkg, version: "1.0" });
    debs["2.0"] = await buildDeb(dir, { name: pkg, version: "2.0" });
  });

  afterAll(async () => {
    try {
      await dpkg("--purge", pkg);
    } finally {
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  });

  it("reports install, update and removal as they happen, and changes while stopped exactly once", async () => {
    const state = new MemoryState();
    const ctx = recordingContext({}, state);
    const collector = new SoftwareCollector();
    await collector.start(ctx);
    try {
      expect(ctx.events[0]!.type).toBe("software.inventory");
      expect(Number(ctx.events[0]!.details.count)).toBeGreaterThan(100);

      await dpkg("-i", debs["1.0"]!);
      await waitFor(() => mine(ctx.events).length >= 1, `software.installed for ${pkg}`);
      expect(mine(ctx.events)[0]).toMatchObject({
        type: "software.installed",
        details: { name: pkg, version: "1.0", source: "dpkg", arch: "all", publisher: "Kyoka Test <test@example.invalid>" },
      });

      await dpkg("-i", debs["2.0"]!);
      await waitFor(() => mine(ctx.events).length >= 2, `software.updated for ${pkg}`);
      expect(mine(ctx.events)[1]).toMatchObject({ type: "software.updated", details: { name: pkg, version: "2.0", previousVersion: "1.0" } });

      await dpkg("-r", pkg);
      await waitFor(() => mine(ctx.events).length >= 3, `software.removed for ${pkg}`);
      expect(mine(ctx.events)[2]).toMatchObject({ type: "software.removed", details: { name: pkg, version: "2.0" } });
      expect(mine(ctx.events)).toHaveLength(3);
    } finally {
      await collector.stop();
    }

    // installed while the agent is stopped: reported once at the next start, never again
    await dpkg("-i", debs["1.0"]!);
    const ctx2 = recordingContext({}, state);
    const again = new SoftwareCollector();
    await again.start(ctx2);
    try {
      expect(mine(ctx2.events).map((e) => [e.type, e.details.version])).toEqual([["software.installed", "1.0"]]);
      again.trigger();
      await new Promise((r) => setTimeout(r, 1000));
      expect(mine(ctx2.events)).toHaveLength(1);
    } finally {
      await again.stop();
    }
    const ctx3 = recordingContext({}, state);
    const third = new SoftwareCollector();
    await third.start(ctx3);
    await third.stop();
    expect(mine(ctx3.events)).toEqual([]);
  });
});
