/**
 * Linux parsers (no I/O): /proc/self/mountinfo, /proc/partitions, `blkid -p -o export`,
 * `lsblk -J`, and the on-disk signatures that say a volume is encrypted.
 */
import type { EncryptionKind } from "./types.js";

export interface MountEntry {
  mountId: number;
  parentId: number;
  /** "major:minor" of the filesystem's device (0:N for virtual and non-block FUSE filesystems) */
  majorMinor: string;
  root: string;
  mountPoint: string;
  options: string[];
  fsType: string;
  source: string;
  superOptions: string[];
}

/** Undo the octal escapes mountinfo uses for space, tab, newline and backslash. */
export function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** proc(5): `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue` */
export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    const sep = line.indexOf(" - ");
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(" ");
    const right = line.slice(sep + 3).split(" ");
    if (left.length < 6 || right.length < 2) continue;
    const mountId = Number(left[0]);
    const parentId = Number(left[1]);
    if (!Number.isFinite(mountId) || !Number.isFinite(parentId)) continue;
    out.push({
      mountId,
      parentId,
      majorMinor: left[2]!,
      root: unescapeMountField(left[3]!),
      mountPoint: unescapeMountField(left[4]!),
      options: left[5]!.split(","),
      fsType: right[0]!,
      source: unescapeMountField(right[1]!),
      superOptions: (right[2] ?? "").split(",").filter(Boolean),
    });
  }
  return out;
}

export interface PartitionLine {
  major: number;
  minor: number;
  blocks: number;
  name: string;
}

/** /proc/partitions: block devices with a size (detached loop devices are absent). */
export function parseProcPartitions(text: string): PartitionLine[] {
  const out: PartitionLine[] = [];
  for (const line of text.split("\n")) {
    const m = /^\s*(\d+)\s+(\d+)\s+(\d+)\s+(\S+)\s*$/.exec(line);
    if (!m) continue;
    out.push({ major: Number(m[1]), minor: Number(m[2]), blocks: Number(m[3]), name: m[4]! });
  }
  return out;
}

/** `blkid -p -o export DEV`: KEY=value lines (values may be shell-escaped with backslashes). */
export function parseBlkidExport(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const eq = line.indexOf("=");
    if (eq <= 0) continue;
    out[line.slice(0, eq).trim()] = line.slice(eq + 1).replace(/\\(.)/g, "$1");
  }
  return out;
}

export interface LsblkDevice {
  name: string;
  label: string | null;
  fstype: string | null;
  size: number | null;
  serial: string | null;
  vendor: string | null;
  model: string | null;
  rm: boolean | null;
  tran: string | null;
  mountpoint: string | null;
  uuid: string | null;
}

function str(v: unknown): string | null {
  if (typeof v !== "string") return null;
  const t = v.trim();
  return t === "" ? null : t;
}

function boolish(v: unknown): boolean | null {
  if (typeof v === "boolean") return v;
  if (v === "1" || v === 1) return true;
  if (v === "0" || v === 0) return false;
  return null;
}

/**
 * `lsblk -J -b -o NAME,LABEL,FSTYPE,SIZE,SERIAL,VENDOR,MODEL,RM,TRAN,MOUNTPOINT,UUID`, flattened
 * (children included). Old util-linux prints numbers and booleans as strings; both are accepted.
 */
export function parseLsblkJson(text: string): LsblkDevice[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return [];
  }
  const out: LsblkDevice[] = [];
  const walk = (list: unknown): void => {
    if (!Array.isArray(list)) return;
    for (const d of list as Record<string, unknown>[]) {
      if (!d || typeof d !== "object") continue;
      const name = str(d.name);
      if (name) {
        const size = typeof d.size === "number" ? d.size : typeof d.size === "string" && /^\d+$/.test(d.size) ? Number(d.size) : null;
        out.push({
          name,
          label: str(d.label),
          fstype: str(d.fstype),
          size,
          serial: str(d.serial),
          vendor: str(d.vendor),
          model: str(d.model),
          rm: boolish(d.rm),
          tran: str(d.tran),
          mountpoint: str(d.mountpoint),
          uuid: str(d.uuid),
        });
      }
      walk(d.children);
    }
  };
  walk((doc as { blockdevices?: unknown } | null)?.blockdevices);
  return out;
}

const LUKS_MAGIC = Buffer.from([0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe]); // "LUKS\xba\xbe"
const BITLOCKER_SIGNATURE = Buffer.from("-FVE-FS-", "latin1");

/**
 * Recognise an encrypted volume from its first sector(s): LUKS ("LUKS\xba\xbe" at 0, version
 * u16 big-endian at 6) and BitLocker / BitLocker To Go ("-FVE-FS-" at offset 3).
 * Returns null when no known signature is present (which does not prove the volume is plain).
 */
export function detectEncryptionSignature(head: Uint8Array): EncryptionKind {
  const buf = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  if (buf.length >= 8 && buf.subarray(0, 6).equals(LUKS_MAGIC)) {
    const version = buf.readUInt16BE(6);
    return version === 1 ? "luks1" : version === 2 ? "luks2" : "luks";
  }
  if (buf.length >= 11 && buf.subarray(3, 11).equals(BITLOCKER_SIGNATURE)) return "bitlocker";
  return null;
}

/** blkid TYPE (+ VERSION) → encryption kind, or null for a plain filesystem / unknown. */
export function encryptionFromBlkid(type: string | undefined, version?: string): EncryptionKind {
  if (!type) return null;
  if (type === "crypto_LUKS") return version === "1" ? "luks1" : version === "2" ? "luks2" : "luks";
  if (type === "BitLocker") return "bitlocker";
  return null;
}

/**
 * A small glob for device patterns (`/dev/loop*`, `sd[b-z]*`, `/dev/mmcblk?p*`): `*` and `?`
 * never cross a `/`, `**` does, `[...]` is a character class.
 */
export function globToRegExp(glob: string): RegExp {
  let re = "^";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*") {
      if (glob[i + 1] === "*") {
        re += ".*";
        i++;
      } else re += "[^/]*";
    } else if (c === "?") re += "[^/]";
    else if (c === "[") {
      const end = glob.indexOf("]", i + 1);
      if (end < 0) re += "\\[";
      else {
        let body = glob.slice(i + 1, end);
        if (body.startsWith("!")) body = "^" + body.slice(1);
        re += "[" + body.replace(/\\/g, "\\\\") + "]";
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, "\\$&");
  }
  return new RegExp(re + "$");
}

export function matchesAny(patterns: readonly string[], candidates: readonly (string | null | undefined)[]): boolean {
  if (patterns.length === 0) return false;
  const res = patterns.map(globToRegExp);
  return candidates.some((c) => c != null && res.some((r) => r.test(c)));
}

/** Normalise a USB id from sysfs ("0781\n") or elsewhere ("0x0781", 1921) to 4 lowercase hex digits. */
export function normaliseUsbId(v: string | number | null | undefined): string | null {
  if (v == null) return null;
  if (typeof v === "number") return Number.isInteger(v) && v >= 0 && v <= 0xffff ? v.toString(16).padStart(4, "0") : null;
  const m = /^(?:0x)?([0-9a-f]{1,4})\b/i.exec(v.trim());
  return m ? m[1]!.toLowerCase().padStart(4, "0") : null;
}
