/**
 * Linux media reader: block devices from /proc/partitions and /sys/class/block, identity from
 * the USB ancestor in /sys (idVendor, idProduct, serial), label / fs type / uuid from
 * `blkid -p` (lsblk's LABEL/FSTYPE need udev, which many hosts and containers lack), mounts from
 * /proc/self/mountinfo, encryption from the volume's first sector.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { access, open, readFile, readdir, realpath } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { Logger } from "../../../lib/log.js";
import { run } from "./exec.js";
import {
  detectEncryptionSignature,
  encryptionFromBlkid,
  matchesAny,
  normaliseUsbId,
  parseBlkidExport,
  parseLsblkJson,
  parseMountinfo,
  parseProcPartitions,
  type LsblkDevice,
  type MountEntry,
} from "./parse-linux.js";
import type { EncryptionKind, MediaReader, Medium, ReadOnlyChange } from "./types.js";

const SYS_BLOCK = "/sys/class/block";

async function readText(path: string): Promise<string | null> {
  try {
    return (await readFile(path, "utf8")).trim();
  } catch {
    return null;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** What does not change while a device stays attached: read once per (name, diskseq, size). */
interface DeviceFacts {
  vendorId: string | null;
  productId: string | null;
  serial: string | null;
  vendor: string | null;
  model: string | null;
  bus: string | null;
  label: string | null;
  fsType: string | null;
  uuid: string | null;
  encryption: EncryptionKind;
  /** blkid found a filesystem (so "no encryption signature" means plain) */
  plainFilesystem: boolean;
}

export class LinuxMediaReader implements MediaReader {
  private readonly facts = new Map<string, DeviceFacts>();
  private udev: ChildProcess | null = null;
  private readonly sources = new Set<string>();

  constructor(private readonly log?: Logger) {}

  async changeToken(): Promise<string> {
    const [mi, parts] = await Promise.all([readText("/proc/self/mountinfo"), readText("/proc/partitions")]);
    return `${mi ?? ""}\0${parts ?? ""}`;
  }

  /**
   * Told at once of a block device added/changed/removed (kernel uevents over netlink) and of a
   * mount/unmount (poll(2) on /proc/self/mountinfo); `udevadm monitor` too where udev runs. The
   * collector's poll stays the safety net, slowed down while `live()` names a working source.
   */
  watch(onChange: () => void): () => void {
    const stops: (() => void)[] = [];
    let stopped = false;
    const keep = (stop: () => void): void => { if (stopped) stop(); else stops.push(stop); };
    void import("../../os/linux/uevents.js")
      .then((m) => m.watchUevents((e) => { if (e.subsystem === "block") onChange(); }, onChange))
      .then((stop) => { this.sources.add("uevent"); keep(() => { this.sources.delete("uevent"); stop(); }); },
        (err: unknown) => this.log?.info({ err: String(err) }, "kernel uevents unavailable; block devices are seen by the poll"));
    void import("../../os/linux/mount-watch.js")
      .then((m) => m.watchMounts(onChange, (err) => {
        this.sources.delete("mountinfo");
        this.log?.warn({ err: err.message }, "watching /proc/self/mountinfo failed; mounts are seen by the poll");
      }))
      .then((stop) => { this.sources.add("mountinfo"); keep(() => { this.sources.delete("mountinfo"); stop(); }); },
        (err: unknown) => this.log?.info({ err: String(err) }, "mount table changes cannot be watched; mounts are seen by the poll"));
    // udevadm monitor is a cheap trigger where udev runs (after udev has read the device's labels)
    try {
      const child = spawn("udevadm", ["monitor", "--udev", "--subsystem-match=block"], { stdio: ["ignore", "pipe", "ignore"] });
      child.on("error", (e) => this.log?.debug({ err: e.message }, "udevadm monitor not available"));
      child.stdout?.on("data", (b: Buffer) => {
        if (/\b(add|remove|change)\b/.test(b.toString())) onChange();
      });
      this.udev = child;
    } catch (e) {
      this.log?.debug({ err: (e as Error).message }, "udevadm monitor could not start");
    }
    return () => {
      stopped = true;
      for (const stop of stops.splice(0)) stop();
      this.udev?.kill();
      this.udev = null;
    };
  }

  /** the event sources running now ("uevent", "mountinfo"): both → the poll can be slow */
  live(): ReadonlySet<string> {
    return this.sources;
  }

  async list(opts: { treatAsRemovable: readonly string[] }): Promise<Medium[]> {
    const [partsText, mountText] = await Promise.all([readText("/proc/partitions"), readText("/proc/self/mountinfo")]);
    const parts = parseProcPartitions(partsText ?? "").filter((p) => p.blocks > 0);
    const mounts = parseMountinfo(mountText ?? "");
    const names = new Set(parts.map((p) => p.name));
    // whole disks that carry partitions are represented by their partitions
    const parentOf = new Map<string, string>();
    for (const p of parts) {
      if (await exists(join(SYS_BLOCK, p.name, "partition"))) {
        const real = await realpath(join(SYS_BLOCK, p.name)).catch(() => null);
        if (real) parentOf.set(p.name, basename(dirname(real)));
      }
    }
    const hasPartitions = new Set(parentOf.values());
    const candidates: { name: string; disk: string }[] = [];
    for (const name of names) {
      if (hasPartitions.has(name)) continue;
      if (/^(dm-|md|zram|ram|sr)/.test(name) && !matchesAny(opts.treatAsRemovable, [`/dev/${name}`, name])) continue;
      const disk = parentOf.get(name) ?? name;
      const removableFlag = (await readText(join(SYS_BLOCK, disk, "removable"))) === "1";
      const usb = !removableFlag ? await this.findUsbAncestor(disk) : null;
      const byPolicy = matchesAny(opts.treatAsRemovable, [`/dev/${name}`, name, `/dev/${disk}`, disk]);
      if (removableFlag || usb || byPolicy) candidates.push({ name, disk });
    }
    if (candidates.length === 0) {
      this.facts.clear();
      return [];
    }
    let lsblk: LsblkDevice[] = [];
    try {
      const r = await run("lsblk", ["-J", "-b", "-o", "NAME,LABEL,FSTYPE,SIZE,SERIAL,VENDOR,MODEL,RM,TRAN,MOUNTPOINT,UUID"], { timeoutMs: 10_000 });
      if (r.code === 0) lsblk = parseLsblkJson(r.stdout);
    } catch (e) {
      this.log?.debug({ err: (e as Error).message }, "lsblk not available; reading /sys and blkid only");
    }
    const out: Medium[] = [];
    const seenKeys = new Set<string>();
    for (const { name, disk } of candidates) {
      try {
        const m = await this.describe(name, disk, mounts, lsblk);
        if (m) {
          out.push(m);
          seenKeys.add(m.key);
        }
      } catch (e) {
        this.log?.warn({ device: `/dev/${name}`, err: (e as Error).message }, "could not describe a removable device; skipped it this cycle");
      }
    }
    for (const k of this.facts.keys()) if (!seenKeys.has(k)) this.facts.delete(k);
    return out;
  }

  private async describe(name: string, disk: string, mounts: MountEntry[], lsblk: LsblkDevice[]): Promise<Medium | null> {
    const sys = join(SYS_BLOCK, name);
    const sectors = Number((await readText(join(sys, "size"))) ?? "0");
    if (!sectors) return null;
    const size = sectors * 512;
    const diskseq = (await readText(join(SYS_BLOCK, disk, "diskseq"))) ?? "";
    const key = `${name}:${diskseq}:${size}`;
    let facts = this.facts.get(key);
    if (!facts) {
      facts = await this.readFacts(name, disk, lsblk);
      this.facts.set(key, facts);
    }
    const majMin = await readText(join(sys, "dev"));
    // the volume itself, or a dm-crypt / dm holder of it, may be mounted
    const holders = await readdir(join(sys, "holders")).catch(() => [] as string[]);
    const holderMajMins: string[] = [];
    let openedCrypt = false;
    for (const h of holders) {
      const mm = await readText(join(SYS_BLOCK, h, "dev"));
      if (mm) holderMajMins.push(mm);
      const uuid = await readText(join(SYS_BLOCK, h, "dm", "uuid"));
      if (uuid?.startsWith("CRYPT-")) openedCrypt = true;
    }
    const dev = `/dev/${name}`;
    const mount = mounts.find((m) => m.majorMinor === majMin || m.source === dev)
      ?? mounts.find((m) => holderMajMins.includes(m.majorMinor));
    const row = lsblk.find((r) => r.name === name);
    const encryption: EncryptionKind = facts.encryption ?? (openedCrypt ? "dm-crypt" : null);
    const encrypted = encryption ? true : facts.plainFilesystem ? false : null;
    return {
      key,
      device: dev,
      disk: `/dev/${disk}`,
      vendorId: facts.vendorId,
      productId: facts.productId,
      serial: facts.serial,
      vendor: facts.vendor,
      model: facts.model,
      label: facts.label,
      fsType: facts.fsType,
      uuid: facts.uuid,
      size,
      mount: mount?.mountPoint ?? row?.mountpoint ?? null,
      mountReadOnly: mount ? mount.options.includes("ro") : false,
      bus: facts.bus,
      encrypted,
      encryption,
      fuse: mount ? mount.fsType.startsWith("fuse") : false,
    };
  }

  private async readFacts(name: string, disk: string, lsblk: LsblkDevice[]): Promise<DeviceFacts> {
    const usb = await this.findUsbAncestor(disk);
    const devDir = join(SYS_BLOCK, disk, "device");
    let bus: string | null = usb ? "usb" : null;
    if (!bus) {
      if (await exists(join(SYS_BLOCK, disk, "loop"))) bus = "loop";
      else {
        const real = (await realpath(devDir).catch(() => "")) ?? "";
        bus = /\/nvme/.test(real) ? "nvme" : /\/mmc/.test(real) ? "mmc" : /\/ata\d/.test(real) ? "ata" : /virtio/.test(real) ? "virtio" : null;
      }
    }
    const row = lsblk.find((r) => r.name === name);
    const diskRow = lsblk.find((r) => r.name === disk);
    let blkid: Record<string, string> = {};
    try {
      const r = await run("blkid", ["-p", "-o", "export", `/dev/${name}`], { timeoutMs: 10_000 });
      if (r.code === 0) blkid = parseBlkidExport(r.stdout);
    } catch (e) {
      this.log?.debug({ err: (e as Error).message }, "blkid not available");
    }
    let encryption = encryptionFromBlkid(blkid.TYPE, blkid.VERSION);
    if (!encryption) encryption = await readSignature(`/dev/${name}`);
    const fsType = blkid.TYPE ?? row?.fstype ?? null;
    return {
      vendorId: usb?.vendorId ?? null,
      productId: usb?.productId ?? null,
      serial: usb?.serial ?? row?.serial ?? diskRow?.serial ?? null,
      vendor: usb?.manufacturer ?? (await readText(join(devDir, "vendor"))) ?? diskRow?.vendor ?? null,
      model: usb?.product ?? (await readText(join(devDir, "model"))) ?? diskRow?.model ?? null,
      bus: bus ?? diskRow?.tran ?? null,
      label: blkid.LABEL ?? row?.label ?? null,
      fsType,
      uuid: blkid.UUID ?? row?.uuid ?? null,
      encryption,
      plainFilesystem: !encryption && blkid.USAGE === "filesystem",
    };
  }

  /** Walk up from /sys/block/<disk>/device to the USB device that carries idVendor. */
  private async findUsbAncestor(disk: string): Promise<{ vendorId: string | null; productId: string | null; serial: string | null; manufacturer: string | null; product: string | null } | null> {
    let p = await realpath(join(SYS_BLOCK, disk, "device")).catch(() => null);
    while (p && p.startsWith("/sys/devices/") && p !== "/sys/devices") {
      const vendor = await readText(join(p, "idVendor"));
      if (vendor) {
        return {
          vendorId: normaliseUsbId(vendor),
          productId: normaliseUsbId(await readText(join(p, "idProduct"))),
          serial: await readText(join(p, "serial")),
          manufacturer: await readText(join(p, "manufacturer")),
          product: await readText(join(p, "product")),
        };
      }
      p = dirname(p);
    }
    return null;
  }

  async setReadOnly(medium: Medium, readOnly: boolean): Promise<ReadOnlyChange> {
    if (!medium.mount) return { ok: false, reason: "not-supported", detail: "not mounted" };
    const mode = readOnly ? "ro" : "rw";
    // a superblock remount first; a per-mount (bind) remount where the filesystem (some FUSE
    // filesystems) refuses; neither → not-supported.
    const attempts: [string, string[]][] = [
      ["remount", ["-o", `remount,${mode}`, medium.mount]],
      ["bind-remount", ["-o", `remount,bind,${mode}`, medium.mount]],
    ];
    const errors: string[] = [];
    for (const [method, args] of attempts) {
      try {
        const r = await run("mount", args, { timeoutMs: 30_000 });
        if (r.code === 0 && (await this.mountIsReadOnly(medium.mount)) === readOnly) return { ok: true, method };
        errors.push(`${method}: ${r.stderr.trim() || `exit ${r.code}`}`);
      } catch (e) {
        return { ok: false, reason: "not-supported", detail: `mount: ${(e as Error).message}` };
      }
    }
    return { ok: false, reason: medium.fuse ? "not-supported" : "failed", detail: errors.join("; ") };
  }

  private async mountIsReadOnly(mountPoint: string): Promise<boolean | null> {
    const m = parseMountinfo((await readText("/proc/self/mountinfo")) ?? "").filter((e) => e.mountPoint === mountPoint).pop();
    return m ? m.options.includes("ro") : null;
  }
}

/** Read the first 4 KiB of a block device and look for LUKS / BitLocker signatures. */
export async function readSignature(device: string): Promise<EncryptionKind> {
  let fh;
  try {
    fh = await open(device, "r");
    const buf = Buffer.alloc(4096);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return detectEncryptionSignature(buf.subarray(0, bytesRead));
  } catch {
    return null;
  } finally {
    await fh?.close();
  }
}
