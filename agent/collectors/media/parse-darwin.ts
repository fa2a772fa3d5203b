/**
 * macOS parsers (no I/O): `diskutil list -plist external physical`, `diskutil info -plist <id>`,
 * `diskutil apfs list -plist`, and `ioreg -r -c IOUSBHostDevice -l -a` style USB identity.
 */
import { asArray, asBool, asDict, asNumber, asString, parsePlistXml as parsePlist, type PlistValue } from "../../../lib/plist.js";
import { normaliseUsbId } from "./parse-linux.js";
import type { EncryptionKind, Medium } from "./types.js";

export interface DiskutilInfo {
  deviceIdentifier: string;
  deviceNode: string | null;
  parentWholeDisk: string | null;
  wholeDisk: boolean | null;
  busProtocol: string | null;
  internal: boolean | null;
  removable: boolean | null;
  ejectable: boolean | null;
  mediaName: string | null;
  volumeName: string | null;
  fsType: string | null;
  fsName: string | null;
  mountPoint: string | null;
  writable: boolean | null;
  size: number | null;
  volumeUuid: string | null;
  /** APFS: Encryption / FileVault keys of the volume */
  encryption: boolean | null;
  fileVault: boolean | null;
  /** the APFS physical store(s) of an APFS volume (diskNsM of the real disk) */
  apfsPhysicalStores: string[];
  apfsContainerReference: string | null;
}

/** `diskutil info -plist <id>` → the fields the collector reads. */
export function parseDiskutilInfo(xml: string): DiskutilInfo | null {
  const d = asDict(parsePlist(xml));
  if (!d) return null;
  const id = asString(d.DeviceIdentifier);
  if (!id) return null;
  const stores = asArray(d.APFSPhysicalStores)
    .map((s) => asString(asDict(s)?.APFSPhysicalStore) ?? asString(s as PlistValue))
    .filter((s): s is string => !!s);
  return {
    deviceIdentifier: id,
    deviceNode: asString(d.DeviceNode),
    parentWholeDisk: asString(d.ParentWholeDisk),
    wholeDisk: asBool(d.WholeDisk),
    busProtocol: asString(d.BusProtocol),
    internal: asBool(d.Internal),
    removable: asBool(d.Removable) ?? asBool(d.RemovableMedia) ?? asBool(d.RemovableMediaOrExternalDevice),
    ejectable: asBool(d.Ejectable),
    mediaName: asString(d.MediaName),
    volumeName: asString(d.VolumeName),
    fsType: asString(d.FilesystemType),
    fsName: asString(d.FilesystemName),
    mountPoint: asString(d.MountPoint),
    writable: asBool(d.WritableVolume),
    size: asNumber(d.TotalSize) ?? asNumber(d.Size),
    volumeUuid: asString(d.VolumeUUID),
    encryption: asBool(d.Encryption),
    fileVault: asBool(d.FileVault),
    apfsPhysicalStores: stores,
    apfsContainerReference: asString(d.APFSContainerReference),
  };
}

/** `diskutil list -plist external physical` → the whole disks and the volumes (partitions) on each. */
export function parseDiskutilList(xml: string): { disk: string; volumes: string[] }[] {
  const d = asDict(parsePlist(xml));
  if (!d) return [];
  const out: { disk: string; volumes: string[] }[] = [];
  for (const entry of asArray(d.AllDisksAndPartitions)) {
    const e = asDict(entry);
    const disk = asString(e?.DeviceIdentifier);
    if (!e || !disk) continue;
    const volumes = [...asArray(e.Partitions), ...asArray(e.APFSVolumes)]
      .map((p) => asString(asDict(p)?.DeviceIdentifier))
      .filter((s): s is string => !!s);
    out.push({ disk, volumes });
  }
  return out;
}

export interface ApfsVolumeInfo {
  deviceIdentifier: string;
  name: string | null;
  encryption: boolean;
  fileVault: boolean;
  locked: boolean;
  container: string | null;
  physicalStores: string[];
}

/** `diskutil apfs list -plist` → every APFS volume with its encryption and physical stores. */
export function parseDiskutilApfsList(xml: string): ApfsVolumeInfo[] {
  const d = asDict(parsePlist(xml));
  const out: ApfsVolumeInfo[] = [];
  for (const c of asArray(d?.Containers)) {
    const container = asDict(c);
    if (!container) continue;
    const stores = asArray(container.PhysicalStores)
      .map((s) => asString(asDict(s)?.DeviceIdentifier))
      .filter((s): s is string => !!s);
    for (const v of asArray(container.Volumes)) {
      const vol = asDict(v);
      const id = asString(vol?.DeviceIdentifier);
      if (!vol || !id) continue;
      out.push({
        deviceIdentifier: id,
        name: asString(vol.Name),
        encryption: asBool(vol.Encryption) === true,
        fileVault: asBool(vol.FileVault) === true,
        locked: asBool(vol.Locked) === true,
        container: asString(container.ContainerReference),
        physicalStores: stores,
      });
    }
  }
  return out;
}

export interface UsbIdentity {
  vendorId: string | null;
  productId: string | null;
  serial: string | null;
  vendor: string | null;
  product: string | null;
  /** BSD names (disk4, disk4s1) found under this USB device */
  bsdNames: string[];
}

/**
 * `ioreg -r -c IOUSBHostDevice -l -a` (plist array of USB devices with nested children):
 * idVendor / idProduct / "USB Serial Number" per device and the BSD names beneath it.
 */
export function parseIoregUsb(xml: string): UsbIdentity[] {
  const root = parsePlist(xml);
  const out: UsbIdentity[] = [];
  const collectBsd = (v: PlistValue | undefined, acc: string[]): void => {
    for (const child of asArray(v)) {
      const c = asDict(child);
      if (!c) continue;
      const bsd = asString(c["BSD Name"]);
      if (bsd) acc.push(bsd);
      collectBsd(c.IORegistryEntryChildren, acc);
    }
  };
  for (const dev of asArray(root)) {
    const d = asDict(dev);
    if (!d) continue;
    const bsdNames: string[] = [];
    collectBsd(d.IORegistryEntryChildren, bsdNames);
    out.push({
      vendorId: normaliseUsbId(asNumber(d.idVendor) ?? asString(d.idVendor)),
      productId: normaliseUsbId(asNumber(d.idProduct) ?? asString(d.idProduct)),
      serial: asString(d["USB Serial Number"])?.trim() ?? asString(d["kUSBSerialNumberString"])?.trim() ?? null,
      vendor: asString(d["USB Vendor Name"])?.trim() ?? null,
      product: asString(d["USB Product Name"])?.trim() ?? null,
      bsdNames,
    });
  }
  return out;
}

/**
 * Assemble media from diskutil output: one Medium per volume on an external / removable disk.
 * `infos` holds `diskutil info` of every whole disk and volume; `apfs` the APFS listing (an APFS
 * volume on a USB stick lives in a synthesized container disk whose physical store is the stick's
 * partition, so encryption and identity are found through it).
 */
export function buildDarwinMedia(
  list: { disk: string; volumes: string[] }[],
  infos: Map<string, DiskutilInfo>,
  apfs: ApfsVolumeInfo[],
  usb: UsbIdentity[] = [],
): Medium[] {
  const out: Medium[] = [];
  for (const { disk, volumes } of list) {
    const whole = infos.get(disk);
    if (whole && whole.internal === true && whole.removable !== true) continue;
    const id = usb.find((u) => u.bsdNames.includes(disk));
    // a partition that is an APFS physical store is represented by its APFS volumes instead
    const ids: string[] = [];
    for (const v of volumes.length ? volumes : [disk]) {
      const onStore = apfs.filter((a) => a.physicalStores.includes(v));
      if (onStore.length) ids.push(...onStore.map((a) => a.deviceIdentifier));
      else ids.push(v);
    }
    for (const vid of ids) {
      const info = infos.get(vid);
      const a = apfs.find((x) => x.deviceIdentifier === vid);
      let encrypted: boolean | null = null;
      let encryption: EncryptionKind = null;
      if (a) {
        encrypted = a.encryption || a.fileVault;
        encryption = encrypted ? "apfs" : null;
      } else if (info?.encryption != null || info?.fileVault != null) {
        encrypted = info.encryption === true || info.fileVault === true;
        encryption = encrypted ? "apfs" : null;
      } else if (info?.fsType) {
        // msdos / exfat / hfs / ntfs carry no encryption of their own
        encrypted = false;
      }
      const device = info?.deviceNode ?? `/dev/${vid}`;
      out.push({
        key: `${vid}:${info?.volumeUuid ?? ""}`,
        device,
        disk: whole?.deviceNode ?? `/dev/${disk}`,
        vendorId: id?.vendorId ?? null,
        productId: id?.productId ?? null,
        serial: id?.serial ?? null,
        vendor: id?.vendor ?? null,
        model: id?.product ?? whole?.mediaName ?? null,
        label: info?.volumeName ?? a?.name ?? null,
        fsType: info?.fsType ?? (a ? "apfs" : null),
        uuid: info?.volumeUuid ?? null,
        size: info?.size ?? null,
        mount: info?.mountPoint ?? null,
        mountReadOnly: info?.writable === false,
        bus: (whole?.busProtocol ?? info?.busProtocol)?.toLowerCase() ?? null,
        encrypted,
        encryption,
        fuse: false,
      });
    }
  }
  return out;
}
