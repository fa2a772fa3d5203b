/**
 * The hardware inventory (機器情報) of one PC, as the asset control reports it (別記2 第7,
 * 個人情報取扱特記事項 第12 第7項 台帳管理): a wire type, read by the agent (which builds it,
 * agent/collectors/asset/normalize.ts) and by the server (which reconciles it with the ledger).
 *
 * The agent's `normalize(raw)` never throws on odd shapes: a field it cannot read becomes "" (or
 * 0 / null), because a VM or a locked-down PC simply has no serial or BIOS date. A source that
 * failed is listed in `errors`, and its part of the inventory is empty.
 */
import { z } from "zod";
import { SOURCES } from "./inventory-sources.js";

export { SOURCES };

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
