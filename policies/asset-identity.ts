/**
 * Stable PC identity (pcId): the same physical PC gets the same id across reboots, OS reinstalls
 * and agent re-enrolments, so the server can keep one ledger line (台帳) per machine.
 *
 * Rules, first that applies wins (see README.md "PC identity"):
 *   1. hardware-uuid    — the SMBIOS system UUID, unless it is empty, not 32 hex digits (e.g.
 *                         "Not Settable"), all one digit (all-zero, all-F) or a known vendor
 *                         placeholder (e.g. "03000200-0400-0500-0006-000700080009").
 *   2. system-serial    — the system (chassis label) serial, unless it is a placeholder
 *                         ("To Be Filled By O.E.M.", "Default string", "0", "System Serial Number",
 *                         "Not Specified", …, or only one repeated character such as "00000000").
 *   3. baseboard-serial — the mainboard serial, same placeholder rules.
 *   4. macs             — the sorted set of physical NIC MACs (virtual adapters, loopback,
 *                         all-zero and broadcast addresses excluded), joined with ",".
 *   5. os-machine-id    — the OS installation id (/etc/machine-id, MachineGuid): only when the
 *                         hardware offers nothing at all (containers); it changes on reinstall.
 *   6. hostname         — last resort.
 * The id is "pc-" + the first 32 hex digits of sha256("<rule>:<value>"), values lower-cased
 * (UUIDs, MACs) or trimmed and upper-cased (serials), so case differences between OSes and tools
 * (dmidecode vs WMI) do not change it.
 */
import { createHash } from "node:crypto";
import { isUsableMac } from "../lib/net/mac.js";
import type { Inventory } from "./inventory.js";

export type PcIdBasis = "hardware-uuid" | "system-serial" | "baseboard-serial" | "macs" | "os-machine-id" | "hostname";

export interface PcIdentity {
  id: string;
  basis: PcIdBasis;
  /** the normalised value the id was hashed from */
  value: string;
}

/** Known placeholder UUIDs written by board vendors that never set one (lower case, with hyphens). */
const PLACEHOLDER_UUIDS = new Set([
  "03000200-0400-0500-0006-000700080009", // AMI default, very common on white-box boards
  "00020003-0004-0005-0006-000700080009", // the same bytes in the other byte order
]);

/** Placeholder serials (compared lower-case, trimmed). */
const PLACEHOLDER_SERIALS = new Set([
  "to be filled by o.e.m.", "to be filled by oem", "default string", "0", "system serial number",
  "chassis serial number", "base board serial number", "baseboard serial number", "not specified",
  "not applicable", "not available", "not present", "not settable", "none", "n/a", "na", "-", "unknown",
  "invalid", "oem", "o.e.m.", "serial", "serialnumber", "serial number", "123456789", "0123456789",
  "1234567890", "empty", "default", "no asset information", "type2 - board serial number",
]);

/** Normalise a UUID to lower-case hyphenated form, or "" if it is not a usable hardware UUID. */
export function usableUuid(text: string): string {
  const hex = text.trim().replace(/^\{|\}$/g, "").replace(/-/g, "").toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(hex)) return "";
  if (/^(.)\1*$/.test(hex)) return ""; // all-zero, all-F, …
  const uuid = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  return PLACEHOLDER_UUIDS.has(uuid) ? "" : uuid;
}

export function isPlaceholderUuid(text: string): boolean {
  return usableUuid(text) === "";
}

/** Normalise a serial (trimmed, inner whitespace collapsed, upper-case), or "" if it is a placeholder. */
export function usableSerial(text: string): string {
  const t = text.trim().replace(/\s+/g, " ");
  if (PLACEHOLDER_SERIALS.has(t.toLowerCase())) return "";
  const alnum = t.replace(/[^0-9a-z]/gi, "");
  if (alnum === "" || /^(.)\1*$/i.test(alnum)) return ""; // "", "-----", "00000000", "xxxxxx"
  return t.toUpperCase();
}

export function isPlaceholderSerial(text: string): boolean {
  return usableSerial(text) === "";
}

/** Sorted, de-duplicated MACs of the physical NICs. */
export function physicalMacs(inv: Inventory): string[] {
  return [...new Set(inv.nics.filter((n) => !n.virtual && isUsableMac(n.mac)).map((n) => n.mac))].sort();
}

/** The maker's serial for the ledger (製造番号): system serial, else the baseboard's, else "". */
export function assetSerial(inv: Inventory): string {
  return usableSerial(inv.system.serial) || usableSerial(inv.baseboard.serial);
}

const hash = (basis: PcIdBasis, value: string): string =>
  "pc-" + createHash("sha256").update(`${basis}:${value}`).digest("hex").slice(0, 32);

export function pcIdentity(inv: Inventory): PcIdentity {
  const candidates: [PcIdBasis, string][] = [
    ["hardware-uuid", usableUuid(inv.system.uuid) || usableUuid(inv.hardwareUuid)],
    ["system-serial", usableSerial(inv.system.serial)],
    ["baseboard-serial", usableSerial(inv.baseboard.serial)],
    ["macs", physicalMacs(inv).join(",")],
    ["os-machine-id", inv.os.machineId.trim().toLowerCase()],
    ["hostname", inv.os.hostname.trim().toLowerCase()],
  ];
  for (const [basis, value] of candidates) {
    if (value !== "") return { id: hash(basis, value), basis, value };
  }
  return { id: hash("hostname", ""), basis: "hostname", value: "" };
}

/** The stable id of the PC this inventory describes. */
export function pcId(inv: Inventory): string {
  return pcIdentity(inv).id;
}

/** What the server's ledger reconciliation needs from an inventory. */
export function assetKeys(inv: Inventory): { pcId: string; serial: string; macs: string[] } {
  return { pcId: pcId(inv), serial: assetSerial(inv), macs: physicalMacs(inv) };
}
