/** Index builders and parsers of the executed collector on captured/format fixtures (no I/O beyond reading them). */
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PathIndex } from "../../../agent/collectors/executed/package-index.js";
import { bundlesIn, DARWIN_SYSTEM_TREES, parseCodesign, parsePkgutilFiles, receiptPrefix } from "../../../agent/collectors/executed/parse-darwin.js";
import { withMergedUsr, isExecutableCandidate, LINUX_PACKAGE_TREES, parseDpkgDiversions, parseDpkgList, parseExeLink, parsePasswd, parseRpmQla, parseStatusUids, userFlatpakTrees } from "../../../agent/collectors/executed/parse-linux.js";
import { parseAuthenticodeJson, parseUninstallLocations, signerFromWinVerifyTrust, windowsSystemTrees } from "../../../agent/collectors/executed/parse-win32.js";
import { parseMountinfo } from "../../../agent/collectors/media/parse-linux.js";

const fx = (os: string, name: string) => readFileSync(new URL(`../../fixtures/${os}/${name}`, import.meta.url), "utf8");

describe("Linux package indexes", () => {
  it("a dpkg .list: the programs are in, data files and `/.` are out", () => {
    const paths = parseDpkgList(fx("linux", "executed/dpkg-less.list"));
    expect(paths).toEqual(expect.arrayContaining(["/usr/bin/less", "/usr/bin/lessecho", "/usr/bin/lesskey", "/usr/bin/lesspipe", "/usr/bin/lessfile"]));
    expect(paths).not.toContain("/.");
    expect(paths).not.toContain("/usr/share/man/man1/less.1.gz");
    expect(paths.every((p) => p.startsWith("/"))).toBe(true);
  });

  it("dpkg diversions: where each diverted file went", () => {
    const to = parseDpkgDiversions(fx("linux", "executed/dpkg-diversions"));
    expect(to.length).toBe(8);
    expect(to).toContain("/usr/share/bash-completion/completions/perf.wrapper");
    expect(parseDpkgDiversions("")).toEqual([]);
    expect(parseDpkgDiversions("/usr/bin/a\n/usr/bin/a.distrib\npkg\n/usr/bin/b\n")).toEqual(["/usr/bin/a.distrib"]);
  });

  it("rpm -qla: every path, no `(contains no files)`, png left out", () => {
    const paths = parseRpmQla(fx("linux", "executed/rpm-qla.txt"));
    expect(paths).toEqual(expect.arrayContaining(["/usr/bin/bash", "/usr/bin/zstd", "/usr/lib64/libzstd.so.1.5.5", "/opt/google/chrome/chrome"]));
    expect(paths.some((p) => p.includes("contains no files"))).toBe(false);
    expect(paths).not.toContain("/opt/google/chrome/product_logo_48.png");
    expect(parseRpmQla("")).toEqual([]);
  });

  it("the index: exact paths, snap/flatpak trees on whole folder names, never the root", () => {
    const index = new PathIndex();
    index.addPaths(parseDpkgList(fx("linux", "executed/dpkg-less.list")), "dpkg:less");
    index.addPaths(parseRpmQla(fx("linux", "executed/rpm-qla.txt")), "rpm");
    for (const t of [...LINUX_PACKAGE_TREES, ...userFlatpakTrees(["/home/taro/"])]) index.addTree(t.root, t.source);
    index.addTree("/", "nonsense");
    expect(index.lookup("/usr/bin/less")).toEqual({ kind: "package", source: "dpkg:less" });
    expect(index.lookup("/opt/google/chrome/chrome")).toEqual({ kind: "package", source: "rpm" });
    expect(index.lookup("/USR/BIN/LESS")).toBeUndefined(); // Linux paths are case-sensitive
    expect(index.lookup("/home/taro/Downloads/less")).toBeUndefined();
    expect(index.lookup("/tmp/x")).toBeUndefined();
    // every snap revision mounted under /snap (mountinfo as on Ubuntu) is covered
    const snapMounts = parseMountinfo(fx("linux", "executed/mountinfo-snap.txt")).filter((m) => m.fsType === "squashfs");
    expect(snapMounts.map((m) => m.mountPoint)).toEqual(["/snap/firefox/4336", "/snap/core22/1380"]);
    for (const m of snapMounts) expect(index.lookup(`${m.mountPoint}/usr/bin/x`)).toMatchObject({ kind: "tree", source: "snap", root: "/snap" });
    expect(index.lookup("/snapshot/tool")).toBeUndefined();
    expect(index.lookup("/var/lib/flatpak/app/org.gimp.GIMP/x86_64/stable/active/files/bin/gimp")).toMatchObject({ source: "flatpak" });
    expect(index.lookup("/home/taro/.local/share/flatpak/app/x/files/bin/y")).toMatchObject({ source: "flatpak", root: "/home/taro/.local/share/flatpak" });
    expect(index.lookup("/home/taro/.local/share/flatpaks/y")).toBeUndefined();
  });

  it("merged /usr: a path dpkg lists under /bin is indexed under /usr/bin too", () => {
    const links = new Map([["/bin", "/usr/bin"], ["/lib64", "/usr/lib64"]]);
    expect(withMergedUsr(["/bin/bash", "/bin", "/lib64/ld-linux-x86-64.so.2", "/usr/bin/less", "/binx/y"], links).sort()).toEqual(
      ["/bin", "/bin/bash", "/binx/y", "/lib64/ld-linux-x86-64.so.2", "/usr/bin", "/usr/bin/bash", "/usr/bin/less", "/usr/lib64/ld-linux-x86-64.so.2"]);
    expect(withMergedUsr(["/bin/bash"], new Map())).toEqual(["/bin/bash"]);
  });

  it("data-file suffixes only: an extension-less or .so/.AppImage program stays a candidate", () => {
    expect(isExecutableCandidate("/usr/bin/python3.11")).toBe(true);
    expect(isExecutableCandidate("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")).toBe(true);
    expect(isExecutableCandidate("/opt/App.AppImage")).toBe(true);
    expect(isExecutableCandidate("/usr/share/doc/x/changelog.gz")).toBe(false);
  });

  it("/proc/<pid>/status uids, /etc/passwd names, the exe link", () => {
    expect(parseStatusUids(fx("linux", "executed/proc-status.txt"))).toEqual({ uid: 1000, euid: 0 });
    expect(parseStatusUids("Name: x\n")).toBeUndefined();
    const users = parsePasswd(fx("linux", "executed/passwd.txt"));
    expect(users.get(0)).toBe("root");
    expect(users.get(1000)).toBe("taro");
    expect(users.size).toBe(3);
    expect(parseExeLink("/tmp/a b (deleted)")).toEqual({ path: "/tmp/a b", deleted: true });
    expect(parseExeLink("/usr/bin/x")).toEqual({ path: "/usr/bin/x", deleted: false });
  });
});

describe("Windows index and signer", () => {
  it("install locations from the Uninstall entries (reg query /s)", () => {
    const hklm = parseUninstallLocations(fx("win32", "software/reg-query-hklm.txt"));
    expect(hklm).toContain("C:\\Program Files\\7-Zip");
    const hku = parseUninstallLocations(fx("win32", "software/reg-query-hku.txt"));
    expect(hku).toContain("C:\\Users\\taro\\AppData\\Roaming\\Zoom\\bin");
    expect(parseUninstallLocations(fx("win32", "software/reg-query-garbled.txt")).every((l) => /^[A-Za-z]:\\|^\\\\/.test(l))).toBe(true);
    // a bare drive or an empty value would cover far too much: refused
    const text = "HKEY_LOCAL_MACHINE\\Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\X\n    InstallLocation    REG_SZ    C:\\\n\nHKEY_LOCAL_MACHINE\\Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\Y\n    InstallLocation    REG_SZ    \"D:\\Tools\\Y\\\"\n";
    expect(parseUninstallLocations(text)).toEqual(["D:\\Tools\\Y"]);
  });

  it("the index: Windows and Program Files trees (case-insensitive), user-writable system folders excluded", () => {
    const index = new PathIndex({ caseInsensitive: true, separator: "\\" });
    const { trees, excluded } = windowsSystemTrees({ SystemRoot: "C:\\Windows", ProgramFiles: "C:\\Program Files", "ProgramFiles(x86)": "C:\\Program Files (x86)", ProgramW6432: "C:\\Program Files" });
    expect(trees.map((t) => t.root)).toEqual(["C:\\Windows", "C:\\Program Files", "C:\\Program Files (x86)"]);
    for (const t of trees) index.addTree(t.root, t.source);
    for (const e of excluded) index.addExcluded(e);
    for (const l of parseUninstallLocations(fx("win32", "software/reg-query-hku.txt"))) index.addTree(l, "uninstall");
    expect(index.lookup("c:\\windows\\system32\\cmd.exe")).toMatchObject({ kind: "tree", source: "windows" });
    expect(index.lookup("C:/Program Files/7-Zip/7z.exe")).toMatchObject({ source: "program-files" });
    expect(index.lookup("C:\\Windows\\Temp\\evil.exe")).toBeUndefined();
    expect(index.lookup("C:\\Users\\taro\\AppData\\Roaming\\Zoom\\bin\\Zoom.exe")).toMatchObject({ source: "uninstall" });
    expect(index.lookup("C:\\Users\\taro\\Downloads\\putty.exe")).toBeUndefined();
    expect(index.lookup("C:\\Program Files Evil\\x.exe")).toBeUndefined();
  });

  it("Get-AuthenticodeSignature JSON: signer only for a valid or untrusted-root signature", () => {
    expect(parseAuthenticodeJson(fx("win32", "executed/authenticode-valid.json"))).toEqual([{
      path: "C:\\Users\\taro\\Downloads\\putty.exe", status: "valid", signer: "Simon Tatham",
      subject: "CN=Simon Tatham, O=Simon Tatham, S=Cambridgeshire, C=GB",
      issuer: "CN=Sectigo Public Code Signing CA R36, O=Sectigo Limited, C=GB",
      thumbprint: "3A8C1E1F7D3C2B6E9E4A0F8D1B2C3D4E5F607182",
    }]);
    const many = parseAuthenticodeJson(fx("win32", "executed/authenticode-many.json"));
    expect(many.map((r) => [r.status, r.signer])).toEqual([["not_signed", null], ["hash_mismatch", null], ["not_trusted", "Example, Inc."]]);
    expect(parseAuthenticodeJson("")).toEqual([]);
    expect(parseAuthenticodeJson("{not json")).toEqual([]);
  });

  it("WinVerifyTrust result codes", () => {
    expect(signerFromWinVerifyTrust(0, { subject: "CN=Microsoft Windows, O=Microsoft Corporation" })).toMatchObject({ status: "valid", signer: "Microsoft Windows" });
    expect(signerFromWinVerifyTrust(0x800b0100)).toEqual({ status: "not_signed", signer: null });
    expect(signerFromWinVerifyTrust(-2146762496)).toEqual({ status: "not_signed", signer: null }); // the same HRESULT as a signed int
    expect(signerFromWinVerifyTrust(0x80096010, { subject: "CN=X" })).toMatchObject({ status: "hash_mismatch", signer: null });
    expect(signerFromWinVerifyTrust(0x800b0109, { subject: "CN=Y" })).toMatchObject({ status: "not_trusted", signer: "Y" });
    expect(signerFromWinVerifyTrust(0x1234).status).toBe("unknown_error");
  });
});

describe("macOS receipts and signatures", () => {
  it("a receipt's files under its volume + location; the bundles it installs", () => {
    const info = fx("darwin", "software/pkgutil-pkg-info.txt").split(/(?=^package-id:)/m);
    const zoom = info.find((r) => r.includes("us.zoom.pkg.videomeeting"))!;
    expect(receiptPrefix(zoom)).toBe("/Applications");
    expect(receiptPrefix(info[0]!)).toBe("/");
    expect(receiptPrefix("package-id: x\n")).toBeUndefined();
    const paths = parsePkgutilFiles(fx("darwin", "executed/pkgutil-files.txt"), "/Applications");
    expect(paths).toContain("/Applications/zoom.us.app/Contents/MacOS/zoom.us");
    expect(paths).toHaveLength(6);
    expect(parsePkgutilFiles("usr/local/bin/x\n", "/")).toEqual(["/usr/local/bin/x"]);
    expect(bundlesIn(paths)).toEqual(["/Applications/zoom.us.app"]);
    const index = new PathIndex({ caseInsensitive: true });
    for (const t of DARWIN_SYSTEM_TREES) index.addTree(t.root, t.source);
    for (const b of bundlesIn(paths)) index.addTree(b, "pkgutil:us.zoom.pkg.videomeeting");
    expect(index.lookup("/Applications/zoom.us.app/Contents/Frameworks/cptHost.app/Contents/MacOS/cptHost")).toMatchObject({ source: "pkgutil:us.zoom.pkg.videomeeting" });
    expect(index.lookup("/bin/ls")).toMatchObject({ source: "macos" });
    expect(index.lookup("/usr/local/bin/tool")).toBeUndefined();
    expect(index.lookup("/Users/taro/Downloads/Firefox.app/Contents/MacOS/firefox")).toBeUndefined();
  });

  it("codesign -dv: platform, Developer ID, ad-hoc, unsigned", () => {
    expect(parseCodesign(fx("darwin", "executed/codesign-platform.txt"))).toEqual({
      signed: true, adhoc: false, identifier: "com.apple.ls", platform: true, signer: "Software Signing",
      authorities: ["Software Signing", "Apple Code Signing Certification Authority", "Apple Root CA"],
    });
    expect(parseCodesign(fx("darwin", "executed/codesign-developer-id.txt"))).toMatchObject({
      signed: true, adhoc: false, platform: false, teamId: "43AQ936H96", signer: "Developer ID Application: Mozilla Corporation (43AQ936H96)",
    });
    expect(parseCodesign(fx("darwin", "executed/codesign-adhoc.txt"))).toMatchObject({ signed: true, adhoc: true, signer: null, authorities: [] });
    expect(parseCodesign(fx("darwin", "executed/codesign-unsigned.txt"))).toEqual({ signed: false, adhoc: false, authorities: [], platform: false, signer: null });
    expect(parseCodesign("garbage\n")).toMatchObject({ signed: false, signer: null });
  });
});

describe("package index, packed (the snapshot's cache)", () => {
  it("round-trips paths, trees and exclusions (case-insensitive Windows form too); bytes of another shape are refused", () => {
    const win = new PathIndex({ caseInsensitive: true, separator: "\\" });
    win.addPaths(["C:\\Tools\\A.exe"], "uninstall");
    win.addTree("C:\\Windows", "system");
    win.addExcluded("C:\\Windows\\Temp");
    const back = PathIndex.fromPacked(win.toPacked("w1"))!;
    expect(PathIndex.packedMeta(win.toPacked("w1"))).toBe("w1");
    expect(back.lookup("c:/tools/a.exe")).toEqual({ kind: "package", source: "uninstall" });
    expect(back.lookup("C:\\WINDOWS\\System32\\cmd.exe")).toEqual({ kind: "tree", source: "system", root: "C:\\Windows" });
    expect(back.lookup("C:\\Windows\\Temp\\x.exe")).toBeUndefined();
    expect(back.size).toBe(1);

    const linux = new PathIndex();
    linux.addPaths(["/usr/bin/sleep", "/usr/bin/true"], "dpkg:coreutils");
    linux.addTree("/snap", "snap");
    const l = PathIndex.fromPacked(linux.toPacked())!;
    expect(l.lookup("/usr/bin/true")).toEqual({ kind: "package", source: "dpkg:coreutils" });
    expect(l.lookup("/snap/x/1/bin/y")).toMatchObject({ kind: "tree", source: "snap" });
    expect(l.lookup("/home/taro/tool")).toBeUndefined();

    const ok = linux.toPacked();
    for (const bad of [Buffer.alloc(0), Buffer.from("garbage\n"), Buffer.from('{"v":1}\n'), ok.subarray(0, ok.length - 3)]) {
      expect(PathIndex.fromPacked(bad)).toBeUndefined();
    }
  });

  it("finds every path of a large index by binary search in the bytes, and no other (prefixes, neighbours, non-ASCII, a tab in a name)", () => {
    const rnd = fc.sample(fc.array(fc.stringMatching(/^\/[a-zé日+._-]{1,12}(\/[a-z0-9é日+._ -]{1,10}){0,4}$/), { minLength: 2000, maxLength: 2000 }), { numRuns: 1, seed: 7 })[0]!;
    const paths = [...new Set([...rnd, "/usr/bin/a", "/usr/bin/a/b", "/usr/bin/ab", "/usr/bin/a-", "/opt/odd\tname", "/opt/\u{1F600}/x"])];
    const index = new PathIndex();
    paths.forEach((p, i) => index.addPaths([p], `src${i % 7}`));
    const packed = PathIndex.fromPacked(index.toPacked("m"))!;
    expect(packed.size).toBe(paths.length);
    paths.forEach((p, i) => expect(packed.lookup(p), p).toEqual({ kind: "package", source: `src${i % 7}` }));
    for (const miss of ["/usr/bin", "/usr/bin/", "/usr/bin/a/", "/usr/bin/aa", "/", "/zzzz", "/usr/bin/a\u0000", ...paths.slice(0, 300).map((p) => p + "x")]) {
      if (!paths.includes(miss)) expect(packed.lookup(miss), miss).toBeUndefined();
    }
  });
});
