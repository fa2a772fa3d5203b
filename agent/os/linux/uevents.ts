/**
 * Kernel device events (uevents) over netlink (NETLINK_KOBJECT_UEVENT, group 1: the kernel's own
 * messages, before udev): "add@/devices/…/block/sdb", then KEY=VALUE pairs, NUL-separated. The
 * media collector is told at once when a block device appears, changes or goes, instead of
 * waiting for its next poll. Receiving needs no privilege, but uevents reach the initial network
 * namespace only: in a container nothing arrives, and the slow poll stays the safety net.
 */
import { NETLINK_KOBJECT_UEVENT, NetlinkSocket } from "./netlink.js";

export interface Uevent {
  action: string;
  devpath: string;
  subsystem?: string;
  devname?: string;
  devtype?: string;
}

/** Decode one kernel uevent datagram (pure). libudev's re-broadcasts (group 2, "libudev" magic) are not for us. */
export function parseUevent(buf: Buffer): Uevent | undefined {
  const parts = buf.toString("utf8").split("\0");
  const head = parts[0] ?? "";
  const at = head.indexOf("@");
  if (at <= 0 || head.startsWith("libudev")) return undefined;
  const ev: Uevent = { action: head.slice(0, at), devpath: head.slice(at + 1) };
  for (const kv of parts.slice(1)) {
    const eq = kv.indexOf("=");
    if (eq <= 0) continue;
    const k = kv.slice(0, eq), v = kv.slice(eq + 1);
    if (k === "ACTION") ev.action = v;
    else if (k === "SUBSYSTEM") ev.subsystem = v;
    else if (k === "DEVNAME") ev.devname = v;
    else if (k === "DEVTYPE") ev.devtype = v;
  }
  return ev;
}

/** Listen for kernel uevents; rejects where netlink cannot be opened (the caller polls). */
export async function watchUevents(onEvent: (e: Uevent) => void, onLost: () => void): Promise<() => void> {
  const sock = await NetlinkSocket.open(NETLINK_KOBJECT_UEVENT, { groups: 1, dgram: true, rcvbuf: 1024 * 1024 });
  sock.listen((msg) => { const e = parseUevent(msg); if (e) onEvent(e); }, onLost);
  return () => sock.close();
}
