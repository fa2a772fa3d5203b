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
import { SOURCES, type RawInventory, type Source, type SourceError } from "./inventory.js";

/** a single call that takes longer than this is given up (Windows WMI can hang) */
const CALL_TIMEOUT_MS = 20_000;

type Si = typeof import("systeminformation");
let siModule: Promise<Si> | undefined;
const si = (): Promise<Si> => (siModule ??= import("systeminformation").then((m) => m.default));

/** The calls for one snapshot (the Linux reader caches its DMI reads and dmesg within it). */
function callsFor(platform: NodeJS.Platform): Record<Source, () => Promise<unknown>> {
  const linux = platform === "linux" ? new LinuxSysReader() : undefined;
  return {
    system: () => (linux ? linux.system() : si().then((s) => s.system())),
    bios: () => (linux ? linux.bios() : si().then((s) => s.bios())),
    baseboard: () => (linux ? linux.baseboard() : si().then((s) => s.baseboard())),
    cpu: () => si().then((s) => s.cpu()),
    memLayout: () => si().then((s) => s.memLayout()),
    diskLayout: () => si().then((s) => s.diskLayout()),
    networkInterfaces: () => (linux ? readLinuxNics() : si().then((s) => s.networkInterfaces())),
    osInfo: () => (linux ? linux.osInfo() : si().then((s) => s.osInfo())),
    uuid: () => (linux ? linux.uuid() : si().then((s) => s.uuid())),
    users: () => si().then((s) => s.users()),
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
