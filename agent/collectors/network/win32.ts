/** Windows attachment reading (thin): PowerShell Get-NetIPConfiguration and netsh wlan. */
import { normalizeMac } from "../../../lib/net/mac.js";
import { parseNetIPConfigurationJson, parseNetshWlanInterfaces } from "./parse-win32.js";
import { run } from "./linux.js";
import type { AttachmentReader, InterfaceState, Route } from "./types.js";

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

export class Win32AttachmentReader implements AttachmentReader {
  async read(): Promise<InterfaceState[]> {
    const [cfg, wlan, neigh] = await Promise.all([
      ps(PS_ADDR),
      run("netsh", ["wlan", "show", "interfaces"]).catch(() => ""),
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
    return list(await ps(PS_ROUTES)).map((r) => ({
      dst: String(r.DestinationPrefix),
      gateway: r.NextHop && r.NextHop !== "0.0.0.0" && r.NextHop !== "::" ? String(r.NextHop) : null,
      dev: r.InterfaceAlias ? String(r.InterfaceAlias) : null,
      metric: Number(r.RouteMetric ?? 0),
      family: String(r.DestinationPrefix).includes(":") ? 6 : 4,
    }));
  }
}
