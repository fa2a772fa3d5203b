import { describe, expect, it } from "vitest";
import {
  parseAppxJson, parseDpkgStatus, parseFlatpakList, parseInfoPlist, parsePkgutilInfo, parsePkgutilPkgs,
  parsePlistXml, parseRegQuery, parseRpmQa, parseSnapList, parseUninstallJson, publisherFromDn,
} from "../../../agent/collectors/software/index.js";
import { fixture } from "./helpers.js";

const byName = <T extends { name: string }>(items: T[], name: string): T[] => items.filter((i) => i.name === name);

describe("dpkg status", () => {
  it("reads real entries captured from this machine", () => {
    const r = parseDpkgStatus(fixture("linux", "dpkg-status.real.txt"));
    expect(r.errors).toEqual([]);
    expect(r.items.map((i) => i.name).sort()).toEqual(["base-files", "bash", "ca-certificates", "libc6", "openssl", "tzdata"]);
    const openssl = r.items.find((i) => i.name === "openssl")!;
    expect(openssl).toMatchObject({ id: "dpkg:openssl:amd64", source: "dpkg", arch: "amd64", version: expect.stringMatching(/^\d/) });
    expect(openssl.publisher).toContain("OpenSSL");
    expect(r.items.find((i) => i.name === "tzdata")!.arch).toBe("all");
    expect(r.items.every((i) => i.state === undefined)).toBe(true);
  });

  it("reports installed and half-way states sensibly, not removed ones", () => {
    const r = parseDpkgStatus(fixture("linux", "dpkg-status.states.txt"));
    expect(r.errors).toEqual([]);
    const names = r.items.map((i) => i.name);
    expect(names).not.toContain("kyoka-fixture-removed");
    expect(names).not.toContain("kyoka-fixture-purged");
    expect(byName(r.items, "kyoka-fixture-installed")[0]).toMatchObject({ version: "1:2.0~rc1-3", arch: "all" });
    expect(byName(r.items, "kyoka-fixture-installed")[0]!.state).toBeUndefined();
    expect(byName(r.items, "kyoka-fixture-triggers")[0]!.state).toBeUndefined();
    expect(byName(r.items, "kyoka-fixture-half")[0]!.state).toBe("half-installed");
    expect(byName(r.items, "kyoka-fixture-unpacked")[0]!.state).toBe("unpacked");
    // multi-arch: one row per architecture
    expect(byName(r.items, "libfoo1").map((i) => i.id).sort()).toEqual(["dpkg:libfoo1:amd64", "dpkg:libfoo1:i386"]);
  });

  it("skips bad stanzas with a clear error and reads the rest", () => {
    const r = parseDpkgStatus(fixture("linux", "dpkg-status.garbled.txt"));
    expect(r.items.map((i) => i.name)).toEqual(["good-one", "good-two"]);
    expect(r.items[1]).toMatchObject({ version: "2:0.1+git20240101-0.1", arch: "arm64" });
    const messages = r.errors.map((e) => e.message).join("\n");
    expect(messages).toMatch(/bad-status.*malformed Status/);
    expect(messages).toMatch(/cannot read "this line is not a field"/);
    expect(messages).toMatch(/without a Package field/);
    expect(messages).toMatch(/no-version.*no Version/);
    expect(r.errors.every((e) => typeof e.line === "number" && e.line > 0)).toBe(true);
  });

  it("handles an empty file and a file cut mid-stanza", () => {
    expect(parseDpkgStatus(fixture("linux", "dpkg-status.empty.txt"))).toEqual({ items: [], errors: [] });
    const r = parseDpkgStatus(fixture("linux", "dpkg-status.partial.txt"));
    expect(r.items.length).toBeGreaterThanOrEqual(1);
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]!.message).toMatch(/no Version/);
  });
});

describe("rpm -qa", () => {
  it("reads name, epoch:version-release, vendor and arch", () => {
    const r = parseRpmQa(fixture("linux", "rpm-qa.txt"));
    expect(r.errors).toEqual([]);
    expect(byName(r.items, "bash")[0]).toMatchObject({ id: "rpm:bash.x86_64", version: "5.1.8-9.el9", publisher: "Red Hat, Inc.", arch: "x86_64", source: "rpm" });
    expect(byName(r.items, "openssl")[0]!.version).toBe("1:3.0.7-27.el9");
    // two kernels installed side by side: two distinct rows
    const kernels = byName(r.items, "kernel");
    expect(kernels).toHaveLength(2);
    expect(new Set(kernels.map((k) => k.id)).size).toBe(2);
    // multilib: one row per arch
    expect(byName(r.items, "glibc").map((i) => i.arch).sort()).toEqual(["i686", "x86_64"]);
    const key = byName(r.items, "gpg-pubkey")[0]!;
    expect(key.publisher).toBeUndefined();
    expect(key.arch).toBeUndefined();
  });
  it("reports malformed lines and keeps the good ones", () => {
    const r = parseRpmQa(fixture("linux", "rpm-qa.garbled.txt"));
    expect(r.items.map((i) => i.name)).toEqual(["bash", "vim-minimal"]);
    expect(r.items[1]!.version).toBe("2:8.2.2637-20.el9_1");
    expect(r.errors.map((e) => e.line)).toEqual([2, 3, 4]);
  });
  it("empty output is an empty inventory", () => {
    expect(parseRpmQa("")).toEqual({ items: [], errors: [] });
  });
});

describe("snap list", () => {
  it("reads the columns and strips the publisher's verification mark", () => {
    const r = parseSnapList(fixture("linux", "snap-list.txt"));
    expect(r.errors).toEqual([]);
    expect(r.items).toHaveLength(7);
    expect(byName(r.items, "firefox")[0]).toMatchObject({ id: "snap:firefox", version: "124.0.1-1", publisher: "mozilla", source: "snap" });
    expect(byName(r.items, "transmission")[0]!.publisher).toBe("snapcrafters");
    expect(byName(r.items, "my-local-tool")[0]!.publisher).toBeUndefined();
    const u = parseSnapList(fixture("linux", "snap-list.unicode.txt"));
    expect(u.errors).toEqual([]);
    expect(u.items.map((i) => i.publisher)).toEqual(["snapcrafters", "blenderfoundation", "canonical", "snapcrafters"]);
  });
  it("empty and garbled output", () => {
    expect(parseSnapList(fixture("linux", "snap-list.empty.txt"))).toEqual({ items: [], errors: [] });
    const r = parseSnapList(fixture("linux", "snap-list.garbled.txt"));
    expect(r.items.map((i) => i.name)).toEqual(["hello"]);
    expect(r.errors).toHaveLength(3);
  });
});

describe("flatpak list", () => {
  it("reads tab-separated columns; runtimes with two branches stay two rows", () => {
    const r = parseFlatpakList(fixture("linux", "flatpak-list.txt"));
    expect(r.errors).toEqual([]);
    expect(r.items).toHaveLength(6);
    expect(byName(r.items, "org.mozilla.firefox")[0]).toMatchObject({ version: "124.0.1", scope: "system", origin: "flathub", source: "flatpak" });
    expect(byName(r.items, "com.github.tchx84.Flatseal")[0]!.scope).toBe("user");
    expect(new Set(byName(r.items, "org.freedesktop.Platform").map((i) => i.id)).size).toBe(2);
    expect(byName(r.items, "org.gtk.Gtk3theme.Adwaita-dark")[0]!.version).toBe("");
  });
  it("empty and garbled output", () => {
    expect(parseFlatpakList(fixture("linux", "flatpak-list.empty.txt"))).toEqual({ items: [], errors: [] });
    const r = parseFlatpakList(fixture("linux", "flatpak-list.garbled.txt"));
    expect(r.items.map((i) => i.name)).toEqual(["org.mozilla.firefox"]);
    expect(r.errors.map((e) => e.line)).toEqual([2, 3, 4]);
  });
});

describe("Windows registry (reg query)", () => {
  it("reads HKLM 64-bit entries like Programs and Features", () => {
    const r = parseRegQuery(fixture("win32", "reg-query-hklm.txt"));
    expect(r.errors).toEqual([]);
    const names = r.items.map((i) => i.name).sort();
    expect(names).toEqual(["7-Zip 23.01 (x64)", "Mozilla Firefox (x64 ja)", "Office 16 Click-to-Run Extensibility Component", "秀丸エディタ"]);
    expect(byName(r.items, "7-Zip 23.01 (x64)")[0]).toMatchObject({
      id: "registry:machine:64-bit:7-Zip", version: "23.01", publisher: "Igor Pavlov", source: "registry", scope: "machine", arch: "64-bit",
    });
    expect(byName(r.items, "秀丸エディタ")[0]!.publisher).toBe("有限会社サイトー企画");
  });
  it("reads the 32-bit view (WOW6432Node) and falls back to VersionMajor.VersionMinor", () => {
    const r = parseRegQuery(fixture("win32", "reg-query-wow6432.txt"));
    expect(r.errors).toEqual([]);
    expect(r.items.every((i) => i.arch === "32-bit" && i.scope === "machine")).toBe(true);
    expect(byName(r.items, "Legacy Tool")[0]!.version).toBe("2.5");
    expect(byName(r.items, "Adobe Acrobat Reader DC - Japanese")[0]!.version).toBe("24.001.20604");
  });
  it("reads per-user installs under HKU with the user's SID as scope", () => {
    const r = parseRegQuery(fixture("win32", "reg-query-hku.txt"));
    expect(r.errors).toEqual([]);
    const sid = "S-1-5-21-3623811015-3361044348-30300820-1013";
    expect(r.items.map((i) => i.scope)).toEqual([`user:${sid}`, `user:${sid}`]);
    expect(byName(r.items, "qBittorrent")[0]).toMatchObject({ version: "4.6.4", id: `registry:user:${sid}:64-bit:qBittorrent` });
  });
  it("garbled and empty output", () => {
    expect(parseRegQuery(fixture("win32", "reg-query-empty.txt"))).toEqual({ items: [], errors: [] });
    const r = parseRegQuery(fixture("win32", "reg-query-garbled.txt"));
    expect(r.items.map((i) => i.name)).toEqual(["Good App"]);
    expect(r.errors).toHaveLength(3);
    expect(r.errors[0]!.message).toMatch(/before any key/);
  });
});

describe("Windows PowerShell JSON", () => {
  it("Get-ItemProperty | ConvertTo-Json", () => {
    const r = parseUninstallJson(fixture("win32", "uninstall.json"));
    expect(r.items.map((i) => [i.name, i.scope, i.arch])).toEqual([
      ["7-Zip 23.01 (x64)", "machine", "64-bit"],
      ["Adobe Acrobat Reader DC - Japanese", "machine", "32-bit"],
      ["Zoom Workplace", "user:S-1-5-21-3623811015-3361044348-30300820-1013", "64-bit"],
    ]);
    expect(r.errors).toHaveLength(2);
    expect(parseUninstallJson("")).toEqual({ items: [], errors: [] });
    expect(parseUninstallJson("{not json").errors[0]!.message).toMatch(/not JSON/);
  });
  it("Get-AppxPackage | ConvertTo-Json: one row per user, frameworks and resource packages hidden", () => {
    const r = parseAppxJson(fixture("win32", "appx.json"));
    expect(r.errors).toEqual([]);
    const calc = byName(r.items, "Microsoft.WindowsCalculator");
    expect(calc).toHaveLength(2);
    expect(calc[0]).toMatchObject({ version: "11.2401.0.0", publisher: "Microsoft Corporation", arch: "x64", source: "appx" });
    expect(calc.map((c) => c.scope)).toEqual(["user:S-1-5-21-3623811015-3361044348-30300820-1013", "user:S-1-5-21-3623811015-3361044348-30300820-1014"]);
    expect(byName(r.items, "Microsoft.VCLibs.140.00")).toEqual([]);
    expect(byName(r.items, "Microsoft.LanguageExperiencePackja-JP")[0]!.arch).toBe("neutral");
    const single = parseAppxJson(fixture("win32", "appx.single.json"));
    expect(single.items).toHaveLength(1);
    expect(single.items[0]).toMatchObject({ name: "Microsoft.WindowsTerminal", arch: "x64" });
    const bad = parseAppxJson(fixture("win32", "appx.garbled.json"));
    expect(bad.items).toEqual([]);
    expect(bad.errors[0]!.message).toMatch(/not JSON/);
  });
  it("publisher from a certificate subject", () => {
    expect(publisherFromDn('CN="Contoso, Ltd.", O=Contoso')).toBe("Contoso, Ltd.");
    expect(publisherFromDn("O=NoCN")).toBe("O=NoCN");
  });
});

describe("macOS", () => {
  it("Info.plist of app bundles", () => {
    const safari = parseInfoPlist(fixture("darwin", "Safari.Info.plist"), "/Applications/Safari.app");
    expect(safari.errors).toEqual([]);
    expect(safari.items).toEqual([{ id: "app-bundle:/Applications/Safari.app", name: "Safari", version: "17.4.1", source: "app-bundle", scope: "machine" }]);
    const tr = parseInfoPlist(fixture("darwin", "Transmission.Info.plist"), "/Users/taro/Applications/Transmission.app", "user:taro");
    expect(tr.items[0]).toMatchObject({ name: "Transmission", version: "4.0.5", scope: "user:taro" });
    const min = parseInfoPlist(fixture("darwin", "Minimal.Info.plist"), "/Applications/Tool.app");
    expect(min.items[0]).toMatchObject({ name: "Tool", version: "42" });
  });
  it("garbled and empty Info.plist give an error, not a row", () => {
    for (const f of ["Garbled.Info.plist", "Empty.Info.plist"]) {
      const r = parseInfoPlist(fixture("darwin", f), "/Applications/X.app");
      expect(r.items).toEqual([]);
      expect(r.errors[0]!.message).toMatch(/Info\.plist of \/Applications\/X\.app/);
    }
  });
  it("the plist reader reads every value type", () => {
    const v = parsePlistXml(fixture("darwin", "Safari.Info.plist")) as Record<string, unknown>;
    expect(v.LSRequiresNativeExecution).toBe(true);
    expect(v.DTPlatformVersion).toBe(14);
    expect(v.Ratio).toBe(1.5);
    expect(v.CFBundleSupportedPlatforms).toEqual(["MacOSX"]);
    expect((v.UTExportedTypeDeclarations as Record<string, unknown>[])[0]!.UTTypeDescription).toBe("Safari bookmarks & history");
  });
  it("pkgutil --pkgs and --pkg-info", () => {
    expect(parsePkgutilPkgs(fixture("darwin", "pkgutil-pkgs.txt")).ids).toHaveLength(5);
    expect(parsePkgutilPkgs(fixture("darwin", "pkgutil-pkgs.empty.txt"))).toEqual({ ids: [], errors: [] });
    const g = parsePkgutilPkgs(fixture("darwin", "pkgutil-pkgs.garbled.txt"));
    expect(g.ids).toEqual(["com.apple.pkg.Core"]);
    expect(g.errors).toHaveLength(1);
    const r = parsePkgutilInfo(fixture("darwin", "pkgutil-pkg-info.txt"));
    expect(r.errors).toEqual([]);
    expect(r.items.map((i) => [i.id, i.version])).toEqual([
      ["pkgutil:com.apple.pkg.CLTools_Executables", "15.3.0.0.1.1708646388"],
      ["pkgutil:com.microsoft.package.Microsoft_Word.app", "16.83.24031120"],
      ["pkgutil:us.zoom.pkg.videomeeting", "6.0.2.33403"],
    ]);
    const bad = parsePkgutilInfo(fixture("darwin", "pkgutil-pkg-info.garbled.txt"));
    expect(bad.items.map((i) => i.name)).toEqual(["com.example.ok"]);
    expect(bad.errors).toHaveLength(3);
  });
});
