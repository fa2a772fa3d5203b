/**
 * Linux system, BIOS, baseboard, UUID and OS facts for the asset inventory, read from
 * /sys/class/dmi/id, /etc/os-release, /etc/machine-id and /sys/firmware/efi instead of
 * systeminformation's system(), bios(), baseboard(), uuid() and osInfo(), which together run ≈ 60
 * commands on Linux (dmidecode ×3 and a `sh -c "cat …"` per field, dmesg pipelines, `hostname -f`):
 * ≈ 150 ms wall on a quiet machine, more under load. Here: a few small file reads, plus at most
 * two commands, each run once and without a shell — `hostname -f` (the FQDN needs the resolver's
 * canonical name) and `dmesg` (only when neither DMI nor sysfs tells whether this is a VM, or
 * whether it booted with UEFI).
 *
 * The results have the shape and the defaults of systeminformation's (model "Computer" when
 * unknown, "-" for an unknown serial, dates as YYYY-MM-DD, vendor placeholders such as
 * "To be filled by O.E.M." dropped), so `normalize()` stays the same pure function for every OS.
 * The kernel exposes the same DMI tables dmidecode decodes; root can read the serials there too.
 */
import { readdir, readFile, stat } from "node:fs/promises";
import { arch, hostname, release } from "node:os";
import { join } from "node:path";
import { exec } from "../../../lib/exec.js";

export interface LinuxSysOptions {
  /** default "/" (tests point it at a fake tree) */
  root?: string;
  /** runs a command (no shell); default lib/exec.ts with a 5 s timeout, "" when it fails */
  run?: (cmd: string, args: string[]) => Promise<string>;
}

const defaultRun = (cmd: string, args: string[]): Promise<string> =>
  exec(cmd, args, { timeoutMs: 5000, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, LC_ALL: "C" } })
    .then((r) => (r.code === 0 ? r.stdout : ""), () => "");

/** systeminformation's cleanDefaults: vendor placeholders become "". */
function clean(s: string): string {
  const l = s.toLowerCase();
  return l.includes("o.e.m.") || l.includes("default string") || l === "default" ? "" : s;
}

/** MM/DD/YYYY (the SMBIOS form) → YYYY-MM-DD; YYYY/MM/DD too; anything else as is. */
export function biosDate(s: string): string {
  const p = s.split(" ")[0]!.split("/");
  if (p.length !== 3) return s;
  if (p[0]!.length === 4) return `${p[0]}-${p[1]!.padStart(2, "0")}-${p[2]!.padStart(2, "0")}`;
  if (p[2]!.length === 4) return `${p[2]}-${p[0]!.padStart(2, "0")}-${p[1]!.padStart(2, "0")}`;
  return s;
}

export class LinuxSysReader {
  private readonly root: string;
  private readonly run: (cmd: string, args: string[]) => Promise<string>;
  private dmesg?: Promise<string>;
  private dmi = new Map<string, Promise<string>>();

  constructor(opts: LinuxSysOptions = {}) {
    this.root = opts.root ?? "/";
    this.run = opts.run ?? defaultRun;
  }

  private file(path: string): Promise<string> {
    return readFile(join(this.root, path), "utf8").then((t) => t.trim(), () => "");
  }
  private exists(path: string): Promise<boolean> {
    return stat(join(this.root, path)).then(() => true, () => false);
  }
  /** one field of /sys/class/dmi/id, read once per reader */
  private id(field: string): Promise<string> {
    let p = this.dmi.get(field);
    if (!p) this.dmi.set(field, (p = this.file(`sys/class/dmi/id/${field}`)));
    return p;
  }
  /** the kernel log, read once (and only when needed) */
  private kernelLog(): Promise<string> {
    return (this.dmesg ??= this.run("dmesg", []));
  }

  async system(): Promise<Record<string, unknown>> {
    const [vendor, name, version, serial, uuid, sku] = await Promise.all(
      ["sys_vendor", "product_name", "product_version", "product_serial", "product_uuid", "product_sku"].map((f) => this.id(f)),
    );
    const r: Record<string, unknown> & { model: string; manufacturer: string; version: string } = {
      manufacturer: clean(vendor),
      model: clean(name) || "Computer",
      version: clean(version),
      serial: clean(serial) || "-",
      uuid: clean(uuid).toLowerCase() || "-",
      sku: clean(sku) || "-",
      virtual: false,
    };
    const model = r.model.toLowerCase();
    const hosts: Record<string, string> = { virtualbox: "VirtualBox", vmware: "VMware", kvm: "KVM", bochs: "bochs" };
    if (["virtualbox", "kvm", "virtual machine", "bochs"].includes(model) || model.startsWith("vmware") || model.startsWith("droplet")) {
      r.virtual = true;
      if (hosts[model]) r.virtualHost = hosts[model];
    }
    const man = r.manufacturer.toLowerCase();
    if (man.startsWith("vmware") || man === "xen") {
      r.virtual = true;
      if (man === "vmware") r.virtualHost = "VMware";
      if (man === "xen") r.virtualHost = "Xen";
    }
    if (!r.virtual) {
      const byId = (await readdir(join(this.root, "dev/disk/by-id")).catch(() => [] as string[])).join("\n");
      if (byId.includes("_QEMU_") || byId.includes("QEMU ")) { r.virtual = true; r.virtualHost = "QEMU"; }
      if (byId.includes("_VBOX_")) { r.virtual = true; r.virtualHost = "VirtualBox"; }
    }
    const rel = release().toLowerCase();
    if (!r.virtual && (rel.includes("microsoft") || rel.endsWith("wsl2"))) {
      r.virtual = true;
      r.manufacturer = "Microsoft";
      r.model = "WSL";
      r.version = parseFloat(rel) < 4.19 ? "1" : "2";
    }
    if ((await this.exists(".dockerenv")) || (await this.exists(".dockerinit"))) r.model = "Docker Container";
    // the kernel's own word on a hypervisor (systeminformation greps dmesg the same way)
    const hv = (await this.kernelLog()).split("\n").filter((l) =>
      /virtual|hypervisor/i.test(l) && /vmware|qemu|kvm|xen/i.test(l) && !/Nested Virtualization|\/virtual\//i.test(l));
    if (hv.length) {
      if (r.model === "Computer") r.model = "Virtual machine";
      r.virtual = true;
      const text = hv.join("\n").toLowerCase();
      for (const [k, v] of [["vmware", "VMware"], ["qemu", "QEMU"], ["xen", "Xen"], ["kvm", "KVM"]] as const) {
        if (text.includes(k) && !r.virtualHost) r.virtualHost = v;
      }
    }
    return r;
  }

  async bios(): Promise<Record<string, unknown>> {
    const [vendor, version, date, rel] = await Promise.all(["bios_vendor", "bios_version", "bios_date", "bios_release"].map((f) => this.id(f)));
    // bios_release (kernel ≥ 5.11) is dmidecode's "BIOS Revision"; no SMBIOS BIOS serial exists
    return { vendor, version, releaseDate: date ? biosDate(date) : "", revision: rel, serial: "" };
  }

  async baseboard(): Promise<Record<string, unknown>> {
    const [vendor, name, version, serial, tag] = await Promise.all(
      ["board_vendor", "board_name", "board_version", "board_serial", "board_asset_tag"].map((f) => this.id(f)),
    );
    return { manufacturer: clean(vendor), model: clean(name), version: clean(version), serial: clean(serial) || "-", assetTag: clean(tag) || "-" };
  }

  async uuid(): Promise<Record<string, unknown>> {
    const dbus = await this.file("var/lib/dbus/machine-id");
    const os = dbus || await this.file("etc/machine-id");
    return { os, hardware: (await this.id("product_uuid")).toLowerCase() };
  }

  async osInfo(): Promise<Record<string, unknown>> {
    // what `cat /etc/*-release; cat /usr/lib/os-release` gives, later keys winning
    const etc = (await readdir(join(this.root, "etc")).catch(() => [] as string[])).filter((n) => n.endsWith("-release")).sort();
    const texts = await Promise.all([...etc.map((n) => this.file(`etc/${n}`)), this.file("usr/lib/os-release"), this.file("etc/openwrt_release")]);
    const rel: Record<string, string> = {};
    for (const line of texts.join("\n").split("\n")) {
      if (line.includes("=")) rel[line.split("=")[0]!.trim().toUpperCase()] = line.split("=")[1]!.trim();
    }
    const unq = (s: string | undefined) => (s ?? "").replace(/"/g, "");
    const distro = unq(rel.DISTRIB_ID || rel.NAME || "unknown");
    let version = unq(rel.VERSION);
    let codename = unq(rel.DISTRIB_CODENAME || rel.VERSION_CODENAME);
    const pretty = unq(rel.PRETTY_NAME);
    if (pretty.indexOf(distro + " ") === 0) version = pretty.replace(distro + " ", "").trim();
    if (version.includes("(")) {
      codename = version.split("(")[1]!.replace(/[()]/g, "").trim();
      version = version.split("(")[0]!.trim();
    }
    const uefi = (await this.exists("sys/firmware/efi")) || /EFI v/.test(await this.kernelLog());
    const [fqdn, ids] = await Promise.all([this.run("hostname", ["-f"]), this.uuid()]);
    return {
      platform: process.platform,
      distro,
      release: unq(version || rel.DISTRIB_RELEASE || rel.VERSION_ID || "unknown"),
      codename,
      kernel: release(),
      arch: arch(),
      hostname: hostname(),
      fqdn: fqdn.trim().split("\n")[0] || hostname(),
      build: unq(rel.BUILD_ID).trim(),
      uefi,
      serial: ids.os,
    };
  }
}
