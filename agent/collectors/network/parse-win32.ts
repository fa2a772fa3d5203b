/**
 * Windows attachment parsers (pure):
 *  - `Get-NetIPConfiguration -Detailed | ConvertTo-Json -Depth 4` (CIM objects: IPv4Address[] of
 *    MSFT_NetIPAddress, IPv4DefaultGateway[] of MSFT_NetRoute, DNSServer[] of
 *    MSFT_DNSClientServerAddress, NetAdapter of MSFT_NetAdapter). PowerShell writes a lone
 *    element as an object instead of a one-element array; both are accepted.
 *  - `netsh wlan show interfaces` (English and Japanese labels; `BSSID` or, on Windows 11,
 *    `AP BSSID`).
 */
import { canonicalIp, isLinkLocal, networkOf, parseIp } from "../../../lib/net/ip.js";
import { normalizeMac } from "../../../lib/net/mac.js";
import { emptyInterface, type InterfaceState, type WifiLink } from "./types.js";

type Json = Record<string, unknown>;

function list(v: unknown): Json[] {
  if (v === null || v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).filter((x): x is Json => !!x && typeof x === "object");
}

function str(v: unknown): string | undefined {
  return typeof v === "string" && v ? v : undefined;
}

export function parseNetIPConfigurationJson(text: string): InterfaceState[] {
  const t = text.replace(/^\uFEFF/, "").trim();
  if (!t) return [];
  const out: InterfaceState[] = [];
  for (const cfg of list(JSON.parse(t))) {
    const name = str(cfg.InterfaceAlias);
    if (!name) continue;
    const st = emptyInterface(name);
    const adapter = list(cfg.NetAdapter)[0];
    st.mac = normalizeMac(str(adapter?.MacAddress)) ?? null;
    const status = str(adapter?.Status);
    st.up = status === undefined ? true : status.toLowerCase() === "up";
    st.loopback = /loopback/i.test(str(cfg.InterfaceDescription) ?? "");
    for (const a of [...list(cfg.IPv4Address), ...list(cfg.IPv6Address)]) {
      const ip = str(a.IPAddress);
      const prefix = typeof a.PrefixLength === "number" ? a.PrefixLength : undefined;
      if (!ip || prefix === undefined || isLinkLocal(ip)) continue;
      const parsed = parseIp(ip);
      const cidr = networkOf(ip, prefix);
      if (!parsed || !cidr) continue;
      st.addresses.push({ address: canonicalIp(ip), prefixlen: prefix, cidr, family: parsed.family });
    }
    const gw = [...list(cfg.IPv4DefaultGateway), ...list(cfg.IPv6DefaultGateway)]
      .map((r) => str(r.NextHop))
      .find((h) => h && h !== "0.0.0.0" && h !== "::");
    st.gateway = gw ? canonicalIp(gw) : null;
    // DNSServer: [{AddressFamily: 2 (IPv4) | 23 (IPv6), ServerAddresses: [...]}]
    for (const d of list(cfg.DNSServer)) {
      const addrs = d.ServerAddresses;
      for (const s of Array.isArray(addrs) ? addrs : [addrs]) {
        if (typeof s === "string" && parseIp(s)) st.dns.push(canonicalIp(s));
      }
    }
    out.push(st);
  }
  return out;
}

const LABELS: Record<string, "name" | "ssid" | "bssid" | "state" | "mac"> = {
  "name": "name", "名前": "name",
  "ssid": "ssid",
  "bssid": "bssid", "ap bssid": "bssid",
  "state": "state", "状態": "state",
  "physical address": "mac", "物理アドレス": "mac",
};

/** `netsh wlan show interfaces` → one entry per interface that is connected. */
export function parseNetshWlanInterfaces(text: string): WifiLink[] {
  const out: WifiLink[] = [];
  let cur: { name?: string; ssid?: string; bssid?: string; state?: string } | undefined;
  const flush = (): void => {
    if (cur?.name && cur.ssid) {
      out.push({ iface: cur.name, ssid: cur.ssid, bssid: normalizeMac(cur.bssid) ?? null });
    }
  };
  for (const raw of text.split(/\r?\n/)) {
    const m = /^\s+([^:]+?)\s*:\s?(.*)$/.exec(raw);
    if (!m) continue;
    const key = LABELS[m[1]!.trim().toLowerCase()];
    if (!key) continue;
    const value = m[2]!.trim();
    if (key === "name") {
      flush();
      cur = { name: value };
    } else if (cur && key !== "mac") {
      cur[key] = value;
    }
  }
  flush();
  return out;
}
