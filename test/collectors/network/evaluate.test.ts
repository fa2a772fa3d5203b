import { describe, expect, it } from "vitest";
import { diffAttachment, destinationApproved, listeningApproved, networkApproved, outboundConnections, toAttachmentMap } from "../../../agent/collectors/network/evaluate.js";
import { emptyInterface, type InterfaceState } from "../../../agent/collectors/network/types.js";
import { matchNetwork, parseDestination } from "../../../policies/matchers/network.js";
import { matcherFor } from "../../../policies/matchers/index.js";
import { Policy } from "../../../policies/policy.js";
import type { SocketEntry } from "../../../agent/os/linux/sockets.js";

const net = (n: unknown) => Policy.parse({ network: n }).network;

function iface(name: string, address: string, prefix: number, extra: Partial<InterfaceState> = {}): InterfaceState {
  const cidr = `${address.replace(/\.\d+$/, ".0")}/${prefix}`;
  return { ...emptyInterface(name), up: true, addresses: [{ address, prefixlen: prefix, cidr, family: 4 }], ...extra };
}

describe("attachment diff", () => {
  it("raises attached for a new unapproved subnet, nothing for an approved one or loopback", () => {
    const policy = net({ approvedNetworks: [{ cidr: "10.0.0.0/8" }, { iface: "tun*" }] });
    const ev = diffAttachment({}, [
      iface("eth0", "192.168.1.5", 24, { gateway: "192.168.1.1", gatewayMac: "aa:bb:cc:dd:ee:ff", dns: ["192.168.1.1"] }),
      iface("eth1", "10.1.2.3", 24),
      iface("tun0", "172.16.0.2", 30),
      { ...iface("lo", "127.0.0.1", 8), loopback: true },
    ], policy);
    expect(ev).toEqual([{ type: "network.attached", details: {
      iface: "eth0", address: "192.168.1.5", cidr: "192.168.1.0/24", gateway: "192.168.1.1", gatewayMac: "aa:bb:cc:dd:ee:ff", ssid: null, bssid: null, dns: ["192.168.1.1"],
    } }]);
  });

  it("does not repeat for an interface already known; raises changed on a new gateway or SSID", () => {
    const policy = net({});
    const before = toAttachmentMap([iface("wlan0", "192.168.1.5", 24, { gateway: "192.168.1.1", ssid: "Office", bssid: "aa:aa:aa:aa:aa:01" })]);
    expect(diffAttachment(before, [iface("wlan0", "192.168.1.5", 24, { gateway: "192.168.1.1", ssid: "Office", bssid: "aa:aa:aa:aa:aa:01" })], policy)).toEqual([]);
    const gw = diffAttachment(before, [iface("wlan0", "192.168.1.5", 24, { gateway: "192.168.1.254", ssid: "Office", bssid: "aa:aa:aa:aa:aa:01" })], policy);
    expect(gw).toHaveLength(1);
    expect(gw[0]).toMatchObject({ type: "network.changed", details: { iface: "wlan0", changed: ["gateway"], before: { gateway: "192.168.1.1" }, after: { gateway: "192.168.1.254" } } });
    const ssid = diffAttachment(before, [iface("wlan0", "192.168.1.5", 24, { gateway: "192.168.1.1", ssid: "Cafe", bssid: "bb:bb:bb:bb:bb:01" })], policy);
    expect(ssid[0]).toMatchObject({ type: "network.changed", details: { changed: ["ssid"], ssid: "Cafe" } });
    // gateway MAC not yet resolved is not a change
    const before2 = toAttachmentMap([iface("eth0", "192.168.1.5", 24, { gateway: "192.168.1.1", gatewayMac: null })]);
    expect(diffAttachment(before2, [iface("eth0", "192.168.1.5", 24, { gateway: "192.168.1.1", gatewayMac: "aa:bb:cc:dd:ee:ff" })], policy)).toEqual([]);
  });

  it("approved networks by ssid glob, bssid, gateway MAC (all named criteria must hold)", () => {
    const st = iface("wlan0", "192.168.1.5", 24, { ssid: "Kyoka-Office", bssid: "3c:37:86:15:ad:f9", gatewayMac: "00:1c:0e:ec:5c:00" });
    const a = st.addresses[0]!;
    expect(networkApproved(net({ approvedNetworks: [{ ssid: "Kyoka-*" }] }), st, a)).toBe(true);
    expect(networkApproved(net({ approvedNetworks: [{ bssid: "3C-37-86-15-AD-F9" }] }), st, a)).toBe(true);
    expect(networkApproved(net({ approvedNetworks: [{ gatewayMac: "0:1c:e:ec:5c:0" }] }), st, a)).toBe(true);
    expect(networkApproved(net({ approvedNetworks: [{ ssid: "Kyoka-*", cidr: "10.0.0.0/8" }] }), st, a)).toBe(false);
    expect(networkApproved(net({ approvedNetworks: [{ name: "nothing named" }] }), st, a)).toBe(false);
  });
});

describe("connections and listeners", () => {
  const sock = (p: Partial<SocketEntry>): SocketEntry => ({ protocol: "tcp", family: 4, localAddress: "10.0.0.5", localPort: 50000, remoteAddress: "203.0.113.9", remotePort: 443, state: "ESTABLISHED", uid: 0, inode: 1, ...p });

  it("outbound = established and the local port is not one of our listening ports", () => {
    const rows = [
      sock({ inode: 1 }),
      sock({ inode: 2, localPort: 22, remotePort: 51515 }),
      sock({ inode: 3, localPort: 22, remoteAddress: "0.0.0.0", remotePort: 0, state: "LISTEN" }),
      sock({ inode: 4, state: "TIME_WAIT" }),
      sock({ inode: 5, protocol: "udp", remotePort: 53, remoteAddress: "198.51.100.53" }),
    ];
    expect(outboundConnections(rows).map((r) => r.inode)).toEqual([1, 5]);
  });

  it("approved destinations by cidr and ports; listening by port, protocol and process", () => {
    const policy = net({ approvedDestinations: [{ cidr: "203.0.113.0/24", ports: [443] }], approvedListeningPorts: [{ port: 22, protocol: "tcp", process: "sshd" }] });
    expect(destinationApproved(policy, "203.0.113.9", 443)).toBe(true);
    expect(destinationApproved(policy, "203.0.113.9", 80)).toBe(false);
    expect(destinationApproved(policy, "::ffff:203.0.113.9", 443)).toBe(true);
    const owner = { pid: 1, process: "sshd", exe: "/usr/sbin/sshd", uid: 0, user: "root" };
    expect(listeningApproved(policy, { protocol: "tcp", localPort: 22 }, owner)).toBe(true);
    expect(listeningApproved(policy, { protocol: "tcp", localPort: 22 }, { ...owner, process: "nc", exe: "/usr/bin/nc" })).toBe(false);
    expect(listeningApproved(policy, { protocol: "udp", localPort: 22 }, owner)).toBe(false);
  });
});

describe("matchNetwork (approval matching)", () => {
  it("is the matcher for the network control", () => {
    expect(matcherFor("network")).toBe(matchNetwork);
  });
  it("cidr covers address, remoteAddress or cidr", () => {
    expect(matchNetwork({ cidr: "192.168.0.0/16" }, { address: "192.168.1.5", cidr: "192.168.1.0/24" }, "network.attached")).toBe(true);
    expect(matchNetwork({ cidr: "192.168.1.0/24" }, { cidr: "192.168.1.0/24" }, "network.attached")).toBe(true);
    expect(matchNetwork({ cidr: "10.0.0.0/8" }, { address: "192.168.1.5", cidr: "192.168.1.0/24" }, "network.attached")).toBe(false);
    expect(matchNetwork({ cidr: "203.0.113.0/24" }, { remoteAddress: "203.0.113.9", remotePort: 443 }, "network.connection")).toBe(true);
    expect(matchNetwork({ cidr: "not-a-cidr" }, { address: "10.0.0.1" }, "network.attached")).toBe(false);
  });
  it("ssid glob, gatewayMac and bssid normalised, iface glob", () => {
    const d = { iface: "wlan0", ssid: "Kyoka-Office", bssid: "3c:37:86:15:ad:f9", gatewayMac: "00:1c:0e:ec:5c:00" };
    expect(matchNetwork({ ssid: "kyoka-*" }, d, "network.changed")).toBe(true);
    expect(matchNetwork({ ssid: "Cafe*" }, d, "network.changed")).toBe(false);
    expect(matchNetwork({ gatewayMac: "00-1C-0E-EC-5C-00" }, d, "network.changed")).toBe(true);
    expect(matchNetwork({ bssid: "3c37.8615.adf9" }, d, "network.changed")).toBe(true);
    expect(matchNetwork({ iface: "wlan*", ssid: "Kyoka-Office" }, d, "network.changed")).toBe(true);
    expect(matchNetwork({ iface: "eth*" }, d, "network.changed")).toBe(false);
  });
  it("destination cidr and cidr:port", () => {
    const d = { remoteAddress: "203.0.113.9", remotePort: 443 };
    expect(matchNetwork({ destination: "203.0.113.0/24" }, d, "network.connection")).toBe(true);
    expect(matchNetwork({ destination: "203.0.113.0/24:443" }, d, "network.connection")).toBe(true);
    expect(matchNetwork({ destination: "203.0.113.0/24:80" }, d, "network.connection")).toBe(false);
    expect(matchNetwork({ destination: "203.0.113.9:443" }, d, "network.connection")).toBe(true);
    expect(matchNetwork({ destination: "2001:db8::/32:443" }, { remoteAddress: "2001:db8::1", remotePort: 443 }, "network.connection")).toBe(true);
    expect(matchNetwork({ destination: "[2001:db8::1]:443" }, { remoteAddress: "2001:db8::1", remotePort: 443 }, "network.connection")).toBe(true);
    expect(matchNetwork({ destination: "203.0.113.0/24" }, { address: "203.0.113.9" }, "network.attached")).toBe(false);
    expect(parseDestination("2001:db8::1")).toEqual({ cidr: "2001:db8::1" });
    expect(parseDestination("garbage:99")).toBeUndefined();
  });
  it("other keys fall back to the generic matcher", () => {
    expect(matchNetwork({ process: "chrom*", action: "connection" }, { process: "chrome", remoteAddress: "1.1.1.1" }, "network.connection")).toBe(true);
    expect(matchNetwork({ process: "firefox" }, { process: "chrome" }, "network.connection")).toBe(false);
  });
});
