/**
 * What the network control decides (pure): which attachments, connections and listeners are
 * covered by the policy's approved lists, and which events to raise. No I/O, no clock of its own.
 */
import { macEquals } from "../../../lib/net/mac.js";
import {
  approvedDestinationFor, approvedListeningPortFor, networkCovers as coversNetwork, parsedAddress, type ApprovedNetwork, type NetworkPolicy,
} from "../../../policies/network-rules.js";
import type { NewEvent } from "../../../policies/schema.js";
import type { SocketEntry, SocketOwner } from "../../os/linux/sockets.js";
import type { InterfaceAddress, InterfaceState } from "./types.js";

export type { ApprovedNetwork, NetworkPolicy };

/** An approved network covers an address on an interface (policies/network-rules.ts: the server decides with the same code). */
export function networkCovers(entry: ApprovedNetwork, st: InterfaceState, addr: InterfaceAddress | null): boolean {
  return coversNetwork(entry, { iface: st.iface, address: addr?.address, ssid: st.ssid, bssid: st.bssid, gatewayMac: st.gatewayMac });
}

export function networkApproved(net: NetworkPolicy, st: InterfaceState, addr: InterfaceAddress | null): boolean {
  return net.approvedNetworks.some((e) => networkCovers(e, st, addr));
}

export type AttachmentMap = Record<string, InterfaceState>;

function attachedDetails(st: InterfaceState, addr: InterfaceAddress | null): Record<string, unknown> {
  return {
    iface: st.iface,
    address: addr?.address ?? null,
    cidr: addr?.cidr ?? null,
    gateway: st.gateway,
    gatewayMac: st.gatewayMac,
    ssid: st.ssid,
    bssid: st.bssid,
    dns: st.dns,
  };
}

function view(st: InterfaceState): { gateway: string | null; gatewayMac: string | null; ssid: string | null; bssid: string | null } {
  return { gateway: st.gateway, gatewayMac: st.gatewayMac, ssid: st.ssid, bssid: st.bssid };
}

/** Interfaces that count: not loopback, up, with at least one global address. */
export function attachedInterfaces(states: InterfaceState[]): InterfaceState[] {
  return states.filter((s) => !s.loopback && s.iface !== "lo" && s.up && s.addresses.length > 0);
}

/**
 * Compare the last known attachment with the current one.
 *  - an address whose subnet (iface, cidr) was not there before and is not covered by an approved
 *    network → `network.attached`;
 *  - on an interface that was there before: a new gateway (or a different gateway MAC, SSID or
 *    BSSID, when both sides are known) → `network.changed` with before/after, unless the new
 *    state is covered by an approved network.
 */
export function diffAttachment(prev: AttachmentMap, current: InterfaceState[], net: NetworkPolicy): NewEvent[] {
  const events: NewEvent[] = [];
  for (const st of attachedInterfaces(current)) {
    const before = prev[st.iface];
    const oldCidrs = new Set((before?.addresses ?? []).map((a) => a.cidr));
    for (const addr of st.addresses) {
      if (oldCidrs.has(addr.cidr)) continue;
      if (networkApproved(net, st, addr)) continue;
      events.push({ type: "network.attached", details: attachedDetails(st, addr) });
    }
    if (!before || before.addresses.length === 0) continue;
    const reasons: string[] = [];
    if (st.gateway && st.gateway !== before.gateway) reasons.push("gateway");
    else if (st.gatewayMac && before.gatewayMac && !macEquals(st.gatewayMac, before.gatewayMac)) reasons.push("gatewayMac");
    if (st.ssid && st.ssid !== before.ssid) reasons.push("ssid");
    else if (st.bssid && before.bssid && !macEquals(st.bssid, before.bssid) && st.ssid === before.ssid) reasons.push("bssid");
    if (!reasons.length) continue;
    const addr = st.addresses[0] ?? null;
    if (st.addresses.some((a) => networkApproved(net, st, a))) continue;
    events.push({
      type: "network.changed",
      details: { ...attachedDetails(st, addr), changed: reasons, before: view(before), after: view(st) },
    });
  }
  return events;
}

/** The state to remember: attached interfaces only, keyed by name. */
export function toAttachmentMap(states: InterfaceState[]): AttachmentMap {
  const out: AttachmentMap = {};
  for (const st of attachedInterfaces(states)) out[st.iface] = st;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Connections and listeners

/** approvedDestinations: cidr contains the address and, when ports are listed, the port is one. */
export function destinationApproved(net: NetworkPolicy, address: string, port: number): boolean {
  return approvedDestinationFor(net, address, port) !== undefined;
}

export function listeningApproved(net: NetworkPolicy, s: Pick<SocketEntry, "protocol" | "localPort">, owner: SocketOwner | undefined): boolean {
  return approvedListeningPortFor(net, { protocol: s.protocol, port: s.localPort }, owner) !== undefined;
}

/** Whether a listening rule depends on the process (then the owner must be known to decide). */
export function listeningNeedsOwner(net: NetworkPolicy, s: Pick<SocketEntry, "protocol" | "localPort">): boolean {
  return net.approvedListeningPorts.some((p) => p.port === s.localPort && !!p.process);
}

export interface ScannedSocket extends SocketEntry {
  netns?: number;
}

/**
 * Outbound connections: established TCP and connected UDP whose local port is not one of the
 * listening ports of the same namespace and protocol (those are inbound).
 */
export function outboundConnections(sockets: ScannedSocket[]): ScannedSocket[] {
  const listening = new Set<string>();
  for (const s of sockets) {
    if (s.protocol === "tcp" ? s.state === "LISTEN" : (s.state === "CLOSE" && s.remotePort === 0 && s.localPort !== 0)) {
      listening.add(`${s.netns ?? 0}/${s.protocol}/${s.localPort}`);
    }
  }
  return sockets.filter((s) =>
    s.state === "ESTABLISHED" && s.remotePort !== 0 &&
    !listening.has(`${s.netns ?? 0}/${s.protocol}/${s.localPort}`) &&
    parsedAddress(s.remoteAddress) !== undefined);
}

function processKey(owner: SocketOwner | undefined): string {
  return owner ? owner.exe ?? owner.process : "?";
}

export function connectionKey(owner: SocketOwner | undefined, s: Pick<SocketEntry, "remoteAddress" | "remotePort">): string {
  return `${processKey(owner)}|${s.remoteAddress}|${s.remotePort}`;
}

export function listeningKey(owner: SocketOwner | undefined, s: Pick<SocketEntry, "localPort" | "protocol">): string {
  return `${processKey(owner)}|${s.localPort}|${s.protocol}`;
}

export function connectionEvent(s: ScannedSocket, owner: SocketOwner | undefined, ownNetns?: number): NewEvent {
  return {
    type: "network.connection",
    details: {
      pid: owner?.pid ?? null,
      process: owner?.process ?? null,
      exe: owner?.exe ?? null,
      user: owner?.user ?? null,
      localAddress: s.localAddress,
      localPort: s.localPort,
      remoteAddress: s.remoteAddress,
      remotePort: s.remotePort,
      protocol: s.protocol,
      ...(s.netns !== undefined && ownNetns !== undefined && s.netns !== ownNetns ? { netns: s.netns } : {}),
    },
  };
}

export function listeningEvent(s: ScannedSocket, owner: SocketOwner | undefined, ownNetns?: number): NewEvent {
  return {
    type: "network.listening",
    details: {
      pid: owner?.pid ?? null,
      process: owner?.process ?? null,
      exe: owner?.exe ?? null,
      user: owner?.user ?? null,
      port: s.localPort,
      protocol: s.protocol,
      address: s.localAddress,
      ...(s.netns !== undefined && ownNetns !== undefined && s.netns !== ownNetns ? { netns: s.netns } : {}),
    },
  };
}

