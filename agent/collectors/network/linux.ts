/**
 * Linux attachment reading: `ip -json` (optionally `ip -n <netns>` for a named network
 * namespace), /etc/resolv.conf, and Wi-Fi from `iw dev <if> link` (or `nmcli` when iw is
 * missing) for wireless interfaces. Change notification from one long-running
 * `ip monitor link address route`. Parsing is in parse-linux.ts.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { networkInterfaces } from "node:os";
import { createInterface } from "node:readline";
import {
  assembleLinuxState, parseIpAddrJson, parseIpNeighJson, parseIpRouteJson, parseIwLink, parseNmcliWifi, parseResolvConf,
} from "./parse-linux.js";
import type { AttachmentReader, InterfaceState, Route, WifiLink } from "./types.js";
import { exec, execFailure } from "../../../lib/exec.js";

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
}

export class LinuxAttachmentReader implements AttachmentReader {
  private readonly ip: string;
  private readonly netns: string | undefined;
  private readonly resolvConf: string;

  constructor(opts: LinuxReaderOptions = {}) {
    this.ip = which("ip") ?? "ip";
    this.netns = opts.netns;
    this.resolvConf = opts.resolvConf ?? "/etc/resolv.conf";
  }

  private ipArgs(...args: string[]): string[] {
    return this.netns ? ["-n", this.netns, ...args] : args;
  }

  async routes(): Promise<Route[]> {
    const [v4, v6] = await Promise.all([
      run(this.ip, this.ipArgs("-json", "route", "show")),
      run(this.ip, this.ipArgs("-6", "-json", "route", "show")).catch(() => "[]"),
    ]);
    return [...parseIpRouteJson(v4, 4), ...parseIpRouteJson(v6, 6)];
  }

  async read(): Promise<InterfaceState[]> {
    const [addrText, routes, neighText] = await Promise.all([
      run(this.ip, this.ipArgs("-json", "addr", "show")),
      this.routes(),
      run(this.ip, this.ipArgs("-json", "neigh", "show")).catch(() => "[]"),
    ]);
    let dns: string[] = [];
    try {
      dns = parseResolvConf(readFileSync(this.resolvConf, "utf8"));
    } catch {
      // no resolv.conf: no DNS servers to report
    }
    const addrs = parseIpAddrJson(addrText);
    const wifi = this.netns ? new Map<string, WifiLink>() : await readLinuxWifi(addrs.map((a) => a.iface));
    return assembleLinuxState(addrs, routes, parseIpNeighJson(neighText), dns, wifi);
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

  watch(onChange: () => void, onError: (err: unknown) => void): () => void {
    return watchIpMonitor(this.ip, this.ipArgs("monitor", "link", "address", "route"), onChange, onError);
  }
}

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
