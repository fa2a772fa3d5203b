/**
 * macOS attachment parsers (pure):
 *  - `networksetup -getairportnetwork en0`: `Current Wi-Fi Network: NAME` (older:
 *    `Current AirPort Network: NAME`), or `You are not associated with an AirPort network.`
 *  - `airport -I` (Apple80211 private framework; removed in macOS 14.4): `key: value` lines.
 *  - `ipconfig getsummary en0`: a `<dictionary> { … }` dump with `SSID : NAME`, `BSSID : …`,
 *    `InterfaceType : WiFi`, and a `Router : a.b.c.d` line in the IPv4 section on some versions.
 *  - `route -n get default`: `gateway: a.b.c.d` and `interface: en0`.
 */
import { canonicalIp, parseIp } from "../../../lib/net/ip.js";
import { normalizeMac } from "../../../lib/net/mac.js";
import type { WifiLink } from "./types.js";

export function parseNetworksetupAirport(text: string, iface: string | null = null): WifiLink | undefined {
  const m = /^Current (?:Wi-Fi|AirPort) Network:\s?(.*)$/m.exec(text);
  if (!m || !m[1]!.trim()) return undefined;
  return { iface, ssid: m[1]!.trim(), bssid: null };
}

function keyValues(text: string, sep: RegExp): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const m = sep.exec(line);
    if (m && !out.has(m[1]!)) out.set(m[1]!, m[2]!.trim());
  }
  return out;
}

export function parseAirportInfo(text: string, iface: string | null = null): WifiLink | undefined {
  const kv = keyValues(text, /^\s*([^:]+?):\s?(.*)$/);
  const state = kv.get("state");
  const ssid = kv.get("SSID");
  if (!ssid || (state && state !== "running")) return undefined;
  return { iface, ssid, bssid: normalizeMac(kv.get("BSSID")) ?? null };
}

export function parseIpconfigSummary(text: string, iface: string | null = null): WifiLink | undefined {
  const kv = keyValues(text, /^\s*([A-Za-z0-9_]+)\s+:\s(.*)$/);
  const ssid = kv.get("SSID");
  if (!ssid) return undefined;
  return { iface, ssid, bssid: normalizeMac(kv.get("BSSID")) ?? null };
}

/** The `Router : a.b.c.d` of an `ipconfig getsummary` dump, if present. */
export function parseIpconfigRouter(text: string): string | undefined {
  const m = /^\s*Router\s+:\s(\S+)/m.exec(text);
  return m && parseIp(m[1]!) ? canonicalIp(m[1]!) : undefined;
}

export function parseRouteGetDefault(text: string): { gateway: string | null; iface: string | null } | undefined {
  const kv = keyValues(text, /^\s*([a-z ]+):\s(.*)$/);
  const gw = kv.get("gateway");
  const iface = kv.get("interface") ?? null;
  if (!gw && !iface) return undefined;
  return { gateway: gw && parseIp(gw) ? canonicalIp(gw) : null, iface };
}

/** `arp -n a.b.c.d` → the MAC (`? (192.168.1.1) at 0:1c:e:ec:5c:0 on en0 ifscope [ethernet]`). */
export function parseArpEntry(text: string): string | undefined {
  const m = / at ([0-9a-fA-F:]+) on /.exec(text);
  return m ? normalizeMac(m[1]) : undefined;
}

/**
 * The Wi-Fi link of a macOS interface from what the tools said, never a wrong SSID:
 *  - `ipconfig getsummary` with a real SSID → it (macOS ≤ 14.3, or the agent has Location access);
 *  - `SSID : <redacted>` (14.4+ without Location Services for the agent) → unavailable;
 *  - else `networksetup -getairportnetwork` (15.x says "not associated" even when it is: no
 *    answer, not "no Wi-Fi") and the legacy `airport -I` (gone since 14.4);
 *  - a Wi-Fi interface that is up with an address but named by none of them → unavailable.
 * `unavailable` means the SSID is unknown: it is reported as null, and an approvedNetworks entry
 * that names an SSID does not match it (the attachment then needs approval, never a false pass).
 */
export function darwinWifi(iface: string, summary: string, networksetup: string, airport: string): (WifiLink & { unavailable?: true }) | undefined {
  const isWifi = /InterfaceType\s*:\s*WiFi/.test(summary);
  const fromSummary = parseIpconfigSummary(summary, iface);
  if (fromSummary && fromSummary.ssid !== "<redacted>") return fromSummary;
  const redacted = fromSummary?.ssid === "<redacted>";
  if (!redacted) {
    const other = parseNetworksetupAirport(networksetup, iface) ?? parseAirportInfo(airport, iface);
    if (other) return other;
  }
  if (redacted || isWifi) return { iface, ssid: null, bssid: null, unavailable: true };
  return undefined;
}
