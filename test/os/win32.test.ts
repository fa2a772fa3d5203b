/**
 * The Windows layer's pure parts, on Linux: captured Win32 API buffers (GetAdaptersAddresses,
 * GetExtendedTcpTable — captured under Wine, test/fixtures/win32/api/README.md), a real
 * UTF-16LE `reg export`, CP932 console text decoded through the readers' own functions, WLAN
 * structures and MpCmdRun outputs built from Microsoft's documented layouts (Wine has neither),
 * the software reader against a fake registry (logged-off users, access denied, re-reading only
 * the key that changed), the process-list diff and the stop request.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import iconv from "iconv-lite";
import { describe, expect, it } from "vitest";
import { parseAdapters, parseIpNetTable, parseWlanConnection, parseWlanInterfaceList, guidText, ssidText } from "../../agent/os/win32/netif.js";
import { parseTcp4Table, parseTcp6Table, parseUdp4Table, parseUdp6Table, Win32SocketOwners, Win32SocketTableReader, type Win32Socket } from "../../agent/os/win32/sockets.js";
import { decodeValue, REG_DWORD, REG_EXPAND_SZ, REG_MULTI_SZ, REG_QWORD, REG_SZ } from "../../agent/os/win32/registry.js";
import { onlySystemAndAdmins, STATE_DIR_SDDL } from "../../agent/os/win32/security.js";
import { lettersOf, drivesToken } from "../../agent/os/win32/drives.js";
import { attachmentFromAdapters, decodeConsoleText } from "../../agent/collectors/network/win32.js";
import { parseNetshWlanInterfaces } from "../../agent/collectors/network/parse-win32.js";
import { parseRegExport } from "../../agent/collectors/software/parse-win32.js";
import { AccessDenied, keyLabel, unreadUserScopes, Win32SoftwareReader, type RegistryApi, type UninstallKey } from "../../agent/collectors/software/win32.js";
import { currentInventory } from "../../agent/collectors/software/diff.js";
import type { Values } from "../../agent/collectors/software/parse-win32.js";
import { ProcessListDiff, Win32P2pSockets } from "../../agent/collectors/p2p/win32.js";
import { decodeMpOutput, defenderOutcome, newestVersion, parseMpCmdRunOutput } from "../../agent/collectors/media/defender.js";
import { scanMedium } from "../../agent/collectors/media/clamav.js";
import { requestStop, stopSignals, watchStopRequest, stopFile } from "../../agent/service/stop-request.js";
import { sealSecret, unsealSecret } from "../../agent/service/state-dir.js";

const fixtures = fileURLToPath(new URL("../fixtures/win32/", import.meta.url));
const bin = (p: string): Buffer => readFileSync(join(fixtures, p));

describe("socket tables (GetExtendedTcpTable / GetExtendedUdpTable)", () => {
  it("a captured IPv4 table: the Wine node.exe's connection with its owning pid, listeners, pid 0 for Linux processes", () => {
    const rows = parseTcp4Table(bin("api/tcp4-owner-pid-wine.bin"));
    expect(rows.length).toBe(bin("api/tcp4-owner-pid-wine.bin").readUInt32LE(0));
    const conn = rows.find((r) => r.remotePort === 18977 && r.localPort === 33873);
    expect(conn).toMatchObject({ protocol: "tcp", family: 4, localAddress: "127.0.0.1", remoteAddress: "127.0.0.1", state: "ESTABLISHED", pid: 32, inode: 32 });
    const listen = rows.find((r) => r.localPort === 18977 && r.state === "LISTEN");
    expect(listen).toMatchObject({ remoteAddress: "0.0.0.0", remotePort: 0, pid: 0 });
    expect(new Set(rows.map((r) => r.state)).has("UNKNOWN")).toBe(false);
  });

  it("a captured IPv6 table", () => {
    const rows = parseTcp6Table(bin("api/tcp6-owner-pid-wine.bin"));
    expect(rows.length).toBe(2);
    for (const r of rows) {
      expect(r.family).toBe(6);
      expect(r.localAddress).toMatch(/:/);
    }
  });

  it("UDP rows (built per MIB_UDPROW_OWNER_PID / MIB_UDP6ROW_OWNER_PID) are unconnected listeners", () => {
    const b4 = Buffer.alloc(4 + 12);
    b4.writeUInt32LE(1, 0);
    Buffer.from([192, 168, 1, 10]).copy(b4, 4);
    b4.writeUInt16BE(6881, 8); // port in network order in the low word
    b4.writeUInt32LE(4242, 12);
    expect(parseUdp4Table(b4)).toEqual([expect.objectContaining({ protocol: "udp", localAddress: "192.168.1.10", localPort: 6881, remotePort: 0, state: "CLOSE", pid: 4242 })]);
    const b6 = Buffer.alloc(4 + 28);
    b6.writeUInt32LE(1, 0);
    b6[4 + 15] = 1; // ::1
    b6.writeUInt16BE(5353, 4 + 20);
    b6.writeUInt32LE(77, 4 + 24);
    expect(parseUdp6Table(b6)).toEqual([expect.objectContaining({ family: 6, localAddress: "::1", localPort: 5353, pid: 77 })]);
  });

  it("owners: the image of a pid is looked up once, pids that left the table are forgotten", () => {
    const looked: number[] = [];
    const owners = new Win32SocketOwners((pid) => { looked.push(pid); return pid === 32 ? "C:\\Program Files\\秀丸\\Hidemaru.exe" : null; });
    const rows: Win32Socket[] = parseTcp4Table(bin("api/tcp4-owner-pid-wine.bin")).filter((r) => r.pid === 32);
    const reader = new Win32SocketTableReader(() => rows, owners);
    reader.read();
    expect(owners.resolve([32, 0]).get(32)).toMatchObject({ pid: 32, process: "Hidemaru.exe", exe: "C:\\Program Files\\秀丸\\Hidemaru.exe" });
    owners.resolve([32]);
    expect(looked).toEqual([32]);
    expect(owners.resolve([0]).size).toBe(0);
  });

  it("P2P sockets: the owner tables are read only when an owner-less row is wanted", async () => {
    const rows = parseTcp4Table(bin("api/tcp4-owner-pid-wine.bin"));
    let ownerReads = 0;
    const src0 = new Win32P2pSockets(() => { ownerReads++; return rows; }, () => rows.map((r) => ({ ...r, pid: -1, inode: -1 })));
    expect(await src0.read({ processes: [], want: (s) => s.localPort === 6881, allOf: new Set() })).toEqual([]);
    expect(ownerReads).toBe(0);
    expect((await src0.read({ processes: [], want: (s) => s.remotePort === 18977, allOf: new Set() })).some((s) => s.pid === 32)).toBe(true);
    expect(ownerReads).toBe(1);
  });

  it("network: the owner tables are read again only when the owner-less tables changed (or are old)", () => {
    let basic = Buffer.from("a");
    let reads = 0;
    const reader = new Win32SocketTableReader(() => { reads++; return []; }, undefined, () => basic);
    expect(reader.readIfChanged(60_000)).toEqual([]);
    expect(reader.readIfChanged(60_000)).toBeUndefined();
    basic = Buffer.from("b");
    expect(reader.readIfChanged(60_000)).toEqual([]);
    expect(reader.readIfChanged(0)).toEqual([]);
    expect(reads).toBe(3);
  });

  it("P2P sockets: the wanted rows and every row of an identified process, with its pid", async () => {
    const rows = parseTcp4Table(bin("api/tcp4-owner-pid-wine.bin"));
    const src = new Win32P2pSockets(() => rows, null);
    const got = await src.read({ processes: [], want: (s) => s.remotePort === 18977, allOf: new Set() });
    expect(got.some((s) => s.pid === 32 && s.netns === 0)).toBe(true);
    expect(got.every((s) => s.remotePort === 18977)).toBe(true);
  });
});

describe("adapters (GetAdaptersAddresses, GetIpNetTable)", () => {
  const gaa = bin("api/getadaptersaddresses-wine.bin");
  const base = BigInt(readFileSync(join(fixtures, "api/getadaptersaddresses-wine.base"), "utf8").trim());

  it("the captured buffer: names, MAC, up, addresses with prefix lengths, DNS, gateway", () => {
    const a = parseAdapters(gaa, base);
    // the first four are the machine's; the rest are veths other test runs had made at the time
    expect(a.map((x) => x.friendlyName).slice(0, 4)).toEqual(["lo", "ifb0", "ifb1", "eth0"]);
    expect(a.length).toBe(9);
    const eth0 = a.find((x) => x.friendlyName === "eth0")!;
    expect(eth0).toMatchObject({ mac: "02:fc:00:00:00:01", up: true, loopback: false, gateways: ["192.0.2.1"], dns: ["10.255.255.53"] });
    expect(eth0.addresses).toEqual(expect.arrayContaining([{ address: "192.0.2.2", prefixlen: 24, family: 4 }, { address: "fd00::2", prefixlen: 64, family: 6 }]));
    expect(a.find((x) => x.friendlyName === "ifb0")!.up).toBe(false);
    expect(a.find((x) => x.friendlyName === "lo")!.loopback).toBe(true);
    // a wrong base (pointers outside the buffer) yields no list items rather than garbage
    expect(parseAdapters(gaa, base + 10_000_000n).flatMap((x) => x.addresses)).toEqual([]);
  });

  it("→ the attachment model: link-local left out, cidr, gateway MAC from the neighbour table, SSID by adapter GUID", () => {
    const adapters = parseAdapters(gaa, base);
    const eth0 = adapters.find((x) => x.friendlyName === "eth0")!;
    const net = Buffer.alloc(4 + 24);
    net.writeUInt32LE(1, 0);
    net.writeUInt32LE(eth0.ifIndex, 4);
    net.writeUInt32LE(6, 8);
    Buffer.from([2, 0xfc, 0, 0, 0, 5]).copy(net, 12);
    Buffer.from([192, 0, 2, 1]).copy(net, 20);
    net.writeUInt32LE(3, 24); // dynamic
    const neigh = parseIpNetTable(net);
    const states = attachmentFromAdapters(adapters, neigh, new Map([[eth0.guid.toUpperCase(), { ssid: "庁舎-WiFi", bssid: "3C:37:86:15:AD:FB" }]]));
    expect(states.find((s) => s.iface === "eth0")).toEqual({
      iface: "eth0", mac: "02:fc:00:00:00:01", up: true, loopback: false,
      addresses: [{ address: "fd00::2", prefixlen: 64, cidr: "fd00::/64", family: 6 }, { address: "192.0.2.2", prefixlen: 24, cidr: "192.0.2.0/24", family: 4 }],
      gateway: "192.0.2.1", gatewayMac: "02:fc:00:00:00:05", ssid: "庁舎-WiFi", bssid: "3c:37:86:15:ad:fb", dns: ["10.255.255.53"],
    });
    expect(states.find((s) => s.iface === "lo")!.addresses).toEqual([]);
  });
});

/** WLAN structures built per wlanapi.h (x64): not capturable under Wine. */
function wlanConnection(state: number, ssid: Buffer, bssid: number[]): Buffer {
  const b = Buffer.alloc(620);
  b.writeUInt32LE(state, 0);
  b.write("庁舎プロファイル", 8, "utf16le");
  b.writeUInt32LE(ssid.length, 520);
  ssid.copy(b, 524);
  Buffer.from(bssid).copy(b, 560);
  return b;
}

describe("WLAN (WlanEnumInterfaces / WlanQueryInterface, built from the documented layout)", () => {
  it("interface list: GUID in the adapter-name form, UTF-16 description, state", () => {
    const b = Buffer.alloc(8 + 532);
    b.writeUInt32LE(1, 0);
    const guid = Buffer.from("7ad425781d5d934c8d912b0e1b5f6c4b", "hex");
    guid.copy(b, 8);
    b.write("Intel(R) Wi-Fi 6 AX201 160MHz", 24, "utf16le");
    b.writeUInt32LE(1, 536);
    const [i] = parseWlanInterfaceList(b);
    expect(i).toMatchObject({ guid: "{7825D47A-5D1D-4C93-8D91-2B0E1B5F6C4B}", description: "Intel(R) Wi-Fi 6 AX201 160MHz", state: 1 });
    expect(guidText(guid)).toBe(i!.guid);
  });

  it("connection: a UTF-8 Japanese SSID, a CP932 one, BSSID; nothing when disconnected (never a stale SSID)", () => {
    expect(parseWlanConnection(wlanConnection(1, Buffer.from("庁舎-WiFi", "utf8"), [0x3c, 0x37, 0x86, 0x15, 0xad, 0xfb]))).toEqual({ connected: true, ssid: "庁舎-WiFi", bssid: "3c:37:86:15:ad:fb", profile: "庁舎プロファイル" });
    expect(parseWlanConnection(wlanConnection(1, iconv.encode("役場ゲスト", "cp932"), [1, 2, 3, 4, 5, 6])).ssid).toBe("役場ゲスト");
    expect(parseWlanConnection(wlanConnection(2, Buffer.from("old"), [1, 2, 3, 4, 5, 6]))).toMatchObject({ connected: false, ssid: null, bssid: null });
    expect(ssidText(Buffer.from("Kyoka-Office"))).toBe("Kyoka-Office");
  });
});

describe("registry values and reg export (UTF-16LE with BOM)", () => {
  it("decodeValue: REG_SZ/EXPAND_SZ/MULTI_SZ as UTF-16, DWORD/QWORD as numbers", () => {
    expect(decodeValue(REG_SZ, Buffer.from("秀丸エディタ\0", "utf16le"))).toBe("秀丸エディタ");
    expect(decodeValue(REG_EXPAND_SZ, Buffer.from("%ProgramFiles%\\x\0", "utf16le"))).toBe("%ProgramFiles%\\x");
    expect(decodeValue(REG_MULTI_SZ, Buffer.from("a\0b\0\0", "utf16le"))).toBe("a\nb");
    const d = Buffer.alloc(4); d.writeUInt32LE(1, 0);
    expect(decodeValue(REG_DWORD, d)).toBe(1);
    const q = Buffer.alloc(8); q.writeBigUInt64LE(5n, 0);
    expect(decodeValue(REG_QWORD, q)).toBe(5);
  });

  it("a real reg export from reg.exe: Japanese names intact, updates and system components hidden, escapes undone", () => {
    const raw = bin("software/reg-export-uninstall-ja.reg");
    expect([raw[0], raw[1]]).toEqual([0xff, 0xfe]);
    const r = parseRegExport(raw);
    expect(r.errors).toEqual([]);
    const byName = Object.fromEntries(r.items.map((i) => [i.name, i]));
    expect(Object.keys(byName).sort()).toEqual(["Tool \"quoted\" \\ path", "一太郎2024", "秀丸エディタ"].sort());
    expect(byName["秀丸エディタ"]).toMatchObject({ id: "registry:machine:64-bit:Hidemaru", version: "9.35", publisher: "有限会社 斉藤と生産性", scope: "machine" });
    expect(byName["一太郎2024"]).toMatchObject({ version: "34.0.1", publisher: "株式会社ジャストシステム" });
    expect(byName["Tool \"quoted\" \\ path"]!.version).toBe("5.2");
    // the same bytes read as the console would (code page 437) lose the names: why the reader never does
    expect(parseRegExport(iconv.decode(raw, "cp437")).items.some((i) => i.name === "秀丸エディタ")).toBe(false);
  });
});

describe("console text in the code page Windows writes (fallback paths)", () => {
  it("netsh in CP932 decoded through decodeConsoleText → the SSID of a Japanese PC", () => {
    const bytes = readFileSync(join(fixtures, "network/netsh-wlan-show-interfaces-ja.cp932.txt"));
    expect(() => new TextDecoder("utf-8", { fatal: true }).decode(bytes)).toThrow(); // really CP932
    expect(parseNetshWlanInterfaces(decodeConsoleText(bytes))).toEqual([{ iface: "Wi-Fi", ssid: "庁舎-WiFi", bssid: "3c:37:86:15:ad:fb" }]);
    // decoded as UTF-8 (the old path) nothing is found
    expect(parseNetshWlanInterfaces(bytes.toString("utf8"))).toEqual([]);
  });
});

describe("Microsoft Defender (MpCmdRun -Scan -ScanType 3 -File)", () => {
  it("no threats, exit 0 → clean", () => {
    const out = decodeMpOutput(readFileSync(join(fixtures, "media/mpcmdrun-scan-clean.txt")));
    expect(defenderOutcome(0, out, 5)).toMatchObject({ result: "clean", scanner: "defender", signatures: [], infectedFiles: [] });
  });

  it("threats (CP932 output with a Japanese path), exit 2 → infected with each file and its threat", () => {
    const out = decodeMpOutput(readFileSync(join(fixtures, "media/mpcmdrun-scan-threats.cp932.txt")));
    expect(parseMpCmdRunOutput(out).threatCount).toBe(2);
    expect(defenderOutcome(2, out, 5)).toMatchObject({
      result: "infected",
      signatures: ["Virus:DOS/EICAR_Test_File", "Trojan:Win32/Wacatac.B!ml"],
      infectedFiles: [
        { path: "E:\\eicar.com", signature: "Virus:DOS/EICAR_Test_File" },
        { path: "E:\\資料\\eicar-コピー.com", signature: "Virus:DOS/EICAR_Test_File" },
        { path: "E:\\setup.exe", signature: "Trojan:Win32/Wacatac.B!ml" },
      ],
    });
  });

  it("another exit code → failed with the output's last lines; newest platform folder chosen", () => {
    expect(defenderOutcome(0x80508023 | 0, "CmdTool: Failed with hr = 0x80508023. Check C:\\Users\\x\\AppData\\Local\\Temp\\MpCmdRun.log", 1)).toMatchObject({ result: "failed", error: expect.stringContaining("0x80508023") });
    expect(newestVersion(["4.18.2302.7", "4.18.24090.11-0", "4.18.23110.3", "backup"])).toBe("4.18.24090.11-0");
  });

  it("scanner defender where MpCmdRun is absent → scanner-missing, never silence", async () => {
    const r = await scanMedium("/nonexistent", { scanner: "defender", platform: "win32" });
    expect(r).toMatchObject({ result: "scanner-missing", error: expect.stringContaining("MpCmdRun") });
  });
});

/** A registry in memory, with its call counts. */
function fakeRegistry(): RegistryApi & { keys: Map<string, Map<string, Values>>; hives: string[]; profileList: string[] | undefined; denied: Set<string>; reads: string[] } {
  const keys = new Map<string, Map<string, Values>>();
  const reg = {
    keys,
    hives: [] as string[],
    profileList: [] as string[] | undefined,
    denied: new Set<string>(),
    reads: [] as string[],
    loadedHives: () => reg.hives,
    profiles: () => reg.profileList,
    readUninstall: (k: UninstallKey) => {
      const label = keyLabel(k);
      reg.reads.push(label);
      if (reg.denied.has(label)) throw new AccessDenied(`${label}: access denied`);
      return keys.get(label);
    },
    watch: () => () => undefined,
  };
  return reg;
}

const HKLM_UNINSTALL = "HKEY_LOCAL_MACHINE\\Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall";
const ALICE = "S-1-5-21-111-222-333-1001";
const BOB = "S-1-5-21-111-222-333-1002";
const userUninstall = (sid: string): string => `HKEY_USERS\\${sid}\\Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall`;
const noPowerShell = async (): Promise<string> => { throw Object.assign(new Error("powershell.exe is not installed"), { name: "MissingTool" }); };

describe("the Windows software reader (registry API, faked)", () => {
  it("reads machine and per-user keys; a logged-off user's rows are kept (not read), never removed", async () => {
    const reg = fakeRegistry();
    reg.keys.set(HKLM_UNINSTALL, new Map([["Hidemaru", { DisplayName: "秀丸エディタ", DisplayVersion: "9.35" }]]));
    reg.keys.set(userUninstall(ALICE), new Map([["Teams", { DisplayName: "Microsoft Teams", DisplayVersion: "1.7" }]]));
    reg.hives = [ALICE, `${ALICE}_Classes`, "S-1-5-18"];
    reg.profileList = [ALICE, BOB, "S-1-5-18"];
    const reader = new Win32SoftwareReader(noPowerShell, 1000, reg);
    const first = await reader.read();
    expect(first.items.map((i) => i.name).sort()).toEqual(["Microsoft Teams", "秀丸エディタ"]);
    expect(first.keepScopes).toEqual([`user:${BOB}`]);
    const last = Object.fromEntries(first.items.map((i) => [i.id, i]));

    // Alice logs off: her hive is unloaded — her Teams is kept, not removed
    reg.hives = ["S-1-5-18"];
    const second = await reader.read();
    expect(second.keepScopes).toEqual([`user:${ALICE}`, `user:${BOB}`]);
    const now = currentInventory(second, last);
    expect(Object.values(now).map((i) => i.name).sort()).toEqual(["Microsoft Teams", "秀丸エディタ"]);

    // her profile is deleted from the machine: then her software is gone for real
    reg.profileList = [BOB, "S-1-5-18"];
    const third = await reader.read();
    expect(Object.values(currentInventory(third, last)).map((i) => i.name)).toEqual(["秀丸エディタ"]);
  });

  it("access denied on a user's key is 'not read' (kept); on the machine key the source fails (all kept)", async () => {
    const reg = fakeRegistry();
    reg.keys.set(HKLM_UNINSTALL, new Map([["A", { DisplayName: "A" }]]));
    reg.hives = [ALICE];
    reg.profileList = [ALICE];
    reg.denied.add(userUninstall(ALICE));
    const reader = new Win32SoftwareReader(noPowerShell, 1000, reg);
    const r = await reader.read();
    expect(r.keepScopes).toEqual([`user:${ALICE}`]);
    expect(r.failed.filter((f) => f.source === "registry")).toEqual([]);
    reg.denied.add(HKLM_UNINSTALL);
    const r2 = await reader.read();
    expect(r2.failed).toEqual(expect.arrayContaining([expect.objectContaining({ source: "registry", message: expect.stringContaining("access denied") })]));
  });

  it("a change notification re-reads only the key that changed", async () => {
    const reg = fakeRegistry();
    const notify = new Map<string, () => void>();
    reg.watch = (key, _subtree, onChange) => { notify.set(keyLabel({ root: key.root, sub: key.sub }), onChange); return () => undefined; };
    reg.keys.set(HKLM_UNINSTALL, new Map([["A", { DisplayName: "A" }]]));
    reg.hives = [ALICE];
    reg.profileList = [ALICE];
    const reader = new Win32SoftwareReader(noPowerShell, 1000, reg);
    let changes = 0;
    const stop = reader.subscribe(() => changes++, (e) => { throw e; });
    await reader.read();
    expect(reg.reads.length).toBe(4); // 2 machine + 2 of Alice's
    reg.reads.length = 0;
    reg.keys.set(HKLM_UNINSTALL, new Map([["A", { DisplayName: "A" }], ["B", { DisplayName: "一太郎" }]]));
    notify.get(HKLM_UNINSTALL)!();
    expect(changes).toBe(1);
    const r = await reader.read({ changedOnly: true });
    expect(reg.reads).toEqual([HKLM_UNINSTALL]);
    expect(r.items.map((i) => i.name).sort()).toEqual(["A", "一太郎"]);
    stop();
  });

  it("unreadUserScopes: loaded hives are read, the other profiles and unreadable hives are kept", () => {
    expect(unreadUserScopes([ALICE, BOB, "S-1-5-18"], [ALICE], [])).toEqual([`user:${BOB}`]);
    expect(unreadUserScopes([ALICE], [ALICE], [ALICE])).toEqual([`user:${ALICE}`]);
  });
});

describe("processes (Toolhelp32 diff)", () => {
  it("only new pids (or a pid reused by another image) are looked up", () => {
    let rows = [{ pid: 4, ppid: 0, name: "System" }, { pid: 100, ppid: 4, name: "explorer.exe" }];
    const looked: number[] = [];
    const diff = new ProcessListDiff(() => rows, (pid) => { looked.push(pid); return pid === 4 ? null : `C:\\Windows\\${pid}.exe`; });
    expect(diff.read().map((p) => p.exe)).toEqual([undefined, "C:\\Windows\\100.exe"]);
    diff.read();
    expect(looked).toEqual([4, 100]);
    rows = [...rows, { pid: 200, ppid: 100, name: "qbittorrent.exe" }];
    diff.read();
    rows = [rows[0]!, { pid: 100, ppid: 4, name: "utorrent.exe" }];
    const last = diff.read();
    expect(looked).toEqual([4, 100, 200, 100]);
    expect(last.find((p) => p.pid === 100)).toMatchObject({ name: "utorrent.exe", cmdline: ["C:\\Windows\\100.exe"] });
  });
});

describe("service stop and state", () => {
  it("stop signals: CTRL_C/CTRL_BREAK/console close on Windows", () => {
    expect(stopSignals("win32")).toEqual(["SIGINT", "SIGTERM", "SIGBREAK", "SIGHUP"]);
    expect(stopSignals("linux")).toEqual(["SIGTERM", "SIGINT"]);
  });

  it("a stop request (the file) reaches the watcher once; a stale one is removed at start; --stop waits for it to be taken", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kyoka-stop-"));
    try {
      writeFileSync(stopFile(dir), "stale");
      let stops = 0;
      const close = await watchStopRequest(dir, () => stops++, 200);
      expect(existsSync(stopFile(dir))).toBe(false);
      expect(await requestStop(dir, 5000)).toBe(true);
      expect(stops).toBe(1);
      close();
      // nobody watching: the request is not taken, and removed
      expect(await requestStop(dir, 300)).toBe(false);
      expect(existsSync(stopFile(dir))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("credential sealing is DPAPI on Windows only; a plain credential still reads", () => {
    const text = '{"agentId":"a","secret":"s","server":"ws://x"}';
    expect(sealSecret(text, "linux")).toBe(text);
    expect(unsealSecret(text)).toBe(text);
  });

  it("the state folder SDDL grants SYSTEM and Administrators only", () => {
    expect(onlySystemAndAdmins(STATE_DIR_SDDL)).toBe(true);
    expect(onlySystemAndAdmins("D:(A;OICI;FA;;;SY)(A;OICI;FA;;;S-1-5-21-0-0-0-1000)")).toBe(false);
    expect(onlySystemAndAdmins("D:(A;OICI;FA;;;BA)(A;OICI;0x1200a9;;;BU)")).toBe(false);
  });

  it("drive letters from the GetLogicalDrives mask, and the change token", () => {
    expect(lettersOf(0b1100 | (1 << 25))).toEqual(["C", "D", "Z"]);
    expect(drivesToken([{ letter: "C", type: "fixed" }, { letter: "E", type: "removable", serial: "1a2b3c4d" }])).toBe("C:fixed,E:removable:1a2b3c4d");
  });
});
