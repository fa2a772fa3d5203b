/**
 * macOS in passing (issue 16): the SSID is reported unknown, never wrong, when macOS 14.4+/15
 * redacts it; Homebrew's Cellar/Caskroom are read as folders (brew refuses to run as root).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { darwinWifi } from "../../agent/collectors/network/parse-darwin.js";
import { homebrewItems } from "../../agent/collectors/software/parse-darwin.js";

const fx = (name: string): string => readFileSync(join(fileURLToPath(new URL("../fixtures/darwin/network/", import.meta.url)), name), "utf8");

describe("macOS Wi-Fi", () => {
  it("a real SSID from ipconfig getsummary", () => {
    expect(darwinWifi("en0", fx("ipconfig-getsummary-en0.txt"), "", "")).toEqual({ iface: "en0", ssid: "Kyoka-Office", bssid: "3c:37:86:15:ad:f9" });
  });

  it("14.4+/15: <redacted> → unavailable (null), even if networksetup or airport would say something", () => {
    expect(darwinWifi("en0", fx("ipconfig-getsummary-en0-redacted.txt"), fx("networksetup-getairportnetwork.txt"), fx("airport-I.txt"))).toEqual({ iface: "en0", ssid: null, bssid: null, unavailable: true });
  });

  it("15.x networksetup says 'not associated' on a Wi-Fi interface that is up → unavailable, not 'no Wi-Fi'", () => {
    const summaryNoSsid = fx("ipconfig-getsummary-en0.txt").replace(/^\s*SSID : .*\n/m, "").replace(/^\s*BSSID : .*\n/m, "");
    expect(darwinWifi("en0", summaryNoSsid, fx("networksetup-getairportnetwork-none.txt"), "")).toMatchObject({ ssid: null, unavailable: true });
  });

  it("older macOS: networksetup / airport still give it; a wired interface gives nothing", () => {
    expect(darwinWifi("en0", "", fx("networksetup-getairportnetwork.txt"), "")?.ssid).toBe("Kyoka-Office");
    expect(darwinWifi("en0", "", "", fx("airport-I.txt"))?.ssid).toBe("SnazzleDazzle");
    expect(darwinWifi("en1", "", fx("networksetup-getairportnetwork-none.txt"), fx("airport-I-off.txt"))).toBeUndefined();
  });
});

describe("Homebrew without brew", () => {
  it("the newest kept version of each formula (revisions _N count), casks apart", () => {
    expect(homebrewItems({ git: ["2.44.0", "2.45.1"], openssl_3: ["3.3.1", "3.3.1_1"], ".DS_Store": [], empty: [] }, "formula")).toEqual([
      { id: "homebrew:git", name: "git", version: "2.45.1", source: "homebrew", scope: "machine" },
      { id: "homebrew:openssl_3", name: "openssl_3", version: "3.3.1_1", source: "homebrew", scope: "machine" },
    ]);
    expect(homebrewItems({ transmission: ["4.0.6"] }, "cask")).toEqual([{ id: "homebrew:cask:transmission", name: "transmission", version: "4.0.6", source: "homebrew", scope: "machine" }]);
  });
});
