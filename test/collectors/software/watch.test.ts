/**
 * The package database watch, on a real folder: a dpkg-style `status` file replaced by rename
 * (write status-new, keep status-old, rename status-new over status) many times in a row — every
 * replacement must be seen as it happens, not at the periodic rescan (chokidar's own change events
 * missed some of these; the collector also listens to the raw fs.watch notifications).
 */
import { linkSync, mkdtempSync, renameSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { SoftwareCollector } from "../../../agent/collectors/software/index.js";
import { LinuxSoftwareReader } from "../../../agent/collectors/software/linux.js";
import { MissingTool, type WatchTarget } from "../../../agent/collectors/software/reader.js";
import { recordingContext } from "../../helpers/collector-context.js";
import { waitFor } from "./helpers.js";

class FolderReader extends LinuxSoftwareReader {
  constructor(private readonly dir: string) {
    super({ dpkgStatusPath: join(dir, "status"), exec: async (cmd) => { throw new MissingTool(cmd); } });
  }
  override watchTargets(): WatchTarget[] {
    return [{ dir: this.dir, match: (n) => n === "status" }];
  }
}

const stanza = (name: string, version: string): string =>
  `Package: ${name}\nStatus: install ok installed\nMaintainer: Kyoka Test <test@example.invalid>\nArchitecture: all\nVersion: ${version}\nDescription: test\n`;

/** As dpkg's modstatdb checkpoint does: status-new written, status kept as status-old, status-new renamed over status. */
function replaceStatus(dir: string, text: string): void {
  writeFileSync(join(dir, "status-new"), text);
  try { unlinkSync(join(dir, "status-old")); } catch { /* first time */ }
  linkSync(join(dir, "status"), join(dir, "status-old"));
  renameSync(join(dir, "status-new"), join(dir, "status"));
}

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

describe("SoftwareCollector watching a real package database folder", () => {
  it("sees every one of 40 successive replacements of status by rename", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kyoka-sw-watch-"));
    dirs.push(dir);
    const base = stanza("base", "1");
    writeFileSync(join(dir, "status"), base);
    const ctx = recordingContext();
    const collector = new SoftwareCollector({ reader: new FolderReader(dir), debounceMs: 20 });
    await collector.start(ctx);
    try {
      expect(ctx.events.map((e) => e.type)).toEqual(["software.inventory"]);
      for (let i = 1; i <= 40; i++) {
        replaceStatus(dir, `${base}\n${stanza("pkg", `1.${i}`)}`);
        const type = i === 1 ? "software.installed" : "software.updated";
        await waitFor(() => ctx.events.some((e) => e.type === type && e.details.version === `1.${i}`), `${type} pkg 1.${i}`, 20_000);
      }
      expect(ctx.events).toHaveLength(41);
      expect(ctx.failures).toEqual([]);
    } finally {
      await collector.stop();
    }
  });
});
