/**
 * The SMBIOS decoder for memory modules and the CPU socket (agent/collectors/asset/linux-smbios.ts)
 * gives exactly what systeminformation gives for the same table: each table built here is written
 * in dmidecode's --dump-bin layout, a fake `dmidecode` first on PATH runs the real one on it with
 * --from-dump, and systeminformation's own memLayout() and cpu() read it through that.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import si from "systeminformation";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { memLayoutFromSmbios, parseSmbios, processorSocketFromSmbios, readSmbios } from "../../../agent/collectors/asset/linux-smbios.js";
import { shellQuote, withFakeTools } from "../../helpers/fake-tools.js";

// ---- building tables ------------------------------------------------------------------------

/** One structure: header, formatted area (`fields`, after the 4-byte header), string-set. */
function structure(type: number, handle: number, fields: Buffer, strings: string[] = []): Buffer {
  const head = Buffer.from([type, 4 + fields.length, handle & 0xff, handle >> 8]);
  const set = strings.length ? Buffer.from(strings.map((s) => `${s}\0`).join("") + "\0", "latin1") : Buffer.from([0, 0]);
  return Buffer.concat([head, fields, set]);
}

/** Assigns string numbers: a string is added to the set, a number is used as the index as is (0, bad ones). */
class Strings {
  readonly list: string[] = [];
  ref(v: string | number | undefined): number {
    if (v === undefined) return 0;
    if (typeof v === "number") return v;
    this.list.push(v);
    return this.list.length;
  }
}

interface Dimm {
  /** formatted-area length; 0x5C (SMBIOS 3.3+) by default, 0x28 for 2.8, 0x22 for 2.7, 0x1B for 2.3 … */
  length?: number;
  totalWidth?: number;
  dataWidth?: number;
  /** the 16-bit Size field (MB, or kB with bit 15; 0x7FFF: see extendedSize) */
  size: number;
  extendedSize?: number;
  formFactor: number;
  locator?: string | number;
  bank?: string | number;
  type: number;
  typeDetail?: number;
  speed?: number;
  manufacturer?: string | number;
  serial?: string | number;
  assetTag?: string | number;
  part?: string | number;
  rank?: number;
  configuredSpeed?: number;
  minVoltage?: number;
  maxVoltage?: number;
  configuredVoltage?: number;
  extendedSpeed?: number;
  extendedConfiguredSpeed?: number;
}

/** A type 17 Memory Device (DSP0134 7.18). */
function dimm(handle: number, m: Dimm): Buffer {
  const length = m.length ?? 0x5c;
  const d = Buffer.alloc(0x5c);
  const s = new Strings();
  d.writeUInt16LE(0x1000, 0x04); // physical memory array handle
  d.writeUInt16LE(0xfffe, 0x06); // no error information
  d.writeUInt16LE(m.totalWidth ?? 64, 0x08);
  d.writeUInt16LE(m.dataWidth ?? 64, 0x0a);
  d.writeUInt16LE(m.size, 0x0c);
  d[0x0e] = m.formFactor;
  d[0x10] = s.ref(m.locator);
  d[0x11] = s.ref(m.bank);
  d[0x12] = m.type;
  d.writeUInt16LE(m.typeDetail ?? 0x0080, 0x13); // synchronous
  d.writeUInt16LE(m.speed ?? 0, 0x15);
  if (length >= 0x1b) {
    d[0x17] = s.ref(m.manufacturer);
    d[0x18] = s.ref(m.serial);
    d[0x19] = s.ref(m.assetTag);
    d[0x1a] = s.ref(m.part);
  }
  d[0x1b] = m.rank ?? 1;
  d.writeUInt32LE((m.extendedSize ?? 0) >>> 0, 0x1c);
  d.writeUInt16LE(m.configuredSpeed ?? 0, 0x20);
  d.writeUInt16LE(m.minVoltage ?? 0, 0x22);
  d.writeUInt16LE(m.maxVoltage ?? 0, 0x24);
  d.writeUInt16LE(m.configuredVoltage ?? 0, 0x26);
  d[0x28] = 3; // DRAM
  d.writeUInt32LE(m.extendedSpeed ?? 0, 0x54);
  d.writeUInt32LE(m.extendedConfiguredSpeed ?? 0, 0x58);
  return structure(17, handle, d.subarray(4, length), s.list);
}

/** A type 4 Processor Information (DSP0134 7.5) with Processor Upgrade `upgrade` at 0x19. */
function processor(handle: number, upgrade: number, o: { length?: number; socket?: string; version?: string } = {}): Buffer {
  const length = o.length ?? 0x30;
  const d = Buffer.alloc(0x30);
  const s = new Strings();
  d[0x04] = s.ref(o.socket ?? "CPU0");
  d[0x05] = 3; // central processor
  d[0x06] = 0xc6; // Core i7
  d[0x07] = s.ref("Intel(R) Corporation");
  d[0x10] = s.ref(o.version ?? "13th Gen Intel(R) Core(TM) i7-13700");
  d.writeUInt16LE(100, 0x12); // external clock
  d.writeUInt16LE(5200, 0x14);
  d.writeUInt16LE(2100, 0x16);
  d[0x18] = 0x41; // populated, enabled
  d[0x19] = upgrade;
  return structure(4, handle, d.subarray(4, length), s.list);
}

/** A type 16 Physical Memory Array (DSP0134 7.17): system board, system memory, `ecc` correction. */
function memoryArray(handle: number, devices: number, ecc = 3): Buffer {
  const d = Buffer.alloc(0x17);
  d[0x04] = 3;
  d[0x05] = 3;
  d[0x06] = ecc;
  d.writeUInt32LE(0x80000000, 0x07); // capacity in the extended field
  d.writeUInt16LE(0xfffe, 0x0b);
  d.writeUInt16LE(devices, 0x0d);
  d.writeBigUInt64LE(128n * 1024n * 1024n * 1024n, 0x0f);
  return structure(16, handle, d.subarray(4));
}

const bios = (handle: number) => structure(0, handle, Buffer.from([1, 2, 0, 0xf0, 3, 0xff, 0x80, 0x98, 0x8b, 0x3f, 0x01, 0x00, 0x11, 0x00, 0x03, 0x0d, 0x05, 0x1a, 0xff, 0xff]), ["American Megatrends Inc.", "1.20", "06/01/2023"]);
const endOfTable = (handle: number) => structure(127, handle, Buffer.alloc(0));

function checksum(b: Buffer, at: number, from = 0, to = b.length): void {
  b[at] = 0;
  let sum = 0;
  for (let i = from; i < to; i++) sum += b[i]!;
  b[at] = (0x100 - (sum & 0xff)) & 0xff;
}

/** SMBIOS 3.x entry point "_SM3_" (DSP0134 5.2.2), table at `address` */
function entryPoint3(tableLength: number, version = [3, 3, 0], address = 0x20): Buffer {
  const b = Buffer.alloc(0x18);
  b.write("_SM3_", 0, "latin1");
  b[0x06] = 0x18;
  [b[0x07], b[0x08], b[0x09]] = version as [number, number, number];
  b[0x0a] = 1;
  b.writeUInt32LE(tableLength, 0x0c);
  b.writeBigUInt64LE(BigInt(address), 0x10);
  checksum(b, 0x05);
  return b;
}

/** SMBIOS 2.1+ entry point "_SM_" (DSP0134 5.2.1) with its "_DMI_" part, table at `address` */
function entryPoint2(tableLength: number, count: number, version = [2, 8], address = 0x20): Buffer {
  const b = Buffer.alloc(0x1f);
  b.write("_SM_", 0, "latin1");
  b[0x05] = 0x1f;
  [b[0x06], b[0x07]] = version as [number, number];
  b.writeUInt16LE(0x100, 0x08);
  b.write("_DMI_", 0x10, "latin1");
  b.writeUInt16LE(tableLength, 0x16);
  b.writeUInt32LE(address, 0x18);
  b.writeUInt16LE(count, 0x1c);
  b[0x1e] = ((version[0]! & 0xf) << 4) | (version[1]! & 0xf);
  checksum(b, 0x15, 0x10, 0x1f);
  checksum(b, 0x04);
  return b;
}

/** dmidecode's --dump-bin layout: the entry point at 0, rewritten to point at the table at 0x20 */
const dumpBin = (entryPoint: Buffer, table: Buffer): Buffer => Buffer.concat([entryPoint, Buffer.alloc(0x20 - entryPoint.length), table]);

interface Fixture { name: string; entryPoint: Buffer; table: Buffer }
const v3 = (name: string, parts: Buffer[], version?: number[]): Fixture => {
  const table = Buffer.concat(parts);
  return { name, entryPoint: entryPoint3(table.length, version), table };
};
const v2 = (name: string, parts: Buffer[], version?: number[]): Fixture => {
  const table = Buffer.concat(parts);
  return { name, entryPoint: entryPoint2(table.length, parts.length, version), table };
};

// JEDEC type/form-factor codes (DSP0134 7.18.1, 7.18.2)
const DIMM = 0x09, SODIMM = 0x0d, ROW_OF_CHIPS = 0x0b;
const DDR4 = 0x1a, DDR5 = 0x22, LPDDR5 = 0x23, DDR3 = 0x18, LPDDR4 = 0x1e, UNKNOWN = 0x02;

const desktop = v3("desktop: 4 slots, 2 DDR4 populated, 2 empty", [
  bios(0),
  memoryArray(0x1000, 4, 3),
  dimm(0x11, { size: 16384, formFactor: DIMM, locator: "DIMM_A1", bank: "BANK 0", type: DDR4, speed: 3200, configuredSpeed: 2933, manufacturer: "80CE000080CE", serial: "41A2B3C4", assetTag: "9876543210", part: "M378A2K43EB1-CWE    ", rank: 2, minVoltage: 1200, maxVoltage: 1200, configuredVoltage: 1200 }),
  dimm(0x12, { size: 0, formFactor: DIMM, locator: "DIMM_A2", bank: "BANK 1", type: UNKNOWN, manufacturer: "NO DIMM", serial: "NO DIMM", part: "NO DIMM" }),
  dimm(0x13, { size: 16384, formFactor: DIMM, locator: "DIMM_B1", bank: "BANK 2", type: DDR4, speed: 3200, configuredSpeed: 2933, manufacturer: "Samsung", serial: "41A2B3C5", part: "M378A2K43EB1-CWE    ", rank: 2, minVoltage: 1200, maxVoltage: 1200, configuredVoltage: 1200 }),
  dimm(0x14, { size: 0, formFactor: DIMM, locator: "DIMM_B2", bank: "BANK 3", type: UNKNOWN }),
  processor(0x40, 0x40, { socket: "LGA1700" }),
  endOfTable(0xfeff),
]);

const laptop = v3("laptop: DDR5 SODIMM, LPDDR5 on the board, 16 GB in the extended size", [
  bios(0),
  memoryArray(0x1000, 2, 3),
  dimm(0x21, { size: 0x7fff, extendedSize: 16384, formFactor: SODIMM, locator: "Controller0-ChannelA-DIMM0", bank: "BANK 0", type: DDR5, speed: 4800, configuredSpeed: 4800, manufacturer: "Kingston", serial: "12345678", part: "KF548S38-16 ", rank: 1, minVoltage: 1100, maxVoltage: 1100, configuredVoltage: 1100 }),
  dimm(0x22, { size: 8192, formFactor: ROW_OF_CHIPS, locator: "Controller1-ChannelA", bank: "BANK 0", type: LPDDR5, speed: 0xffff, extendedSpeed: 6400, configuredSpeed: 0xffff, extendedConfiguredSpeed: 6400, manufacturer: "Micron", serial: "00000000", part: "MT62F1G32D4DR-031 WT:B", minVoltage: 500, maxVoltage: 500, configuredVoltage: 500 }),
  processor(0x40, 0x01, { socket: "U3E1" }),
  endOfTable(0xfeff),
]);

const server = v3("server: registered ECC DDR4, 72/64 bits, voltages", [
  bios(0),
  memoryArray(0x1000, 3, 6), // multi-bit ECC
  dimm(0x31, { totalWidth: 72, dataWidth: 64, size: 0x7fff, extendedSize: 32768, formFactor: DIMM, locator: "P1-DIMMA1", bank: "P0_Node0_Channel0_Dimm0", type: DDR4, typeDetail: 0x2080, speed: 2933, configuredSpeed: 2666, manufacturer: "0x802C", serial: "2A3B4C5D", part: "36ASF4G72PZ-2G9E2   ", minVoltage: 1200, maxVoltage: 1350, configuredVoltage: 1234 }),
  dimm(0x32, { totalWidth: 72, dataWidth: 64, size: 0x7fff, extendedSize: 65536, formFactor: DIMM, locator: "P1-DIMMB1", bank: "P0_Node0_Channel1_Dimm0", type: DDR4, speed: 3200, configuredSpeed: 0, manufacturer: "Hynix", serial: "  AB12  ", part: "HMAA8GR7AJR4N-XN", minVoltage: 0, maxVoltage: 1500, configuredVoltage: 1250 }),
  memoryArray(0x1001, 2, 6), // a second array after the devices of the first
  dimm(0x33, { totalWidth: 72, dataWidth: 64, size: 0xffff, formFactor: DIMM, locator: "P2-DIMMA1", bank: "P1_Node1_Channel0_Dimm0", type: DDR4 }),
  processor(0x40, 0x3d, { socket: "CPU1" }), // LGA4189
  processor(0x41, 0x3d, { socket: "CPU2" }),
  endOfTable(0xfeff),
]);

const legacy = v2("SMBIOS 2.3: short type 17 (0x1B bytes), 2.x entry point", [
  bios(0),
  memoryArray(0x1000, 2, 3),
  dimm(0x51, { length: 0x1b, size: 512, formFactor: DIMM, locator: "DIMM0", bank: "BANK0", type: 0x12 /* DDR */, speed: 400, manufacturer: "CE00000000000000", serial: "ABCD1234", part: "M3 68L6523CUS-CCC" }),
  dimm(0x52, { length: 0x1b, size: 0x8000 | 256, formFactor: DIMM, locator: "DIMM1", bank: "BANK1", type: 0x12, speed: 0, manufacturer: "0xCE00", serial: 0, part: 7 }),
  processor(0x40, 0x0f, { length: 0x20, socket: "Socket 478" }), // Socket 478
  endOfTable(0xfeff),
], [2, 3]);

const longIn2x = v2("SMBIOS 2.7 entry point, 2.8-length type 17 (the length byte rules, not the version)", [
  memoryArray(0x1000, 1, 3),
  dimm(0x61, { length: 0x28, size: 4096, formFactor: SODIMM, locator: "ChannelA-DIMM0", bank: "BANK 0", type: DDR3, speed: 1600, configuredSpeed: 1333, manufacturer: "Hynix/Hyundai", serial: "1A2B3C4D", part: "HMT451S6AFR8A-PB", minVoltage: 1350, maxVoltage: 1500, configuredVoltage: 1350 }),
  processor(0x40, 0x36), // Socket LGA3647-1
  endOfTable(0xfeff),
], [2, 7]);

/** every field boundary, every rendering dmidecode has for a type 17, codes it knows */
const sweep = (() => {
  const parts: Buffer[] = [memoryArray(0x1000, 255)];
  let h = 0x100;
  const base: Dimm = { size: 4096, formFactor: DIMM, bank: "B", type: DDR4, speed: 2400, configuredSpeed: 2133, manufacturer: "M", serial: "S", part: "P", minVoltage: 1200, maxVoltage: 1200, configuredVoltage: 1200 };
  const add = (m: Partial<Dimm>) => parts.push(dimm(h++, { ...base, ...m }));
  for (let t = 0; t <= 0x23; t++) add({ type: t });
  for (let f = 0; f <= 0x10; f++) add({ formFactor: f }), add({ formFactor: f, size: 0 });
  for (const size of [0, 0xffff, 0x8000, 0x8000 | 1, 0x8000 | 512, 0x8000 | 1024, 0x8000 | 1536, 0x8000 | 0x7fff, 1, 1000, 1024, 1536, 2048, 3072, 0x7ffe, 0x7fff]) add({ size });
  for (const extendedSize of [0, 1, 1000, 1024, 1536, 16384, (0x80000000 | 32768) >>> 0, 1 << 20, 3 << 20, 1 << 30, 0x7fffffff]) add({ size: 0x7fff, extendedSize });
  add({ size: 0x7fff, extendedSize: 16384, length: 0x1f }); // no extended field: 32767 MB
  for (const length of [4, 5, 0x10, 0x14, 0x15, 0x16, 0x17, 0x1a, 0x1b, 0x1c, 0x1f, 0x20, 0x21, 0x22, 0x27, 0x28, 0x34, 0x54, 0x5b, 0x5c]) {
    add({ length, speed: 0xffff, extendedSpeed: 5600, configuredSpeed: 0xffff, extendedConfiguredSpeed: 5200 });
    add({ length, size: 0 });
  }
  for (const [speed, configuredSpeed] of [[0, 0], [0, 1600], [1600, 0], [0xffff, 0], [65534, 65534]]) add({ speed: speed!, configuredSpeed: configuredSpeed! });
  add({ speed: 0xffff, extendedSpeed: 0, configuredSpeed: 0xffff, extendedConfiguredSpeed: 0 });
  add({ speed: 0xffff, extendedSpeed: 0xffffffff });
  for (const mv of [0, 1, 99, 100, 999, 1000, 1050, 1100, 1234, 1250, 1350, 1500, 12345, 65535]) add({ minVoltage: mv, maxVoltage: 65535 - mv, configuredVoltage: mv });
  for (const manufacturer of ["80CE", "0x80CE", "0x80ce", "80CE000080CE", "0x0x80CE", "Samsung", "SAMSUNG", " Samsung ", "G.Skill", "Crucial", "1315", "859B", "00CE", "CE", "Not Specified", "Unknown", "constructor", "hasOwnProperty", 0, 9]) add({ manufacturer });
  for (const bank of ["BANK 0", "  padded  ", "Badlands", "P0 CHANNEL A", 0, 9, "tab\there", "bell\x07", "del\x7f", "utf8 \u00e9\u00e8", "colon: inside"]) add({ bank });
  for (const serial of ["  00000000  ", "\x01\x02", 0, 9, "0123456789ABCDEF0123456789"]) add({ serial, part: serial });
  add({ totalWidth: 72, dataWidth: 64 });
  add({ totalWidth: 64, dataWidth: 72 });
  add({ totalWidth: 0, dataWidth: 0xffff });
  // a string-set that starts with an empty string: every string index is bad
  const d = dimm(h++, { ...base, bank: 1, manufacturer: 2, serial: 3, part: 4 });
  parts.push(Buffer.concat([d.subarray(0, 0x5c), Buffer.from("\0a\0b\0c\0d\0\0", "latin1")]));
  parts.push(endOfTable(0xfeff));
  return v3("sweep of type 17 renderings", parts, [3, 4, 0]);
})();

// ---- running systeminformation on a table ---------------------------------------------------

let work = "";
let realDmidecode = "";
let dumps = 0;

/** the installed dmidecode, installed with apt-get when missing (never skipped) */
function findDmidecode(): string {
  const find = () => ["/usr/sbin/dmidecode", "/sbin/dmidecode", "/usr/bin/dmidecode"].find((p) => existsSync(p)) ?? "";
  if (find()) return find();
  const apt = (...args: string[]) => execFileSync("apt-get", args, { stdio: "ignore", timeout: 300_000, env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  try {
    apt("install", "-y", "dmidecode");
  } catch {
    apt("update");
    apt("install", "-y", "dmidecode");
  }
  return find();
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "kyoka-smbios-"));
  realDmidecode = findDmidecode();
}, 600_000);
afterAll(() => { if (work) rmSync(work, { recursive: true, force: true }); });

/** systeminformation's memLayout() and cpu().socket with dmidecode reading `f` */
async function systeminformationOn(f: { entryPoint: Buffer; table: Buffer }): Promise<{ memLayout: unknown[]; socket: string }> {
  const file = join(work, `dump-${dumps++}.bin`);
  writeFileSync(file, dumpBin(f.entryPoint, f.table));
  return withFakeTools({ dmidecode: `exec ${shellQuote(realDmidecode)} --from-dump ${shellQuote(file)} "$@"` }, async () => ({
    memLayout: await si.memLayout(),
    socket: (await si.cpu()).socket,
  }));
}

/** the real dmidecode's output for a table (for the name tables) */
function dmidecodeOn(f: { entryPoint: Buffer; table: Buffer }, ...args: string[]): string {
  const file = join(work, `dump-${dumps++}.bin`);
  writeFileSync(file, dumpBin(f.entryPoint, f.table));
  return execFileSync(realDmidecode, ["--from-dump", file, ...args], { encoding: "latin1", maxBuffer: 64 * 1024 * 1024 });
}

// ---- tests ----------------------------------------------------------------------------------

describe("asset: SMBIOS memory devices and socket, parity with dmidecode + systeminformation", () => {
  it("has the real dmidecode (installed when missing)", () => {
    expect(realDmidecode).not.toBe("");
    expect(execFileSync(realDmidecode, ["--version"], { encoding: "utf8" })).toMatch(/^\d+\.\d+/);
  });

  for (const f of [desktop, laptop, server, legacy, longIn2x, sweep]) {
    it(`memLayout: ${f.name}`, async () => {
      const theirs = await systeminformationOn(f);
      const mine = memLayoutFromSmbios(parseSmbios(f.table, f.entryPoint));
      expect(mine.length).toBeGreaterThan(0);
      expect(mine).toStrictEqual(theirs.memLayout);
      expect(JSON.stringify(mine)).toBe(JSON.stringify(theirs.memLayout)); // key order too
    });
  }

  it("memLayout values read as expected (desktop, laptop, server)", () => {
    const [a1, a2, b1, b2] = memLayoutFromSmbios(parseSmbios(desktop.table, desktop.entryPoint));
    expect(a1).toEqual({ size: 16 * 1024 ** 3, bank: "BANK 0", type: "DDR4", ecc: false, clockSpeed: 2933, formFactor: "DIMM", manufacturer: "80CE000080CE", partNum: "M378A2K43EB1-CWE", serialNum: "41A2B3C4", voltageConfigured: 1.2, voltageMin: 1.2, voltageMax: 1.2 });
    expect(b1!.manufacturer).toBe("Samsung Electronics Inc.");
    for (const [m, bank] of [[a2, "BANK 1"], [b2, "BANK 3"]] as const) {
      expect(m).toEqual({ size: 0, bank, type: "Empty", ecc: null, clockSpeed: 0, formFactor: "DIMM", manufacturer: "", partNum: "", serialNum: "", voltageConfigured: null, voltageMin: null, voltageMax: null });
    }
    const [sodimm, onboard] = memLayoutFromSmbios(parseSmbios(laptop.table, laptop.entryPoint));
    expect(sodimm).toMatchObject({ size: 16 * 1024 ** 3, type: "DDR5", formFactor: "SODIMM", clockSpeed: 4800, voltageConfigured: 1.1 });
    expect(onboard).toMatchObject({ size: 8 * 1024 ** 3, type: "LPDDR5", formFactor: "Row Of Chips", clockSpeed: 6400, voltageMin: 0.5 });
    const [r1, r2, unknown] = memLayoutFromSmbios(parseSmbios(server.table, server.entryPoint));
    // systeminformation's grep drops the Total/Data Width lines, so it never sees ECC: false, as it reports
    expect(r1).toMatchObject({ size: 32 * 1024 ** 3, ecc: false, manufacturer: "Micron Technology Inc.", clockSpeed: 2666, voltageMin: 1.2, voltageMax: 1.35, voltageConfigured: 1.234 });
    expect(r2).toMatchObject({ size: 64 * 1024 ** 3, clockSpeed: 3200, serialNum: "AB12", manufacturer: "Hynix Semiconductor Inc.", voltageMin: null });
    expect(unknown).toMatchObject({ size: 0, type: "Empty", bank: "P1_Node1_Channel0_Dimm0" });
    const [ddr, kb] = memLayoutFromSmbios(parseSmbios(legacy.table, legacy.entryPoint));
    expect(ddr).toMatchObject({ size: 512 * 1024 ** 2, type: "DDR", clockSpeed: 400, voltageConfigured: null });
    // "256 kB": systeminformation counts every unit but GB as MB
    expect(kb).toMatchObject({ size: 256 * 1024 ** 2, clockSpeed: null, manufacturer: "Samsung Electronics Inc.", serialNum: "Not Specified", partNum: "<BAD INDEX>" });
  });

  it("socket: same as cpu().socket, first processor with a socket upgrade", async () => {
    for (const [f, expected] of [[server, "LGA4189"], [legacy, "478"], [longIn2x, "LGA3647-1"], [laptop, ""]] as const) {
      const mine = processorSocketFromSmbios(parseSmbios(f.table, f.entryPoint));
      expect(mine).toBe(expected);
      expect(mine).toBe((await systeminformationOn(f)).socket);
    }
    const cases: [string, Buffer[], string][] = [
      ["none then socket", [processor(1, 0x06), processor(2, 0x02), processor(3, 0x0e), processor(4, 0x31)], "A (Socket 462)"],
      ["a ZIF socket is not a Socket upgrade", [processor(1, 0x04), processor(2, 0x0a), processor(3, 0x07)], ""],
      ["type 4 too short for the upgrade field", [processor(1, 0x31, { length: 0x19 }), processor(2, 0x18)], "F (1207)"],
      ["no type 4", [memoryArray(0x1000, 0)], ""],
    ];
    for (const [name, parts, expected] of cases) {
      const f = v3(name, [...parts, endOfTable(0xfeff)]);
      const mine = processorSocketFromSmbios(parseSmbios(f.table, f.entryPoint));
      expect(mine, name).toBe(expected);
      expect(mine, name).toBe((await systeminformationOn(f)).socket);
    }
  });

  it("socket names: every Processor Upgrade code as dmidecode prints it", () => {
    const parts = Array.from({ length: 256 }, (_, c) => processor(c, c));
    const f = v3("all upgrades", [...parts, endOfTable(0xfeff)]);
    const lines = dmidecodeOn(f, "-t", "4").split("\n").filter((l) => l.startsWith("\tUpgrade: "));
    expect(lines).toHaveLength(256);
    lines.forEach((line, code) => {
      const name = line.slice("\tUpgrade: ".length);
      // systeminformation: grep "Upgrade: Socket", value after "Upgrade:", first "Socket" removed, trimmed
      const theirs = name.startsWith("Socket") ? name.replace("Socket", "").trim() : "";
      const mine = processorSocketFromSmbios(parseSmbios(processor(0, code)));
      if (name === "<OUT OF SPEC>" && code >= 0x40 && code <= 0x57) {
        // newer than the installed dmidecode (3.4 stops at 0x3F LGA4677): DSP0134 3.8's names
        expect(mine, `0x${code.toString(16)}`).toMatch(/^(LGA|BGA|AM|SP)\d/);
      } else {
        expect(mine, `0x${code.toString(16)} ${name}`).toBe(theirs);
      }
    });
  });

  it("codes newer than dmidecode 3.4: LGA1700 and the later sockets, HBM3, CAMM by DSP0134 3.8", async () => {
    const t = parseSmbios(desktop.table, desktop.entryPoint);
    expect(processorSocketFromSmbios(t)).toBe("LGA1700");
    // dmidecode 3.4 prints <OUT OF SPEC> for 0x40, so systeminformation has "" there; a newer one agrees with us
    expect(["", "LGA1700"]).toContain((await systeminformationOn(desktop)).socket);
    const names = Object.fromEntries([[0x49, "AM5"], [0x4a, "SP5"], [0x55, "LGA1851"], [0x57, "BGA2833"], [0x58, ""]].map(([c]) => [c, processorSocketFromSmbios(parseSmbios(processor(0, c as number)))]));
    expect(names).toEqual({ 0x49: "AM5", 0x4a: "SP5", 0x55: "LGA1851", 0x57: "BGA2833", 0x58: "" });
    const [hbm3, camm, beyond] = memLayoutFromSmbios(parseSmbios(Buffer.concat([
      dimm(1, { size: 8192, formFactor: 0x10, type: 0x24 }),
      dimm(2, { size: 8192, formFactor: 0x11, type: DDR5 }),
      dimm(3, { size: 8192, formFactor: 0x12, type: 0x25 }),
    ])));
    expect([hbm3!.type, camm!.formFactor, beyond!.type, beyond!.formFactor]).toEqual(["HBM3", "CAMM", "<OUT OF SPEC>", "<OUT OF SPEC>"]);
  });

  it("a table cut inside a structure: the same modules as dmidecode decodes", async () => {
    const cut = desktop.table.indexOf(Buffer.from("DIMM_B1\0", "latin1")) + 3; // inside the 3rd device's strings
    const table = desktop.table.subarray(0, cut);
    const f = { entryPoint: entryPoint3(table.length), table };
    const mine = memLayoutFromSmbios(parseSmbios(table, f.entryPoint));
    expect(mine).toHaveLength(2);
    expect(mine).toStrictEqual((await systeminformationOn(f)).memLayout);
  });

  it("a 2.x structure count smaller than the table: the same modules as dmidecode decodes", async () => {
    const table = desktop.table;
    const f = { entryPoint: entryPoint2(table.length, 4), table }; // bios, array, 2 devices
    const mine = memLayoutFromSmbios(parseSmbios(table, f.entryPoint));
    expect(mine).toHaveLength(2);
    expect(mine).toStrictEqual((await systeminformationOn(f)).memLayout);
  });

  it("no type 17: []", () => {
    expect(memLayoutFromSmbios(parseSmbios(Buffer.concat([bios(0), processor(1, 0x31), endOfTable(2)])))).toEqual([]);
    expect(memLayoutFromSmbios([])).toEqual([]);
  });
});

describe("asset: SMBIOS table walk", () => {
  it("structures with handle, length, formatted area and strings; stops after type 127", () => {
    const t = parseSmbios(Buffer.concat([bios(0), dimm(0x11, { size: 1024, formFactor: DIMM, type: DDR4, locator: "A", bank: "B" }), endOfTable(0xfeff), bios(9)]));
    expect(t.map((s) => [s.type, s.handle, s.length])).toEqual([[0, 0, 24], [17, 0x11, 0x5c], [127, 0xfeff, 4]]);
    expect(t[0]!.strings).toEqual(["American Megatrends Inc.", "1.20", "06/01/2023"]);
    expect(t[1]!.data.length).toBe(0x5c);
    expect(t[1]!.data[0x12]).toBe(DDR4);
    expect(t[2]!.strings).toEqual([]);
  });

  it("bounded by the entry point's table length and (2.x) structure count", () => {
    const table = Buffer.concat([bios(0), bios(1), bios(2)]);
    expect(parseSmbios(table, entryPoint2(table.length, 2))).toHaveLength(2);
    expect(parseSmbios(table, entryPoint3(bios(0).length + 10))).toHaveLength(1);
    expect(parseSmbios(table, Buffer.from("garbage"))).toHaveLength(3);
  });

  it("garbage and truncated input never throws", () => {
    let seed = 42;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
    const eps = [undefined, Buffer.alloc(0), Buffer.from("_SM3_"), Buffer.from("_SM_"), Buffer.from("_DMI_"), entryPoint3(0xffffffff), entryPoint2(0xffff, 0), entryPoint3(0)];
    const whole = Buffer.concat([desktop.table, laptop.table, server.table]);
    const inputs: Buffer[] = [Buffer.alloc(0), Buffer.from([17]), Buffer.from([17, 0x5c, 0, 0]), Buffer.from([17, 2, 0, 0, 0, 0]), Buffer.from([4, 0xff, 1, 0, 0, 0])];
    for (let n = 0; n < 400; n++) inputs.push(Buffer.from(Array.from({ length: rand() * 4 }, rand)));
    for (let cut = 0; cut <= whole.length; cut++) inputs.push(whole.subarray(0, cut));
    for (let cut = 0; cut <= sweep.table.length; cut += 101) inputs.push(sweep.table.subarray(0, cut));
    for (let i = 0; i < 100; i++) {
      const b = Buffer.from(whole);
      for (let k = 0; k < 20; k++) b[(rand() << 8 | rand()) % b.length] = rand();
      inputs.push(b);
    }
    let decoded = 0;
    for (const input of inputs) {
      for (const ep of eps) {
        const t = parseSmbios(input, ep); // a throw anywhere fails the test
        decoded += memLayoutFromSmbios(t).length + processorSocketFromSmbios(t).length;
      }
    }
    expect(decoded).toBeGreaterThan(0);
    // a length byte below 4 ends the walk; so does a string-set without its double NUL
    expect(parseSmbios(Buffer.concat([bios(0), Buffer.from([1, 3, 0, 0, 0, 0]), bios(1)]))).toHaveLength(1);
    expect(parseSmbios(Buffer.concat([bios(0), Buffer.from([1, 4, 0, 0, 65, 0, 66])]))).toHaveLength(1);
  });
});

describe("asset: readSmbios", () => {
  function root(files: Record<string, Buffer>): string {
    const r = mkdtempSync(join(work, "root-"));
    mkdirSync(join(r, "sys/firmware/dmi/tables"), { recursive: true });
    for (const [name, body] of Object.entries(files)) writeFileSync(join(r, "sys/firmware/dmi/tables", name), body);
    return r;
  }

  it("reads the entry point and the table the kernel exposes", async () => {
    for (const [f, version] of [[server, "3.3.0"], [legacy, "2.3"], [sweep, "3.4.0"]] as const) {
      const r = await readSmbios(root({ smbios_entry_point: f.entryPoint, DMI: f.table }));
      expect(r?.version).toBe(version);
      expect(memLayoutFromSmbios(r!.structures)).toStrictEqual(memLayoutFromSmbios(parseSmbios(f.table, f.entryPoint)));
    }
    // the version as dmidecode prints it, with its fix-ups of versions firmware got wrong
    const t = Buffer.concat([endOfTable(0)]);
    for (const [v, expected] of [[[2, 33], "2.3"], [[2, 31], "2.3"], [[2, 51], "2.6"], [[2, 8], "2.8"]] as const) {
      expect((await readSmbios(root({ smbios_entry_point: entryPoint2(t.length, 1, [...v]), DMI: t })))?.version).toBe(expected);
    }
    const mem = memLayoutFromSmbios((await readSmbios(root({ smbios_entry_point: desktop.entryPoint, DMI: desktop.table })))!.structures);
    expect(mem.map((m) => m.size)).toEqual([16 * 1024 ** 3, 0, 16 * 1024 ** 3, 0]);
  });

  it("undefined without a table; a table without an entry point is still read", async () => {
    expect(await readSmbios(join(work, "no-such-root"))).toBeUndefined();
    expect(await readSmbios(root({}))).toBeUndefined();
    expect(await readSmbios(root({ smbios_entry_point: desktop.entryPoint }))).toBeUndefined();
    const dirAsTable = root({ smbios_entry_point: desktop.entryPoint });
    mkdirSync(join(dirAsTable, "sys/firmware/dmi/tables/DMI"));
    expect(await readSmbios(dirAsTable)).toBeUndefined();
    const r = await readSmbios(root({ DMI: desktop.table }));
    expect(r?.version).toBe("");
    expect(memLayoutFromSmbios(r!.structures)).toHaveLength(4);
  });

  it("this machine: undefined or a table (never throws)", async () => {
    const r = await readSmbios();
    if (!existsSync("/sys/firmware/dmi/tables/DMI")) expect(r).toBeUndefined();
    else expect(Array.isArray(r?.structures ?? [])).toBe(true);
  });
});
