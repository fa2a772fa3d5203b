/**
 * Linux process events from the kernel's proc connector (drivers/connector/cn_proc.c): a netlink
 * socket (NETLINK_CONNECTOR) joined to the CN_IDX_PROC group receives one message per fork, exec
 * and exit on the machine, as it happens. Needs CAP_NET_ADMIN in the initial user and pid
 * namespaces (root on the host); elsewhere the kernel refuses (EPERM in the ack) or stays silent
 * (a container), and start() throws so that ProcessEvents falls back to polling.
 *
 * Kernels ≥ 6.6 filter in the kernel (proc_input.event_type): only exec, exit and fork are sent.
 * Threads are dropped here: a fork whose child is not a thread-group leader is a new thread, an
 * exit whose pid is not the group's is a thread ending.
 */
import { readdirSync, readlinkSync } from "node:fs";
import type { ProcessEventSink, ProcessSource } from "../process-events.js";
import { NETLINK_CONNECTOR, NLMSG_DONE, NetlinkSocket, i32, nlMessage, parseNlMessages, u16, u32, w16, w32 } from "./netlink.js";

const CN_IDX_PROC = 1;
const CN_VAL_PROC = 1;
const PROC_CN_MCAST_LISTEN = 1;
const PROC_CN_MCAST_IGNORE = 2;

export const PROC_EVENT_NONE = 0;
export const PROC_EVENT_FORK = 0x1;
export const PROC_EVENT_EXEC = 0x2;
export const PROC_EVENT_EXIT = 0x80000000;

/** One decoded proc connector message. */
export type ProcEvent =
  | { what: "ack"; seq: number; ack: number; err: number }
  | { what: "fork"; parentPid: number; parentTgid: number; childPid: number; childTgid: number }
  | { what: "exec"; pid: number; tgid: number }
  | { what: "exit"; pid: number; tgid: number; exitCode: number }
  | { what: "other"; code: number };

/**
 * Decode one netlink datagram from the proc connector (pure: tests feed it bytes).
 * Layout: nlmsghdr (16) · cn_msg {cb_id.idx, cb_id.val, seq, ack, len u16, flags u16} (20) ·
 * proc_event {what u32, cpu u32, timestamp_ns u64, event_data…}.
 */
export function parseProcEvents(buf: Buffer): ProcEvent[] {
  const out: ProcEvent[] = [];
  for (const m of parseNlMessages(buf)) {
    if (m.type !== NLMSG_DONE) continue;
    const p = m.payload;
    if (p.length < 20 + 16) continue;
    if (u32(p, 0) !== CN_IDX_PROC || u32(p, 4) !== CN_VAL_PROC) continue;
    const seq = u32(p, 8), ack = u32(p, 12);
    const len = u16(p, 16);
    const ev = p.subarray(20, 20 + len);
    if (ev.length < 16) continue;
    const what = u32(ev, 0);
    const d = 16; // event_data
    switch (what) {
      case PROC_EVENT_NONE:
        if (ev.length >= d + 4) out.push({ what: "ack", seq, ack, err: u32(ev, d) });
        break;
      case PROC_EVENT_FORK:
        if (ev.length >= d + 16) out.push({ what: "fork", parentPid: i32(ev, d), parentTgid: i32(ev, d + 4), childPid: i32(ev, d + 8), childTgid: i32(ev, d + 12) });
        break;
      case PROC_EVENT_EXEC:
        if (ev.length >= d + 8) out.push({ what: "exec", pid: i32(ev, d), tgid: i32(ev, d + 4) });
        break;
      case PROC_EVENT_EXIT:
        if (ev.length >= d + 12) out.push({ what: "exit", pid: i32(ev, d), tgid: i32(ev, d + 4), exitCode: u32(ev, d + 8) });
        break;
      default:
        out.push({ what: "other", code: what });
    }
  }
  return out;
}

/** The subscribe/unsubscribe message; `events` (a PROC_EVENT_* mask) is understood by kernels ≥ 6.6. */
export function mcastMessage(op: number, seq: number, events?: number): Buffer {
  const dataLen = events === undefined ? 4 : 8;
  const cn = Buffer.alloc(20 + dataLen);
  w32(cn, CN_IDX_PROC, 0);
  w32(cn, CN_VAL_PROC, 4);
  w32(cn, seq, 8);
  w32(cn, 0, 12);
  w16(cn, dataLen, 16);
  w32(cn, op, 20);
  if (events !== undefined) w32(cn, events, 24);
  return nlMessage(NLMSG_DONE, 0, seq, cn);
}

/** Does this kernel take the event filter (proc_input, Linux 6.6)? */
export function kernelFiltersProcEvents(release: string): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (!m) return false;
  const major = Number(m[1]), minor = Number(m[2]);
  return major > 6 || (major === 6 && minor >= 6);
}

export class NetlinkProcSource implements ProcessSource {
  readonly mode = "netlink" as const;
  private sock?: NetlinkSocket;

  constructor(private readonly opts: { release?: string } = {}) {}

  async start(sink: ProcessEventSink): Promise<void> {
    const { release } = await import("node:os");
    const sock = await NetlinkSocket.open(NETLINK_CONNECTOR, { groups: CN_IDX_PROC, dgram: true, rcvbuf: 4 * 1024 * 1024 });
    try {
      const early: ProcEvent[] = [];
      const err = this.subscribe(sock, early);
      if (err === undefined) throw new Error("the proc connector did not answer (not the initial namespaces: a container?)");
      if (err !== 0) throw new Error(`the proc connector refused to subscribe (errno ${err}${err === 1 ? ": not permitted, needs root" : ""})`);
      // Narrow to exec/exit/fork where the kernel filters (≥ 6.6). Sent after the plain subscribe:
      // the kernel's filter drops the ack itself (its event type is NONE), so permission is
      // learnt from the plain one. Same op again: the listener count is not raised twice.
      if (kernelFiltersProcEvents(this.opts.release ?? release())) {
        sock.send(mcastMessage(PROC_CN_MCAST_LISTEN, 0, PROC_EVENT_EXEC | PROC_EVENT_EXIT | PROC_EVENT_FORK));
      }
      this.sock = sock;
      for (const e of early) deliver(e, sink);
      sock.listen((msg) => { for (const e of parseProcEvents(msg)) deliver(e, sink); }, () => sink.resync());
    } catch (err) {
      sock.close();
      throw err;
    }
  }

  /**
   * Send PROC_CN_MCAST_LISTEN and read the kernel's ack (it is queued before send returns): its
   * errno, or undefined when no ack came. The ack's seq is not ours on every kernel (6.18 sends
   * its own counter), so the first ack read is taken. Events read meanwhile are kept in `early`.
   */
  private subscribe(sock: NetlinkSocket, early: ProcEvent[]): number | undefined {
    sock.send(mcastMessage(PROC_CN_MCAST_LISTEN, (Math.random() * 0x7fffffff) >>> 0));
    let err: number | undefined;
    for (let msg = sock.recv(); msg; msg = sock.recv()) {
      for (const e of parseProcEvents(msg)) {
        if (e.what === "ack") err ??= e.err; else early.push(e);
      }
    }
    return err;
  }

  async stop(): Promise<void> {
    const sock = this.sock;
    this.sock = undefined;
    if (!sock) return;
    try { sock.send(mcastMessage(PROC_CN_MCAST_IGNORE, 0)); } catch { /* closing anyway */ }
    sock.close();
  }
}

function deliver(e: ProcEvent, sink: ProcessEventSink): void {
  switch (e.what) {
    case "exec": sink.exec(e.tgid); break;
    // a new thread shares its parent's tgid: not a new process
    case "fork": if (e.childPid === e.childTgid) sink.fork(e.childTgid, e.parentTgid); break;
    // a thread ending is not the process ending
    case "exit": if (e.pid === e.tgid) sink.exit(e.tgid); break;
  }
}

/** For the polling fallback: every pid in /proc → its exe link ("" when unreadable). */
export function procPidIdentities(procRoot = "/proc"): () => Map<number, string> {
  return () => {
    const out = new Map<number, string>();
    for (const entry of readdirSync(procRoot)) {
      const c = entry.charCodeAt(0);
      if (c < 48 || c > 57) continue;
      let exe = "";
      try { exe = readlinkSync(`${procRoot}/${entry}/exe`); } catch { /* kernel thread, gone, or not permitted */ }
      out.set(Number(entry), exe);
    }
    return out;
  };
}
