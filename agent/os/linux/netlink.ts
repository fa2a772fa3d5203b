/**
 * Netlink sockets from Node through koffi (FFI into libc: socket, bind, send, recv, fcntl,
 * setsockopt, close) — the kernel's own event channels, with no helper process:
 *  - NETLINK_CONNECTOR / CN_IDX_PROC: process exec/exit/fork (proc-events.ts);
 *  - NETLINK_KOBJECT_UEVENT: device add/remove (uevents.ts);
 *  - NETLINK_SOCK_DIAG: socket tables on request (sock-diag.ts).
 *
 * Readiness without a thread: Node cannot poll an arbitrary fd, so the socket is put in O_ASYNC
 * mode owned by this process and the kernel sends SIGIO when a datagram arrives; one process-wide
 * SIGIO listener drains every open socket with non-blocking recv (MSG_DONTWAIT). Idle costs
 * nothing (no timer, no thread blocked in the libuv pool). The listener is installed once and
 * never removed: SIGIO's default action ends the process, so it must stay handled for as long as a
 * socket might still raise it.
 *
 * koffi is loaded lazily (`loadLibc()`), so an agent that never opens a netlink socket pays
 * nothing for it; when koffi or libc cannot be loaded, `loadLibc()` rejects and callers fall
 * back to polling. (`KYOKA_NO_NETLINK=1` makes it reject: every source then polls.)
 */
import { createRequire } from "node:module";

export const AF_NETLINK = 16;
export const NETLINK_SOCK_DIAG = 4;
export const NETLINK_CONNECTOR = 11;
export const NETLINK_KOBJECT_UEVENT = 15;

const SOCK_DGRAM = 2;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_RCVBUF = 8;
const SO_RCVBUFFORCE = 33;
const F_SETFL = 4;
const F_SETOWN = 8;
const O_NONBLOCK = 0o4000;
const O_ASYNC = 0o20000;
const MSG_DONTWAIT = 0x40;
const EINTR = 4;
const EAGAIN = 11;
const ENOBUFS = 105;

/** An error from a libc call, with its errno. */
export class SyscallError extends Error {
  constructor(readonly call: string, readonly errno: number) {
    super(`${call} failed: errno ${errno}`);
    this.name = "SyscallError";
  }
}

export interface Libc {
  socket(domain: number, type: number, protocol: number): number;
  bind(fd: number, addr: Buffer, len: number): number;
  send(fd: number, buf: Buffer, len: number, flags: number): number;
  recv(fd: number, buf: Buffer, len: number, flags: number): number;
  setsockopt(fd: number, level: number, name: number, val: Buffer, len: number): number;
  fcntl(fd: number, cmd: number, ...rest: unknown[]): number;
  close(fd: number): number;
  errno(): number;
  open(path: string, flags: number): number;
  /** setns(2): move the calling thread into the namespace of `fd` */
  setns(fd: number, nstype: number): number;
  pipe2(fds: Int32Array, flags: number): number;
  write(fd: number, buf: Buffer, len: number): number;
  read(fd: number, buf: Buffer, len: number): number;
  /** bind another libc function (one that may be missing from an old libc: throws then) */
  func(decl: string): (...args: unknown[]) => unknown;
  /** poll(2) on a libuv pool thread; the callback gets the result (revents are written into `fds`) */
  pollAsync(fds: Buffer, nfds: number, timeoutMs: number, cb: (err: unknown, n: number) => void): void;
}

let libcPromise: Promise<Libc> | undefined;

/** Bind libc through koffi once per process; rejects where koffi or libc is unavailable. */
export function loadLibc(): Promise<Libc> {
  libcPromise ??= (async () => {
    if (process.platform !== "linux") throw new Error("netlink exists on Linux only");
    if (process.env.KYOKA_NO_NETLINK === "1") throw new Error("netlink disabled by KYOKA_NO_NETLINK=1");
    // koffi is CommonJS; require keeps it out of the ESM graph until first use
    const koffi = createRequire(import.meta.url)("koffi") as typeof import("koffi");
    let lib: ReturnType<typeof koffi.load> | undefined;
    let lastErr: unknown;
    for (const name of ["libc.so.6", "libc.musl-x86_64.so.1", "libc.musl-aarch64.so.1", "libc.so"]) {
      try { lib = koffi.load(name); break; } catch (err) { lastErr = err; }
    }
    if (!lib) throw new Error(`libc not loadable through koffi: ${String(lastErr)}`);
    const fcntl = lib.func("int fcntl(int fd, int cmd, ...)");
    const poll = lib.func("int poll(_Inout_ void *fds, unsigned long nfds, int timeout)");
    return {
      socket: lib.func("int socket(int domain, int type, int protocol)"),
      bind: lib.func("int bind(int fd, const void *addr, uint32_t len)"),
      send: lib.func("intptr_t send(int fd, const void *buf, size_t len, int flags)"),
      recv: lib.func("intptr_t recv(int fd, _Out_ void *buf, size_t len, int flags)"),
      setsockopt: lib.func("int setsockopt(int fd, int level, int name, const void *val, uint32_t len)"),
      fcntl: (fd: number, cmd: number, ...rest: unknown[]) => fcntl(fd, cmd, ...rest) as number,
      close: lib.func("int close(int fd)"),
      errno: () => koffi.errno(),
      open: lib.func("int open(const char *path, int flags)"),
      setns: lib.func("int setns(int fd, int nstype)"),
      pipe2: lib.func("int pipe2(_Out_ int *fds, int flags)"),
      write: lib.func("intptr_t write(int fd, const void *buf, size_t len)"),
      read: lib.func("intptr_t read(int fd, _Out_ void *buf, size_t len)"),
      func: (decl: string) => lib.func(decl) as (...args: unknown[]) => unknown,
      pollAsync: (fds: Buffer, nfds: number, timeoutMs: number, cb: (err: unknown, n: number) => void) => poll.async(fds, nfds, timeoutMs, cb),
    } as Libc;
  })();
  // a failure is remembered: every caller falls back the same way
  return libcPromise;
}

/** Open sockets that want SIGIO-driven reads. */
const readable = new Set<NetlinkSocket>();
let sigioInstalled = false;

function onSigio(): void {
  for (const s of readable) s.drain();
}

/** Little-endian host (x86, arm): netlink headers are in host byte order. */
export const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export interface NetlinkOpenOptions { groups?: number; rcvbuf?: number; dgram?: boolean; bufSize?: number }

export class NetlinkSocket {
  private closed = false;
  private readonly buf: Buffer;
  private onMessage?: (msg: Buffer) => void;
  private onOverflow?: () => void;

  private constructor(private readonly libc: Libc, readonly fd: number, bufSize: number) {
    this.buf = Buffer.alloc(bufSize);
  }

  /**
   * socket(AF_NETLINK) + bind to the multicast `groups` (0: none, for request/response use).
   * `rcvbuf` asks for a larger receive buffer (SO_RCVBUFFORCE as root, else SO_RCVBUF).
   */
  static async open(protocol: number, opts: NetlinkOpenOptions = {}): Promise<NetlinkSocket> {
    return NetlinkSocket.openSync(await loadLibc(), protocol, opts);
  }

  /** open() with libc already loaded (for a caller that must not yield between calls: setns). */
  static openSync(libc: Libc, protocol: number, opts: NetlinkOpenOptions = {}): NetlinkSocket {
    const fd = libc.socket(AF_NETLINK, (opts.dgram ? SOCK_DGRAM : SOCK_RAW) | SOCK_CLOEXEC, protocol);
    if (fd < 0) throw new SyscallError("socket(AF_NETLINK)", libc.errno());
    const s = new NetlinkSocket(libc, fd, opts.bufSize ?? 64 * 1024);
    try {
      if (opts.rcvbuf) {
        const v = Buffer.alloc(4);
        v.writeInt32LE(opts.rcvbuf);
        if (libc.setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, v, 4) < 0) libc.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, v, 4);
      }
      // struct sockaddr_nl { sa_family_t nl_family; unsigned short nl_pad; __u32 nl_pid; __u32 nl_groups; }
      const addr = Buffer.alloc(12);
      addr.writeUInt16LE(AF_NETLINK, 0);
      if (HOST_LE) addr.writeUInt32LE(opts.groups ?? 0, 8); else addr.writeUInt32BE(opts.groups ?? 0, 8);
      if (libc.bind(fd, addr, 12) < 0) throw new SyscallError("bind(AF_NETLINK)", libc.errno());
    } catch (err) {
      s.close();
      throw err;
    }
    return s;
  }

  send(msg: Buffer): void {
    for (;;) {
      const n = this.libc.send(this.fd, msg, msg.length, 0);
      if (n >= 0) return;
      const e = this.libc.errno();
      if (e !== EINTR) throw new SyscallError("send(netlink)", e);
    }
  }

  /**
   * One datagram, or undefined when none is waiting (non-blocking) — `wait: true` blocks (for
   * request/response dumps, where the kernel answers at once). The Buffer is reused by the next
   * call: decode it at once. Throws SyscallError (errno ENOBUFS = the receive buffer overflowed
   * and messages were lost).
   */
  recv(wait = false): Buffer | undefined {
    for (;;) {
      const n = this.libc.recv(this.fd, this.buf, this.buf.length, wait ? 0 : MSG_DONTWAIT);
      if (n >= 0) return this.buf.subarray(0, n);
      const e = this.libc.errno();
      if (e === EINTR) continue;
      if (e === EAGAIN) return undefined;
      throw new SyscallError("recv(netlink)", e);
    }
  }

  /**
   * Send a dump request (`seq` in its header) and walk every message of the answer in place until
   * NLMSG_DONE: `onMessage(msg, off, len, type, flags)` for each message of that seq (the payload
   * is msg[off + 16, off + len); msg is reused by the next recv: decode at once). NLMSG_ERROR
   * throws a SyscallError named `what`. The kernel answers a dump at once (it fills the next part
   * inside recv), so the blocking recv here never waits for long.
   */
  dump(request: Buffer, seq: number, what: string, onMessage: (msg: Buffer, off: number, len: number, type: number, flags: number) => void): void {
    this.send(request);
    for (;;) {
      const msg = this.recv(true);
      if (!msg) throw new Error(`${what}: no answer`);
      // walked in place (no array of headers: a dump is thousands of messages)
      let off = 0;
      while (off + 16 <= msg.length) {
        const len = u32(msg, off);
        if (len < 16 || off + len > msg.length) break;
        if (u32(msg, off + 8) === seq) {
          const type = u16(msg, off + 4);
          if (type === NLMSG_DONE) return;
          if (type === NLMSG_ERROR) throw new SyscallError(what, -i32(msg, off + 16));
          onMessage(msg, off, len, type, u16(msg, off + 6));
        }
        off += (len + 3) & ~3;
      }
    }
  }

  /**
   * Deliver every datagram as it arrives (SIGIO-driven, see the file comment). `onOverflow` is
   * called when the kernel dropped messages (ENOBUFS): the caller must rescan.
   */
  listen(onMessage: (msg: Buffer) => void, onOverflow: () => void): void {
    this.onMessage = onMessage;
    this.onOverflow = onOverflow;
    if (!sigioInstalled) {
      process.on("SIGIO", onSigio);
      sigioInstalled = true;
    }
    readable.add(this);
    if (this.libc.fcntl(this.fd, F_SETOWN, "int", process.pid) < 0) throw new SyscallError("fcntl(F_SETOWN)", this.libc.errno());
    if (this.libc.fcntl(this.fd, F_SETFL, "int", O_NONBLOCK | O_ASYNC) < 0) throw new SyscallError("fcntl(F_SETFL)", this.libc.errno());
    // anything that arrived before O_ASYNC raised no signal
    queueMicrotask(() => this.drain());
  }

  /** Read every waiting datagram (called on SIGIO). */
  drain(): void {
    if (this.closed || !this.onMessage) return;
    for (;;) {
      let msg: Buffer | undefined;
      try {
        msg = this.recv();
      } catch (err) {
        if (err instanceof SyscallError && err.errno === ENOBUFS) { this.onOverflow?.(); continue; }
        throw err;
      }
      if (!msg) return;
      this.onMessage(msg);
      if (this.closed) return;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    readable.delete(this);
    this.libc.close(this.fd);
  }
}

/** Netlink message header (struct nlmsghdr, 16 bytes, host order). */
export interface NlMsg {
  type: number;
  flags: number;
  seq: number;
  /** the payload after the 16-byte header */
  payload: Buffer;
}

export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;

/** Split a datagram into its netlink messages (NLMSG_ALIGN'd, 4 bytes). */
export function parseNlMessages(buf: Buffer): NlMsg[] {
  const out: NlMsg[] = [];
  let off = 0;
  while (off + 16 <= buf.length) {
    const len = u32(buf, off);
    if (len < 16 || off + len > buf.length) break;
    out.push({ type: u16(buf, off + 4), flags: u16(buf, off + 6), seq: u32(buf, off + 8), payload: buf.subarray(off + 16, off + len) });
    off += (len + 3) & ~3;
  }
  return out;
}

/** A netlink message with the given type, flags, seq and payload. */
export function nlMessage(type: number, flags: number, seq: number, payload: Buffer): Buffer {
  const b = Buffer.alloc(16 + payload.length);
  w32(b, 16 + payload.length, 0);
  w16(b, type, 4);
  w16(b, flags, 6);
  w32(b, seq, 8);
  w32(b, 0, 12); // nlmsg_pid: 0 = to/from the kernel
  payload.copy(b, 16);
  return b;
}

export const u32 = (b: Buffer, off: number): number => HOST_LE ? b.readUInt32LE(off) : b.readUInt32BE(off);
export const i32 = (b: Buffer, off: number): number => HOST_LE ? b.readInt32LE(off) : b.readInt32BE(off);
export const u16 = (b: Buffer, off: number): number => HOST_LE ? b.readUInt16LE(off) : b.readUInt16BE(off);
export const w32 = (b: Buffer, v: number, off: number): void => { if (HOST_LE) b.writeUInt32LE(v >>> 0, off); else b.writeUInt32BE(v >>> 0, off); };
export const w16 = (b: Buffer, v: number, off: number): void => { if (HOST_LE) b.writeUInt16LE(v, off); else b.writeUInt16BE(v, off); };
