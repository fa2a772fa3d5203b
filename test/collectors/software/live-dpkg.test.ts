/**
 * Live test on this Linux machine: real .deb packages installed and removed with dpkg, the real
 * collector (LinuxSoftwareReader, chokidar watching /var/lib/dpkg) reporting them. Needs root
 * (CI runs as root); it fails, not skips, without it.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SoftwareCollector } from "../../../agent/collectors/software/index.js";
import type { NewEvent } from "../../../policies/schema.js";
import { fakeContext, FakeStateStore, waitFor } from "./helpers.js";

const pkg = `kyoka-test-${Math.random().toString(36).slice(2, 10)}`;
let dir: string;
const debs: Record<string, string> = {};

function buildDeb(version: string): string {
  const root = join(dir, `${pkg}_${version}`);
  mkdirSync(join(root, "DEBIAN"), { recursive: true });
  mkdirSync(join(root, "usr", "share", "doc", pkg), { recursive: true });
  writeFileSync(join(root, "usr", "share", "doc", pkg, "README"), `kyoka test package ${version}\n`);
  writeFileSync(join(root, "DEBIAN", "control"), [
    `Package: ${pkg}`, `Version: ${version}`, "Architecture: all", "Maintainer: Kyoka Test <test@example.invalid>",
    "Section: misc", "Priority: optional", `Description: kyoka software collector test package ${version}`, "",
  ].join("\n"));
  const out = join(dir, `${pkg}_${version}_all.deb`);
  execFileSync("dpkg-deb", ["--build", "--root-owner-group", root, out], { stdio: "pipe" });
  return out;
}

/** dpkg, retried while another dpkg (another test) holds the lock. */
async function dpkg(...args: string[]): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      execFileSync("dpkg", args, { stdio: "pipe" });
      return;
    } catch (err) {
      const stderr = String((err as { stderr?: Buffer }).stderr ?? "");
      if (attempt < 60 && /lock/i.test(stderr)) {
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      throw new Error(`dpkg ${args.join(" ")} failed: ${stderr}`);
    }
  }
}

const mine = (events: NewEvent[]): NewEvent[] => events.filter((e) => e.details.name === pkg);

describe("software collector on the live system (dpkg)", () => {
  beforeAll(() => {
    if (typeof process.getuid !== "function" || process.getuid() !== 0) {
      throw new Error("live-dpkg.test.ts must run as root (it installs and removes real .deb packages with dpkg)");
    }
    dir = mkdtempSync(join(tmpdir(), "kyoka-sw-"));
    debs["1.0"] = buildDeb("1.0");
    debs["2.0"] = buildDeb("2.0");
  });

  afterAll(async () => {
    try {
      await dpkg("--purge", pkg);
    } finally {
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  });

  it("reports install, update and removal as they happen, and changes while stopped exactly once", async () => {
    const state = new FakeStateStore();
    const ctx = fakeContext(state);
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
    const ctx2 = fakeContext(state);
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
    const ctx3 = fakeContext(state);
    const third = new SoftwareCollector();
    await third.start(ctx3);
    await third.stop();
    expect(mine(ctx3.events)).toEqual([]);
  });
});
