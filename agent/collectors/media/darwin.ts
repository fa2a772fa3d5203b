/**
 * macOS media reader: `diskutil list -plist external physical`, `diskutil info -plist` per disk
 * and volume, `diskutil apfs list -plist` (APFS encryption) and `ioreg` for USB vendor / product
 * id and serial; assembled by buildDarwinMedia (parse-darwin.ts). Read-only enforcement is not
 * supported here (setReadOnly absent → "not-supported").
 */
import type { Logger } from "../../../lib/log.js";
import { run } from "./exec.js";
import { buildDarwinMedia, parseDiskutilApfsList, parseDiskutilInfo, parseDiskutilList, parseIoregUsb, type ApfsVolumeInfo, type DiskutilInfo, type UsbIdentity } from "./parse-darwin.js";
import type { MediaReader, Medium } from "./types.js";

export class DarwinMediaReader implements MediaReader {
  constructor(private readonly log?: Logger) {}

  private async text(cmd: string, args: string[]): Promise<string | null> {
    try {
      const r = await run(cmd, args, { timeoutMs: 30_000 });
      return r.code === 0 ? r.stdout : null;
    } catch (e) {
      this.log?.debug({ cmd, err: (e as Error).message }, "command not available");
      return null;
    }
  }

  async list(): Promise<Medium[]> {
    const listXml = await this.text("diskutil", ["list", "-plist", "external", "physical"]);
    if (!listXml) return [];
    const list = parseDiskutilList(listXml);
    let apfs: ApfsVolumeInfo[] = [];
    const apfsXml = await this.text("diskutil", ["apfs", "list", "-plist"]);
    if (apfsXml) {
      try {
        apfs = parseDiskutilApfsList(apfsXml);
      } catch (e) {
        this.log?.warn({ err: (e as Error).message }, "could not parse diskutil apfs list; APFS encryption unknown this cycle");
      }
    }
    const ids = new Set<string>();
    for (const { disk, volumes } of list) {
      ids.add(disk);
      for (const v of volumes) {
        ids.add(v);
        for (const a of apfs) if (a.physicalStores.includes(v)) ids.add(a.deviceIdentifier);
      }
    }
    const infos = new Map<string, DiskutilInfo>();
    for (const id of ids) {
      const xml = await this.text("diskutil", ["info", "-plist", id]);
      if (!xml) continue;
      try {
        const info = parseDiskutilInfo(xml);
        if (info) infos.set(id, info);
      } catch (e) {
        this.log?.warn({ id, err: (e as Error).message }, "could not parse diskutil info; skipped that volume");
      }
    }
    let usb: UsbIdentity[] = [];
    const ioreg = await this.text("ioreg", ["-r", "-c", "IOUSBHostDevice", "-l", "-a"]);
    if (ioreg) {
      try {
        usb = parseIoregUsb(ioreg);
      } catch (e) {
        this.log?.debug({ err: (e as Error).message }, "could not parse ioreg; USB ids unknown");
      }
    }
    return buildDarwinMedia(list, infos, apfs, usb);
  }
}
