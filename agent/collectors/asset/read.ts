/**
 * The OS reading for the asset control: systeminformation does the per-OS work (dmidecode and
 * /sys on Linux, WMI/PowerShell on Windows, system_profiler/ioreg on macOS), so this one file
 * serves every platform. All calls run in parallel; one that fails or hangs is recorded in
 * `errors` and the rest are kept (partial results over failure).
 *
 * Deliberately not called: processes() (a command per process), graphics(), fsSize() — not
 * hardware identity, and slow. On Linux the NICs come from /sys/class/net (linux.ts), not from
 * systeminformation's networkInterfaces(), which runs a command per interface.
 */
import si from "systeminformation";
import { readLinuxNics } from "./linux.js";
import { SOURCES, type RawInventory, type Source, type SourceError } from "./inventory.js";

/** a single call that takes longer than this is given up (Windows WMI can hang) */
const CALL_TIMEOUT_MS = 20_000;

const calls: Record<Source, () => Promise<unknown>> = {
  system: () => si.system(),
  bios: () => si.bios(),
  baseboard: () => si.baseboard(),
  cpu: () => si.cpu(),
  memLayout: () => si.memLayout(),
  diskLayout: () => si.diskLayout(),
  networkInterfaces: () => (process.platform === "linux" ? readLinuxNics() : si.networkInterfaces()),
  osInfo: () => si.osInfo(),
  uuid: () => si.uuid(),
  users: () => si.users(),
};

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
