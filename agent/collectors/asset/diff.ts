/**
 * Hardware changes between two inventories of the same PC (別記2 第7: 機器の増設・交換は甲許可).
 * Pure. Each Change becomes one `asset.hardware_changed` event.
 *
 * How components are matched:
 * - disks: by serial; a disk left unmatched on both sides in the same device slot (/dev/sda,
 *   PHYSICALDRIVE0) is "replaced"; otherwise "removed" / "added". Disks without a serial are
 *   matched by slot and count as unchanged when model and size are the same.
 * - memory: by slot (bank label); a different size, serial or part number in a slot is "replaced".
 * - nics: physical NICs only (virtual adapters come and go with VPNs and containers), by MAC:
 *   "added" / "removed".
 * - cpu: a different maker, model string, family/model/stepping, socket count or core count is
 *   "replaced".
 * - baseboard / system: a different serial, maker or model (and for system, UUID) is "replaced".
 * - bios: a different version, revision, release date or vendor is "updated".
 * A source that failed in either inventory (inv.errors) is skipped: an unreadable disk list is not
 * "every disk removed".
 */
import { failed, type Disk, type Inventory, type MemoryModule, type Nic, type Source } from "./inventory.js";
import { isUsableMac } from "../../../lib/net/mac.js";

export const COMPONENTS = ["disk", "memory", "nic", "cpu", "baseboard", "system", "bios"] as const;
export type Component = (typeof COMPONENTS)[number];
export type ChangeKind = "added" | "removed" | "replaced" | "updated";

export interface Change {
  component: Component;
  change: ChangeKind;
  /** what identifies the part: disk serial or slot, memory slot, MAC; "" for singletons */
  key: string;
  before: unknown;
  after: unknown;
}

const sourceOf: Record<Component, Source> = {
  disk: "diskLayout",
  memory: "memLayout",
  nic: "networkInterfaces",
  cpu: "cpu",
  baseboard: "baseboard",
  system: "system",
  bios: "bios",
};

function same<T extends object>(a: T, b: T, keys: (keyof T)[]): boolean {
  return keys.every((k) => a[k] === b[k]);
}

function diffDisks(before: Disk[], after: Disk[]): Change[] {
  const changes: Change[] = [];
  const left = [...before];
  const right = [...after];
  // 1. the same serial on both sides: the same disk (maybe moved to another slot)
  for (let i = left.length - 1; i >= 0; i--) {
    const serial = left[i]!.serial;
    if (serial === "") continue;
    const j = right.findIndex((d) => d.serial === serial);
    if (j >= 0) {
      left.splice(i, 1);
      right.splice(j, 1);
    }
  }
  // 2. what is left in the same slot: unchanged (no serials, same model and size) or replaced
  for (let i = left.length - 1; i >= 0; i--) {
    const b = left[i]!;
    const j = right.findIndex((d) => d.device === b.device);
    if (j < 0) continue;
    const a = right[j]!;
    left.splice(i, 1);
    right.splice(j, 1);
    const bothWithoutSerial = b.serial === "" && a.serial === "";
    if (bothWithoutSerial && same(b, a, ["name", "size", "vendor"])) continue;
    changes.push({ component: "disk", change: "replaced", key: b.device, before: b, after: a });
  }
  for (const b of left) changes.push({ component: "disk", change: "removed", key: b.serial || b.device, before: b, after: null });
  for (const a of right) changes.push({ component: "disk", change: "added", key: a.serial || a.device, before: null, after: a });
  return changes;
}

function diffMemory(before: MemoryModule[], after: MemoryModule[]): Change[] {
  const changes: Change[] = [];
  const bySlot = new Map(after.map((m) => [m.slot, m]));
  for (const b of before) {
    const a = bySlot.get(b.slot);
    if (!a) {
      changes.push({ component: "memory", change: "removed", key: b.slot, before: b, after: null });
      continue;
    }
    bySlot.delete(b.slot);
    if (!same(b, a, ["size", "serial", "partNum"])) {
      changes.push({ component: "memory", change: "replaced", key: b.slot, before: b, after: a });
    }
  }
  for (const a of bySlot.values()) changes.push({ component: "memory", change: "added", key: a.slot, before: null, after: a });
  return changes;
}

function diffNics(before: Nic[], after: Nic[]): Change[] {
  const physical = (nics: Nic[]) => new Map(nics.filter((n) => !n.virtual && isUsableMac(n.mac)).map((n) => [n.mac, n]));
  const b = physical(before);
  const a = physical(after);
  const changes: Change[] = [];
  for (const [mac, nic] of b) if (!a.has(mac)) changes.push({ component: "nic", change: "removed", key: mac, before: nic, after: null });
  for (const [mac, nic] of a) if (!b.has(mac)) changes.push({ component: "nic", change: "added", key: mac, before: null, after: nic });
  return changes;
}

/** Every hardware change from `before` to `after`; [] when nothing changed. */
export function diffInventory(before: Inventory, after: Inventory): Change[] {
  const skip = (c: Component) => failed(before, sourceOf[c]) || failed(after, sourceOf[c]);
  const changes: Change[] = [];
  if (!skip("disk")) changes.push(...diffDisks(before.disks, after.disks));
  if (!skip("memory")) changes.push(...diffMemory(before.memory, after.memory));
  if (!skip("nic")) changes.push(...diffNics(before.nics, after.nics));
  if (!skip("cpu") && !same(before.cpu, after.cpu, ["manufacturer", "brand", "family", "model", "stepping", "processors", "physicalCores", "cores"])) {
    changes.push({ component: "cpu", change: "replaced", key: "", before: before.cpu, after: after.cpu });
  }
  if (!skip("baseboard") && !same(before.baseboard, after.baseboard, ["serial", "manufacturer", "model"])) {
    changes.push({ component: "baseboard", change: "replaced", key: "", before: before.baseboard, after: after.baseboard });
  }
  if (!skip("system") && !same(before.system, after.system, ["serial", "uuid", "manufacturer", "model"])) {
    changes.push({ component: "system", change: "replaced", key: "", before: before.system, after: after.system });
  }
  if (!skip("bios") && !same(before.bios, after.bios, ["vendor", "version", "revision", "releaseDate"])) {
    changes.push({ component: "bios", change: "updated", key: "", before: before.bios, after: after.bios });
  }
  return changes;
}
