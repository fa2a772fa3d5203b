/** The network attachment model shared by the Linux, Windows and macOS readers. */

export interface InterfaceAddress {
  address: string;
  prefixlen: number;
  /** the subnet the address lies in, e.g. 10.1.2.0/24 */
  cidr: string;
  family: 4 | 6;
}

/** One interface as attached now (別記2 第8: the network this PC is connected to). */
export interface InterfaceState {
  iface: string;
  mac: string | null;
  up: boolean;
  loopback: boolean;
  /** global-scope addresses (link-local ones are left out: every interface has them) */
  addresses: InterfaceAddress[];
  /** default gateway through this interface (IPv4 preferred), null when none */
  gateway: string | null;
  /** the gateway's MAC from the neighbour table, null when not (yet) resolved */
  gatewayMac: string | null;
  ssid: string | null;
  bssid: string | null;
  dns: string[];
}

export interface Route {
  dst: string;
  gateway: string | null;
  dev: string | null;
  metric: number;
  family: 4 | 6;
}

export interface WifiLink {
  /** the interface, when the source names it */
  iface: string | null;
  ssid: string | null;
  bssid: string | null;
}

/** Reads the attachment state of one OS (or one Linux network namespace). */
export interface AttachmentReader {
  read(): Promise<InterfaceState[]>;
  /** the routing table (for the snapshot) */
  routes(): Promise<Route[]>;
  /**
   * A cheap fingerprint of the state (no process spawned): when it is unchanged since the last
   * full read, the reconciling poll skips the full read. undefined = no cheap way, always read.
   */
  fingerprint?(): string | undefined;
  /**
   * After change notices, a read of only what they said changed (the reader keeps the rest from
   * its last read); without it the collector calls read().
   */
  readChanged?(): Promise<InterfaceState[]>;
  /**
   * Call `onChange` whenever the OS reports a link/address/route change; returns a stop function.
   * `onSource` is told once which source the notices come from (an OS event source or its fallback).
   */
  watch?(onChange: () => void, onError: (err: unknown) => void, onSource?: (source: WatchSource) => void): () => void;
}

/** Where attachment change notices come from, and the quiet time to wait after one before reading. */
export interface WatchSource {
  name: string;
  debounceMs: number;
  /** why the preferred source is not used (a fallback) */
  reason?: string;
}

export function emptyInterface(iface: string): InterfaceState {
  return { iface, mac: null, up: false, loopback: false, addresses: [], gateway: null, gatewayMac: null, ssid: null, bssid: null, dns: [] };
}
