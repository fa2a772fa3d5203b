/**
 * The Linux CPU facts for the asset inventory, read from /proc/cpuinfo instead of
 * systeminformation's cpu(), which runs `lscpu` twice, `cat /proc/cpuinfo`, `dmidecode -t 4` and
 * `cat …/scaling_governor` through five shells, and loads ≈ 5,000 lines of its own code: ≈ 60 ms
 * of CPU for what one small file holds. lscpu itself takes these fields from /proc/cpuinfo on x86
 * (vendor_id, cpu family, model, model name, stepping) and the socket count from the package ids.
 *
 * The result has the fields and the values of systeminformation's cpu() that `normalize()` reads
 * (manufacturer, brand, vendor, family, model, stepping, speed, cores, physicalCores, processors,
 * socket), derived the same way: the brand is the model name before "@", with (R)/(TM)/(C) as
 * ®/™/© and "CPU" removed, and its first word (the maker) split off as the manufacturer. One
 * difference: with no "@ x.xxGHz" in the model name (AMD, most VMs) `speed` is the kernel's base
 * frequency (cpufreq) or the average current clock, where systeminformation looks AMD models up in
 * a table of its own; speed is informative only (the hardware diff does not compare it). Another:
 * where lscpu can read the DMI tables (root on a PC) it also prints "BIOS Model name" — the SMBIOS
 * processor version string — and systeminformation prefers that to the kernel's model name. On a
 * PC the two usually name the same CPU; on VMs the SMBIOS string is often the hypervisor's machine
 * type ("pc-q35-7.2"). The kernel's (the CPUID brand string) is used here: it names the CPU the
 * OS runs on.
 *
 * Only for /proc/cpuinfo in the x86 layout: on ARM, RISC-V and others lscpu names the cores from
 * its own tables of implementer/part ids, so there `readLinuxCpu` answers undefined and the caller
 * uses systeminformation.
 */
import { readFile } from "node:fs/promises";
import { cpus } from "node:os";
import { join } from "node:path";

/** The part of systeminformation's cpu() result that normalize() reads. */
export interface SiCpu {
  manufacturer: string;
  brand: string;
  vendor: string;
  family: string;
  model: string;
  stepping: string;
  speed: number;
  cores: number;
  physicalCores: number;
  processors: number;
  socket: string;
}

/** The maker named in a vendor id or model name (the names systeminformation uses). */
export function cpuMaker(text: string): string {
  const l = text.toLowerCase();
  const known: [string, string][] = [
    ["intel", "Intel"], ["amd", "AMD"], ["qemu", "QEMU"], ["hygon", "Hygon"], ["centaur", "WinChip/Via"],
    ["vmware", "VMware"], ["tcg", "QEMU"], ["apple", "Apple"], ["sifive", "SiFive"], ["thead", "T-Head"], ["andestech", "Andes Technology"],
  ];
  let maker = text;
  for (const [needle, name] of known) if (l.includes(needle)) maker = name;
  // systeminformation tests "Xen" against the lower-cased text, so it never matches: kept as is
  return maker;
}

/** "Intel(R) Core(TM) i7-8650U CPU @ 1.90GHz" → { manufacturer: "Intel", brand: "Core™ i7-8650U", speed: 1.9 } */
export function splitModelName(modelName: string): { manufacturer: string; brand: string; speed: number } {
  const [before, after] = modelName.replace(/To Be Filled By O.E.M./g, "").split("@");
  let brand = before!.trim();
  if (brand.includes("Unknown")) brand = brand.split("Unknown")[0]!.trim();
  const tidy = (s: string) => s.replace(/\s+/g, " ").trim();
  brand = tidy(brand.replace(/\(R\)+/g, "®"));
  brand = tidy(brand.replace(/\(TM\)+/g, "™"));
  brand = tidy(brand.replace(/\(C\)+/g, "©"));
  brand = tidy(brand.replace(/CPU+/g, ""));
  const words = brand.split(" ");
  const manufacturer = cpuMaker(brand);
  return { manufacturer, brand: words.slice(1).join(" "), speed: after ? parseFloat(after.trim()) || 0 : 0 };
}

/** /proc/cpuinfo → one key/value map per processor block. */
export function parseCpuinfo(text: string): Map<string, string>[] {
  const blocks: Map<string, string>[] = [];
  for (const block of text.split(/\n\s*\n/)) {
    const m = new Map<string, string>();
    for (const line of block.split("\n")) {
      const i = line.indexOf(":");
      if (i > 0) m.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
    }
    if (m.size) blocks.push(m);
  }
  return blocks;
}

export interface LinuxCpuOptions {
  /** default "/" (tests point it at a fake tree) */
  root?: string;
  /** the socket name (SMBIOS processor upgrade); default "" */
  socket?: () => Promise<string>;
  /** logical CPUs online (default os.cpus()) */
  cpus?: () => { speed: number }[];
}

/**
 * The CPU from /proc/cpuinfo; undefined when it is not in the x86 layout (no vendor_id or model
 * name: the caller falls back to systeminformation). Rejects when /proc/cpuinfo cannot be read.
 */
export async function readLinuxCpu(opts: LinuxCpuOptions = {}): Promise<SiCpu | undefined> {
  const root = opts.root ?? "/";
  const blocks = parseCpuinfo(await readFile(join(root, "proc/cpuinfo"), "utf8")).filter((b) => b.has("processor"));
  const first = blocks[0];
  if (!first || !first.has("vendor_id") || !first.has("model name")) return undefined;
  const logical = (opts.cpus ?? cpus)();
  const { manufacturer, brand, speed: namedSpeed } = splitModelName(first.get("model name")!);
  const packages = new Set(blocks.map((b) => b.get("physical id")).filter((id) => id !== undefined));
  const processors = packages.size || 1;
  const coresPerPackage = parseInt(first.get("cpu cores") ?? "", 10);
  const siblings = parseInt(first.get("siblings") ?? "", 10);
  const cores = logical.length || blocks.length;
  const threadsPerCore = coresPerPackage > 0 && siblings > 0 ? Math.max(1, Math.round(siblings / coresPerPackage)) : 1;
  const [speed, socket] = await Promise.all([
    namedSpeed > 0 ? Promise.resolve(namedSpeed) : fallbackSpeed(root, logical),
    opts.socket ? opts.socket().catch(() => "") : Promise.resolve(""),
  ]);
  return {
    manufacturer,
    brand,
    vendor: cpuMaker(first.get("vendor_id")!),
    family: first.get("cpu family") ?? "",
    model: first.get("model") ?? "",
    stepping: first.get("stepping") ?? "",
    speed,
    cores,
    physicalCores: coresPerPackage > 0 ? coresPerPackage * processors : cores / threadsPerCore,
    processors,
    socket,
  };
}

/** GHz: the base frequency cpufreq reports (kHz), else the average current clock (MHz). */
async function fallbackSpeed(root: string, logical: { speed: number }[]): Promise<number> {
  const khz = parseInt(await readFile(join(root, "sys/devices/system/cpu/cpu0/cpufreq/base_frequency"), "utf8").catch(() => ""), 10);
  if (khz > 0) return Math.round(khz / 10_000) / 100;
  const mhz = logical.map((c) => c.speed).filter((s) => s > 0);
  return mhz.length ? Math.round(mhz.reduce((a, b) => a + b, 0) / mhz.length / 10) / 100 : 0;
}
