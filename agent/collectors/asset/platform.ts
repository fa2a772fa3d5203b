/**
 * The OS reading for the asset control. On Windows and macOS systeminformation does the work
 * (WMI/PowerShell, system_profiler/ioreg). On Linux each source is read directly, in the shape of
 * systeminformation's result, so `normalize()` stays one pure function for every OS:
 * - system, BIOS, baseboard, UUID, OS: /sys/class/dmi/id, /etc/os-release, /etc/machine-id (linux-sys.ts)
 * - NICs: /sys/class/net (linux.ts)
 * - CPU: /proc/cpuinfo, plus the socket from the SMBIOS table (linux-cpu.ts)
 * - memory modules: the SMBIOS table in /sys/firmware/dmi/tables (linux-smbios.ts)
 * - disks: one lsblk run without a shell (linux-disks.ts)
 * - logged-in users: /var/run/utmp (linux-users.ts)
 * systeminformation runs ≈ 80 commands through shells for the same facts on Linux and loads
 * ≈ 10,000 lines of its own code: ≈ 0.1 s of CPU per snapshot that this avoids (BENCHMARKS.md).
 * Each Linux reader is tested for the same values as systeminformation on the same input.
 *
 * All calls run in parallel; one that fails or hangs is recorded in `errors` and the rest are kept
 * (partial results over failure). Deliberately not called: processes() (a command per process),
 * graphics(), fsSize() — not hardware identity, and slow.
 */
import { totalmem } from "node:os";
import { readLinuxNics } from "./linux.js";
import { readLinuxCpu } from "./linux-cpu.js";
import { readLinuxDisks } from "./linux-disks.js";
import { memLayoutFromSmbios, processorSocketFromSmbios, readSmbios, type SmbiosStructure } from "./linux-smbios.js";
import { LinuxSysReader } from "./linux-sys.js";
import { readLinuxUsers } from "./linux-users.js";
import type { Source, SourceError } from "./inventory.js";
import { SOURCES, type RawInventory } from "./normalize.js";

/** a single call that takes longer than this is given up (Windows WMI can hang) */
const CALL_TIMEOUT_MS = 20_000;

type Si = typeof import("systeminformation");
let siModule: Promise<Si> | undefined;
const si = (): Promise<Si> => (siModule ??= import("systeminformation").then((m) => m.default));

/**
 * What systeminformation's memLayout() reports when it finds no memory device (no SMBIOS table, or
 * not readable without root): one module of the whole memory, without a slot.
 */
export function wholeMemory(total = totalmem()): Record<string, unknown>[] {
  return [{ size: total, bank: "", type: "", ecc: null, clockSpeed: 0, formFactor: "", partNum: "", serialNum: "", voltageConfigured: null, voltageMin: null, voltageMax: null }];
}

/**
 * The calls for one snapshot. On Linux every one is read directly (files under /sys, /proc and
 * /etc, the SMBIOS table, utmp, one lsblk run): see linux-*.ts. systeminformation is loaded only
 * where a Linux reader cannot answer (a CPU whose /proc/cpuinfo is not in the x86 layout, an lsblk
 * too old for the columns asked for) and on Windows and macOS.
 */
function callsFor(platform: NodeJS.Platform): Record<Source, () => Promise<unknown>> {
  if (platform !== "linux") {
    return {
      system: () => si().then((s) => s.system()),
      bios: () => si().then((s) => s.bios()),
      baseboard: () => si().then((s) => s.baseboard()),
      cpu: () => si().then((s) => s.cpu()),
      memLayout: () => si().then((s) => s.memLayout()),
      diskLayout: () => si().then((s) => s.diskLayout()),
      networkInterfaces: () => si().then((s) => s.networkInterfaces()),
      osInfo: () => si().then((s) => s.osInfo()),
      uuid: () => si().then((s) => s.uuid()),
      users: () => si().then((s) => s.users()),
    };
  }
  // one reader per snapshot: it caches its DMI reads and dmesg; the SMBIOS table is read once for memory and socket
  const sys = new LinuxSysReader();
  let table: Promise<SmbiosStructure[] | undefined> | undefined;
  const smbios = () => (table ??= readSmbios().then((t) => t?.structures, () => undefined));
  return {
    system: () => sys.system(),
    bios: () => sys.bios(),
    baseboard: () => sys.baseboard(),
    cpu: async () => (await readLinuxCpu({ socket: async () => { const t = await smbios(); return t ? processorSocketFromSmbios(t) : ""; } }))
      ?? (await si()).cpu(),
    memLayout: async () => {
      const t = await smbios();
      const modules = t ? memLayoutFromSmbios(t) : [];
      return modules.length ? modules : wholeMemory();
    },
    diskLayout: () => readLinuxDisks().catch(async () => (await si()).diskLayout()),
    networkInterfaces: () => readLinuxNics(),
    osInfo: () => sys.osInfo(),
    uuid: () => sys.uuid(),
    users: () => readLinuxUsers(),
  };
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export type RawReader = () => Promise<RawInventory>;

/** Read every source once, in parallel. Never rejects. */
export const readSystemInformation: RawReader = async () => {
  const calls = callsFor(process.platform);
  const results = await Promise.allSettled(SOURCES.map((s) => withTimeout(calls[s](), CALL_TIMEOUT_MS)));
  const raw: RawInventory = {};
  const errors: SourceError[] = [];
  results.forEach((r, i) => {
    const source = SOURCES[i]!;
    if (r.status === "fulfilled") raw[source] = r.value;
    else errors.push({ source, message: r.reason instanceof Error ? r.reason.message : String(r.reason) });
  });
  raw.errors = errors;
  return raw;
};
