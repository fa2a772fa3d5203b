/**
 * Linux disks for the asset inventory: one `lsblk` run without a shell, asking only for the
 * columns needed, instead of systeminformation's diskLayout(), which runs `lsblk -ablJO` (every
 * column of every device) through a shell, then a `cat` of queue/rotational per disk and
 * `smartctl` per disk, and loads ≈ 2,000 lines of its own code. The serial numbers come from udev's
 * database through lsblk, as before (sysfs has no serial for SATA disks).
 *
 * The result has the shape and values of systeminformation's entries for the fields normalize()
 * reads (device, type, name, vendor, size, serialNum, firmwareRevision, interfaceType) and the
 * same choice of devices: whole disks of non-zero size that have a model, or that look like an
 * unused raw disk (no filesystem, label, partition type or mount point; not a RAM or loop device;
 * with discard support). Not collected: S.M.A.R.T. health (systeminformation's smartStatus), which
 * is not hardware identity and needs smartctl.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { exec, stdoutOf } from "../../../lib/exec.js";

/** systeminformation's diskLayout() entry, the fields normalize() reads */
export interface SiDisk {
  device: string;
  type: "SSD" | "HD" | "NVMe";
  name: string;
  vendor: string;
  size: number;
  firmwareRevision: string;
  serialNum: string;
  interfaceType: string;
}

export const LSBLK_COLUMNS = "NAME,TYPE,SIZE,MODEL,VENDOR,SERIAL,REV,TRAN,PATH,MOUNTPOINT,LABEL,FSTYPE,PARTTYPE,DISC-MAX";

/** Makers recognised in a disk's model string; the last match wins (as in systeminformation). */
const MAKERS: [RegExp, string][] = [
  [/WESTERN.*/, "Western Digital"], [/^WDC.*/, "Western Digital"], [/WD.*/, "Western Digital"],
  [/TOSHIBA.*/, "Toshiba"], [/HITACHI.*/, "Hitachi"], [/^IC.*/, "Hitachi"], [/^HTS.*/, "Hitachi"],
  [/SANDISK.*/, "SanDisk"], [/KINGSTON.*/, "Kingston Technology"], [/^SONY.*/, "Sony"],
  [/TRANSCEND.*/, "Transcend"], [/SAMSUNG.*/, "Samsung"], [/^ST(?!I ).*/, "Seagate"], [/^STI .*/, "SimpleTech"],
  [/^D...-.*/, "IBM"], [/^IBM.*/, "IBM"], [/^FUJITSU.*/, "Fujitsu"], [/^MP.*/, "Fujitsu"], [/^MK.*/, "Toshiba"],
  [/MAXTO.*/, "Maxtor"], [/PIONEER.*/, "Pioneer"], [/PHILIPS.*/, "Philips"], [/QUANTUM.*/, "Quantum Technology"],
  [/FIREBALL.*/, "Quantum Technology"], [/^VBOX.*/, "VirtualBox"], [/CORSAIR.*/, "Corsair Components"],
  [/CRUCIAL.*/, "Crucial"], [/ECM.*/, "ECM"], [/INTEL.*/, "INTEL"], [/EVO.*/, "Samsung"], [/APPLE.*/, "Apple"],
];

export function diskMaker(model: string | null | undefined): string {
  let maker = "";
  if (model) for (const [re, name] of MAKERS) if (re.test(model.toUpperCase())) maker = name;
  return maker;
}

type LsblkDevice = Record<string, unknown>;
const text = (v: unknown): string => (typeof v === "string" ? v.trim() : "");

/** lsblk's JSON (`-J`) → the disks, given each disk's queue/rotational ("0", "1" or "" unknown). */
export function disksFromLsblk(json: string, rotational: (name: string) => string): SiDisk[] {
  const parsed = JSON.parse(json) as { blockdevices?: unknown };
  const devices = Array.isArray(parsed.blockdevices) ? (parsed.blockdevices as LsblkDevice[]) : [];
  const size = (d: LsblkDevice) => (typeof d.size === "number" ? d.size : Number(d.size) || 0);
  return devices
    .filter((d) => d.type === "disk" && size(d) > 0 && (d.model !== null && d.model !== undefined || (
      d.mountpoint === null && d.label === null && d.fstype === null && d.parttype === null &&
      typeof d.path === "string" && !d.path.startsWith("/ram") && !d.path.startsWith("/loop") &&
      !!d["disc-max"] && d["disc-max"] !== 0)))
    .map((d) => {
      const name = text(d.name);
      const model = text(d.model);
      let medium = rotational(name);
      let interfaceType = text(d.tran).toUpperCase();
      if (interfaceType === "NVME") {
        medium = "2";
        interfaceType = "PCIe";
      }
      const type = medium === "0" ? "SSD" : medium === "1" ? "HD" : medium === "2" ? "NVMe"
        : model.includes("SSD") ? "SSD" : model.includes("NVM") ? "NVMe" : "HD";
      return {
        device: `/dev/${name}`,
        type,
        name: model,
        vendor: diskMaker(model) || text(d.vendor),
        size: size(d),
        firmwareRevision: text(d.rev),
        serialNum: text(d.serial),
        interfaceType,
      };
    });
}

export interface LinuxDisksOptions {
  /** default "/" (for queue/rotational; tests point it at a fake tree) */
  root?: string;
  /** runs lsblk (no shell); default lib/exec.ts with a 10 s timeout */
  run?: (cmd: string, args: string[]) => Promise<string>;
}

const defaultRun = async (cmd: string, args: string[]): Promise<string> =>
  stdoutOf(cmd, args, await exec(cmd, args, { timeoutMs: 10_000, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, LC_ALL: "C" } }));

/** Every disk, from lsblk. Rejects when lsblk is missing or fails (too old for these columns). */
export async function readLinuxDisks(opts: LinuxDisksOptions = {}): Promise<SiDisk[]> {
  const root = opts.root ?? "/";
  const out = await (opts.run ?? defaultRun)("lsblk", ["-abdJ", "-o", LSBLK_COLUMNS]);
  const disks = JSON.parse(out) as { blockdevices?: { name?: unknown }[] };
  const names = (disks.blockdevices ?? []).map((d) => text(d.name)).filter((n) => n !== "" && !n.includes("/"));
  const rota = new Map(await Promise.all(names.map(async (n) =>
    [n, (await readFile(join(root, "sys/block", n, "queue/rotational"), "utf8").catch(() => "")).split("\n")[0]!.trim()] as const)));
  return disksFromLsblk(out, (n) => rota.get(n) ?? "");
}
