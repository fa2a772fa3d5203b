/**
 * The hardware inventory (機器情報) of one PC, as the asset control reports it (別記2 第7,
 * 個人情報取扱特記事項 第12 第7項 台帳管理).
 *
 * `normalize(raw)` is a PURE function from systeminformation's output (one property per call,
 * see read.ts) to the typed `Inventory`. It never throws on odd shapes: a field it cannot read
 * becomes "" (or 0 / null), because a VM or a locked-down PC simply has no serial or BIOS date.
 * A source that failed (or is missing from `raw`) is listed in `errors`, and its part of the
 * inventory is empty; diffInventory() never reads an empty part of a failed source as "removed".
 */
import { z } from "zod";
import { normalizeMac } from "./mac.js";

/** The systeminformation calls one snapshot makes (all in parallel; none spawns per-process commands). */
export const SOURCES = [
  "system", "bios", "baseboard", "cpu", "memLayout", "diskLayout", "networkInterfaces", "osInfo", "uuid", "users",
] as const;
export const Source = z.enum(SOURCES);
export type Source = z.infer<typeof Source>;

const Str = z.string();
const Count = z.number().int().nonnegative();

export const SystemInfo = z.strictObject({
  manufacturer: Str,
  model: Str,
  version: Str,
  serial: Str,
  /** SMBIOS system UUID as reported (lower-cased) */
  uuid: Str,
  sku: Str,
  virtual: z.boolean(),
  virtualHost: Str,
});
export type SystemInfo = z.infer<typeof SystemInfo>;

export const BiosInfo = z.strictObject({ vendor: Str, version: Str, releaseDate: Str, revision: Str, serial: Str });
export type BiosInfo = z.infer<typeof BiosInfo>;

export const BaseboardInfo = z.strictObject({ manufacturer: Str, model: Str, version: Str, serial: Str, assetTag: Str });
export type BaseboardInfo = z.infer<typeof BaseboardInfo>;

export const CpuInfo = z.strictObject({
  manufacturer: Str,
  brand: Str,
  vendor: Str,
  family: Str,
  model: Str,
  stepping: Str,
  speedGHz: z.number().nonnegative(),
  cores: Count,
  physicalCores: Count,
  processors: Count,
  socket: Str,
});
export type CpuInfo = z.infer<typeof CpuInfo>;

/** One populated memory module (empty slots are dropped). */
export const MemoryModule = z.strictObject({
  /** slot / bank label as the firmware names it; "" where it names none */
  slot: Str,
  /** bytes */
  size: Count,
  type: Str,
  clockSpeedMHz: z.number().nonnegative(),
  formFactor: Str,
  manufacturer: Str,
  partNum: Str,
  serial: Str,
});
export type MemoryModule = z.infer<typeof MemoryModule>;

export const Disk = z.strictObject({
  /** /dev/sda, \\.\PHYSICALDRIVE0, disk0: the slot the disk sits in */
  device: Str,
  type: Str,
  name: Str,
  vendor: Str,
  /** bytes */
  size: z.number().nonnegative(),
  serial: Str,
  firmware: Str,
  interfaceType: Str,
});
export type Disk = z.infer<typeof Disk>;

export const Nic = z.strictObject({
  iface: Str,
  /** the adapter's description (Windows) or name */
  name: Str,
  /** lower-case colon form, "" when the adapter has none */
  mac: Str,
  /** wired / wireless / virtual / "" */
  type: Str,
  /** VPN, bridge, container, hypervisor adapters: kept for the record, ignored by pcId and diffs */
  virtual: z.boolean(),
  speedMbps: z.number().nullable(),
});
export type Nic = z.infer<typeof Nic>;

export const OsInfo = z.strictObject({
  platform: Str,
  distro: Str,
  release: Str,
  codename: Str,
  kernel: Str,
  arch: Str,
  hostname: Str,
  fqdn: Str,
  build: Str,
  uefi: z.boolean().nullable(),
  /** the OS installation id (/etc/machine-id, MachineGuid, IOPlatformUUID on macOS) */
  machineId: Str,
});
export type OsInfo = z.infer<typeof OsInfo>;

export const LoggedInUser = z.strictObject({ user: Str, tty: Str, date: Str, time: Str, ip: Str });
export type LoggedInUser = z.infer<typeof LoggedInUser>;

export const SourceError = z.strictObject({ source: Source, message: z.string() });
export type SourceError = z.infer<typeof SourceError>;

export const Inventory = z.strictObject({
  system: SystemInfo,
  bios: BiosInfo,
  baseboard: BaseboardInfo,
  cpu: CpuInfo,
  memory: z.array(MemoryModule),
  disks: z.array(Disk),
  nics: z.array(Nic),
  os: OsInfo,
  /** hardware UUID as systeminformation's uuid() reports it (may differ in case from system.uuid) */
  hardwareUuid: Str,
  /** users logged in at the time of the snapshot */
  users: z.array(LoggedInUser),
  /** sources that could not be read: their part of the inventory is empty, not "removed" */
  errors: z.array(SourceError),
});
export type Inventory = z.infer<typeof Inventory>;

/** What read.ts collects: each source's raw systeminformation result, plus the ones that failed. */
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
