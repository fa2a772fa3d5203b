/**
 * p2p.installed's view of the package databases (agent/collectors/p2p/installed.ts), issue 18:
 * the watch targets' folders are watched, so the P2P cycle (every 2 s) stats them only after a
 * change notice or once a minute — not every cycle. A fake reader over temporary folders: one
 * that exists (a "status" file in it), one that does not exist yet (watched through its parent).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { InstalledSoftware } from "../../../agent/collectors/p2p/installed.js";
import type { InventoryReader } from "../../../agent/collectors/software/reader.js";
import type { SoftwareItem } from "../../../agent/collectors/software/types.js";
import { removeDir, tempDir, waitFor } from "../../helpers/kyoka.js";

const root = tempDir("kyoka-p2p-installed-");
afterAll(() => removeDir(root));

function fakeReader(db: string, absent: string) {
  let items: SoftwareItem[] = [{ id: "dpkg:vim", name: "vim", version: "9", source: "dpkg" }];
  const reader: InventoryReader = {
    read: async () => ({ items, failed: [], read: ["dpkg"], errors: [], keep: [] }),
    watchTargets: () => [{ dir: db, match: (n) => n === "status" }, { dir: absent }],
  };
  return { reader, set: (next: SoftwareItem[]) => { items = next; } };
}

const names = (l: { name: string }[] | undefined) => l?.map((i) => i.name).sort();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("installed software for the P2P checks", () => {
  it("stats the databases only after a change notice, and sees the change", async () => {
    const db = join(root, "w", "dpkg"), absent = join(root, "w", "flatpak", "app");
    mkdirSync(db, { recursive: true });
    writeFileSync(join(db, "status"), "v1");
    const { reader, set } = fakeReader(db, absent);
    const sw = new InstalledSoftware({ reader });
    try {
      expect(names(await sw.read())).toEqual(["vim"]);
      const fp = sw.fingerprints;
      for (let i = 0; i < 20; i++) expect(await sw.read()).toBeUndefined();
      expect(sw.fingerprints).toBe(fp); // twenty cycles, no stat

      // a package installed: dpkg rewrites its status file
      set([{ id: "dpkg:vim", name: "vim", version: "9", source: "dpkg" }, { id: "dpkg:transmission-daemon", name: "transmission-daemon", version: "3.00", source: "dpkg" }]);
      writeFileSync(join(db, "status"), "v2 — longer");
      const got = await waitFor(async () => names(await sw.read()), "the new package list");
      expect(got).toEqual(["transmission-daemon", "vim"]);
      expect(sw.fingerprints).toBeGreaterThan(fp);

      // a folder that did not exist appears (a first flatpak install): seen through its parent
      const fp2 = sw.fingerprints;
      await sleep(50);
      await sw.read();
      expect(sw.fingerprints).toBe(fp2);
      mkdirSync(join(root, "w", "flatpak"));
      await waitFor(async () => { await sw.read(); return sw.fingerprints > fp2 || undefined; }, "a fingerprint after the folder appeared");
    } finally {
      sw.close();
    }
  });

  it("without folder watches every call takes the fingerprint (the fallback)", async () => {
    const db = join(root, "n", "dpkg");
    mkdirSync(db, { recursive: true });
    writeFileSync(join(db, "status"), "v1");
    const { reader } = fakeReader(db, join(root, "n", "absent"));
    const sw = new InstalledSoftware({ reader, watch: false });
    await sw.read();
    const fp = sw.fingerprints;
    for (let i = 0; i < 5; i++) await sw.read();
    expect(sw.fingerprints).toBe(fp + 5);
    sw.close();
  });

  it("with the folders watched the fingerprint is still taken once the safety period has passed", async () => {
    const db = join(root, "s", "dpkg");
    mkdirSync(db, { recursive: true });
    writeFileSync(join(db, "status"), "v1");
    const { reader } = fakeReader(db, join(root, "s", "absent"));
    const sw = new InstalledSoftware({ reader, fingerprintEveryMs: 30 });
    try {
      await sw.read();
      const fp = sw.fingerprints;
      await sleep(60);
      await sw.read();
      expect(sw.fingerprints).toBe(fp + 1);
    } finally {
      sw.close();
    }
  });
});
