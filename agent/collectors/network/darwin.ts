/**
 * macOS attachment reading (thin): addresses from getifaddrs (os.networkInterfaces), the default
 * route from `route -n get default`, its MAC from `arp -n`, Wi-Fi from `ipconfig getsummary`,
 * falling back to `networksetup -getairportnetwork` and the legacy `airport -I`.
 */
import { networkInterfaces } from "node:os";
import { canonicalIp, isLinkLocal, networkOf, parseIp } from "../../../lib/net/ip.js";
import { normalizeMac } from "../../../lib/net/mac.js";
import { darwinWifi, parseArpEntry, parseNetworksetupAirport, parseRouteGetDefault } from "./parse-darwin.js";
import { run } from "./linux.js";
import { emptyInterface, type AttachmentReader, type InterfaceState, type Route, type WifiLink } from "./types.js";

const AIRPORT = "/System/Library/PrivateFrameworks/Apple80211.framework/Versions/Current/Resources/airport";

/** Interfaces and addresses from os.networkInterfaces() (works on every OS). */
export function nodeInterfaces(): InterfaceState[] {
  const out: InterfaceState[] = [];
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    const st = emptyInterface(name);
    st.up = true;
    for (const a of addrs ?? []) {
      if (a.internal) st.loopback = true;
      st.mac ??= normalizeMac(a.mac) && a.mac !== "00:00:00:00:00:00" ? normalizeMac(a.mac)! : null;
      const prefix = Number(a.cidr?.split("/")[1]);
      if (a.internal || isLinkLocal(a.address) || !Number.isInteger(prefix)) continue;
      const cidr = networkOf(a.address, prefix);
      const ip = parseIp(a.address);
      if (cidr && ip) st.addresses.push({ address: canonicalIp(a.address), prefixlen: prefix, cidr, family: ip.family });
    }
    out.push(st);
  }
  return out;
}

async function wifiOf(iface: string): Promise<WifiLink | undefined> {
  const summary = await run("ipconfig", ["getsummary", iface]).catch(() => "");
  if (summary && !/InterfaceType\s*:\s*WiFi/.test(summary)) return undefined;
  // 14.4+ redacts the SSID: then networksetup and airport (gone) cannot do better — not run
  const redacted = /^\s*SSID\s*:\s*<redacted>/m.test(summary);
  const networksetup = redacted ? "" : await run("networksetup", ["-getairportnetwork", iface]).catch(() => "");
  const airport = redacted || parseNetworksetupAirport(networksetup, iface) ? "" : await run(AIRPORT, ["-I"]).catch(() => "");
  // unavailable → ssid null (unknown), never a guess
  return darwinWifi(iface, summary, networksetup, airport);
}

export class DarwinAttachmentReader implements AttachmentReader {
  async read(): Promise<InterfaceState[]> {
    const states = nodeInterfaces();
    const def = parseRouteGetDefault(await run("route", ["-n", "get", "default"]).catch(() => ""));
    for (const st of states) {
      if (def?.iface === st.iface && def.gateway) {
        st.gateway = def.gateway;
        st.gatewayMac = parseArpEntry(await run("arp", ["-n", def.gateway]).catch(() => "")) ?? null;
      }
      if (/^en\d+$/.test(st.iface) && st.addresses.length) {
        const w = await wifiOf(st.iface);
        st.ssid = w?.ssid ?? null;
        st.bssid = w?.bssid ?? null;
      }
    }
    return states;
  }

  async routes(): Promise<Route[]> {
    const def = parseRouteGetDefault(await run("route", ["-n", "get", "default"]).catch(() => ""));
    return def?.gateway ? [{ dst: "default", gateway: def.gateway, dev: def.iface, metric: 0, family: 4 }] : [];
  }
}
