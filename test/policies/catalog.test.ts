import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { loadCatalog, parseCatalog } from "../../policies/catalog.js";
import { withControlsSection } from "../../policies/controls-doc.js";
import { CONTROLS, EVENT_TYPES, controlOf } from "../../policies/schema.js";

// the repository's own control documentation (generated from the catalog: npm run docs:controls)
const controlsMd = readFileSync(new URL("../../docs/controls.md", import.meta.url), "utf8");

describe("control catalog", () => {
  const cat = loadCatalog();

  it("has every control and event type, each with clause references and both titles", () => {
    expect(Object.keys(cat.controls).sort()).toEqual([...CONTROLS].sort());
    expect(Object.keys(cat.events).sort()).toEqual([...EVENT_TYPES].sort());
    for (const [type, e] of Object.entries(cat.events)) {
      expect(e.articles.length, type).toBeGreaterThan(0);
      expect(e.title.ja, type).toMatch(/[\u3040-\u30ff\u4e00-\u9fff]/);
      expect(e.title.en, type).toMatch(/[A-Za-z]/);
    }
  });

  it("docs/controls.md is current with the catalog and lists exactly its event types", () => {
    expect(controlsMd, "docs/controls.md is stale: run npm run docs:controls").toBe(withControlsSection(controlsMd, cat));
    const listed = new Set([...controlsMd.matchAll(/`((?:software|network|media|p2p|asset|agent)\.[a-z_]+)`/g)].map((m) => m[1]));
    expect([...listed].sort()).toEqual([...EVENT_TYPES].sort());
  });

  it("a stale or marker-less controls document is detected", () => {
    const stale = controlsMd.replace("`software.installed`", "`software.installd`");
    expect(withControlsSection(stale, cat)).not.toBe(stale);
    expect(() => withControlsSection("# no markers\n", cat)).toThrow(/markers/);
  });

  it("follows the clauses: software needs 甲許可 under 別記2 第10, P2P is an uncleared violation", () => {
    expect(cat.events["software.installed"]).toMatchObject({ articles: ["別記2 第10"], defaultStatus: "needs_approval", clearable: true });
    for (const t of ["p2p.installed", "p2p.present", "p2p.running", "p2p.traffic"] as const) {
      expect(cat.events[t]).toMatchObject({ defaultStatus: "violation", clearable: false, severity: "critical" });
      expect(cat.events[t].articles).toContain("個人情報取扱特記事項 第12 第9項");
    }
    expect(cat.events["media.copy_out"].articles).toContain("別記2 第2");
    expect(cat.events["network.attached"].articles).toContain("別記2 第8");
    expect(cat.events["asset.hardware_changed"].articles).toContain("別記2 第7");
    expect(controlOf("media.copy_out")).toBe("media");
  });

  it("refuses a catalog with a missing event type or a bad entry, naming it", () => {
    expect(() => parseCatalog("controls: {}\nevents: {}\n")).toThrow(/missing entries for software\.installed/);
    expect(() => parseCatalog("controls: {}\nevents:\n  software.installed: { articles: [], title: {ja: x, en: y}, severity: medium, defaultStatus: info, clearable: true }\n"))
      .toThrow(/events\.software\.installed\.articles/);
  });
});
