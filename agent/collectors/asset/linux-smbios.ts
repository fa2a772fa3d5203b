/**
 * Memory modules and the CPU socket for the asset inventory on Linux, decoded from the SMBIOS
 * tables the kernel exposes (/sys/firmware/dmi/tables/{smbios_entry_point,DMI}, root only) instead
 * of systeminformation's memLayout() and cpu(), which run `dmidecode -t memory | grep …` and
 * `dmidecode -t 4 | grep …` through shells. Those are the same bytes dmidecode decodes: here two
 * small file reads and a walk over a few kilobytes.
 *
 * The results have exactly the values systeminformation derives from dmidecode's text, so
 * `normalize()` is unchanged: dmidecode's renderings (sizes, "Unknown", "<BAD INDEX>", "MT/s",
 * voltages, non-printable bytes shown as ".") and systeminformation's parsing of them (the unit
 * only tells GB from anything else, a trimmed "Bank Locator", JEDEC ids mapped to names) are
 * reproduced. Tested against dmidecode 3.4 + systeminformation 5.33 on the same tables.
 *
 * Sources: DMTF DSP0134 (SMBIOS Reference Specification) 3.8 for the layouts and code tables;
 * dmidecode's observable output for the renderings. Field presence follows each structure's length
 * byte, as dmidecode does (DSP0134 6.1.2: the length tells which fields a structure has). The
 * SMBIOS version is reported but gates nothing: dmidecode decodes a 40-byte type 17 in a table
 * that claims version 2.3 in full, and firmware under-reporting its version is common.
 *
 * Deliberate differences from dmidecode 3.4: code tables follow DSP0134 3.8, so codes newer than
 * 3.4 (sockets 0x40–0x57 such as LGA1700 and AM5, memory type HBM3, form factor CAMM) get their
 * names where 3.4 prints "<OUT OF SPEC>" (as newer dmidecode does); the walk always ends at type
 * 127, where dmidecode goes on past it in a 2.x table.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";

/** One structure of the table (DSP0134 6.1.2). */
export interface SmbiosStructure {
  type: number;
  /** the length byte: size of the formatted area, header included */
  length: number;
  handle: number;
  /** the formatted area, header included: data[0] is the type, offsets as in DSP0134 */
  data: Buffer;
  /** the string-set, one char per byte (latin1); string number n is strings[n - 1] */
  strings: string[];
}

/** One module as systeminformation's memLayout() reports it on Linux. */
export interface SiMemLayout {
  size: number;
  bank: string;
  type: string;
  ecc: boolean | null;
  clockSpeed: number | null;
  formFactor: string;
  manufacturer: string;
  partNum: string;
  serialNum: string;
  voltageConfigured: number | null;
  voltageMin: number | null;
  voltageMax: number | null;
}

interface EntryPoint {
  version: string;
  /** the table's length (2.x) or maximum size (3.x) */
  tableLength: number;
  /** number of structures (2.x), 0 when not given */
  count: number;
}

/** DSP0134 5.2.1 (32-bit "_SM_", 31 bytes), 5.2.2 (64-bit "_SM3_", 24 bytes); legacy "_DMI_" (15 bytes). */
function parseEntryPoint(ep: Buffer): EntryPoint | undefined {
  const anchor = (s: string) => ep.length >= s.length && ep.toString("latin1", 0, s.length) === s;
  if (anchor("_SM3_") && ep.length >= 0x18) {
    return { version: `${ep[0x07]}.${ep[0x08]}.${ep[0x09]}`, tableLength: ep.readUInt32LE(0x0c), count: 0 };
  }
  if (anchor("_SM_") && ep.length >= 0x1f) {
    const major = ep[0x06]!;
    let minor = ep[0x07]!;
    // versions some firmware reports wrongly, corrected as dmidecode does: 2.31 and 2.33 → 2.3, 2.51 → 2.6
    if (major === 2 && (minor === 31 || minor === 33)) minor = 3;
    else if (major === 2 && minor === 51) minor = 6;
    return { version: `${major}.${minor}`, tableLength: ep.readUInt16LE(0x16), count: ep.readUInt16LE(0x1c) };
  }
  if (anchor("_DMI_") && ep.length >= 0x0f) {
    return { version: `${ep[0x0e]! >> 4}.${ep[0x0e]! & 0x0f}`, tableLength: ep.readUInt16LE(0x06), count: ep.readUInt16LE(0x0c) };
  }
  return undefined;
}

/**
 * The structures of an SMBIOS table, in table order, up to and including the End-of-Table
 * structure (type 127, DSP0134 7.46). With an entry point, at most the table length and the
 * structure count (2.x) it announces. Never throws: the walk stops at the first structure whose
 * header, formatted area or string-set (ended by a double NUL) does not fit, or whose length byte
 * is below 4.
 */
export function parseSmbios(table: Buffer, entryPoint?: Buffer): SmbiosStructure[] {
  const ep = entryPoint ? parseEntryPoint(entryPoint) : undefined;
  const end = ep ? Math.min(table.length, ep.tableLength) : table.length;
  const out: SmbiosStructure[] = [];
  let off = 0;
  while (off + 4 <= end && !(ep?.count && out.length >= ep.count)) {
    const type = table[off]!;
    const length = table[off + 1]!;
    if (length < 4) break;
    let p = off + length; // the string-set ends at the first double NUL after the formatted area
    while (p + 1 < end && (table[p] !== 0 || table[p + 1] !== 0)) p++;
    if (p + 1 >= end) break;
    const strings: string[] = [];
    // a structure without strings has just the double NUL; an empty string ends the set
    for (const s of table.toString("latin1", off + length, p).split("\0")) {
      if (!s) break;
      strings.push(s);
    }
    out.push({ type, length, handle: table.readUInt16LE(off + 2), data: table.subarray(off, off + length), strings });
    off = p + 2;
    if (type === 127) break;
  }
  return out;
}

/**
 * The SMBIOS version ("3.3.0", "2.8"; "" when the entry point is missing or not recognised) and
 * the structures, read from `<root>/sys/firmware/dmi/tables`. Undefined when the table cannot be
 * read (not root, no DMI in containers and on most non-x86 machines).
 */
export async function readSmbios(root = "/"): Promise<{ version: string; structures: SmbiosStructure[] } | undefined> {
  const dir = join(root, "sys/firmware/dmi/tables");
  const [ep, table] = await Promise.all([
    readFile(join(dir, "smbios_entry_point")).catch(() => undefined),
    readFile(join(dir, "DMI")).catch(() => undefined),
  ]);
  if (!table) return undefined;
  return { version: (ep && parseEntryPoint(ep)?.version) || "", structures: parseSmbios(table, ep) };
}

const OUT_OF_SPEC = "<OUT OF SPEC>";

/** DSP0134 7.18.1 Memory Device — Form Factor (0x11 CAMM is newer than dmidecode 3.4) */
const FORM_FACTORS = [undefined, "Other", "Unknown", "SIMM", "SIP", "Chip", "DIP", "ZIP", "Proprietary Card", "DIMM", "TSOP",
  "Row Of Chips", "RIMM", "SODIMM", "SRIMM", "FB-DIMM", "Die", "CAMM"];

/** DSP0134 7.18.2 Memory Device — Type (0x24 HBM3 is newer than dmidecode 3.4) */
const MEMORY_TYPES = [undefined, "Other", "Unknown", "DRAM", "EDRAM", "VRAM", "SRAM", "RAM", "ROM", "Flash", "EEPROM", "FEPROM",
  "EPROM", "CDRAM", "3DRAM", "SDRAM", "SGRAM", "RDRAM", "DDR", "DDR2", "DDR2 FB-DIMM", "Reserved", "Reserved", "Reserved",
  "DDR3", "FBD2", "DDR4", "LPDDR", "LPDDR2", "LPDDR3", "LPDDR4", "Logical non-volatile device", "HBM", "HBM2", "DDR5",
  "LPDDR5", "HBM3"];

/**
 * DSP0134 7.5.5 Processor Information — Processor Upgrade, 0x01–0x57 (DSP0134 3.8). dmidecode 3.4
 * knows 0x01–0x3F; 0x24 is "Socket LGA1155" in DSP0134 and "Socket BGA1155" in dmidecode's
 * output, kept here as dmidecode prints it.
 */
const PROCESSOR_UPGRADES = [undefined, "Other", "Unknown", "Daughter Board", "ZIF Socket", "Replaceable Piggy Back", "None",
  "LIF Socket", "Slot 1", "Slot 2", "370-pin Socket", "Slot A", "Slot M", "Socket 423", "Socket A (Socket 462)", "Socket 478",
  "Socket 754", "Socket 940", "Socket 939", "Socket mPGA604", "Socket LGA771", "Socket LGA775", "Socket S1", "Socket AM2",
  "Socket F (1207)", "Socket LGA1366", "Socket G34", "Socket AM3", "Socket C32", "Socket LGA1156", "Socket LGA1567",
  "Socket PGA988A", "Socket BGA1288", "Socket rPGA988B", "Socket BGA1023", "Socket BGA1224", "Socket BGA1155", "Socket LGA1356",
  "Socket LGA2011", "Socket FS1", "Socket FS2", "Socket FM1", "Socket FM2", "Socket LGA2011-3", "Socket LGA1356-3",
  "Socket LGA1150", "Socket BGA1168", "Socket BGA1234", "Socket BGA1364", "Socket AM4", "Socket LGA1151", "Socket BGA1356",
  "Socket BGA1440", "Socket BGA1515", "Socket LGA3647-1", "Socket SP3", "Socket SP3r2", "Socket LGA2066", "Socket BGA1392",
  "Socket BGA1510", "Socket BGA1528", "Socket LGA4189", "Socket LGA1200", "Socket LGA4677", "Socket LGA1700", "Socket BGA1744",
  "Socket BGA1781", "Socket BGA1211", "Socket BGA2422", "Socket LGA1211", "Socket LGA2422", "Socket LGA5773", "Socket BGA5773",
  "Socket AM5", "Socket SP5", "Socket SP6", "Socket BGA883", "Socket BGA1190", "Socket BGA4129", "Socket LGA4710",
  "Socket LGA7529", "Socket BGA1964", "Socket BGA1792", "Socket BGA2049", "Socket BGA2551", "Socket LGA1851", "Socket BGA2114",
  "Socket BGA2833"];

/**
 * systeminformation's RAM_manufacturers (lib/memory.js, MIT): a manufacturer string that is one of
 * these keys (upper-cased, a first "0x" removed) is reported as the name.
 */
const RAM_MANUFACTURERS = new Map<string, string>([
  ["00CE", "Samsung Electronics Inc"], ["014F", "Transcend Information Inc."], ["017A", "Apacer Technology Inc."],
  ["0198", "HyperX"], ["029E", "Corsair"], ["02FE", "Elpida"], ["04CB", "A-DATA"], ["04CD", "G.Skill International Enterprise"],
  ["059B", "Crucial"], ["1315", "Crucial"], ["2C00", "Micron Technology Inc."], ["5105", "Qimonda AG i. In."],
  ["802C", "Micron Technology Inc."], ["80AD", "Hynix Semiconductor Inc."], ["80CE", "Samsung Electronics Inc."],
  ["8551", "Qimonda AG i. In."], ["859B", "Crucial"], ["AD00", "Hynix Semiconductor Inc."], ["CE00", "Samsung Electronics Inc."],
  ["SAMSUNG", "Samsung Electronics Inc."], ["HYNIX", "Hynix Semiconductor Inc."], ["G-SKILL", "G-Skill International Enterprise"],
  ["G.SKILL", "G-Skill International Enterprise"], ["TRANSCEND", "Transcend Information"], ["APACER", "Apacer Technology Inc"],
  ["MICRON", "Micron Technology Inc."], ["QIMONDA", "Qimonda AG i. In."],
]);

/**
 * String number `n` as dmidecode prints it, trimmed as systeminformation reads it: "Not Specified"
 * for 0, "<BAD INDEX>" past the string-set, bytes outside printable ASCII as ".".
 */
function text(s: SmbiosStructure, n: number): string {
  if (n === 0) return "Not Specified";
  const v = s.strings[n - 1];
  return v === undefined ? "<BAD INDEX>" : v.replace(/[^\x20-\x7e]/g, ".").trim();
}

/**
 * A type 17 "Size:" as dmidecode prints it, as [number, unit]; undefined for "No Module Installed"
 * and "Unknown" (DSP0134 7.18.4 Size, 7.18.5 Extended Size).
 */
function moduleSize(d: Buffer, len: number): [number, string] | undefined {
  const size = d.readUInt16LE(0x0c);
  if (len >= 0x20 && size === 0x7fff) {
    // Extended Size, in MB (bit 31 reserved), shown in the largest unit that keeps it whole
    const mb = d.readUInt32LE(0x1c) & 0x7fffffff;
    if (mb & 0x3ff) return [mb, "MB"];
    if (mb & 0xffc00) return [mb >>> 10, "GB"];
    return [mb >>> 20, "TB"];
  }
  if (size === 0 || size === 0xffff) return undefined;
  // bit 15 set: the value is in kB, else in MB. Shown in 10-bit groups: the highest non-zero group's
  // unit, or the next lower one when that group is non-zero too (1536 MB, not 1.5 GB)
  const kb = (size & 0x7fff) * (size & 0x8000 ? 1 : 1024);
  const groups = [kb & 0x3ff, (kb >>> 10) & 0x3ff, kb >>> 20];
  const units = ["kB", "MB", "GB"];
  let i = 2;
  while (i > 0 && groups[i] === 0) i--;
  if (i > 0 && groups[i - 1] !== 0) return [groups[i - 1]! + groups[i]! * 1024, units[i - 1]!];
  return [groups[i]!, units[i]!];
}

/** a speed in MT/s, 0 for "Unknown"; 0xFFFF means "see the 32-bit extended field" (DSP0134 7.18 offsets 0x54/0x58) */
function speed(d: Buffer, len: number, at: number, extendedAt: number): number {
  const v = d.readUInt16LE(at);
  return v === 0xffff ? (len >= 0x5c ? d.readUInt32LE(extendedAt) : 0) : v;
}

/** a voltage in mV as dmidecode prints it in V ("%g V"/"%.1f V", exact for every value), null for "Unknown" */
const volts = (mv: number): number | null => (mv ? mv / 1000 : null);

/**
 * The memory devices (type 17, DSP0134 7.18) in exactly the shape and with the values of
 * systeminformation's memLayout() on Linux for the same table, in table order; [] when there is
 * none (systeminformation's one-module fallback of the whole memory is the caller's).
 */
export function memLayoutFromSmbios(structures: SmbiosStructure[]): SiMemLayout[] {
  const out: SiMemLayout[] = [];
  for (const s of structures) {
    if (s.type !== 17) continue;
    const d = s.data;
    const len = Math.min(s.length, d.length);
    // dmidecode prints no field of a device shorter than 0x15 bytes
    const bank0 = len >= 0x15 ? text(s, d[0x11]!) : "";
    const bank = bank0.toLowerCase().includes("bad") ? "" : bank0; // "<BAD INDEX>" and the like
    const formFactor = len >= 0x15 ? FORM_FACTORS[d[0x0e]!] ?? OUT_OF_SPEC : "";
    const size = len >= 0x15 ? moduleSize(d, len) : undefined;
    if (!size || !(size[0] > 0)) {
      out.push({ size: 0, bank, type: "Empty", ecc: null, clockSpeed: 0, formFactor, manufacturer: "", partNum: "", serialNum: "", voltageConfigured: null, voltageMin: null, voltageMax: null });
      continue;
    }
    const strings = len >= 0x1b;
    const manufacturer = strings ? text(s, d[0x17]!) : "";
    const id = manufacturer.replace("0x", "").toUpperCase();
    const configured = len >= 0x22 ? speed(d, len, 0x20, 0x58) : 0;
    out.push({
      // systeminformation: GB when the unit says so, MB for every other unit (kB and TB included)
      size: size[0] * (size[1] === "GB" ? 1024 ** 3 : 1024 ** 2),
      bank,
      type: MEMORY_TYPES[d[0x12]!] ?? OUT_OF_SPEC,
      // systeminformation compares Total Width with Data Width, but its grep drops both lines, so false
      ecc: false,
      clockSpeed: configured || (len >= 0x17 ? speed(d, len, 0x15, 0x54) : 0) || null,
      formFactor,
      manufacturer: id.length >= 4 ? RAM_MANUFACTURERS.get(id) ?? manufacturer : manufacturer,
      partNum: strings ? text(s, d[0x1a]!) : "",
      serialNum: strings ? text(s, d[0x18]!) : "",
      voltageConfigured: len >= 0x28 ? volts(d.readUInt16LE(0x26)) : null,
      voltageMin: len >= 0x28 ? volts(d.readUInt16LE(0x22)) : null,
      voltageMax: len >= 0x28 ? volts(d.readUInt16LE(0x24)) : null,
    });
  }
  return out;
}

/**
 * The socket as systeminformation's cpu() reports it on Linux: the Processor Upgrade (type 4 offset
 * 0x19, DSP0134 7.5) of the first processor whose upgrade name starts with "Socket", without that
 * word ("LGA1700", "A (Socket 462)"); "" when none has one.
 */
export function processorSocketFromSmbios(structures: SmbiosStructure[]): string {
  for (const s of structures) {
    if (s.type !== 4 || Math.min(s.length, s.data.length) < 0x1a) continue;
    const name = PROCESSOR_UPGRADES[s.data[0x19]!];
    if (name?.startsWith("Socket")) return name.replace("Socket", "").trim();
  }
  return "";
}
