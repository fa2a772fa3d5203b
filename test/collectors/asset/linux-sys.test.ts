/** Linux system/BIOS/board/UUID/OS facts from a fake /sys + /etc tree (agent/collectors/asset/linux-sys.ts), through normalize(). */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { biosDate, LinuxSysReader } from "../../../agent/collectors/asset/linux-sys.js";
import { normalize } from "../../../agent/collectors/asset/inventory.js";

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), "kyoka-linux-sys-"));
  for (const [p, v] of Object.entries(files)) {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), `${v}\n`);
  }
  return root;
}
const roots: string[] = [];
afterAll(() => { for (const r of roots) rmSync(r, { recursive: true, force: true }); });

const dmi = (f: Record<string, string>) => Object.fromEntries(Object.entries(f).map(([k, v]) => [`sys/class/dmi/id/${k}`, v]));

describe("asset: LinuxSysReader (sysfs, /etc)", () => {
  it("reads a physical PC's DMI, OS release and machine id in systeminformation's shape", async () => {
    const root = tree({
      ...dmi({
        sys_vendor: "LENOVO", product_name: "20XW0055JP", product_version: "ThinkPad X1 Carbon Gen 9", product_serial: "PF2ABCDE",
        product_uuid: "4C4C4544-0042-3510-8052-B4C04F4D4A32", product_sku: "LENOVO_MT_20XW", bios_vendor: "LENOVO", bios_version: "N32ET86W (1.62 )",
        bios_date: "03/15/2024", bios_release: "1.62", board_vendor: "LENOVO", board_name: "20XW0055JP", board_version: "Not Defined",
        board_serial: "L1HF1234567", board_asset_tag: "To be filled by O.E.M.",
      }),
      "etc/os-release": 'PRETTY_NAME="Ubuntu 24.04.1 LTS"\nNAME="Ubuntu"\nVERSION_ID="24.04"\nVERSION="24.04.1 LTS (Noble Numbat)"\nVERSION_CODENAME=noble\nID=ubuntu',
      "etc/machine-id": "0123456789abcdef0123456789abcdef",
      "sys/firmware/efi/runtime": "",
    });
    roots.push(root);
    const run = async (cmd: string) => (cmd === "hostname" ? "pc01.example.lg.jp\n" : "");
    const r = new LinuxSysReader({ root, run });
    const [system, bios, baseboard, osInfo, uuid] = await Promise.all([r.system(), r.bios(), r.baseboard(), r.osInfo(), r.uuid()]);
    const inv = normalize({ system, bios, baseboard, osInfo, uuid });
    expect(inv.system).toEqual({
      manufacturer: "LENOVO", model: "20XW0055JP", version: "ThinkPad X1 Carbon Gen 9", serial: "PF2ABCDE",
      uuid: "4c4c4544-0042-3510-8052-b4c04f4d4a32", sku: "LENOVO_MT_20XW", virtual: false, virtualHost: "",
    });
    expect(inv.bios).toEqual({ vendor: "LENOVO", version: "N32ET86W (1.62 )", releaseDate: "2024-03-15", revision: "1.62", serial: "" });
    expect(inv.baseboard).toEqual({ manufacturer: "LENOVO", model: "20XW0055JP", version: "Not Defined", serial: "L1HF1234567", assetTag: "" });
    expect(inv.os).toMatchObject({ platform: "linux", distro: "Ubuntu", release: "24.04.1 LTS", codename: "noble", fqdn: "pc01.example.lg.jp", uefi: true, machineId: "0123456789abcdef0123456789abcdef" });
    expect(inv.hardwareUuid).toBe("4c4c4544-0042-3510-8052-b4c04f4d4a32");
  });

  it("a VM without DMI: model from the kernel log, BIOS mode from dmesg, defaults where nothing is known", async () => {
    const root = tree({ "etc/os-release": 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm' });
    roots.push(root);
    const run = async (cmd: string) => (cmd === "dmesg" ? "[    0.000000] Hypervisor detected: KVM\n[    0.1] Booting paravirtualized kernel on KVM\n" : "");
    const r = new LinuxSysReader({ root, run });
    const inv = normalize({ system: await r.system(), bios: await r.bios(), baseboard: await r.baseboard(), osInfo: await r.osInfo(), uuid: await r.uuid() });
    expect(inv.system).toEqual({ manufacturer: "", model: "Virtual machine", version: "", serial: "", uuid: "", sku: "", virtual: true, virtualHost: "KVM" });
    expect(inv.os).toMatchObject({ distro: "Debian GNU/Linux", release: "12", codename: "bookworm", uefi: false, machineId: "" });
    expect(inv.os.fqdn).toBe(inv.os.hostname);
  });

  it("BIOS dates: SMBIOS MM/DD/YYYY and YYYY/MM/DD become YYYY-MM-DD", () => {
    expect(biosDate("04/01/2014")).toBe("2014-04-01");
    expect(biosDate("2014/4/1")).toBe("2014-04-01");
    expect(biosDate("")).toBe("");
  });
});
