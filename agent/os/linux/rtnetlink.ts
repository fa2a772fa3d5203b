/**
 * rtnetlink (NETLINK_ROUTE) through koffi: the kernel's own notices of link, address and route
 * changes, and dumps of the same tables, with no `ip` process.
 *
 *  - `watchRtnetlink(onChange, onLost)`: a socket bound to RTMGRP_LINK | RTMGRP_IPV4_IFADDR |
 *    RTMGRP_IPV6_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE, read on SIGIO like the proc
 *    connector (netlink.ts); `onChange` gets which tables a datagram touched ("link", "addr",
 *    "route"). Receiving these groups needs no privilege. `onLost` = the kernel dropped notices
 *    (ENOBUFS): re-read everything.
 *  - `RouteNetlink`: RTM_GETLINK / RTM_GETADDR / RTM_GETROUTE / RTM_GETNEIGH dumps on a socket of
 *    its own (request/response), decoded into the rows `ip -json` gives (the same filters: main
 *    routing table, no host/link-scope addresses in the attachment, …).
 *
 * Both reject where koffi/libc or the socket is unavailable; the caller falls back to `ip`.
 *
 * Layouts (include/uapi/linux/rtnetlink.h, if_link.h, if_addr.h, neighbour.h):
 *   ifinfomsg { u8 family, pad; u16 type; i32 index; u32 flags, change }            16 bytes
 *   ifaddrmsg { u8 family, prefixlen, flags, scope; u32 index }                       8 bytes
 *   rtmsg     { u8 family, dst_len, src_len, tos, table, protocol, scope, type; u32 flags } 12
 *   ndmsg     { u8 family, pad1; u16 pad2; i32 ifindex; u16 state; u8 flags, type }  12 bytes
 *   then rtattr { u16 len, type } + data, each aligned to 4 bytes.
 */
import { canonicalIp } from "../../../lib/net/ip.js";
import { i32, NetlinkSocket, nlMessage, u16, u32 } from "./netlink.js";

export const NETLINK_ROUTE = 0;

export const RTMGRP_LINK = 0x1;
export const RTMGRP_IPV4_IFADDR = 0x10;
export const RTMGRP_IPV4_ROUTE = 0x40;
export const RTMGRP_IPV6_IFADDR = 0x100;
export const RTMGRP_IPV6_ROUTE = 0x400;

export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
const RTM_GETLINK = 18;
export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
const RTM_GETADDR = 22;
export const RTM_NEWROUTE = 24;
export const RTM_DELROUTE = 25;
const RTM_GETROUTE = 26;
const RTM_NEWNEIGH = 28;
const RTM_GETNEIGH = 30;

const NLM_F_REQUEST = 0x1;
const NLM_F_DUMP = 0x300;
const NLM_F_DUMP_INTR = 0x10;

const AF_INET = 2;
const AF_INET6 = 10;

const IFF_UP = 0x1;
const IFF_LOOPBACK = 0x8;
const ARPHRD_LOOPBACK = 772;
const IFLA_ADDRESS = 1;
const IFLA_IFNAME = 3;
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const RTA_DST = 1;
const RTA_OIF = 4;
const RTA_GATEWAY = 5;
const RTA_PRIORITY = 6;
const RTA_MULTIPATH = 9;
const RTA_TABLE = 15;
const RTA_VIA = 18;
const RT_TABLE_MAIN = 254;
const RTM_F_CLONED = 0x200;
const NDA_DST = 1;
const NDA_LLADDR = 2;
const NUD_INCOMPLETE = 0x01;
const NUD_FAILED = 0x20;

export type RouteTable = "link" | "addr" | "route";

/** Which tables a notice of this message type is about (undefined: none we watch). */
export function tableOf(type: number): RouteTable | undefined {
  if (type === RTM_NEWLINK || type === RTM_DELLINK) return "link";
  if (type === RTM_NEWADDR || type === RTM_DELADDR) return "addr";
  if (type === RTM_NEWROUTE || type === RTM_DELROUTE) return "route";
  return undefined;
}

/** The attributes after a fixed header: type → data (the first of each type wins; nested flags masked off). */
export function parseAttrs(p: Buffer, start: number): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let off = (start + 3) & ~3;
  while (off + 4 <= p.length) {
    const len = u16(p, off);
    if (len < 4 || off + len > p.length) break;
    const type = u16(p, off + 2) & 0x3fff;
    if (!out.has(type)) out.set(type, p.subarray(off + 4, off + len));
    off += (len + 3) & ~3;
  }
  return out;
}

function cstring(b: Buffer | undefined): string | undefined {
  if (!b) return undefined;
  const z = b.indexOf(0);
  return b.toString("utf8", 0, z < 0 ? b.length : z);
}

function mac(b: Buffer | undefined): string | null {
  if (!b || b.length === 0) return null;
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join(":");
}

/** 4 or 16 address bytes → canonical text (undefined for any other length). */
export function ipText(b: Buffer | undefined): string | undefined {
  if (!b) return undefined;
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  if (b.length !== 16) return undefined;
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2) words.push(b.readUInt16BE(i).toString(16));
  return canonicalIp(words.join(":"));
}

export interface LinkRow { index: number; ifname: string; up: boolean; loopback: boolean; mac: string | null }
export interface AddrRow { index: number; family: 4 | 6; local: string; prefixlen: number; scope: number }
export interface RouteRow { dst: string; gateway: string | null; oif: number | null; metric: number; family: 4 | 6; table: number; cloned: boolean }
export interface NeighRow { index: number; dst: string; lladdr: string; state: number }

/** One RTM_NEWLINK payload (pure). */
export function parseLink(p: Buffer): LinkRow | undefined {
  if (p.length < 16) return undefined;
  const attrs = parseAttrs(p, 16);
  const ifname = cstring(attrs.get(IFLA_IFNAME));
  if (!ifname) return undefined;
  const flags = u32(p, 8);
  return { index: i32(p, 4), ifname, up: (flags & IFF_UP) !== 0, loopback: u16(p, 2) === ARPHRD_LOOPBACK || (flags & IFF_LOOPBACK) !== 0, mac: mac(attrs.get(IFLA_ADDRESS)) };
}

/** One RTM_NEWADDR payload (pure): `local` is IFA_LOCAL where there is one (IPv4), else IFA_ADDRESS — as `ip` prints it. */
export function parseAddr(p: Buffer): AddrRow | undefined {
  if (p.length < 8) return undefined;
  const family = p[0] === AF_INET ? 4 : p[0] === AF_INET6 ? 6 : undefined;
  if (!family) return undefined;
  const attrs = parseAttrs(p, 8);
  const local = ipText(attrs.get(IFA_LOCAL) ?? attrs.get(IFA_ADDRESS));
  if (!local) return undefined;
  return { index: u32(p, 4), family, local, prefixlen: p[1]!, scope: p[3]! };
}

/** One RTM_NEWROUTE payload (pure); `dst` as `ip -json route` writes it ("default", a host without /32; the route type is not part of it). */
export function parseRoute(p: Buffer): RouteRow | undefined {
  if (p.length < 12) return undefined;
  const family = p[0] === AF_INET ? 4 : p[0] === AF_INET6 ? 6 : undefined;
  if (!family) return undefined;
  const attrs = parseAttrs(p, 12);
  const dstLen = p[1]!;
  const tableAttr = attrs.get(RTA_TABLE);
  const table = tableAttr && tableAttr.length >= 4 ? u32(tableAttr, 0) : p[4]!;
  let dst = dstLen === 0 ? "default" : ipText(attrs.get(RTA_DST)) ?? "default";
  if (dstLen !== 0 && dstLen !== (family === 4 ? 32 : 128)) dst += `/${dstLen}`;
  let gateway = ipText(attrs.get(RTA_GATEWAY)) ?? null;
  const via = attrs.get(RTA_VIA);
  if (!gateway && via && via.length >= 2) gateway = ipText(via.subarray(2)) ?? null;
  const oif = attrs.get(RTA_OIF);
  const prio = attrs.get(RTA_PRIORITY);
  // a multipath route names its gateways per next hop (`ip -json` prints "nexthops": no gateway, no dev)
  const multipath = attrs.has(RTA_MULTIPATH);
  return {
    dst, family, table,
    gateway: multipath ? null : gateway,
    oif: !multipath && oif && oif.length >= 4 ? i32(oif, 0) : null,
    metric: prio && prio.length >= 4 ? u32(prio, 0) : 0,
    cloned: (u32(p, 8) & RTM_F_CLONED) !== 0,
  };
}

/** One RTM_NEWNEIGH payload (pure); undefined without a link-layer address. */
export function parseNeigh(p: Buffer): NeighRow | undefined {
  if (p.length < 12) return undefined;
  const attrs = parseAttrs(p, 12);
  const dst = ipText(attrs.get(NDA_DST));
  const lladdr = mac(attrs.get(NDA_LLADDR));
  if (!dst || !lladdr) return undefined;
  return { index: i32(p, 4), dst, lladdr, state: u16(p, 8) };
}

/** A neighbour entry usable as a gateway's MAC (`ip neigh` marks the others FAILED / INCOMPLETE). */
export function neighUsable(n: NeighRow): boolean {
  return (n.state & (NUD_FAILED | NUD_INCOMPLETE)) === 0;
}

/** Dumps of the route tables over one NETLINK_ROUTE socket (see the file comment). */
export class RouteNetlink {
  private seq = 0;
  /** dumps made (tests, benches) */
  readonly stats = { dumps: 0 };

  private constructor(private readonly sock: NetlinkSocket) {}

  /** A request socket, checked with one link dump; rejects where unavailable. */
  static async open(): Promise<RouteNetlink> {
    const s = await NetlinkSocket.open(NETLINK_ROUTE, { bufSize: 64 * 1024 });
    const r = new RouteNetlink(s);
    try {
      r.links();
    } catch (err) {
      s.close();
      throw err;
    }
    return r;
  }

  links(): LinkRow[] {
    return this.dump(RTM_GETLINK, Buffer.alloc(16), parseLink);
  }

  addrs(): AddrRow[] {
    return this.dump(RTM_GETADDR, Buffer.alloc(8), parseAddr);
  }

  /** The main table's routes of both families (the routes `ip route show` and `ip -6 route show` list). */
  routes(): RouteRow[] {
    const out: RouteRow[] = [];
    for (const family of [AF_INET, AF_INET6]) {
      const req = Buffer.alloc(12);
      req[0] = family;
      for (const r of this.dump(RTM_GETROUTE, req, parseRoute)) if (r.table === RT_TABLE_MAIN && !r.cloned) out.push(r);
    }
    return out;
  }

  neighbours(): NeighRow[] {
    return this.dump(RTM_GETNEIGH, Buffer.alloc(12), parseNeigh);
  }

  close(): void {
    this.sock.close();
  }

  /** One dump; an interrupted one (the table changed during it: NLM_F_DUMP_INTR) is made again. */
  private dump<T>(type: number, req: Buffer, parse: (p: Buffer) => T | undefined): T[] {
    for (let attempt = 0; ; attempt++) {
      const { rows, interrupted } = this.dumpOnce(type, req, parse);
      if (!interrupted || attempt >= 3) return rows;
    }
  }

  private dumpOnce<T>(type: number, req: Buffer, parse: (p: Buffer) => T | undefined): { rows: T[]; interrupted: boolean } {
    const seq = ++this.seq >>> 0;
    this.stats.dumps++;
    const rows: T[] = [];
    let interrupted = false;
    const answer = type === RTM_GETNEIGH ? RTM_NEWNEIGH : type - 2; // RTM_GETx → RTM_NEWx
    this.sock.dump(nlMessage(type, NLM_F_REQUEST | NLM_F_DUMP, seq, req), seq, `rtnetlink dump (type ${type})`, (msg, off, len, t, flags) => {
      if (flags & NLM_F_DUMP_INTR) interrupted = true;
      if (t !== answer) return;
      const row = parse(msg.subarray(off + 16, off + len));
      if (row !== undefined) rows.push(row);
    });
    return { rows, interrupted };
  }
}

/** The groups the watch listens to. */
export const WATCH_GROUPS = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE;

/** Which tables the notices in one datagram touch (pure). */
export function tablesTouched(msg: Buffer): Set<RouteTable> {
  const out = new Set<RouteTable>();
  let off = 0;
  while (off + 16 <= msg.length) {
    const len = u32(msg, off);
    if (len < 16 || off + len > msg.length) break;
    const t = tableOf(u16(msg, off + 4));
    if (t) out.add(t);
    off += (len + 3) & ~3;
  }
  return out;
}

/** Listen for link/address/route notices (see the file comment); rejects where netlink cannot be opened. */
export async function watchRtnetlink(onChange: (tables: Set<RouteTable>) => void, onLost: () => void): Promise<() => void> {
  const sock = await NetlinkSocket.open(NETLINK_ROUTE, { groups: WATCH_GROUPS, rcvbuf: 1024 * 1024 });
  sock.listen((msg) => {
    const t = tablesTouched(msg);
    if (t.size) onChange(t);
  }, onLost);
  return () => sock.close();
}
