/**
 * The macOS files (installers/macos/), checked here without a Mac: the launchd plist and the PPPC
 * profile parse as property lists (lib/plist.ts) and say what the installer relies on; the shell
 * scripts parse (sh -n) and use the paths the plist names.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { asArray, asDict, parsePlistXml } from "../../lib/plist.js";
import { root } from "../helpers/kyoka.js";

const dir = join(root, "installers/macos");

describe("the macOS launchd daemon and scripts", () => {
  it("the plist runs the agent at load, keeps it alive, with the installed config", () => {
    const plist = asDict(parsePlistXml(readFileSync(join(dir, "jp.kyoka.agent.plist"), "utf8")))!;
    expect(plist.Label).toBe("jp.kyoka.agent");
    expect(plist.RunAtLoad).toBe(true);
    expect(plist.KeepAlive).toBe(true);
    expect(plist.ProgramArguments).toEqual(["/usr/local/kyoka/kyoka", "agent", "--config", "/Library/Application Support/kyoka/agent.yaml"]);
    expect(typeof plist.ThrottleInterval).toBe("number");
    expect(plist.StandardErrorPath).toBe("/Library/Logs/kyoka/agent.log");
    expect(asDict(plist.EnvironmentVariables)!.KYOKA_RUNTIME_DIR).toBe("/Library/Application Support/kyoka/runtime");
  });

  it("the PPPC profile grants Full Disk Access, removable and network volumes to the installed executable", () => {
    const profile = asDict(parsePlistXml(readFileSync(join(dir, "kyoka-pppc.mobileconfig"), "utf8")))!;
    const tcc = asArray(profile.PayloadContent).map(asDict).find((p) => p?.PayloadType === "com.apple.TCC.configuration-profile-policy")!;
    const services = asDict(tcc.Services)!;
    expect(Object.keys(services).sort()).toEqual(["SystemPolicyAllFiles", "SystemPolicyNetworkVolumes", "SystemPolicyRemovableVolumes"]);
    for (const grants of Object.values(services)) {
      const g = asDict(asArray(grants)[0])!;
      expect(g.Identifier).toBe("/usr/local/kyoka/kyoka");
      expect(g.IdentifierType).toBe("path");
      expect(g.Authorization).toBe("Allow");
    }
  });

  it("install, uninstall and the pkgbuild recipe are valid sh and use the plist's label and paths", () => {
    for (const f of ["install.sh", "uninstall.sh", "build-pkg.sh"]) {
      execFileSync("sh", ["-n", join(dir, f)]);
      const text = readFileSync(join(dir, f), "utf8");
      expect(text).toContain("jp.kyoka.agent");
    }
    expect(readFileSync(join(dir, "install.sh"), "utf8")).toContain("launchctl bootstrap system");
    expect(readFileSync(join(dir, "build-pkg.sh"), "utf8")).toMatch(/pkgbuild --root .* --identifier jp\.kyoka\.agent/);
  });
});
