/**
 * Pure P2P matching on captured-format fixtures (Windows, macOS, Linux): signatures, parsers,
 * name/path/hash/content identification, installed globs, ports — and no false positives on a
 * busy developer PC.
 */
import { mkdtemp, rm, stat, utimes, writeFile } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExecutableHasher, hashAndScan, isHashedExecutable } from "../../../agent/collectors/p2p/hash.js";
import { matchFile, matchInstalled, matchProcess, portProtocols, type ProcessInfo } from "../../../agent/collectors/p2p/match.js";
import { parseBrewList, parseDarwinPs } from "../../../agent/collectors/p2p/parse-darwin.js";
import { parseWin32Processes, splitWindowsCommandLine } from "../../../agent/collectors/p2p/parse-win32.js";
import { parseDpkgStatus } from "../../../agent/collectors/software/parse-linux.js";
import { parseInfoPlist } from "../../../agent/collectors/software/parse-darwin.js";
import { parseRegQuery } from "../../../agent/collectors/software/parse-win32.js";
import { isListening, parseProcNetSockets } from "../../../agent/os/linux/sockets.js";
import { loadSignatures, parseSignatures, SignatureError } from "../../../agent/collectors/p2p/signatures.js";
import { parseCmdline, parseProcStat } from "../../../agent/os/linux/procfs.js";

const fixtures = join(import.meta.dirname, "../../fixtures");
const fx = (os: string, name: string) => readFileSync(join(fixtures, os, "p2p", name), "utf8");
const sigs = loadSignatures();

/**
 * macOS applications as the software collector reads them (one Info.plist per bundle), made from
 * the names and versions in a system_profiler-format fixture.
 */
function appsAsBundles(json: string) {
  const apps = (JSON.parse(json) as { SPApplicationsDataType: { _name: string; version?: string }[] }).SPApplicationsDataType;
  const esc = (t: string) => t.replace(/&/g, "&amp;").replace(/</g, "&lt;");
  return apps.flatMap((a) => parseInfoPlist(
    `<?xml version="1.0" encoding="UTF-8"?>\n<plist version="1.0"><dict><key>CFBundleName</key><string>${esc(a._name)}</string>` +
    `<key>CFBundleShortVersionString</key><string>${esc(a.version ?? "")}</string></dict></plist>`,
    `/Applications/${a._name}.app`).items);
}

describe("signatures", () => {
  it("loads every family the control requires", () => {
    const families = sigs.families.map((f) => f.family);
    for (const want of ["Winny", "Share", "Perfect Dark", "µTorrent", "BitTorrent", "BitComet", "qBittorrent", "Transmission",
      "Deluge", "Vuze/Azureus", "rTorrent/libtorrent", "aria2", "KTorrent", "eMule/aMule", "LimeWire/FrostWire", "Cabos", "Shareaza"]) {
      expect(families).toContain(want);
    }
    expect(sigs.markers.some((m) => m.bytes.toString("latin1") === "\x13BitTorrent protocol")).toBe(true);
  });

  it("refuses a malformed file, naming the field", () => {
    expect(() => parseSignatures("version: 1\nprotocols: {}\nfamilies: [{id: x, family: X, protocol: nope}]")).toThrow(SignatureError);
    expect(() => parseSignatures("version: 1\nprotocols: {bt: {title: BT, ports: [70000]}}\nfamilies: [{id: x, family: X, protocol: bt}]")).toThrow(/ports/);
    expect(() => parseSignatures("version: 1\nprotocols: {bt: {title: BT}}\nfamilies: [{id: x, family: X, protocol: bt, cmdline: ['(']}]")).toThrow(/regular expression/);
  });

  it("maps well-known ports to protocols and families", () => {
    expect(portProtocols(sigs, 6885, "tcp").map((p) => p.protocol)).toEqual(["bittorrent"]);
    expect(portProtocols(sigs, 51413, "tcp")[0]!.families.map((f) => f.family)).toEqual(["Transmission"]);
    expect(portProtocols(sigs, 4672, "udp")[0]!.protocol).toBe("ed2k");
    expect(portProtocols(sigs, 4672, "tcp")).toEqual([]);
    expect(portProtocols(sigs, 6346, "tcp")[0]!.protocol).toBe("gnutella");
    expect(portProtocols(sigs, 443, "tcp")).toEqual([]);
  });
});

describe("procfs parsers", () => {
  it("parses stat with spaces and parentheses in the name", () => {
    const s = parseProcStat("4242 (Web Content (x)) S 1 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 123456 1000 10 184467 1 1 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0");
    expect(s).toMatchObject({ pid: 4242, name: "Web Content (x)", state: "S", ppid: 1, startTime: 123456 });
    expect(parseProcStat("garbage")).toBeUndefined();
  });
  it("splits cmdline on NUL", () => {
    expect(parseCmdline(Buffer.from("aria2c\0--enable-dht=true\0x.torrent\0"))).toEqual(["aria2c", "--enable-dht=true", "x.torrent"]);
    expect(parseCmdline(Buffer.alloc(0))).toEqual([]);
  });
});

describe("Windows", () => {
  it("parses Win32_Process JSON (quoted paths, nulls, one object)", () => {
    const procs = parseWin32Processes(fx("win32", "processes.json"));
    expect(procs).toHaveLength(8);
    expect(procs.find((p) => p.pid === 7016)).toMatchObject({ name: "uTorrent.exe", exe: "C:\\Users\\tanaka\\AppData\\Roaming\\uTorrent\\uTorrent.exe",
      cmdline: ["C:\\Users\\tanaka\\AppData\\Roaming\\uTorrent\\uTorrent.exe", "/MINIMIZED"] });
    expect(parseWin32Processes('{"ProcessId":1,"Name":"a.exe","ExecutablePath":null,"CommandLine":null}')).toHaveLength(1);
    expect(parseWin32Processes("")).toEqual([]);
    expect(splitWindowsCommandLine('"C:\\a b\\c.exe" -x "y z"')).toEqual(["C:\\a b\\c.exe", "-x", "y z"]);
  });

  it("detects Winny, Share and µTorrent processes", () => {
    const found = parseWin32Processes(fx("win32", "processes.json")).map((p) => matchProcess(p, "win32", sigs)).filter((f) => f);
    expect(found.map((f) => [f!.family, f!.pid, f!.confidence])).toEqual([
      ["Winny", 6020, "high"], ["Share", 6344, "high"], ["µTorrent", 7016, "high"],
    ]);
    expect(found[0]!.path).toBe("C:\\Users\\tanaka\\Desktop\\winny\\Winny.exe");
  });

  it("detects installed µTorrent, BitComet, qBittorrent by DisplayName (the software collector's registry rows)", () => {
    const items = parseRegQuery(fx("win32", "reg-query-uninstall.txt")).items;
    expect(items).toHaveLength(5);
    expect(matchInstalled(items, sigs).map((f) => f.family)).toEqual(["µTorrent", "BitComet", "qBittorrent"]);
  });

  it("finds nothing on a busy developer PC", () => {
    const procs = parseWin32Processes(fx("win32", "developer-processes.json"));
    expect(procs.length).toBeGreaterThan(20);
    expect(procs.map((p) => matchProcess(p, "win32", sigs)).filter((f) => f)).toEqual([]);
    const installed = parseRegQuery(fx("win32", "developer-reg-query-uninstall.txt")).items;
    expect(installed.length).toBeGreaterThan(15);
    expect(matchInstalled(installed, sigs)).toEqual([]);
  });
});

describe("macOS", () => {
  it("parses ps with spaces in the executable path", () => {
    const procs = parseDarwinPs(fx("darwin", "ps-list.txt"), fx("darwin", "ps-args.txt"));
    expect(procs.find((p) => p.pid === 910)).toMatchObject({
      name: "uTorrent Web", uid: 501, exe: "/Applications/uTorrent Web.app/Contents/MacOS/uTorrent Web",
      cmdline: ["/Applications/uTorrent Web.app/Contents/MacOS/uTorrent Web", "--hidden"],
    });
  });

  it("detects Transmission, µTorrent Web, aMule processes and apps", () => {
    const procs = parseDarwinPs(fx("darwin", "ps-list.txt"), fx("darwin", "ps-args.txt"));
    expect(procs.map((p) => matchProcess(p, "darwin", sigs)).filter((f) => f).map((f) => f!.family))
      .toEqual(["Transmission", "µTorrent", "eMule/aMule"]);
    expect(matchInstalled(appsAsBundles(fx("darwin", "apps.json")), sigs).map((f) => f.family)).toEqual(["Transmission", "µTorrent"]);
    const brew = matchInstalled(parseBrewList(fx("darwin", "brew.txt")), sigs);
    expect(brew.map((f) => [f.family, f.confidence])).toEqual([["aria2", "low"], ["qBittorrent", "high"]]);
  });

  it("finds nothing on a busy developer Mac", () => {
    const procs = parseDarwinPs(fx("darwin", "developer-ps-list.txt"), fx("darwin", "developer-ps-args.txt"));
    expect(procs.length).toBeGreaterThan(15);
    expect(procs.map((p) => matchProcess(p, "darwin", sigs)).filter((f) => f)).toEqual([]);
    expect(matchInstalled(appsAsBundles(fx("darwin", "developer-apps.json")), sigs)).toEqual([]);
  });
});

describe("Linux", () => {
  const proc = (over: Partial<ProcessInfo>): ProcessInfo => ({ pid: 100, ppid: 1, name: "x", cmdline: [], ...over });

  it("matches a truncated comm, an interpreted script and a Wine-run Windows client", () => {
    expect(matchProcess(proc({ name: "transmission-da" }), "linux", sigs)?.family).toBe("Transmission");
    expect(matchProcess(proc({ name: "python3", exe: "/usr/bin/python3.11", cmdline: ["/usr/bin/python3", "/usr/bin/deluged", "-d"] }), "linux", sigs)?.family).toBe("Deluge");
    expect(matchProcess(proc({ name: "Winny2.exe", exe: "/usr/bin/wine64-preloader", cmdline: ["C:\\winny\\Winny2.exe"] }), "linux", sigs)?.family).toBe("Winny");
    expect(matchProcess(proc({ name: "java", exe: "/usr/lib/jvm/bin/java", cmdline: ["java", "-cp", "x.jar", "com.biglybt.ui.Main"] }), "linux", sigs))
      .toMatchObject({ family: "Vuze/Azureus", confidence: "medium" });
  });

  it("rates aria2c by its arguments", () => {
    expect(matchProcess(proc({ name: "aria2c", cmdline: ["aria2c", "https://example.org/a.iso"] }), "linux", sigs)?.confidence).toBe("low");
    expect(matchProcess(proc({ name: "aria2c", cmdline: ["aria2c", "--enable-dht=true", "ubuntu.torrent"] }), "linux", sigs)?.confidence).toBe("high");
  });

  it("matches installed clients only in the software collector's dpkg rows", () => {
    const items = parseDpkgStatus(fx("linux", "dpkg-status.txt")).items;
    expect(items.map((i) => i.name)).toEqual(["bash", "qbittorrent-nox", "libtorrent-rasterbar2.0", "amule-daemon", "transmission-common"]);
    expect(matchInstalled(items, sigs).map((f) => [f.family, f.name, f.version])).toEqual([
      ["qBittorrent", "qbittorrent-nox", "4.5.2-3+deb12u1"], ["eMule/aMule", "amule-daemon", "1:2.3.3-3"],
    ]);
  });

  it("reads P2P sockets from /proc/net tables through the shared parser (IPv4, IPv6, UDP)", () => {
    const tcp = parseProcNetSockets(fx("linux", "proc-net-tcp.txt"), "tcp", 4);
    expect(tcp[0]).toMatchObject({ localAddress: "127.0.0.1", localPort: 0x6448, state: "LISTEN", inode: 6428 });
    expect(tcp.find((s) => s.inode === 91234)).toMatchObject({ localAddress: "10.0.0.5", remoteAddress: "203.0.113.7", remotePort: 6881, state: "ESTABLISHED" });
    const tcp6 = parseProcNetSockets(fx("linux", "proc-net-tcp6.txt"), "tcp", 6);
    expect(tcp6[0]).toMatchObject({ localAddress: "::1", localPort: 0x18eb, state: "LISTEN" });
    const udp = parseProcNetSockets(fx("linux", "proc-net-udp.txt"), "udp", 4);
    expect(udp.map((s) => [s.localPort, isListening(s)])).toEqual([[4672, true], [0xa1b2, false]]);
    expect(portProtocols(sigs, udp[0]!.localPort, udp[0]!.protocol)[0]!.protocol).toBe("ed2k");
    expect(parseProcNetSockets("", "tcp", 4)).toEqual([]);
  });

  it("finds nothing on a busy developer workstation (a plain aria2c download is low at most)", () => {
    const procs = JSON.parse(fx("linux", "developer-processes.json")) as ProcessInfo[];
    const found = procs.map((p) => matchProcess(p, "linux", sigs)).filter((f) => f);
    expect(found.map((f) => [f!.family, f!.confidence])).toEqual([["aria2", "low"]]);
  });
});

describe("executable identity", () => {
  let dir: string;
  beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), "kyoka-p2p-hash-")); });
  afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

  it("finds a marker split across read chunks, and the BitTorrent handshake in a renamed binary", async () => {
    const pad = Buffer.alloc((1 << 20) - 5, 0x41);
    const body = Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46]), pad, Buffer.from("\x13BitTorrent protocol", "latin1"), Buffer.alloc(100)]);
    const path = join(dir, "notes-helper");
    await writeFile(path, body);
    const id = await hashAndScan(path, sigs.markers.map((m) => m.bytes));
    expect(id.kind).toBe("elf");
    const found = matchFile(path, "linux", sigs, id);
    expect(found).toMatchObject({ family: "BitTorrent (unidentified client)", confidence: "medium" });
    expect(matchProcess({ pid: 9, ppid: 1, name: "notes-helper", cmdline: [] }, "linux", sigs, id)?.confidence).toBe("medium");
  });

  it("ignores markers in non-executables (a text file mentioning a client is not one)", async () => {
    const path = join(dir, "readme.txt");
    await writeFile(path, "we talked about qBittorrent v4 and libtransmission \x13BitTorrent protocol");
    const id = await hashAndScan(path, sigs.markers.map((m) => m.bytes));
    expect(id.markers).toEqual([]);
    expect(matchFile(path, "linux", sigs, id)).toBeUndefined();
  });

  it("hashes once per (dev, inode, size, mtime)", async () => {
    const path = join(dir, "tool");
    await writeFile(path, Buffer.concat([Buffer.from("\x7fELF"), Buffer.alloc(5000)]));
    const hasher = new ExecutableHasher(sigs.markers.map((m) => m.bytes));
    const a = await hasher.identify(path);
    const b = await hasher.identify(path);
    expect(b).toBe(a);
    expect(hasher.hashed).toBe(1);
    await writeFile(path, Buffer.concat([Buffer.from("\x7fELF"), Buffer.alloc(6000)]));
    const c = await hasher.identify(path);
    expect(hasher.hashed).toBe(2);
    expect(c!.sha256).not.toBe(a!.sha256);
    expect(await hasher.identify(join(dir, "missing"))).toBeUndefined();
  });

  it("takes entries from an earlier run (seed), keyed with ctime so a restored mtime still misses", async () => {
    const path = join(dir, "seeded");
    await writeFile(path, Buffer.concat([Buffer.from("\x7fELF"), Buffer.alloc(3000)]));
    const markers = sigs.markers.map((m) => m.bytes);
    const first = new ExecutableHasher(markers);
    const real = await first.identify(path);
    expect(first.used()).toHaveLength(1);
    const [key] = first.used()[0]!;
    // a second run seeded with the first run's entries reads nothing
    const second = new ExecutableHasher(markers);
    second.seed(first.used());
    expect(await second.identify(path)).toEqual(real);
    expect(second.hashed).toBe(0);
    expect(second.used().map(([k]) => k)).toEqual([key]);
    // the file rewritten with the same size and its old mtime put back: ctime moved, so it is read again
    const st = await stat(path);
    await new Promise((r) => setTimeout(r, 20));
    await writeFile(path, Buffer.concat([Buffer.from("\x7fELF"), Buffer.alloc(2999), Buffer.from("x")]));
    await utimes(path, st.atime, st.mtime);
    const third = new ExecutableHasher(markers);
    third.seed(first.used());
    const now = await third.identify(path);
    expect(third.hashed).toBe(1);
    expect(now!.sha256).not.toBe(real!.sha256);
    // entries are only valid for one marker set
    expect(new ExecutableHasher(markers.slice(1)).markersKey()).not.toBe(first.markersKey());
    expect(isHashedExecutable(real)).toBe(true);
    expect(isHashedExecutable({ ...real, sha256: "zz" })).toBe(false);
    expect(isHashedExecutable({ ...real, kind: "exe" })).toBe(false);
  });
});
