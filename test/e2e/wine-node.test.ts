/**
 * The Wine harness itself (test/helpers/wine.ts): the Windows node.exe runs under Wine with its
 * output in files, and SIGINT reaches it as CTRL_C_EVENT (its 'SIGINT' handler runs), which is
 * how the Windows agent tests stop the agent the way a service wrapper does.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { processScope, waitFor } from "../helpers/kyoka.js";
import { runWineNode, wineSetup, winePath } from "../helpers/wine.js";

const scope = processScope();

describe("Wine harness", () => {
  beforeAll(() => {
    wineSetup();
  });

  it("runs the Windows node.exe of the same version, stdout to a file", async () => {
    const p = scope.track(runWineNode(["-p", "process.platform + ' ' + process.version + ' ' + process.arch"], { dir: scope.dir() }));
    expect((await p.exited).code).toBe(0);
    expect(p.stdout().trim()).toBe(`win32 v${wineSetup().nodeVersion} x64`);
    expect(wineSetup().nodeVersion).toBe(process.versions.node);
  });

  it("stop() delivers CTRL_C to the Windows process: its SIGINT handler runs and it exits 0", async () => {
    const dir = scope.dir();
    const script = join(dir, "s.js");
    writeFileSync(
      script,
      `const fs = require("fs");
       process.on("SIGINT", () => { fs.writeFileSync(${JSON.stringify(winePath(join(dir, "got")))}, "SIGINT"); process.exit(0); });
       fs.writeFileSync(${JSON.stringify(winePath(join(dir, "ready")))}, String(process.pid));
       setInterval(() => {}, 1000);`,
    );
    const p = scope.track(runWineNode([script], { dir }));
    await waitFor(() => { try { return readFileSync(join(dir, "ready"), "utf8"); } catch { return undefined; } }, "node.exe to start", 30_000);
    const r = await p.stop();
    expect(r.code).toBe(0);
    expect(readFileSync(join(dir, "got"), "utf8")).toBe("SIGINT");
  });
});
