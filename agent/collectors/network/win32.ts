/**
 * Windows attachment reading. Through the API (agent/os/win32/netif.ts): GetAdaptersAddresses
 * (names in UTF-16, addresses, DNS, gateways), GetIpNetTable (gateway MAC), the WLAN API (SSID,
 * BSSID), change notification by NotifyAddrChange/NotifyRouteChange — no process started.
 * Fallback when the FFI layer cannot load: PowerShell Get-NetIPConfiguration and `netsh wlan`
 * (its output decoded from the console code page, CP932 on Japanese Windows — see
 * decodeConsoleText).
 */
import { normalizeMac } from "../../../lib/net/mac.js";
import { parseNetIPConfigurationJson, parseNetshWlanInterfaces } from "./parse-win32.js";
import { run } from "./linux.js";
import iconv from "iconv-lite";
import { canonicalIp, isLinkLocal, isLoopback, networkOf } from "../../../lib/net/ip.js";
import { win32 } from "../../os/win32/ffi.js";
import { readAdapters, readNeighbours, readWlan, type AdapterInfo } from "../../os/win32/netif.js";
import { sharedWaiter } from "../../os/win32/waiter.js";

/**
 * Console output of a Windows command as bytes → text: UTF-8 when it is valid UTF-8, else the
 * OEM code page of a Japanese Windows (CP932). netsh writes in the console code page, never UTF-8.
 */
export function decodeConsoleText(bytes: Buffer): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return iconv.decode(bytes, "cp932");
  }
}

async function runBytes(cmd: string, args: string[]): Promise<Buffer> {
  return stdoutOf(cmd, args, await exec(cmd, args, { encoding: "buffer", timeoutMs: 20_000 }));
}

/** NotifyAddrChange / NotifyRouteChange with an event in an OVERLAPPED: re-armed after each signal. */
function notifyChange(fn: "NotifyAddrChange" | "NotifyRouteChange", onChange: () => void): () => void {
  const w = win32();
  const overlapped = Buffer.alloc(32); // Internal, InternalHigh, Offset, OffsetHigh, hEvent @24
  const handle = [0];
  let stopped = false;
  const arm = (): void => {
    overlapped.fill(0, 0, 24);
    const rc = w[fn](handle, overlapped) as number;
    if (rc !== 997 /* ERROR_IO_PENDING */ && rc !== 0) throw new Error(`${fn} failed: Win32 error ${rc}`);
  };
  const reg = sharedWaiter().add(() => {
    if (stopped) return;
    arm();
    onChange();
  });
  overlapped.writeBigInt64LE(BigInt(reg.event), 24);
  try {
    arm();
  } catch (err) {
    reg.close();
    throw err;
  }
  return () => {
    stopped = true;
    reg.close();
  };
}
import type { AttachmentReader, InterfaceState, Route } from "./types.js";
import { exec, stdoutOf } from "../../../lib/exec.js";

const PS_ADDR = "Get-NetIPConfiguration -Detailed | ConvertTo-Json -Depth 4";
const PS_ROUTES = "Get-NetRoute | Select-Object DestinationPrefix,NextHop,InterfaceAlias,RouteMetric,AddressFamily | ConvertTo-Json -Depth 2";
const PS_NEIGH = "Get-NetNeighbor | Where-Object State -ne 'Unreachable' | Select-Object IPAddress,LinkLayerAddress,InterfaceAlias | ConvertTo-Json -Depth 2";

function ps(command: string): Promise<string> {
  return run("powershell.exe", ["-NoProfile", "-NonInteractive", "-Command", `[Console]::OutputEncoding=[Text.Encoding]::UTF8; ${command}`], 20_000);
}

function list(text: string): Record<string, unknown>[] {
  const t = text.replace(/^\uFEFF/, "").trim();
  if (!t) return [];
  const v: unknown = JSON.parse(t);
  return (Array.isArray(v) ? v : [v]) as Record<string, unknown>[];
}

/** Adapters (+ neighbours, WLAN) → the shared attachment model. Pure: tested on captured API results. */
export function attachmentFromAdapters(adapters: AdapterInfo[], neighbours: Map<string, string>, wlan: Map<string, { ssid: string | null; bssid: string | null }>): InterfaceState[] {
  return adapters.map((a) => {
    const addresses = a.addresses
      .filter((x) => !isLinkLocal(x.address) && !isLoopback(x.address))
      .flatMap((x) => {
        const cidr = networkOf(x.address, x.prefixlen);
        return cidr ? [{ address: canonicalIp(x.address), prefixlen: x.prefixlen, cidr, family: x.family }] : [];
      });
    const gateway = a.gateways.find((g) => !g.includes(":")) ?? a.gateways[0] ?? null;
    const wifi = wlan.get(a.guid.toUpperCase());
    return {
      iface: a.friendlyName || a.guid,
      mac: normalizeMac(a.mac) ?? null,
      up: a.up,
      loopback: a.loopback,
      addresses,
      gateway,
      gatewayMac: gateway ? normalizeMac(neighbours.get(`${a.ifIndex}|${gateway}`)) ?? null : null,
      ssid: wifi?.ssid ?? null,
      bssid: wifi ? normalizeMac(wifi.bssid) ?? null : null,
      dns: a.dns,
    };
  });
}

export class Win32AttachmentReader implements AttachmentReader {
  private ffi: boolean | undefined;

  private api(): boolean {
    if (this.ffi === undefined) {
      try {
        win32();
        this.ffi = true;
      } catch {
        this.ffi = false;
      }
    }
    return this.ffi;
  }

  async read(): Promise<InterfaceState[]> {
    if (this.api()) return attachmentFromAdapters(readAdapters(), readNeighbours(), readWlan());
    return this.readCommands();
  }

  /** Address or route changes (NotifyAddrChange / NotifyRouteChange, IPv4) → onChange. */
  watch(onChange: () => void, onError: (err: unknown) => void): () => void {
    if (!this.api()) return () => undefined;
    const stops: (() => void)[] = [];
    for (const fn of ["NotifyAddrChange", "NotifyRouteChange"] as const) {
      try {
        stops.push(notifyChange(fn, onChange));
      } catch (err) {
        onError(err);
      }
    }
    return () => stops.forEach((s) => s());
  }

  private async readCommands(): Promise<InterfaceState[]> {
    const [cfg, wlan, neigh] = await Promise.all([
      ps(PS_ADDR),
      runBytes("netsh", ["wlan", "show", "interfaces"]).then(decodeConsoleText).catch(() => ""),
      ps(PS_NEIGH).catch(() => ""),
    ]);
    const states = parseNetIPConfigurationJson(cfg);
    const wifi = new Map(parseNetshWlanInterfaces(wlan).map((w) => [w.iface!, w]));
    const macs = new Map(list(neigh).map((n) => [`${String(n.InterfaceAlias)}|${String(n.IPAddress)}`, String(n.LinkLayerAddress)]));
    return states.map((s) => ({
      ...s,
      ssid: wifi.get(s.iface)?.ssid ?? null,
      bssid: wifi.get(s.iface)?.bssid ?? null,
      gatewayMac: s.gateway ? normalizeMac(macs.get(`${s.iface}|${s.gateway}`)) ?? null : null,
    }));
  }

  async routes(): Promise<Route[]> {
    if (this.api()) {
      // the default routes from the adapters' gateways (the full table stays a fallback's job)
      return readAdapters().flatMap((a) => a.gateways.map((g) => ({ dst: g.includes(":") ? "::/0" : "0.0.0.0/0", gateway: g, dev: a.friendlyName, metric: 0, family: (g.includes(":") ? 6 : 4) as 4 | 6 })));
    }
    return list(await ps(PS_ROUTES)).map((r) => ({
      dst: String(r.DestinationPrefix),
      gateway: r.NextHop && r.NextHop !== "0.0.0.0" && r.NextHop !== "::" ? String(r.NextHop) : null,
      dev: r.InterfaceAlias ? String(r.InterfaceAlias) : null,
      metric: Number(r.RouteMetric ?? 0),
      family: String(r.DestinationPrefix).includes(":") ? 6 : 4,
    }));
  }
}
