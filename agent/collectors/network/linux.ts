/**
 * Linux attachment reading. In the agent's own namespace: rtnetlink dumps through koffi
 * (RTM_GETLINK / GETADDR / GETROUTE / GETNEIGH: agent/os/linux/rtnetlink.ts, no process spawned)
 * and change notices from an rtnetlink socket bound to the link, address and route groups; after
 * a notice only the tables it touched are dumped again. Where koffi or the socket is unavailable
 * (and for a named network namespace: `ip -n <netns>`), `ip -json` and one long-running
 * `ip monitor link address route`, as before. Plus /etc/resolv.conf, and Wi-Fi from
 * `iw dev <if> link` (or `nmcli` when iw is missing) for wireless interfaces. Parsing of `ip`
 * output is in parse-linux.ts.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { networkInterfaces } from "node:os";
import { createInterface } from "node:readline";
import {
  assembleLinuxState, defaultGateways, interfaceAddress, parseIpAddrJson, parseIpNeighJson, parseIpRouteJson, parseIwLink, parseNmcliWifi, parseResolvConf,
} from "./parse-linux.js";
import { emptyInterface, type AttachmentReader, type InterfaceState, type Route, type WatchSource, type WifiLink } from "./types.js";
import { exec, execFailure } from "../../../lib/exec.js";
import { normalizeMac } from "../../../lib/net/mac.js";
import { canonicalIp } from "../../../lib/net/ip.js";
import {
  neighUsable, RouteNetlink, watchRtnetlink, type AddrRow, type LinkRow, type RouteRow, type RouteTable,
} from "../../os/linux/rtnetlink.js";

const SEARCH_PATH = ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin", "/usr/local/bin"];

/** Absolute path of a command if installed (commands are run only when present). */
export function which(cmd: string): string | undefined {
  for (const dir of SEARCH_PATH) {
    const p = `${dir}/${cmd}`;
    if (existsSync(p)) return p;
  }
  return undefined;
}

export async function run(cmd: string, args: string[], timeoutMs = 5000): Promise<string> {
  const r = await exec(cmd, args, { timeoutMs, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, LC_ALL: "C" } });
  if (r.code === 0) return r.stdout;
  throw new Error(r.stderr.trim() ? `${cmd} ${args.join(" ")}: ${r.stderr.trim()}` : execFailure(cmd, args, r));
}

export interface LinuxReaderOptions {
  /** a named network namespace (`ip netns`): every ip command gets `-n <netns>`; Wi-Fi is skipped */
  netns?: string;
  resolvConf?: string;
  /** false: `ip` and `ip monitor` only, never rtnetlink (default: rtnetlink where it opens) */
  netlink?: boolean;
}

const ALL_TABLES: ReadonlySet<RouteTable> = new Set(["link", "addr", "route"]);

/**
 * What a notice about one table means for the others: a link that goes or goes down takes its
 * addresses and routes with it, and the kernel does not send a notice for every IPv4 route
 * flushed that way (nor for routes through a removed address): those tables are dumped again too.
 */
const IMPLIES: Record<RouteTable, RouteTable[]> = { link: ["link", "addr", "route"], addr: ["addr", "route"], route: ["route"] };

/** rtnetlink rows → interface states (addresses filtered as for `ip -json addr`; pure). */
export function statesFromNetlink(links: LinkRow[], addrs: AddrRow[]): InterfaceState[] {
  const byIndex = new Map<number, InterfaceState>();
  const out: InterfaceState[] = [];
  for (const l of links) {
    const st = emptyInterface(l.ifname);
    st.up = l.up;
    st.loopback = l.loopback;
    const mac = normalizeMac(l.mac);
    st.mac = mac && mac !== "00:00:00:00:00:00" ? mac : null;
    byIndex.set(l.index, st);
    out.push(st);
  }
  for (const a of addrs) {
    const st = byIndex.get(a.index);
    // scope 253 = link, 254 = host (`ip` prints them "link" and "host")
    const addr = st ? interfaceAddress(a.local, a.prefixlen, a.scope === 253 || a.scope === 254) : undefined;
    if (addr) st!.addresses.push(addr);
  }
  return out;
}

/** rtnetlink routes → the routes `ip -json route` gives (pure). */
export function routesFromNetlink(routes: RouteRow[], links: LinkRow[]): Route[] {
  const names = new Map(links.map((l) => [l.index, l.ifname]));
  return routes.map((r) => ({ dst: r.dst, gateway: r.gateway, dev: r.oif === null ? null : names.get(r.oif) ?? null, metric: r.metric, family: r.family }));
}

export class LinuxAttachmentReader implements AttachmentReader {
  private readonly ip: string;
  private readonly netns: string | undefined;
  private readonly resolvConf: string;
  private readonly useNetlink: boolean;
  private rtnl: Promise<RouteNetlink | undefined> | undefined;
  /** the rtnetlink tables of the last read, and the ones a notice said changed since */
  private cache: { link?: LinkRow[]; addr?: AddrRow[]; route?: RouteRow[] } = {};
  private readonly dirty = new Set<RouteTable>(ALL_TABLES);
  /** reads by source, and the rtnetlink dumps made per table (tests, benches) */
  readonly stats = { netlinkReads: 0, ipReads: 0, dumps: { link: 0, addr: 0, route: 0, neigh: 0 } };

  constructor(opts: LinuxReaderOptions = {}) {
    this.ip = which("ip") ?? "ip";
    this.netns = opts.netns;
    this.resolvConf = opts.resolvConf ?? "/etc/resolv.conf";
    this.useNetlink = !opts.netns && opts.netlink !== false;
  }

  private ipArgs(...args: string[]): string[] {
    return this.netns ? ["-n", this.netns, ...args] : args;
  }

  /** The rtnetlink dump socket, opened once; undefined where it cannot be (then `ip`). */
  private netlink(): Promise<RouteNetlink | undefined> {
    if (!this.useNetlink) return Promise.resolve(undefined);
    this.rtnl ??= RouteNetlink.open().catch(() => undefined);
    return this.rtnl;
  }

  async routes(): Promise<Route[]> {
    const nl = await this.netlink();
    if (nl) {
      try {
        return routesFromNetlink(nl.routes(), nl.links());
      } catch {
        // a dump the kernel refused: `ip` below
      }
    }
    return this.ipRoutes();
  }

  private async ipRoutes(): Promise<Route[]> {
    const [v4, v6] = await Promise.all([
      run(this.ip, this.ipArgs("-json", "route", "show")),
      run(this.ip, this.ipArgs("-6", "-json", "route", "show")).catch(() => "[]"),
    ]);
    return [...parseIpRouteJson(v4, 4), ...parseIpRouteJson(v6, 6)];
  }

  /** Everything read again. */
  async read(): Promise<InterfaceState[]> {
    return this.readState(ALL_TABLES);
  }

  /** After change notices: only the tables they touched are dumped again (rtnetlink; `ip` reads everything). */
  async readChanged(): Promise<InterfaceState[]> {
    return this.readState(undefined);
  }

  /** Mark tables as changed (a notice arrived): the next readChanged() dumps them. */
  markChanged(tables: Iterable<RouteTable>): void {
    for (const t of tables) for (const u of IMPLIES[t]) this.dirty.add(u);
  }

  private async readState(tables: ReadonlySet<RouteTable> | undefined): Promise<InterfaceState[]> {
    const nl = await this.netlink();
    if (nl) {
      try {
        return await this.readNetlink(nl, tables);
      } catch {
        // a dump the kernel refused: `ip` this time
      }
    }
    return this.readIp();
  }

  private async readNetlink(nl: RouteNetlink, tables: ReadonlySet<RouteTable> | undefined): Promise<InterfaceState[]> {
    const cached = this.cache.link && this.cache.addr && this.cache.route;
    const want = new Set(cached && tables === undefined ? this.dirty : ALL_TABLES);
    // the marks are taken before the dumps: a notice arriving during them marks its table again
    for (const t of want) this.dirty.delete(t);
    try {
      if (want.has("link")) { this.cache.link = nl.links(); this.stats.dumps.link++; }
      if (want.has("addr")) { this.cache.addr = nl.addrs(); this.stats.dumps.addr++; }
      if (want.has("route")) { this.cache.route = nl.routes(); this.stats.dumps.route++; }
    } catch (err) {
      for (const t of want) this.dirty.add(t);
      throw err;
    }
    this.stats.netlinkReads++;
    const links = this.cache.link!;
    const addrs = statesFromNetlink(links, this.cache.addr!);
    const routes = routesFromNetlink(this.cache.route!, links);
    // the neighbour table only gives the gateways' MACs: not dumped when there is no gateway
    const neigh = new Map<string, string>();
    if (defaultGateways(routes).size) {
      this.stats.dumps.neigh++;
      const names = new Map(links.map((l) => [l.index, l.ifname]));
      for (const n of nl.neighbours()) {
        const dev = names.get(n.index);
        const mac = normalizeMac(n.lladdr);
        if (dev && mac && neighUsable(n)) neigh.set(`${dev}|${canonicalIp(n.dst)}`, mac);
      }
    }
    return assembleLinuxState(addrs, routes, neigh, this.dns(), await readLinuxWifi(addrs.map((a) => a.iface)));
  }

  private dns(): string[] {
    try {
      return parseResolvConf(readFileSync(this.resolvConf, "utf8"));
    } catch {
      return []; // no resolv.conf: no DNS servers to report
    }
  }

  private async readIp(): Promise<InterfaceState[]> {
    this.stats.ipReads++;
    const [addrText, routes, neighText] = await Promise.all([
      run(this.ip, this.ipArgs("-json", "addr", "show")),
      this.ipRoutes(),
      run(this.ip, this.ipArgs("-json", "neigh", "show")).catch(() => "[]"),
    ]);
    const addrs = parseIpAddrJson(addrText);
    const wifi = this.netns ? new Map<string, WifiLink>() : await readLinuxWifi(addrs.map((a) => a.iface));
    return assembleLinuxState(addrs, routes, parseIpNeighJson(neighText), this.dns(), wifi);
  }

  /**
   * No process spawned: interfaces and addresses (getifaddrs), the IPv4/IPv6 default routes and
   * the default gateways' ARP entries from /proc. Only for the agent's own namespace.
   */
  fingerprint(): string | undefined {
    if (this.netns) return undefined;
    try {
      const ifs = networkInterfaces();
      const route = readFileSync("/proc/net/route", "latin1").split("\n").filter((l) => /^\S+\t00000000\t/.test(l));
      const gws = new Set(route.map((l) => l.split("\t")[2]));
      const arp = readFileSync("/proc/net/arp", "latin1").split("\n").filter((l) => {
        const ip = l.split(/\s+/)[0] ?? "";
        const hex = ip.split(".").reverse().map((o) => Number(o).toString(16).padStart(2, "0")).join("").toUpperCase();
        return gws.has(hex);
      });
      let v6 = "";
      try {
        v6 = readFileSync("/proc/net/ipv6_route", "latin1").split("\n").filter((l) => l.startsWith("00000000000000000000000000000000 00 ")).join("\n");
      } catch {
        // IPv6 disabled
      }
      return JSON.stringify([ifs, route, arp, v6]);
    } catch {
      return undefined;
    }
  }

  /**
   * Change notices: rtnetlink where it opens (a notice marks its tables for readChanged()), else
   * `ip monitor` (every line marks everything). `onSource` says which, once known.
   */
  watch(onChange: () => void, onError: (err: unknown) => void, onSource?: (source: WatchSource) => void): () => void {
    const ipMonitor = (): (() => void) => watchIpMonitor(this.ip, this.ipArgs("monitor", "link", "address", "route"), () => {
      this.markChanged(ALL_TABLES);
      onChange();
    }, onError);
    if (!this.useNetlink) {
      onSource?.({ name: "ip monitor", debounceMs: IP_MONITOR_DEBOUNCE_MS });
      return ipMonitor();
    }
    let stop: (() => void) | undefined;
    let stopped = false;
    watchRtnetlink((tables) => { this.markChanged(tables); onChange(); }, () => { this.markChanged(ALL_TABLES); onChange(); }).then(
      (close) => {
        if (stopped) { close(); return; }
        stop = close;
        onSource?.({ name: "rtnetlink", debounceMs: RTNETLINK_DEBOUNCE_MS });
        // a change between the first read and the subscription raised no notice
        this.markChanged(ALL_TABLES);
        onChange();
      },
      (err: unknown) => {
        if (stopped) return;
        stop = ipMonitor();
        onSource?.({ name: "ip monitor", debounceMs: IP_MONITOR_DEBOUNCE_MS, reason: err instanceof Error ? err.message : String(err) });
      },
    );
    return () => {
      stopped = true;
      stop?.();
    };
  }
}

/** Quiet time after a notice before the re-read: rtnetlink notices come as the kernel makes the change (a burst of a few per `ip` command). */
export const RTNETLINK_DEBOUNCE_MS = 30;
/** `ip monitor` lines come through a pipe and a process: a longer quiet time, as before. */
export const IP_MONITOR_DEBOUNCE_MS = 300;

/**
 * Run `ip monitor …` once; every line it prints is a change notice (iproute2 before 6.x prints
 * text even with -json, so lines are not parsed beyond that). Restarted after 5 s if it exits.
 */
export function watchIpMonitor(ip: string, args: string[], onChange: () => void, onError: (err: unknown) => void): () => void {
  let child: ChildProcess | undefined;
  let stopped = false;
  let restart: NodeJS.Timeout | undefined;
  const startChild = (): void => {
    child = spawn(ip, args, { stdio: ["ignore", "pipe", "ignore"] });
    const rl = createInterface({ input: child.stdout! });
    rl.on("line", () => onChange());
    child.on("error", (err) => onError(err));
    child.on("exit", (code, signal) => {
      if (stopped) return;
      onError(new Error(`ip monitor exited (code ${code}, signal ${signal}); restarting in 5 s`));
      restart = setTimeout(startChild, 5000);
      restart.unref();
    });
  };
  startChild();
  return () => {
    stopped = true;
    if (restart) clearTimeout(restart);
    child?.kill();
  };
}

/** Wireless interfaces are the ones with /sys/class/net/<if>/wireless (or phy80211). */
export function isWireless(iface: string): boolean {
  return existsSync(`/sys/class/net/${iface}/wireless`) || existsSync(`/sys/class/net/${iface}/phy80211`);
}

/** SSID/BSSID of each wireless interface: `iw dev <if> link`, else `nmcli` (single adapter). */
export async function readLinuxWifi(ifaces: string[]): Promise<Map<string, WifiLink>> {
  const out = new Map<string, WifiLink>();
  const wireless = ifaces.filter(isWireless);
  if (!wireless.length) return out;
  const iw = which("iw");
  if (iw) {
    for (const ifc of wireless) {
      const link = parseIwLink(await run(iw, ["dev", ifc, "link"]).catch(() => ""));
      if (link) out.set(ifc, { ...link, iface: ifc });
    }
    return out;
  }
  const nmcli = which("nmcli");
  if (nmcli && wireless.length === 1) {
    const link = parseNmcliWifi(await run(nmcli, ["-t", "-f", "ACTIVE,SSID,BSSID", "dev", "wifi", "list", "--rescan", "no"]).catch(() => ""));
    if (link) out.set(wireless[0]!, { ...link, iface: wireless[0]! });
  }
  return out;
}
