/**
 * Network approvals (甲許可) — `match` keys, all of which must hold:
 *  - `cidr`: contains details.address (or remoteAddress), or covers / equals details.cidr;
 *  - `ssid`: glob on details.ssid; `bssid`, `gatewayMac`: MAC equality after normalisation;
 *  - `destination`: `"cidr"` or `"cidr:port"` (IPv6 with a port: `"2001:db8::/32:443"` or
 *    `"[2001:db8::1]:443"`) against remoteAddress/remotePort;
 *  - `iface`: glob on details.iface;
 *  - `action`, and any other key: as the generic matcher (equality, strings as globs).
 */
import { cidrContains, cidrCovers, parseCidr } from "../../lib/net/ip.js";
import { macEquals } from "../../lib/net/mac.js";
import type { Details, EventType } from "../schema.js";
import { genericMatcher, globMatch, type MatchSpec } from "./index.js";

/** Parse `"cidr"` / `"cidr:port"` / `"[v6]:port"` / `"a.b.c.d:port"`. */
export function parseDestination(text: string): { cidr: string; port?: number } | undefined {
  const s = text.trim();
  const bracket = /^\[([^\]]+)\](?:\/(\d+))?(?::(\d+))?$/.exec(s);
  if (bracket) {
    const cidr = bracket[2] ? `${bracket[1]}/${bracket[2]}` : bracket[1]!;
    return parseCidr(cidr) ? { cidr, ...(bracket[3] ? { port: Number(bracket[3]) } : {}) } : undefined;
  }
  if (parseCidr(s)) return { cidr: s };
  const m = /^(.*):(\d{1,5})$/.exec(s);
  if (m && parseCidr(m[1]!) && Number(m[2]) <= 65535) return { cidr: m[1]!, port: Number(m[2]) };
  return undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === "string" && v ? v : undefined;
}

export function matchNetwork(match: MatchSpec, details: Details, type: EventType): boolean {
  const rest: MatchSpec = {};
  for (const [key, want] of Object.entries(match)) {
    const w = String(want);
    switch (key) {
      case "cidr": {
        const c = parseCidr(w);
        if (!c) return false;
        const dc = str(details.cidr);
        const addr = str(details.address) ?? str(details.remoteAddress);
        const ok = (dc !== undefined && cidrCovers(c, dc)) || (addr !== undefined && cidrContains(c, addr));
        if (!ok) return false;
        break;
      }
      case "ssid":
        if (!globMatch(w, details.ssid)) return false;
        break;
      case "bssid":
      case "gatewayMac":
        if (!macEquals(w, str(details[key]))) return false;
        break;
      case "destination": {
        const d = parseDestination(w);
        const addr = str(details.remoteAddress);
        if (!d || !addr || !cidrContains(d.cidr, addr)) return false;
        if (d.port !== undefined && Number(details.remotePort) !== d.port) return false;
        break;
      }
      case "iface":
        if (!globMatch(w, details.iface)) return false;
        break;
      default:
        rest[key] = want;
    }
  }
  return genericMatcher(rest, details, type);
}
