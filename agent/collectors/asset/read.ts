/**
 * The OS reading for the asset control: systeminformation does the per-OS work (dmidecode and
 * /sys on Linux, WMI/PowerShell on Windows, system_profiler/ioreg on macOS), so this one file
 * serves every platform. All calls run in parallel; one that fails or hangs is recorded in
 * `errors` and the rest are kept (partial results over failure).
 *
 * Deliberately not called: processes() (a command per process), graphics(), fsSize() — not
 * hardware identity, and slow. On Linux the NICs come from /sys/class/net (linux.ts), not from
 * systeminformation's networkInterfaces(), which runs a command per interface; and system, BIOS,
 * baseboard, UUID and OS come from /sys/class/dmi/id, /etc/os-release and /etc/machine-id
 * (linux-sys.ts), not from the ≈ 60 commands systeminformation runs for them.
 * systeminformation is imported on first use (≈ 60–80 ms of module loading).
 */
import { readLinuxNics } from "./linux.js";
import { LinuxSysReader } from "./linux-sys.js";
import type { Source, SourceError } from "./inventory.js";
import { SOURCES, type RawInventory } from "./normalize.js";

/** a single call that takes longer than this is given up (Windows WMI can hang) */
const CALL_TIMEOUT_MS = 20_000;

type Si = typeof import("systeminformation");
let siModule: Promise<Si> | undefined;
const si = (): Promise<Si> => (siModule ??= import("systeminformation").then((m) => m.default));

/** the four systeminformation calls still made on Linux */
type SiLinux = Pick<Si, "cpu" | "memLayout" | "diskLayout" | "users">;
let siLinuxModule: Promise<SiLinux> | undefined;
/**
 * On Linux only cpu(), memLayout(), diskLayout() and users() are still systeminformation's, so
 * only their four files (lib/cpu.js, memory.js, filesystem.js, users.js, + util.js) are loaded
 * instead of lib/index.js, which loads all 20 (network, wifi, docker, printers, …): ≈ 30 ms less
 * CPU, the same functions. The package has no "exports" map, so these paths resolve; should a
 * later version move them, the whole package is loaded as before.
 */
const siLinux = (): Promise<SiLinux> => (siLinuxModule ??= (async () => {
  try {
    // a non-literal specifier: these files have no type declarations of their own
    const load = (file: string): Promise<{ default: Partial<SiLinux> }> => import(`systeminformation/lib/${file}.js`);
    const [cpu, memory, filesystem, users] = await Promise.all(["cpu", "memory", "filesystem", "users"].map(load));
    const part = { cpu: cpu!.default.cpu, memLayout: memory!.default.memLayout, diskLayout: filesystem!.default.diskLayout, users: users!.default.users };
    if (Object.values(part).every((f) => typeof f === "function")) return part as SiLinux;
  } catch {
    // fall through: the whole package
  }
  return si();
})());

/** The calls for one snapshot (the Linux reader caches its DMI reads and dmesg within it). */
function callsFor(platform: NodeJS.Platform): Record<Source, () => Promise<unknown>> {
  const linux = platform === "linux" ? new LinuxSysReader() : undefined;
  return {
    system: () => (linux ? linux.system() : si().then((s) => s.system())),
    bios: () => (linux ? linux.bios() : si().then((s) => s.bios())),
    baseboard: () => (linux ? linux.baseboard() : si().then((s) => s.baseboard())),
    cpu: () => (linux ? siLinux() : si()).then((s) => s.cpu()),
    memLayout: () => (linux ? siLinux() : si()).then((s) => s.memLayout()),
    diskLayout: () => (linux ? siLinux() : si()).then((s) => s.diskLayout()),
    networkInterfaces: () => (linux ? readLinuxNics() : si().then((s) => s.networkInterfaces())),
    osInfo: () => (linux ? linux.osInfo() : si().then((s) => s.osInfo())),
    uuid: () => (linux ? linux.uuid() : si().then((s) => s.uuid())),
    users: () => (linux ? siLinux() : si()).then((s) => s.users()),
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
