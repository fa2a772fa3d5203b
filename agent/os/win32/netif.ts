/**
 * Network attachment on Windows through the API (no PowerShell, no netsh):
 *  - GetAdaptersAddresses (GAA_FLAG_INCLUDE_GATEWAYS): each adapter's GUID name, friendly name
 *    (UTF-16), MAC, up/down, unicast addresses with prefix lengths, DNS servers and gateways —
 *    everything lies in the one buffer the call fills, so it is parsed from the bytes (pointers
 *    turned into offsets), and tested on a captured buffer;
 *  - GetIpNetTable: the gateway's MAC;
 *  - WLAN: WlanEnumInterfaces + WlanQueryInterface(wlan_intf_opcode_current_connection): SSID
 *    (raw octets: UTF-8, else CP932 — a Japanese SSID set by an older router) and BSSID, matched
 *    to the adapter by interface GUID. No console text, no code page anywhere.
 *  - change notification: NotifyAddrChange / NotifyRouteChange with an event in an OVERLAPPED,
 *    waited on by the shared waiter (waiter.ts).
 */
import iconv from "iconv-lite";
import { utf16, win32, wlanapi } from "./ffi.js";

export interface AdapterInfo {
  ifIndex: number;
  /** "{GUID}" */
  guid: string;
  friendlyName: string;
  description: string;
  mac: string | null;
  up: boolean;
  loopback: boolean;
  addresses: { address: string; prefixlen: number; family: 4 | 6 }[];
  dns: string[];
  gateways: string[];
}

const IF_TYPE_SOFTWARE_LOOPBACK = 24;

/** sockaddr bytes → address text (AF_INET = 2, AF_INET6 = 23). */
export function sockaddrText(b: Buffer): string | undefined {
  if (b.length < 8) return undefined;
  const family = b.readUInt16LE(0);
  if (family === 2) return `${b[4]}.${b[5]}.${b[6]}.${b[7]}`;
  if (family === 23 && b.length >= 24) {
    const w: string[] = [];
    for (let i = 8; i < 24; i += 2) w.push(b.readUInt16BE(i).toString(16));
    let best = -1;
    let len = 0;
    for (let i = 0; i < 8; ) {
      if (w[i] !== "0") { i++; continue; }
      let j = i;
      while (j < 8 && w[j] === "0") j++;
      if (j - i > len && j - i > 1) { best = i; len = j - i; }
      i = j;
    }
    return best < 0 ? w.join(":") : `${w.slice(0, best).join(":")}::${w.slice(best + len).join(":")}`;
  }
  return undefined;
}

/**
 * Parse a GetAdaptersAddresses buffer (x64 layout of IP_ADAPTER_ADDRESSES_LH). `base` is the
 * buffer's address in memory: pointers inside it are turned into offsets; a pointer outside
 * the buffer is ignored.
 */
export function parseAdapters(buf: Buffer, base: bigint): AdapterInfo[] {
  const off = (p: bigint): number | undefined => {
    if (p === 0n) return undefined;
    const o = Number(p - base);
    return o >= 0 && o < buf.length ? o : undefined;
  };
  const ptr = (o: number): number | undefined => off(buf.readBigUInt64LE(o));
  const wstr = (o: number): string => {
    const at = ptr(o);
    if (at === undefined) return "";
    let end = at;
    while (end + 1 < buf.length && (buf[end] !== 0 || buf[end + 1] !== 0)) end += 2;
    return buf.toString("utf16le", at, end);
  };
  const cstr = (o: number): string => {
    const at = ptr(o);
    if (at === undefined) return "";
    const end = buf.indexOf(0, at);
    return buf.toString("latin1", at, end < 0 ? buf.length : end);
  };
  const sockaddrAt = (o: number): string | undefined => {
    const at = ptr(o);
    const len = buf.readInt32LE(o + 8);
    if (at === undefined || len <= 0) return undefined;
    return sockaddrText(buf.subarray(at, at + len));
  };
  /** a linked list of {Length, Flags/Reserved, Next @8, SOCKET_ADDRESS @16} nodes */
  const walk = (first: number | undefined, each: (o: number) => void): void => {
    const seen = new Set<number>();
    for (let o = first; o !== undefined && !seen.has(o) && o + 28 <= buf.length; o = ptr(o + 8)) {
      seen.add(o);
      each(o);
    }
  };
  const out: AdapterInfo[] = [];
  const seen = new Set<number>();
  for (let o: number | undefined = buf.length >= 232 ? 0 : undefined; o !== undefined && !seen.has(o) && o + 232 <= buf.length; o = ptr(o + 8)) {
    seen.add(o);
    const macLen = Math.min(8, buf.readUInt32LE(o + 88));
    const mac = macLen === 6 ? [...buf.subarray(o + 80, o + 86)].map((b) => b.toString(16).padStart(2, "0")).join(":") : null;
    const a: AdapterInfo = {
      ifIndex: buf.readUInt32LE(o + 4),
      guid: cstr(o + 16),
      friendlyName: wstr(o + 72),
      description: wstr(o + 64),
      mac,
      up: buf.readUInt32LE(o + 104) === 1,
      loopback: buf.readUInt32LE(o + 100) === IF_TYPE_SOFTWARE_LOOPBACK,
      addresses: [],
      dns: [],
      gateways: [],
    };
    walk(ptr(o + 24), (u) => {
      const address = sockaddrAt(u + 16);
      const prefixlen = buf[u + 56]!; // OnLinkPrefixLength (after the 16-byte SOCKET_ADDRESS and five ULONGs)
      if (address) a.addresses.push({ address, prefixlen, family: address.includes(":") ? 6 : 4 });
    });
    walk(ptr(o + 48), (d) => {
      const address = sockaddrAt(d + 16);
      if (address) a.dns.push(address);
    });
    walk(ptr(o + 208), (g) => {
      const address = sockaddrAt(g + 16);
      if (address) a.gateways.push(address);
    });
    out.push(a);
  }
  return out;
}

/** GetIpNetTable rows (dwIndex, dwPhysAddrLen, bPhysAddr[8], dwAddr, dwType): ifIndex|ip → MAC. */
export function parseIpNetTable(buf: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  const n = buf.readUInt32LE(0);
  for (let i = 0; i < n && 4 + (i + 1) * 24 <= buf.length; i++) {
    const o = 4 + i * 24;
    const len = buf.readUInt32LE(o + 4);
    const type = buf.readUInt32LE(o + 20);
    if (len !== 6 || type === 2 /* invalid */) continue;
    const mac = [...buf.subarray(o + 8, o + 14)].map((b) => b.toString(16).padStart(2, "0")).join(":");
    out.set(`${buf.readUInt32LE(o)}|${buf[o + 16]}.${buf[o + 17]}.${buf[o + 18]}.${buf[o + 19]}`, mac);
  }
  return out;
}

const GAA_FLAG_INCLUDE_GATEWAYS = 0x80;
const GAA_FLAG_SKIP_ANYCAST = 0x2;
const GAA_FLAG_SKIP_MULTICAST = 0x4;

export function readAdapters(): AdapterInfo[] {
  const w = win32();
  let buf = Buffer.alloc(32 * 1024);
  for (let attempt = 0; attempt < 4; attempt++) {
    const size = [buf.length];
    const rc = w.GetAdaptersAddresses(0 /* AF_UNSPEC */, GAA_FLAG_INCLUDE_GATEWAYS | GAA_FLAG_SKIP_ANYCAST | GAA_FLAG_SKIP_MULTICAST, null, buf, size) as number;
    if (rc === 0) return parseAdapters(buf, BigInt(w.koffi.address(buf) as bigint | number));
    if (rc === 232 /* ERROR_NO_DATA */) return [];
    if (rc !== 111 /* ERROR_BUFFER_OVERFLOW */) throw new Error(`GetAdaptersAddresses failed: Win32 error ${rc}`);
    buf = Buffer.alloc(size[0]! + 4096);
  }
  throw new Error("GetAdaptersAddresses: the table keeps growing");
}

export function readNeighbours(): Map<string, string> {
  const w = win32();
  let buf = Buffer.alloc(16 * 1024);
  for (let attempt = 0; attempt < 4; attempt++) {
    const size = [buf.length];
    const rc = w.GetIpNetTable(buf, size, 0) as number;
    if (rc === 0) return parseIpNetTable(buf);
    if (rc === 232) return new Map();
    if (rc !== 122) throw new Error(`GetIpNetTable failed: Win32 error ${rc}`);
    buf = Buffer.alloc(size[0]! + 1024);
  }
  return new Map();
}

// --- WLAN -----------------------------------------------------------------------------------------

/** A GUID's 16 bytes → "{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}" (the form GetAdaptersAddresses names adapters by). */
export function guidText(b: Buffer): string {
  const hex = (x: Buffer): string => x.toString("hex").toUpperCase();
  const d1 = b.readUInt32LE(0).toString(16).padStart(8, "0").toUpperCase();
  const d2 = b.readUInt16LE(4).toString(16).padStart(4, "0").toUpperCase();
  const d3 = b.readUInt16LE(6).toString(16).padStart(4, "0").toUpperCase();
  return `{${d1}-${d2}-${d3}-${hex(b.subarray(8, 10))}-${hex(b.subarray(10, 16))}}`;
}

export interface WlanInterface {
  guid: string;
  guidBytes: Buffer;
  description: string;
  /** WLAN_INTERFACE_STATE: 1 = connected */
  state: number;
}

/** WLAN_INTERFACE_INFO_LIST: dwNumberOfItems, dwIndex, then 532-byte items (GUID, WCHAR[256], state). */
export function parseWlanInterfaceList(buf: Buffer): WlanInterface[] {
  const n = buf.readUInt32LE(0);
  const out: WlanInterface[] = [];
  for (let i = 0; i < n && 8 + (i + 1) * 532 <= buf.length; i++) {
    const o = 8 + i * 532;
    const g = Buffer.from(buf.subarray(o, o + 16));
    out.push({ guid: guidText(g), guidBytes: g, description: utf16(buf.subarray(o + 16, o + 528)), state: buf.readUInt32LE(o + 528) });
  }
  return out;
}

/** SSID octets → text: UTF-8 when valid, else CP932 (a Japanese SSID from an older access point). */
export function ssidText(octets: Buffer): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(octets);
  } catch {
    return iconv.decode(octets, "cp932");
  }
}

/** WLAN_CONNECTION_ATTRIBUTES → SSID/BSSID (null when not connected). */
export function parseWlanConnection(buf: Buffer): { connected: boolean; ssid: string | null; bssid: string | null; profile: string } {
  if (buf.length < 566) return { connected: false, ssid: null, bssid: null, profile: "" };
  const state = buf.readUInt32LE(0);
  const profile = utf16(buf.subarray(8, 520));
  const len = Math.min(32, buf.readUInt32LE(520));
  const ssid = len > 0 ? ssidText(buf.subarray(524, 524 + len)) : null;
  const b = buf.subarray(560, 566);
  const bssid = b.every((x) => x === 0) ? null : [...b].map((x) => x.toString(16).padStart(2, "0")).join(":");
  return { connected: state === 1, ssid: state === 1 ? ssid : null, bssid: state === 1 ? bssid : null, profile };
}

/** The connected WLAN of each wireless adapter, by GUID. Empty when the WLAN service is absent (Wine, Server). */
export function readWlan(): Map<string, { ssid: string | null; bssid: string | null }> {
  const out = new Map<string, { ssid: string | null; bssid: string | null }>();
  const api = wlanapi();
  if (!api) return out;
  const w = win32();
  const version = [0];
  const handle = [0];
  if ((api.WlanOpenHandle(2, null, version, handle) as number) !== 0) return out;
  try {
    const listPtr: unknown[] = [null];
    if ((api.WlanEnumInterfaces(handle[0], null, listPtr) as number) !== 0) return out;
    let ifaces: WlanInterface[];
    try {
      const n = (w.koffi.decode(listPtr[0], "uint32") as number) >>> 0;
      ifaces = parseWlanInterfaceList(Buffer.from(w.koffi.decode(listPtr[0], "uint8_t", 8 + n * 532) as number[]));
    } finally {
      api.WlanFreeMemory(listPtr[0]);
    }
    for (const i of ifaces) {
      const size = [0];
      const data: unknown[] = [null];
      const type = [0];
      if ((api.WlanQueryInterface(handle[0], i.guidBytes, 7 /* wlan_intf_opcode_current_connection */, null, size, data, type) as number) !== 0) {
        out.set(i.guid, { ssid: null, bssid: null });
        continue;
      }
      try {
        const c = parseWlanConnection(Buffer.from(w.koffi.decode(data[0], "uint8_t", size[0]) as number[]));
        out.set(i.guid, { ssid: c.ssid, bssid: c.bssid });
      } finally {
        api.WlanFreeMemory(data[0]);
      }
    }
  } finally {
    api.WlanCloseHandle(handle[0], null);
  }
  return out;
}
