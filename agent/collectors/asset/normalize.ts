/**
 * `normalize(raw)`: systeminformation-shaped output (one property per call, see platform.ts) → the
 * typed `Inventory` of inventory.ts. Kept apart from the zod schemas there so that the one-shot
 * `kyoka snapshot` does not load zod (≈ 120 ms of module compilation): this module imports only
 * types from inventory.ts. Pure; never throws (see inventory.ts for the contract).
 */
import { normalizeMac } from "../../../lib/net/mac.js";
import type { Inventory, MemoryModule, Nic, Source, SourceError } from "../../../policies/inventory.js";
import { SOURCES } from "../../../policies/inventory-sources.js";

export { SOURCES };

/** What platform.ts collects: each source's raw systeminformation result, plus the ones that failed. */
export type RawInventory = { [K in Source]?: unknown } & { errors?: SourceError[] };

// ---------------------------------------------------------------------------------------------
// Defensive readers over unknown JSON

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const obj = (v: unknown): Obj => (isObj(v) ? v : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : isObj(v) ? [v] : []);

/** A string field, trimmed; systeminformation's "-" (unknown) becomes "". */
function str(o: Obj, key: string): string {
  const v = o[key];
  if (typeof v === "string") {
    const t = v.trim();
    return t === "-" ? "" : t;
  }
  if (typeof v === "number" && Number.isFinite(v)) return String(v);
  return "";
}
function num(o: Obj, key: string): number {
  const v = o[key];
  const n = typeof v === "number" ? v : typeof v === "string" && v.trim() !== "" ? Number(v) : NaN;
  return Number.isFinite(n) && n >= 0 ? n : 0;
}
const int = (o: Obj, key: string): number => Math.floor(num(o, key));
function bool(o: Obj, key: string): boolean {
  return o[key] === true;
}

/**
 * Interface names and descriptions of adapters that are not a physical NIC of this PC:
 * container/VM plumbing, VPN tunnels, bridges, Apple's internal links.
 */
const VIRTUAL_IFACE = /^(veth|docker|br-|virbr|vmnet|vboxnet|tun|tap|wg|zt|utun|awdl|llw|anpi|bridge|ifb|dummy|kube|cni|flannel|cali|lxc|lxd|tailscale|vnet|gif|stf|ap\d|ipsec|ppp)/i;
const VIRTUAL_DESCRIPTION = /(virtual|hyper-v|vmware|virtualbox|tap-windows|wireguard|tunnel|vpn|npcap|wan miniport|teredo|isatap|pseudo|loopback)/i;

function normalizeNic(o: Obj): Nic | undefined {
  const iface = str(o, "iface");
  const name = str(o, "ifaceName");
  const rawMac = str(o, "mac");
  const mac = normalizeMac(rawMac) ?? "";
  // loopback: never a NIC
  if (bool(o, "internal") || iface === "lo" || /^lo\d*$/.test(iface) || mac === "00:00:00:00:00:00") return undefined;
  const type = str(o, "type");
  const virtual = bool(o, "virtual") || type === "virtual" || VIRTUAL_IFACE.test(iface) || VIRTUAL_DESCRIPTION.test(name);
  const speed = o.speed;
  return {
    iface,
    name,
    mac,
    type,
    virtual,
    speedMbps: typeof speed === "number" && Number.isFinite(speed) && speed >= 0 ? speed : null,
  };
}

/** Disambiguate repeated slot labels ("BANK 0", "BANK 0") as "BANK 0", "BANK 0#2". */
function uniqueSlots(modules: MemoryModule[]): MemoryModule[] {
  const seen = new Map<string, number>();
  return modules.map((m) => {
    const n = (seen.get(m.slot) ?? 0) + 1;
    seen.set(m.slot, n);
    return n === 1 ? m : { ...m, slot: `${m.slot}#${n}` };
  });
}

/** systeminformation output → Inventory. Pure; never throws. */
export function normalize(raw: RawInventory): Inventory {
  const errors: SourceError[] = [...(raw.errors ?? [])];
  for (const source of SOURCES) {
    if (raw[source] === undefined && !errors.some((e) => e.source === source)) {
      errors.push({ source, message: "not collected" });
    }
  }

  const sys = obj(raw.system);
  const bios = obj(raw.bios);
  const board = obj(raw.baseboard);
  const cpu = obj(raw.cpu);
  const os = obj(raw.osInfo);
  const uuid = obj(raw.uuid);

  const memory = uniqueSlots(
    arr(raw.memLayout)
      .map(obj)
      .filter((m) => num(m, "size") > 0 && str(m, "type").toLowerCase() !== "empty")
      .map((m) => ({
        slot: str(m, "bank"),
        size: int(m, "size"),
        type: str(m, "type"),
        clockSpeedMHz: num(m, "clockSpeed"),
        formFactor: str(m, "formFactor"),
        manufacturer: str(m, "manufacturer"),
        partNum: str(m, "partNum"),
        serial: str(m, "serialNum"),
      })),
  );

  const disks = arr(raw.diskLayout).map(obj).map((d) => ({
    device: str(d, "device"),
    type: str(d, "type"),
    name: str(d, "name"),
    vendor: str(d, "vendor"),
    size: num(d, "size"),
    serial: str(d, "serialNum"),
    firmware: str(d, "firmwareRevision"),
    interfaceType: str(d, "interfaceType"),
  }));

  const nics = arr(raw.networkInterfaces).map(obj).map(normalizeNic).filter((n): n is Nic => n !== undefined);

  const uefi = os.uefi;
  return {
    system: {
      manufacturer: str(sys, "manufacturer"),
      model: str(sys, "model"),
      version: str(sys, "version"),
      serial: str(sys, "serial"),
      uuid: str(sys, "uuid").toLowerCase(),
      sku: str(sys, "sku"),
      virtual: bool(sys, "virtual"),
      virtualHost: str(sys, "virtualHost"),
    },
    bios: {
      vendor: str(bios, "vendor"),
      version: str(bios, "version"),
      releaseDate: str(bios, "releaseDate"),
      revision: str(bios, "revision"),
      serial: str(bios, "serial"),
    },
    baseboard: {
      manufacturer: str(board, "manufacturer"),
      model: str(board, "model"),
      version: str(board, "version"),
      serial: str(board, "serial"),
      assetTag: str(board, "assetTag"),
    },
    cpu: {
      manufacturer: str(cpu, "manufacturer"),
      brand: str(cpu, "brand"),
      vendor: str(cpu, "vendor"),
      family: str(cpu, "family"),
      model: str(cpu, "model"),
      stepping: str(cpu, "stepping"),
      speedGHz: num(cpu, "speed"),
      cores: int(cpu, "cores"),
      physicalCores: int(cpu, "physicalCores"),
      processors: int(cpu, "processors"),
      socket: str(cpu, "socket"),
    },
    memory,
    disks,
    nics,
    os: {
      platform: str(os, "platform"),
      distro: str(os, "distro"),
      release: str(os, "release"),
      codename: str(os, "codename"),
      kernel: str(os, "kernel"),
      arch: str(os, "arch"),
      hostname: str(os, "hostname"),
      fqdn: str(os, "fqdn"),
      build: str(os, "build"),
      uefi: typeof uefi === "boolean" ? uefi : null,
      machineId: str(uuid, "os") || str(os, "serial"),
    },
    hardwareUuid: str(uuid, "hardware").toLowerCase(),
    users: arr(raw.users).map(obj).map((u) => ({
      user: str(u, "user"),
      tty: str(u, "tty"),
      date: str(u, "date"),
      time: str(u, "time"),
      ip: str(u, "ip"),
    })),
    errors,
  };
}

/** True when `source` could not be read for this inventory (its part is empty, not "absent"). */
export function failed(inv: Inventory, source: Source): boolean {
  return inv.errors.some((e) => e.source === source);
}
