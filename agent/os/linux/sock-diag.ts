/**
 * The socket tables through netlink sock_diag (INET_DIAG) instead of /proc/net/{tcp,udp}[6] text:
 * the kernel fills binary `inet_diag_msg` records (no sprintf of every row, no text to parse) and
 * filters states itself — TIME_WAIT and request sockets, which have no owner (inode 0) and which
 * the readers skip anyway, never leave the kernel. Same rows as `readSocketTables()` otherwise
 * (`SocketEntry`, IPv4-mapped IPv6 addresses folded to IPv4, family = the socket's family).
 *
 * Another network namespace is read through a sock_diag socket made inside it: setns(2) into
 * /proc/<pid>/ns/net on the calling thread, socket(), setns back (a netlink socket stays bound to
 * the namespace it was made in). setns needs CAP_SYS_ADMIN: without it (or without koffi) `open()`
 * rejects / `read()` throws and the caller reads /proc text as before. Sockets are kept per
 * namespace inode and closed by `retain()` when their namespace is gone.
 *
 * Layout (include/uapi/linux/inet_diag.h, sock_diag.h):
 *   request  = nlmsghdr(16) + inet_diag_req_v2 { u8 family, protocol, ext, pad; u32 states;
 *              inet_diag_sockid id (48) }                                     = 72 bytes
 *   response = nlmsghdr(16) + inet_diag_msg { u8 family, state, timer, retrans;
 *              inet_diag_sockid { be16 sport, dport; be32 src[4], dst[4]; u32 if; u32 cookie[2] };
 *              u32 expires, rqueue, wqueue, uid, inode }                      = 72 bytes (+ attributes)
 */
import { formatIp, type Cidr } from "../../../lib/net/ip.js";
import {
  HOST_LE, loadLibc, nlMessage, NETLINK_SOCK_DIAG, NetlinkSocket, SyscallError, u32, w16, w32,
} from "./netlink.js";
import { TCP_STATES, type SocketEntry, type SocketProtocol, type SocketState } from "./socket-parse.js";

const SOCK_DIAG_BY_FAMILY = 20;
const NLM_F_REQUEST = 0x1;
const NLM_F_DUMP = 0x300;
const AF_INET = 2;
const AF_INET6 = 10;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const O_RDONLY_CLOEXEC = 0o2000000;
const CLONE_NEWNET = 0x40000000;

/** every state but TIME_WAIT (6) and NEW_SYN_RECV (12): the rows without a socket inode */
const STATES = ((1 << 12) - 1) & ~1 & ~(1 << 6);
const TCP_ESTABLISHED = 1;
const TCP_SYN_SENT = 2;
const TCP_LISTEN = 10;
/**
 * TCP ESTABLISHED | SYN_SENT | LISTEN: what a look for new outbound connections needs (the
 * listeners tell an accepted connection from an outbound one). The kernel then does not even walk
 * its table of bound-only and closing sockets, and sends only these rows.
 */
export const CONNECTION_STATES = (1 << TCP_ESTABLISHED) | (1 << TCP_SYN_SENT) | (1 << TCP_LISTEN);

/** What one read asks for (default: every row of both protocols but TIME_WAIT and request sockets). */
export interface DiagQuery {
  /** TCP only (no UDP dumps) */
  tcpOnly?: boolean;
  /** the kernel's state filter, a bit per TCP state (1 << state); default every state with an inode */
  states?: number;
  /** rows (other than listeners) whose inode is in here are skipped before they are decoded */
  skip?: ReadonlySet<number>;
  /** a filter run by the kernel (see excludeDestinations) */
  bytecode?: Buffer;
}

/** A destination (network, and port or any) whose rows the kernel leaves out. */
export interface DestinationCond {
  cidr: Cidr;
  /** one port, or undefined for any */
  port?: number;
}

const INET_DIAG_REQ_BYTECODE = 1;
const INET_DIAG_BC_JMP = 1;
const INET_DIAG_BC_D_COND = 8;

/**
 * inet_diag bytecode that drops every row whose remote address (and port, where given) matches
 * one of `conds` — e.g. the policy's approved destinations: a busy machine's loopback sockets
 * then never leave the kernel. Per condition (include/uapi/linux/inet_diag.h, checked by the
 * kernel's inet_diag_bc_audit, which walks the `yes` offsets):
 *   op D_COND { code, yes = to the JMP after it, no = past the JMP } + hostcond { u8 family,
 *   prefix_len; int port (-1 any); addr }, then op JMP { yes = 4, no = past the end: reject }.
 * A row that matches no condition runs to the end: accepted. An IPv4 condition also matches
 * IPv4-mapped IPv6 rows (the kernel does that). undefined when there is no condition.
 */
export function excludeDestinations(conds: readonly DestinationCond[]): Buffer | undefined {
  const ops: Buffer[] = [];
  for (const c of conds) {
    const addrLen = c.cidr.family === 4 ? 4 : 16;
    const op = Buffer.alloc(4 + 8 + addrLen);
    op[0] = INET_DIAG_BC_D_COND;
    op[1] = op.length; // yes: the JMP that rejects
    // no (u16 at 2): past the JMP, set below
    op[4] = c.cidr.family === 4 ? AF_INET : AF_INET6;
    op[5] = c.cidr.prefix;
    if (HOST_LE) op.writeInt32LE(c.port ?? -1, 8); else op.writeInt32BE(c.port ?? -1, 8);
    // the address in network order
    let v = c.cidr.network;
    for (let i = addrLen - 1; i >= 0; i--) { op[12 + i] = Number(v & 0xffn); v >>= 8n; }
    ops.push(op);
  }
  if (!ops.length) return undefined;
  const total = ops.reduce((n, op) => n + op.length + 4, 0);
  const out = Buffer.alloc(total);
  let off = 0;
  for (const op of ops) {
    w16(op, op.length + 4, 2);
    op.copy(out, off);
    off += op.length;
    // JMP: always takes `no`, past the end of the program (remaining + 4): the row is dropped
    out[off] = INET_DIAG_BC_JMP;
    out[off + 1] = 4;
    w16(out, total - off + 4, off + 2);
    off += 4;
  }
  return out;
}

const QUERIES: ReadonlyArray<readonly [number, number, SocketProtocol, 4 | 6]> = [
  [AF_INET, IPPROTO_TCP, "tcp", 4], [AF_INET6, IPPROTO_TCP, "tcp", 6],
  [AF_INET, IPPROTO_UDP, "udp", 4], [AF_INET6, IPPROTO_UDP, "udp", 6],
];

/** The request for one (family, protocol) dump. */
export function diagRequest(family: number, protocol: number, seq: number, states = STATES, bytecode?: Buffer): Buffer {
  const attrLen = bytecode ? 4 + bytecode.length : 0;
  const req = Buffer.alloc(56 + ((attrLen + 3) & ~3));
  req.writeUInt8(family, 0);
  req.writeUInt8(protocol, 1);
  w32(req, states, 4);
  if (bytecode) {
    // struct nlattr { u16 len, type } + the program
    w16(req, attrLen, 56);
    w16(req, INET_DIAG_REQ_BYTECODE, 58);
    bytecode.copy(req, 60);
  }
  return nlMessage(SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, seq, req);
}

const v4Cache = new Map<number, string>();
const v6Cache = new Map<string, string>();

/** 4 or 16 address bytes (network order) at `off` → canonical text; mapped IPv6 folded to IPv4. */
function addressAt(b: Buffer, off: number, family: 4 | 6): string {
  if (family === 4) return v4At(b.readUInt32BE(off));
  // ::ffff:a.b.c.d and :: are most of the IPv6 rows on a PC
  if (b.readUInt32BE(off) === 0 && b.readUInt32BE(off + 4) === 0) {
    const w2 = b.readUInt32BE(off + 8);
    if (w2 === 0xffff) return v4At(b.readUInt32BE(off + 12));
  }
  const key = b.toString("latin1", off, off + 16);
  let a = v6Cache.get(key);
  if (a === undefined) {
    a = formatIp({ family: 6, value: (b.readBigUInt64BE(off) << 64n) | b.readBigUInt64BE(off + 8) });
    if (v6Cache.size > 20_000) v6Cache.clear();
    v6Cache.set(key, a);
  }
  return a;
}

function v4At(v: number): string {
  let a = v4Cache.get(v);
  if (a === undefined) {
    a = `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
    if (v4Cache.size > 20_000) v4Cache.clear();
    v4Cache.set(v, a);
  }
  return a;
}

/**
 * Decode one inet_diag_msg payload (pure; the tests feed it real kernel output and hand-made
 * records). undefined for a record too short or of an unknown family.
 */
export function parseDiagMessage(p: Buffer, protocol: SocketProtocol): SocketEntry | undefined {
  if (p.length < 72) return undefined;
  const fam = p[0] === AF_INET ? 4 : p[0] === AF_INET6 ? 6 : undefined;
  if (fam === undefined) return undefined;
  return {
    protocol,
    family: fam,
    localAddress: addressAt(p, 8, fam),
    localPort: p.readUInt16BE(4),
    remoteAddress: addressAt(p, 24, fam),
    remotePort: p.readUInt16BE(6),
    state: (TCP_STATES as Record<number, SocketState>)[p[1]!] ?? "UNKNOWN",
    uid: u32(p, 64),
    inode: u32(p, 68),
  };
}

/** Reads network namespaces' socket tables through sock_diag sockets (see the file comment). */
export class SockDiagReader {
  private seq = 0;
  private readonly byNs = new Map<number, NetlinkSocket>();
  /** dumps made, and namespaces entered (diagnostics, benchmarks) */
  readonly stats = { dumps: 0, namespacesOpened: 0 };

  private constructor(private readonly own: NetlinkSocket, private readonly libc: Awaited<ReturnType<typeof loadLibc>>) {}

  /** One sock_diag socket in our namespace, checked with one dump; rejects where unavailable. */
  static async open(): Promise<SockDiagReader> {
    const libc = await loadLibc();
    const s = await NetlinkSocket.open(NETLINK_SOCK_DIAG, { dgram: true, bufSize: 256 * 1024 });
    const r = new SockDiagReader(s, libc);
    try {
      r.dump(s, {});
    } catch (err) {
      s.close();
      throw err;
    }
    return r;
  }

  /** The socket tables of our namespace, or of the namespace `nsInode` entered through `pid`. */
  read(target?: { nsInode: number; pid: number }, query: DiagQuery = {}): SocketEntry[] {
    if (!target) return this.dump(this.own, query);
    let s = this.byNs.get(target.nsInode);
    if (!s) {
      s = this.socketIn(target.pid);
      this.byNs.set(target.nsInode, s);
    }
    return this.dump(s, query);
  }

  /** Close the sockets of namespaces not in `live`. */
  retain(live: Set<number>): void {
    for (const [ns, s] of this.byNs) {
      if (!live.has(ns)) { s.close(); this.byNs.delete(ns); }
    }
  }

  close(): void {
    this.retain(new Set());
    this.own.close();
  }

  /** A sock_diag socket made inside the network namespace of `pid` (setns there and back). */
  private socketIn(pid: number): NetlinkSocket {
    const libc = this.libc;
    const target = libc.open(`/proc/${pid}/ns/net`, O_RDONLY_CLOEXEC);
    if (target < 0) throw new SyscallError(`open(/proc/${pid}/ns/net)`, libc.errno());
    const home = libc.open("/proc/self/ns/net", O_RDONLY_CLOEXEC);
    if (home < 0) { const e = libc.errno(); libc.close(target); throw new SyscallError("open(/proc/self/ns/net)", e); }
    try {
      if (libc.setns(target, CLONE_NEWNET) < 0) throw new SyscallError("setns(CLONE_NEWNET)", libc.errno());
      try {
        const s = NetlinkSocket.openSync(libc, NETLINK_SOCK_DIAG, { dgram: true, bufSize: 256 * 1024 });
        this.stats.namespacesOpened++;
        return s;
      } finally {
        // back home whatever happened: everything else on this thread must stay in our namespace
        if (libc.setns(home, CLONE_NEWNET) < 0) throw new SyscallError("setns(back)", libc.errno());
      }
    } finally {
      libc.close(target);
      libc.close(home);
    }
  }

  private dump(s: NetlinkSocket, query: DiagQuery): SocketEntry[] {
    const out: SocketEntry[] = [];
    const skip = query.skip;
    for (const [family, proto, protocol] of QUERIES) {
      if (query.tcpOnly && protocol !== "tcp") continue;
      const seq = ++this.seq >>> 0;
      this.stats.dumps++;
      // e.g. ENOENT for the error: the protocol's diag module (udp_diag) is not there — the caller
      // reads /proc instead rather than miss that protocol's sockets
      s.dump(diagRequest(family, proto, seq, query.states ?? STATES, query.bytecode), seq, `sock_diag dump (${protocol}${family === AF_INET ? 4 : 6})`, (msg, off, len, type) => {
        if (type !== SOCK_DIAG_BY_FAMILY) return;
        // inet_diag_msg: state at byte 1, inode at byte 68 (after the 16-byte header)
        if (skip && len >= 16 + 72 && msg[off + 17] !== TCP_LISTEN && skip.has(u32(msg, off + 16 + 68))) return;
        const row = parseDiagMessage(msg.subarray(off + 16, off + len), protocol);
        if (row) out.push(row);
      });
    }
    return out;
  }
}
