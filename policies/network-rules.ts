/**
 * The policy's approved network lists (承認済みネットワーク・宛先・待受ポート, 別記2 第8・第9), as pure
 * predicates over plain fields: the agent uses them to pre-filter what it reports (it only knows
 * what the server sent it), and the server re-decides every network event with the same code
 * (policies/decide.ts, catalog checks approvedNetwork / approvedDestination / approvedListeningPort).
 * Total: a field of the wrong type simply does not match.
 */
import { cidrContains, parseCidr, parseIp, type Cidr, type IpAddress } from "../lib/net/ip.js";
import { macEquals } from "../lib/net/mac.js";
import { globMatch } from "./matchers/glob.js";
import type { Policy } from "./policy.js";

export type NetworkPolicy = Policy["network"];
export type ApprovedNetwork = NetworkPolicy["approvedNetworks"][number];
export type ApprovedDestination = NetworkPolicy["approvedDestinations"][number];
export type ApprovedListeningPort = NetworkPolicy["approvedListeningPorts"][number];

/** What an attachment looks like to the approved-network list. */
export interface AttachmentView {
  iface?: unknown;
  address?: unknown;
  ssid?: unknown;
  bssid?: unknown;
  gatewayMac?: unknown;
}

const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

/**
 * An approved network covers an attachment when every criterion it names holds: cidr contains the
 * address, ssid (glob), bssid and gatewayMac (normalised MACs), iface (glob, for VPN and virtual
 * interfaces). An entry naming nothing covers nothing.
 */
export function networkCovers(entry: ApprovedNetwork, a: AttachmentView): boolean {
  let named = false;
  if (entry.cidr !== undefined) {
    named = true;
    const address = str(a.address);
    if (address === undefined || !cidrContains(entry.cidr, address)) return false;
  }
  if (entry.ssid !== undefined) {
    named = true;
    if (!globMatch(entry.ssid, a.ssid)) return false;
  }
  if (entry.bssid !== undefined) {
    named = true;
    if (!macEquals(entry.bssid, str(a.bssid))) return false;
  }
  if (entry.gatewayMac !== undefined) {
    named = true;
    if (!macEquals(entry.gatewayMac, str(a.gatewayMac))) return false;
  }
  if (entry.iface !== undefined) {
    named = true;
    if (!globMatch(entry.iface, a.iface)) return false;
  }
  return named;
}

/** The first approved network that covers the attachment. */
export function approvedNetworkFor(net: NetworkPolicy, a: AttachmentView): ApprovedNetwork | undefined {
  return net.approvedNetworks.find((e) => networkCovers(e, a));
}

const compiledDestinations = new WeakMap<NetworkPolicy, Array<{ entry: ApprovedDestination; cidr: Cidr; ports: Set<number> | null }>>();
const parsedAddresses = new Map<string, IpAddress | undefined>();

/** parseIp with a bounded cache (the same remote addresses come back every poll). */
export function parsedAddress(text: string): IpAddress | undefined {
  if (!parsedAddresses.has(text)) {
    if (parsedAddresses.size > 10_000) parsedAddresses.clear();
    parsedAddresses.set(text, parseIp(text));
  }
  return parsedAddresses.get(text);
}

/** approvedDestinations: the first whose cidr contains the address and, when it lists ports, the port is one. */
export function approvedDestinationFor(net: NetworkPolicy, address: unknown, port: unknown): ApprovedDestination | undefined {
  if (typeof address !== "string" || address.length > 100) return undefined;
  let dests = compiledDestinations.get(net);
  if (!dests) {
    dests = net.approvedDestinations.flatMap((entry) => {
      const cidr = parseCidr(entry.cidr);
      return cidr ? [{ entry, cidr, ports: entry.ports ? new Set(entry.ports) : null }] : [];
    });
    compiledDestinations.set(net, dests);
  }
  const a = parsedAddress(address);
  if (!a) return undefined;
  return dests.find((d) => cidrContains(d.cidr, a) && (!d.ports || (typeof port === "number" && d.ports.has(port))))?.entry;
}

/** The process that owns a socket, as far as it is known. */
export interface OwnerView {
  process?: unknown;
  exe?: unknown;
}

function basename(path: string): string {
  const i = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  return i < 0 ? path : path.slice(i + 1);
}

/** approvedListeningPorts: the first naming this port (and protocol, and process glob when given). */
export function approvedListeningPortFor(net: NetworkPolicy, s: { protocol?: unknown; port?: unknown }, owner: OwnerView | undefined): ApprovedListeningPort | undefined {
  return net.approvedListeningPorts.find((p) => {
    if (p.port !== s.port) return false;
    if (p.protocol && p.protocol !== s.protocol) return false;
    if (!p.process) return true;
    if (!owner) return false;
    const exe = str(owner.exe);
    return globMatch(p.process, owner.process) || (exe !== undefined && (globMatch(p.process, exe) || globMatch(p.process, basename(exe))));
  });
}
