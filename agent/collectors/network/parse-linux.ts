/**
 * Linux attachment parsers (pure): `ip -json addr`, `ip -json route`, `ip -json neigh`,
 * /etc/resolv.conf, `nmcli -t -f ACTIVE,SSID,BSSID dev wifi`, `iw dev <if> link`.
 */
import { canonicalIp, isLinkLocal, networkOf, parseIp } from "../../../lib/net/ip.js";
import { normalizeMac } from "../../../lib/net/mac.js";
import { emptyInterface, type InterfaceAddress, type InterfaceState, type Route, type WifiLink } from "./types.js";

interface IpAddrJson {
  ifname?: string;
  flags?: string[];
  operstate?: string;
  link_type?: string;
  address?: string;
  addr_info?: { family?: string; local?: string; prefixlen?: number; scope?: string }[];
}

function parseJsonArray(text: string): unknown[] {
  const t = text.trim();
  if (!t) return [];
  const v: unknown = JSON.parse(t);
  return Array.isArray(v) ? v : [];
}

/** `ip -json addr show` → interfaces with their global addresses (gateway etc. filled later). */
export function parseIpAddrJson(text: string): InterfaceState[] {
  const out: InterfaceState[] = [];
  for (const raw of parseJsonArray(text) as IpAddrJson[]) {
    if (!raw || typeof raw.ifname !== "string") continue;
    const st = emptyInterface(raw.ifname);
    st.loopback = raw.link_type === "loopback" || (raw.flags ?? []).includes("LOOPBACK");
    st.up = (raw.flags ?? []).includes("UP");
    const mac = normalizeMac(raw.address);
    st.mac = mac && mac !== "00:00:00:00:00:00" ? mac : null;
    for (const a of raw.addr_info ?? []) {
      if (typeof a.local !== "string" || typeof a.prefixlen !== "number") continue;
      const addr = interfaceAddress(a.local, a.prefixlen, a.scope === "host" || a.scope === "link");
      if (addr) st.addresses.push(addr);
    }
    out.push(st);
  }
  return out;
}

/**
 * One address of an interface as the attachment keeps it, or undefined for the ones it leaves
 * out (host- or link-scope, link-local, unparsable). Shared by the `ip -json` and rtnetlink readers.
 */
export function interfaceAddress(local: string, prefixlen: number, hostOrLinkScope: boolean): InterfaceAddress | undefined {
  if (hostOrLinkScope || isLinkLocal(local)) return undefined;
  const ip = parseIp(local);
  const cidr = networkOf(local, prefixlen);
  if (!ip || !cidr) return undefined;
  return { address: canonicalIp(local), prefixlen, cidr, family: ip.family };
}

interface IpRouteJson { dst?: string; gateway?: string; dev?: string; metric?: number; via?: { family?: string; host?: string } }

/** `ip -json route` / `ip -6 -json route` → routes. `family` is the table's family. */
export function parseIpRouteJson(text: string, family: 4 | 6 = 4): Route[] {
  const out: Route[] = [];
  for (const r of parseJsonArray(text) as IpRouteJson[]) {
    if (!r || typeof r.dst !== "string") continue;
    const gw = r.gateway ?? r.via?.host ?? null;
    out.push({ dst: r.dst, gateway: gw ? canonicalIp(gw) : null, dev: r.dev ?? null, metric: r.metric ?? 0, family });
  }
  return out;
}

/** The default gateway of each interface: IPv4 before IPv6, lowest metric first. */
export function defaultGateways(routes: Route[]): Map<string, string> {
  const best = new Map<string, Route>();
  for (const r of routes) {
    if (!r.dev || !r.gateway || !(r.dst === "default" || r.dst === "0.0.0.0/0" || r.dst === "::/0")) continue;
    const cur = best.get(r.dev);
    if (!cur || r.family < cur.family || (r.family === cur.family && r.metric < cur.metric)) best.set(r.dev, r);
  }
  return new Map([...best].map(([dev, r]) => [dev, r.gateway!]));
}

interface IpNeighJson { dst?: string; dev?: string; lladdr?: string; state?: string[] }

/** `ip -json neigh` → `${dev}|${ip}` → MAC (entries without a link-layer address are skipped). */
export function parseIpNeighJson(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const n of parseJsonArray(text) as IpNeighJson[]) {
    if (!n?.dst || !n.dev) continue;
    if ((n.state ?? []).includes("FAILED") || (n.state ?? []).includes("INCOMPLETE")) continue;
    const mac = normalizeMac(n.lladdr);
    if (mac) out.set(`${n.dev}|${canonicalIp(n.dst)}`, mac);
  }
  return out;
}

/** `nameserver` lines of resolv.conf. */
export function parseResolvConf(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m && parseIp(m[1]!)) out.push(canonicalIp(m[1]!));
  }
  return out;
}

/** Split an `nmcli -t` line on unescaped colons, unescaping `\:` and `\\`. */
export function splitNmcliTerse(line: string): string[] {
  const fields: string[] = [];
  let cur = "";
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "\\" && i + 1 < line.length) { cur += line[++i]; continue; }
    if (c === ":") { fields.push(cur); cur = ""; continue; }
    cur += c;
  }
  fields.push(cur);
  return fields;
}

/**
 * `nmcli -t -f ACTIVE,SSID,BSSID dev wifi [list --rescan no]` → the active network, if any.
 * ACTIVE is `yes`/`no` (localised in some locales: `はい`; any value other than no/いいえ after a
 * LANG=C run counts as yes, so the reader runs nmcli with LC_ALL=C).
 */
export function parseNmcliWifi(text: string): WifiLink | undefined {
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    const [active, ssid, bssid] = splitNmcliTerse(line.replace(/\r$/, ""));
    if (active?.toLowerCase() !== "yes") continue;
    return { iface: null, ssid: ssid || null, bssid: normalizeMac(bssid) ?? null };
  }
  return undefined;
}

/** `iw dev <if> link` → the association, undefined when "Not connected." */
export function parseIwLink(text: string): WifiLink | undefined {
  const head = /^Connected to ([0-9a-fA-F:]{17})(?: \(on (\S+?)\))?/m.exec(text);
  if (!head) return undefined;
  const ssid = /^\s*SSID:\s?(.*)$/m.exec(text)?.[1] ?? null;
  return { iface: head[2] ?? null, ssid: ssid || null, bssid: normalizeMac(head[1]) ?? null };
}

/**
 * Combine the pieces of one read into interface states: gateways per interface, the gateway's
 * MAC from the neighbour table, DNS servers (resolv.conf is global: every interface gets it), and
 * Wi-Fi associations by interface name.
 */
export function assembleLinuxState(
  addrs: InterfaceState[],
  routes: Route[],
  neigh: Map<string, string>,
  dns: string[],
  wifi: Map<string, WifiLink>,
): InterfaceState[] {
  const gws = defaultGateways(routes);
  return addrs.map((st) => {
    const gateway = gws.get(st.iface) ?? null;
    const w = wifi.get(st.iface);
    return {
      ...st,
      gateway,
      gatewayMac: gateway ? neigh.get(`${st.iface}|${gateway}`) ?? null : null,
      ssid: w?.ssid ?? null,
      bssid: w?.bssid ?? null,
      dns: st.loopback ? [] : [...dns],
    };
  });
}
