import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { decodeProcAddress, isConnected, isListening, parseNsLink, parsePasswd, parseProcNetSockets, socketCounters } from "../../../agent/os/linux/sockets.js";
import {
  assembleLinuxState, defaultGateways, parseIpAddrJson, parseIpNeighJson, parseIpRouteJson, parseIwLink, parseNmcliWifi, parseResolvConf,
} from "../../../agent/collectors/network/parse-linux.js";
import { tcpActiveOpensBytes } from "../../../agent/collectors/network/collector.js";
import { HeldProcFile } from "../../../agent/os/linux/proc-read.js";

/** the look's parser on text (the fixtures are text) */
const tcpActiveOpens = (snmp: string) => tcpActiveOpensBytes(Buffer.from(snmp, "latin1"));
import { parseNetIPConfigurationJson, parseNetshWlanInterfaces } from "../../../agent/collectors/network/parse-win32.js";
import {
  parseAirportInfo, parseArpEntry, parseIpconfigRouter, parseIpconfigSummary, parseNetworksetupAirport, parseRouteGetDefault,
} from "../../../agent/collectors/network/parse-darwin.js";

const fx = (os: string, name: string): string => readFileSync(join(__dirname, "../../fixtures", os, "network", name), "utf8");

describe("/proc/net socket tables", () => {
  it("decodes little-endian hex addresses", () => {
    expect(decodeProcAddress("0100007F:0050")).toEqual({ address: "127.0.0.1", port: 80, family: 4 });
    expect(decodeProcAddress("00000000000000000000000001000000:1F90")).toEqual({ address: "::1", port: 8080, family: 6 });
    expect(decodeProcAddress("0000000000000000FFFF00000100007F:B813")?.address).toBe("127.0.0.1");
    expect(decodeProcAddress("B80D0120000000000000000001000000:01BB")?.address).toBe("2001:db8::1");
    expect(decodeProcAddress("zz")).toBeUndefined();
  });

  it("parses tcp listeners", () => {
    const rows = parseProcNetSockets(fx("linux", "proc-net-tcp.txt"), "tcp", 4);
    expect(rows).toHaveLength(4);
    expect(rows[0]).toEqual({ protocol: "tcp", family: 4, localAddress: "127.0.0.1", localPort: 0x6448, remoteAddress: "0.0.0.0", remotePort: 0, state: "LISTEN", uid: 106, inode: 6428 });
    expect(rows.every(isListening)).toBe(true);
  });

  it("parses tcp6 with IPv4-mapped rows, ESTABLISHED and TIME_WAIT", () => {
    const rows = parseProcNetSockets(fx("linux", "proc-net-tcp6.txt"), "tcp", 6);
    expect(rows.map((r) => r.state)).toEqual(["LISTEN", "ESTABLISHED", "TIME_WAIT"]);
    expect(rows[0]!.localAddress).toBe("::");
    expect(rows[1]).toMatchObject({ localAddress: "127.0.0.1", localPort: 47123, remoteAddress: "127.0.0.1", remotePort: 0xa566, inode: 22537 });
    expect(isConnected(rows[1]!)).toBe(true);
    expect(rows[2]!.inode).toBe(0);
  });

  it("parses udp: connected and bound", () => {
    const udp = parseProcNetSockets(fx("linux", "proc-net-udp.txt"), "udp", 4);
    expect(udp).toEqual([expect.objectContaining({ localPort: 47124, remoteAddress: "127.0.0.53", remotePort: 53, state: "ESTABLISHED" })]);
    expect(isConnected(udp[0]!)).toBe(true);
    const udp6 = parseProcNetSockets(fx("linux", "proc-net-udp6.txt"), "udp", 6);
    expect(udp6[0]).toMatchObject({ localAddress: "::1", localPort: 47125, state: "CLOSE" });
    expect(isListening(udp6[0]!)).toBe(true);
  });

  it("handles empty, header-only and damaged tables", () => {
    expect(parseProcNetSockets("", "tcp", 4)).toEqual([]);
    expect(parseProcNetSockets(fx("linux", "proc-net-empty.txt"), "tcp", 4)).toEqual([]);
    const partial = fx("linux", "proc-net-tcp.txt").split("\n").slice(0, 3).join("\n") + "\n   9: garbage\n";
    expect(parseProcNetSockets(partial, "tcp", 4)).toHaveLength(2);
  });

  it("parses namespace links and passwd", () => {
    expect(parseNsLink("net:[4026531840]")).toBe(4026531840);
    expect(parseNsLink("mnt:[1]")).toBeUndefined();
    expect(parsePasswd("root:x:0:0:root:/root:/bin/bash\n# c\nalice:x:1000:1000::/home/alice:/bin/sh\n").get(1000)).toBe("alice");
  });
});

describe("/proc/net/snmp", () => {
  it("TCP ActiveOpens from a captured table; undefined for text without the Tcp lines", () => {
    expect(tcpActiveOpens(fx("linux", "proc-net-snmp.txt"))).toBe("6609");
    expect(tcpActiveOpens("")).toBeUndefined();
    expect(tcpActiveOpens("Ip: Forwarding\nIp: 1\n")).toBeUndefined();
    expect(tcpActiveOpens("Tcp: RtoAlgorithm ActiveOpens\nTcp: 1 42")).toBe("42");
  });

  it("the socket counters fingerprint: TCP opens and established from snmp, inuse/alloc from sockstat and sockstat6", () => {
    const sockstat = "sockets: used 180\nTCP: inuse 11 orphan 0 tw 2 alloc 13 mem 1\nUDP: inuse 3 mem 0\nUDPLITE: inuse 0\nRAW: inuse 0\nFRAG: inuse 0 memory 0\n";
    const sockstat6 = "TCP6: inuse 2\nUDP6: inuse 1\nUDPLITE6: inuse 0\nRAW6: inuse 0\nFRAG6: inuse 0 memory 0\n";
    const snmp = fx("linux", "proc-net-snmp.txt");
    const values = snmp.split("\n").filter((l) => l.startsWith("Tcp:"))[1]!.split(" ");
    const names = snmp.split("\n").filter((l) => l.startsWith("Tcp:"))[0]!.split(" ");
    const want = ["ActiveOpens", "PassiveOpens", "CurrEstab"].map((k) => values[names.indexOf(k)]);
    expect(socketCounters(snmp, sockstat, sockstat6)).toBe(`${want.join(",")},TCP=11/13,UDP=3/,TCP6=2/,UDP6=1/`);
    expect(socketCounters("", sockstat)).toBe("TCP=11/13,UDP=3/");
    expect(socketCounters("Tcp: RtoAlgorithm ActiveOpens PassiveOpens CurrEstab\nTcp: 1 5 6 7", "")).toBe("5,6,7");
    expect(socketCounters("Tcp: RtoAlgorithm ActiveOpens\nUdp: x\n", "")).toBe(""); // no values line
  });

  it("the byte scan (the 250 ms look) gives what the text parser gives, on the capture and on this machine's live file", () => {
    const b = (t: string) => Buffer.from(t, "latin1");
    const captured = fx("linux", "proc-net-snmp.txt");
    expect(tcpActiveOpensBytes(b(captured))).toBe("6609");
    expect(tcpActiveOpensBytes(b(""))).toBeUndefined();
    expect(tcpActiveOpensBytes(b("Ip: Forwarding\nIp: 1\n"))).toBeUndefined();
    expect(tcpActiveOpensBytes(b("Tcp: RtoAlgorithm ActiveOpens\nTcp: 1 42"))).toBe("42");
    expect(tcpActiveOpensBytes(b("Tcp: RtoAlgorithm ActiveOpens\n"))).toBeUndefined(); // no values line
    expect(tcpActiveOpensBytes(b("Tcp: RtoAlgorithm ActiveOpens\nTcp: 1\n"))).toBeUndefined(); // too few values
    // "Tcp:" inside another line is not the header
    expect(tcpActiveOpensBytes(b("IcmpMsg: Tcp: x\nTcp: RtoAlgorithm RtoMin ActiveOpens\nTcp: 1 200 77\n"))).toBe("77");
    const held = new HeldProcFile("/proc/net/snmp");
    try {
      const live = readFileSync("/proc/net/snmp", "latin1");
      const a = tcpActiveOpens(live), c = tcpActiveOpensBytes(held.read());
      expect(a).toMatch(/^\d+$/);
      expect(Number(c)).toBeGreaterThanOrEqual(Number(a)); // read a moment later: never less
      expect(tcpActiveOpensBytes(held.read())).toMatch(/^\d+$/); // read again through the same fd
    } finally {
      held.close();
    }
  });
});

describe("Linux attachment parsers", () => {
  it("ip -json addr/route/neigh from this machine", () => {
    const addrs = parseIpAddrJson(fx("linux", "ip-addr.json"));
    const lo = addrs.find((a) => a.iface === "lo")!;
    expect(lo.loopback).toBe(true);
    expect(lo.addresses).toEqual([]); // host scope
    const eth = addrs.find((a) => a.iface === "eth0")!;
    expect(eth.addresses[0]).toEqual({ address: "192.0.2.2", prefixlen: 24, cidr: "192.0.2.0/24", family: 4 });
    expect(eth.addresses.every((a) => !a.address.startsWith("fe80"))).toBe(true);
    const routes = [...parseIpRouteJson(fx("linux", "ip-route.json"), 4), ...parseIpRouteJson(fx("linux", "ip6-route.json"), 6)];
    expect(defaultGateways(routes).get("eth0")).toBe("192.0.2.1");
    const neigh = parseIpNeighJson(fx("linux", "ip-neigh.json"));
    expect(neigh.get("eth0|192.0.2.1")).toBe("02:fc:00:00:00:05");
    expect(neigh.has("eth0|fd00::1")).toBe(false); // FAILED, no lladdr
    const dns = parseResolvConf(fx("linux", "resolv.conf"));
    const state = assembleLinuxState(addrs, routes, neigh, dns, new Map());
    expect(state.find((s) => s.iface === "eth0")).toMatchObject({ gateway: "192.0.2.1", gatewayMac: "02:fc:00:00:00:05", dns: ["10.255.255.53"] });
    expect(parseIpAddrJson("")).toEqual([]);
    expect(() => parseIpAddrJson("{not json")).toThrow();
  });

  it("resolv.conf", () => {
    expect(parseResolvConf(fx("linux", "resolv-nm.conf"))).toEqual(["10.0.0.53", "fd00::53"]);
    expect(parseResolvConf("")).toEqual([]);
  });

  it("nmcli terse output", () => {
    expect(parseNmcliWifi(fx("linux", "nmcli-wifi.txt"))).toEqual({ iface: null, ssid: "Kyoka-Office", bssid: "3c:37:86:15:ad:f9" });
    expect(parseNmcliWifi(fx("linux", "nmcli-wifi-disconnected.txt"))).toBeUndefined();
    expect(parseNmcliWifi("")).toBeUndefined();
  });

  it("iw dev link", () => {
    expect(parseIwLink(fx("linux", "iw-link.txt"))).toEqual({ iface: "wlp2s0", ssid: "Kyoka-Office", bssid: "3c:37:86:15:ad:f9" });
    expect(parseIwLink(fx("linux", "iw-link-disconnected.txt"))).toBeUndefined();
  });
});

describe("Windows parsers", () => {
  it("Get-NetIPConfiguration | ConvertTo-Json (arrays and lone objects)", () => {
    const st = parseNetIPConfigurationJson(fx("win32", "get-netipconfiguration.json"));
    expect(st).toHaveLength(3);
    expect(st[0]).toMatchObject({
      iface: "Wi-Fi", mac: "8c:c6:81:aa:bb:cc", up: true, gateway: "192.168.10.1", dns: ["192.168.10.1", "8.8.8.8"],
      addresses: [{ address: "192.168.10.23", prefixlen: 24, cidr: "192.168.10.0/24", family: 4 }],
    });
    expect(st[1]).toMatchObject({ iface: "イーサネット", gateway: "10.20.0.1", dns: ["10.20.0.53"] });
    expect(st[1]!.addresses.map((a) => a.cidr).sort()).toEqual(["10.20.0.0/16", "2001:db8:10::/64"]);
    expect(st[2]).toMatchObject({ up: false, addresses: [] }); // APIPA only, disconnected
    expect(parseNetIPConfigurationJson("")).toEqual([]);
  });

  it("netsh wlan show interfaces (English, Japanese, disconnected)", () => {
    expect(parseNetshWlanInterfaces(fx("win32", "netsh-wlan-show-interfaces.txt"))).toEqual([{ iface: "Wi-Fi", ssid: "Kyoka-Office", bssid: "3c:37:86:15:ad:f9" }]);
    expect(parseNetshWlanInterfaces(fx("win32", "netsh-wlan-show-interfaces-ja.txt"))).toEqual([{ iface: "Wi-Fi", ssid: "庁舎-WiFi", bssid: "3c:37:86:15:ad:fb" }]);
    expect(parseNetshWlanInterfaces(fx("win32", "netsh-wlan-show-interfaces-disconnected.txt"))).toEqual([]);
  });
});

describe("macOS parsers", () => {
  it("airport -I", () => {
    expect(parseAirportInfo(fx("darwin", "airport-I.txt"), "en0")).toEqual({ iface: "en0", ssid: "SnazzleDazzle", bssid: "3c:37:86:15:ad:f9" });
    expect(parseAirportInfo(fx("darwin", "airport-I-off.txt"))).toBeUndefined();
  });
  it("networksetup -getairportnetwork", () => {
    expect(parseNetworksetupAirport(fx("darwin", "networksetup-getairportnetwork.txt"), "en0")?.ssid).toBe("Kyoka-Office");
    expect(parseNetworksetupAirport(fx("darwin", "networksetup-getairportnetwork-none.txt"))).toBeUndefined();
  });
  it("ipconfig getsummary", () => {
    const text = fx("darwin", "ipconfig-getsummary-en0.txt");
    expect(parseIpconfigSummary(text, "en0")).toEqual({ iface: "en0", ssid: "Kyoka-Office", bssid: "3c:37:86:15:ad:f9" });
    expect(parseIpconfigRouter(text)).toBe("192.168.1.1");
    expect(parseIpconfigSummary("<dictionary> {\n  InterfaceType : Ethernet\n}\n")).toBeUndefined();
  });
  it("route -n get default and arp", () => {
    expect(parseRouteGetDefault(fx("darwin", "route-n-get-default.txt"))).toEqual({ gateway: "192.168.1.1", iface: "en0" });
    expect(parseRouteGetDefault(fx("darwin", "route-n-get-default-none.txt"))).toBeUndefined();
    expect(parseArpEntry(fx("darwin", "arp-n-gateway.txt"))).toBe("00:1c:0e:ec:5c:00");
  });
});
