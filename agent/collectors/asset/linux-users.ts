/**
 * Logged-in users on Linux, read from the utmp file (/var/run/utmp) — the file `who` reads —
 * instead of systeminformation's users(), which runs `who --ips` and `w` through a shell (and,
 * when that lists nobody, `who` and `w` again): up to 8 processes per snapshot. One file read here.
 *
 * The result has the shape and the values of systeminformation's users() on Linux, which takes
 * them from the lines `LC_ALL=C who --ips` prints (`w` only decides which lines are kept, and
 * gives `command`):
 *
 * - `user`, `tty`: ut_user, ut_line (NUL-terminated or the whole field, decoded as UTF-8).
 * - `date`, `time`: ut_tv.tv_sec in the local time zone (process.env.TZ, else /etc/localtime — as
 *   for `who`), "YYYY-MM-DD" and "HH:MM". One deliberate difference: in the C locale `who` prints
 *   "Jun 10 06:14", without the year, and systeminformation guesses it (this year, or last year
 *   when that date read as UTC midnight is later than now) — so a login from an earlier year, or
 *   one made today between 00:00 and 09:00 in Japan, gets the wrong year there. utmp holds the
 *   whole time, so the year here is the real one; month, day and time are the same as theirs.
 * - `ip`: what `who --ips` prints after the time, parentheses removed, up to the first space:
 *   the address in ut_addr_v6 when it is not all zero, else ut_host ("" when there is none).
 *   `who --ips` (Debian's patch, coreutils 9.1) decides IPv4 or IPv6 from the address alone:
 *   IPv6 only when the first 16 bits are in 2000::/3, fc00::/7 or fec0::/10 and the last 96 bits
 *   are not all zero; ::ffff:a.b.c.d gives a.b.c.d; any other address with a zero first word gives
 *   0.0.0.0; everything else is printed as the IPv4 address of the first 4 bytes (so fe80::1 is
 *   "254.128.0.0"). Host names are never looked up.
 * - `command`: always "". systeminformation takes it from `w` (the WHAT column); the inventory
 *   does not keep it, and finding it needs /proc walks per session.
 *
 * Deliberate differences from systeminformation, none on an ordinary PC:
 * - a user or tty name containing a space (utmp allows it, login names do not) is kept whole;
 *   systeminformation splits who's line at spaces, so every later field shifts;
 * - it keeps only the sessions `w` lists under the same tty and the same first 8 characters of
 *   the user name, and not shared by two sessions. procps `w` (4.0.2) cuts the tty to 8
 *   characters, so a tty name longer than 8 is lost, and leaves out users unknown to the system
 *   (getpwnam fails). Every USER_PROCESS entry `who` lists is kept here;
 * - when `w` lists none of them (procps not installed, or only such sessions), it runs plain
 *   `who` without LC_ALL=C instead: host names instead of addresses, and in a locale such as
 *   C.UTF-8 ISO dates, where an IPv6 or X-display host lands in `time`. Not reproduced.
 * Like `who` without a file argument, readLinuxUsers() on the live file skips entries whose process
 * no longer exists (stale entries left by a crashed login); `who FILE` does not, nor does
 * usersFromUtmp() unless given `isAlive`.
 *
 * On systems that keep no utmp (containers; distributions whose systemd no longer writes it,
 * where newer coreutils ask systemd-logind instead) there is no file and the result is [].
 * This module does not log.
 */
import { readFile } from "node:fs/promises";
import { endianness } from "node:os";

/** glibc's _PATH_UTMP (/run/utmp through the /var/run symlink): what `who` reads without a file argument */
export const UTMP_FILE = "/var/run/utmp";

/** sizeof(struct utmp) on Linux, 64-bit and 32-bit alike (glibc <bits/utmp.h>) */
export const UTMP_RECORD_SIZE = 384;

/** ut_type values (utmp(5)) */
export const UtType = {
  EMPTY: 0,
  RUN_LVL: 1,
  BOOT_TIME: 2,
  NEW_TIME: 3,
  OLD_TIME: 4,
  INIT_PROCESS: 5,
  LOGIN_PROCESS: 6,
  USER_PROCESS: 7,
  DEAD_PROCESS: 8,
  ACCOUNTING: 9,
} as const;

/** One struct utmp. Strings are the fixed fields up to the first NUL (or whole), as UTF-8. */
export interface UtmpRecord {
  /** ut_type (see UtType) */
  type: number;
  pid: number;
  /** ut_line: the tty without "/dev/" ("pts/0", "tty1", ":0") */
  line: string;
  /** ut_id: the inittab id / tty suffix (4 bytes) */
  id: string;
  user: string;
  host: string;
  /** ut_exit: e_termination, e_exit (DEAD_PROCESS) */
  exit: { termination: number; exit: number };
  session: number;
  /** ut_tv: seconds since the epoch (signed 32-bit) and microseconds */
  tv: { sec: number; usec: number };
  /** ut_addr_v6 as four unsigned 32-bit words in network byte order (an IPv4 address is word 0) */
  addrV6: [number, number, number, number];
}

/** One entry of systeminformation's users() on Linux. */
export interface SiUser {
  user: string;
  tty: string;
  /** "YYYY-MM-DD", local time (the real year: see the module comment) */
  date: string;
  /** "HH:MM", local time */
  time: string;
  ip: string;
  /** always "" (systeminformation takes it from `w`) */
  command: string;
}

export interface UsersOptions {
  /** when given, a USER_PROCESS entry with pid > 0 for which this returns false is skipped (as `who` does on the live file) */
  isAlive?: (pid: number) => boolean;
}

export interface ReadUsersOptions extends UsersOptions {
  /** skip entries whose process is gone (default: true for the live file UTMP_FILE, false for another file — as `who`) */
  checkPids?: boolean;
}

// struct utmp offsets (glibc <bits/utmp.h>, Linux)
const OFF_TYPE = 0; // short, then 2 bytes of padding
const OFF_PID = 4;
const OFF_LINE = 8; // char[32]
const OFF_ID = 40; // char[4]
const OFF_USER = 44; // char[32]
const OFF_HOST = 76; // char[256]
const OFF_EXIT = 332; // short e_termination, short e_exit
const OFF_SESSION = 336;
const OFF_TV = 340; // int32 tv_sec, int32 tv_usec
const OFF_ADDR = 348; // int32[4], network byte order
const LINE_SIZE = 32;
const ID_SIZE = 4;
const USER_SIZE = 32;
const HOST_SIZE = 256;

/** the file is in the machine's byte order */
const LE = endianness() === "LE";

/** A fixed-size char field: up to the first NUL, or all of it; UTF-8 (invalid bytes become U+FFFD). */
function field(buf: Buffer, offset: number, size: number): string {
  const end = buf.subarray(offset, offset + size).indexOf(0);
  return buf.toString("utf8", offset, end === -1 ? offset + size : offset + end);
}

/** The complete records of a utmp file's contents; a trailing partial record is ignored. Never throws. */
export function parseUtmp(data: Buffer | Uint8Array): UtmpRecord[] {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const i16 = (o: number) => (LE ? buf.readInt16LE(o) : buf.readInt16BE(o));
  const i32 = (o: number) => (LE ? buf.readInt32LE(o) : buf.readInt32BE(o));
  const records: UtmpRecord[] = [];
  for (let o = 0; o + UTMP_RECORD_SIZE <= buf.length; o += UTMP_RECORD_SIZE) {
    records.push({
      type: i16(o + OFF_TYPE),
      pid: i32(o + OFF_PID),
      line: field(buf, o + OFF_LINE, LINE_SIZE),
      id: field(buf, o + OFF_ID, ID_SIZE),
      user: field(buf, o + OFF_USER, USER_SIZE),
      host: field(buf, o + OFF_HOST, HOST_SIZE),
      exit: { termination: i16(o + OFF_EXIT), exit: i16(o + OFF_EXIT + 2) },
      session: i32(o + OFF_SESSION),
      tv: { sec: i32(o + OFF_TV), usec: i32(o + OFF_TV + 4) },
      addrV6: [0, 1, 2, 3].map((k) => buf.readUInt32BE(o + OFF_ADDR + 4 * k)) as UtmpRecord["addrV6"],
    });
  }
  return records;
}

const ipv4 = (w: number): string => `${w >>> 24}.${(w >>> 16) & 255}.${(w >>> 8) & 255}.${w & 255}`;

/** inet_ntop(AF_INET6) as glibc formats it: lower-case hex, the first longest run of ≥ 2 zero groups as "::". */
export function formatIpv6(words: readonly [number, number, number, number]): string {
  const groups = words.flatMap((w) => [w >>> 16, w & 0xffff]);
  let best = { base: -1, len: 0 };
  let cur = { base: -1, len: 0 };
  groups.forEach((g, i) => {
    if (g === 0) cur = cur.base === -1 ? { base: i, len: 1 } : { base: cur.base, len: cur.len + 1 };
    else cur = { base: -1, len: 0 };
    if (cur.base !== -1 && cur.len > best.len) best = cur;
  });
  if (best.len < 2) best = { base: -1, len: 0 };
  let out = "";
  for (let i = 0; i < 8; i++) {
    if (best.base !== -1 && i >= best.base && i < best.base + best.len) {
      if (i === best.base) out += ":";
      continue;
    }
    if (i !== 0) out += ":";
    // ::a.b.c.d and ::ffff:a.b.c.d keep the IPv4 notation
    if (i === 6 && best.base === 0 && (best.len === 6 || (best.len === 5 && groups[5] === 0xffff))) {
      out += ipv4(words[3]);
      break;
    }
    out += groups[i]!.toString(16);
  }
  if (best.base !== -1 && best.base + best.len === 8) out += ":";
  return out;
}

/**
 * The address `who --ips` prints for ut_addr_v6, or undefined when it is all zero (then `who`
 * prints the host name). Its rules, checked against coreutils 9.1 (Debian): see the module comment.
 */
export function whoIpsAddress(addr: readonly [number, number, number, number]): string | undefined {
  const [w0, w1, w2, w3] = addr;
  if (w0 === 0 && w1 === 0 && w2 === 0 && w3 === 0) return undefined;
  if (w0 === 0) return ipv4(w1 === 0 && w2 === 0x0000ffff ? w3 : 0);
  const top = w0 >>> 16;
  const ipv6Prefix = (top >= 0x2000 && top <= 0x3fff) || (top >= 0xfc00 && top <= 0xfdff) || (top >= 0xfec0 && top <= 0xfeff);
  return ipv6Prefix && (w1 !== 0 || w2 !== 0 || w3 !== 0) ? formatIpv6(addr) : ipv4(w0);
}

const pad2 = (n: number): string => String(n).padStart(2, "0");

/** The login's local date, "YYYY-MM-DD". */
function localDate(login: Date): string {
  return `${login.getFullYear()}-${pad2(login.getMonth() + 1)}-${pad2(login.getDate())}`;
}

/**
 * The USER_PROCESS entries (with a user name, as `who` requires), in file order, as
 * systeminformation's users() reports them on Linux (see the module comment). Pure apart from
 * the local time zone; never throws.
 */
export function usersFromUtmp(records: readonly UtmpRecord[], opts: UsersOptions = {}): SiUser[] {
  const users: SiUser[] = [];
  for (const r of records) {
    if (r.type !== UtType.USER_PROCESS || r.user === "") continue;
    if (opts.isAlive && r.pid > 0 && !opts.isAlive(r.pid)) continue;
    const login = new Date(r.tv.sec * 1000); // a signed 32-bit tv_sec is always inside Date's range
    const comment = whoIpsAddress(r.addrV6) ?? r.host;
    users.push({
      user: r.user,
      tty: r.line,
      date: localDate(login),
      time: `${pad2(login.getHours())}:${pad2(login.getMinutes())}`,
      // systeminformation splits who's line at spaces and strips every parenthesis from the word
      // after the time: a host with a space is cut there (mosh's "mosh [1234]" gives "mosh")
      ip: comment.split(/ +/)[0]!.replace(/[()]/g, ""),
      command: "",
    });
  }
  return users;
}

/** kill(pid, 0): false only when there is no such process (EPERM means it exists). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== "ESRCH";
  }
}

/**
 * The logged-in users from `file` (default: the live utmp), as systeminformation's users().
 * [] when the file does not exist; rejects on any other read error (permissions, EISDIR, …).
 */
export async function readLinuxUsers(file: string = UTMP_FILE, opts: ReadUsersOptions = {}): Promise<SiUser[]> {
  let data: Buffer;
  try {
    data = await readFile(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw e;
  }
  const checkPids = opts.checkPids ?? file === UTMP_FILE;
  return usersFromUtmp(parseUtmp(data), { isAlive: opts.isAlive ?? (checkPids ? pidAlive : undefined) });
}
