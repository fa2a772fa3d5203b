/**
 * Linux NICs for the asset inventory, read from /sys/class/net (plus os.networkInterfaces() for
 * the addresses) instead of systeminformation's networkInterfaces(), which runs a synchronous
 * command per interface (≈140 ms quiet, blocking the event loop; more under load). A handful of
 * small file reads instead.
 *
 * The result has the shape of systeminformation's entries (iface, ifaceName, mac, internal,
 * virtual, type, speed, operstate, mtu, ip4, ip6), so `normalize()` stays the same pure function
 * for every OS. Unlike systeminformation, an interface without an address (a NIC that is down,
 * an unplugged wired port) is listed too: it is still hardware of the PC, and the MAC set used by
 * pcId (basis "macs") must not depend on which NIC currently has an address.
 */
import { readdir, readFile, realpath, stat } from "node:fs/promises";
import { networkInterfaces } from "node:os";
import { join } from "node:path";

export interface SysNic {
  iface: string;
  ifaceName: string;
  mac: string;
  internal: boolean;
  virtual: boolean;
  type: "wired" | "wireless" | "virtual";
  speed: number | null;
  operstate: string;
  mtu: number | null;
  ip4: string;
  ip6: string;
}

/** ARPHRD_LOOPBACK in /sys/class/net/<if>/type */
const ARPHRD_LOOPBACK = 772;
const IFF_LOOPBACK = 0x8;

const read = (path: string): Promise<string | undefined> => readFile(path, "utf8").then((t) => t.trim(), () => undefined);
const exists = (path: string): Promise<boolean> => stat(path).then(() => true, () => false);
function intOf(text: string | undefined): number | undefined {
  if (text === undefined || text === "") return undefined;
  const n = text.startsWith("0x") ? parseInt(text, 16) : Number(text);
  return Number.isFinite(n) ? n : undefined;
}

/** One interface of `sysDir` (default /sys/class/net). Never rejects; unreadable fields stay empty. */
async function readNic(sysDir: string, iface: string, addresses: ReturnType<typeof networkInterfaces>): Promise<SysNic> {
  const dir = join(sysDir, iface);
  const [address, type, flags, speed, operstate, mtu, target, wireless, phy] = await Promise.all([
    read(join(dir, "address")), read(join(dir, "type")), read(join(dir, "flags")), read(join(dir, "speed")),
    read(join(dir, "operstate")), read(join(dir, "mtu")), realpath(dir).catch(() => dir),
    exists(join(dir, "wireless")), exists(join(dir, "phy80211")),
  ]);
  const internal = intOf(type) === ARPHRD_LOOPBACK || ((intOf(flags) ?? 0) & IFF_LOOPBACK) !== 0;
  // every interface without hardware behind it (bridge, veth, tun, bond, dummy, lo) sits under /devices/virtual/
  const virtual = target.includes("/devices/virtual/");
  const speedN = intOf(speed); // reading it fails (EINVAL) while the link is down
  const addrs = addresses[iface] ?? [];
  return {
    iface,
    ifaceName: iface,
    mac: address ?? "",
    internal,
    virtual,
    type: wireless || phy ? "wireless" : virtual ? "virtual" : "wired",
    speed: speedN !== undefined && speedN >= 0 ? speedN : null,
    operstate: operstate ?? "",
    mtu: intOf(mtu) ?? null,
    ip4: addrs.find((a) => a.family === "IPv4")?.address ?? "",
    ip6: addrs.find((a) => a.family === "IPv6")?.address ?? "",
  };
}

/**
 * Every interface in /sys/class/net (sorted by name). Rejects only when the folder cannot be read
 * (no sysfs): the caller records the source as failed.
 */
export async function readLinuxNics(sysDir = "/sys/class/net"): Promise<SysNic[]> {
  const names = (await readdir(sysDir)).sort();
  const addresses = networkInterfaces();
  return Promise.all(names.map((n) => readNic(sysDir, n, addresses)));
}
