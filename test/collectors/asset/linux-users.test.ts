/**
 * Logged-in users from utmp (agent/collectors/asset/linux-users.ts): the same user/tty/date/time/ip
 * as systeminformation's users() gives when its `who` reads the same utmp file — the REAL coreutils
 * `who` (behind a fake `who` on PATH that adds the file argument) and a fake procps-style `w` that
 * lists the same sessions, so systeminformation takes its usual path (`LC_ALL=C who --ips`).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import si from "systeminformation";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  formatIpv6, parseUtmp, pidAlive, readLinuxUsers, type SiUser, usersFromUtmp, UTMP_RECORD_SIZE, UtType,
} from "../../../agent/collectors/asset/linux-users.js";
import { shellQuote, withFakeTools } from "../../helpers/fake-tools.js";

const dir = mkdtempSync(join(tmpdir(), "kyoka-utmp-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function utmpFile(records: Buffer[] | Buffer): string {
  const file = join(dir, `utmp-${n++}`);
  writeFileSync(file, Array.isArray(records) ? Buffer.concat(records) : records);
  return file;
}

/** an address of ut_addr_v6: 8 hex digits (IPv4) or 32 (IPv6) */
interface Rec {
  type: number;
  pid?: number;
  line?: string;
  id?: string;
  user?: string;
  host?: string;
  /** login time, ISO string (ut_tv.tv_sec) */
  at?: string;
  usec?: number;
  session?: number;
  exit?: [number, number];
  addr?: string;
}

/** One struct utmp as glibc writes it on 64-bit Linux (<bits/utmp.h>, little-endian). Strings longer than their field are cut (no NUL). */
function utmpRecord(r: Rec): Buffer {
  const b = Buffer.alloc(UTMP_RECORD_SIZE);
  b.writeInt16LE(r.type, 0);
  b.writeInt32LE(r.pid ?? 0, 4);
  Buffer.from(r.line ?? "").copy(b, 8, 0, 32);
  Buffer.from(r.id ?? "").copy(b, 40, 0, 4);
  Buffer.from(r.user ?? "").copy(b, 44, 0, 32);
  Buffer.from(r.host ?? "").copy(b, 76, 0, 256);
  b.writeInt16LE(r.exit?.[0] ?? 0, 332);
  b.writeInt16LE(r.exit?.[1] ?? 0, 334);
  b.writeInt32LE(r.session ?? 0, 336);
  b.writeInt32LE(r.at ? Date.parse(r.at) / 1000 : 0, 340);
  b.writeInt32LE(r.usec ?? 0, 344);
  if (r.addr) Buffer.from(r.addr, "hex").copy(b, 348);
  return b;
}

/** the real coreutils `who`, found before PATH gets the fake one; installed when missing */
let realWho = "";
beforeAll(() => {
  const find = () => spawnSync("sh", ["-c", "command -v who"], { encoding: "utf8" }).stdout.trim();
  realWho = find();
  if (!realWho) {
    execFileSync("apt-get", ["update"], { stdio: "ignore" });
    execFileSync("apt-get", ["install", "-y", "coreutils"], { stdio: "ignore", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
    realWho = find();
  }
  expect(realWho).not.toBe("");
}, 300_000);

/**
 * `who` runs the real one on `file`; `w` prints an uptime line, its header and one row per session
 * in procps' columns (user and tty cut to 8 characters), which is what systeminformation matches
 * who's lines against.
 */
function fakeTools(file: string): Record<string, string> {
  const fmt = shellQuote("%-9.8s%-9.8s%-17.16s%-9s%-7s%-7s%-5s%s\\n");
  return {
    who: `exec ${shellQuote(realWho)} "$@" ${shellQuote(file)}`,
    w: [
      `echo " 08:00:00 up 1 day,  1:00,  3 users,  load average: 0.00, 0.00, 0.00"`,
      `printf ${fmt} USER TTY FROM LOGIN@ IDLE JCPU PCPU WHAT`,
      `LC_ALL=C ${shellQuote(realWho)} ${shellQuote(file)} | while read -r u t rest; do printf ${fmt} "$u" "$t" - 07:00 1.00s 0.01s 0.00s -bash; done`,
    ].join("\n"),
  };
}

/** without the command and the year: systeminformation guesses the year (who prints none), utmp has the real one */
const comparable = (users: SiUser[]) => users.map(({ command: _c, date, ...u }) => ({ ...u, monthDay: date.slice(5) }));

/** systeminformation's users() and usersFromUtmp() on `file`, in time zone `tz`, at `now` (the real time when undefined) */
async function both(file: string, buf: Buffer, tz: string, now?: Date): Promise<{ theirs: SiUser[]; mine: SiUser[] }> {
  return withFakeTools(fakeTools(file), async () => {
    // systeminformation dates who's "Mon day" from new Date(): give it the same now
    if (now) vi.useFakeTimers({ toFake: ["Date"], now });
    try {
      const theirs = (await si.users()) as SiUser[];
      const mine = usersFromUtmp(parseUtmp(buf));
      return { theirs, mine };
    } finally {
      vi.useRealTimers();
    }
  }, { TZ: tz, LC_ALL: "C" });
}

const DEAD_PID = 4_194_305; // above the largest pid_max Linux allows (2^22)
const user32 = "contractor.yamada-taro.012345678"; // 32 bytes: the whole ut_user, no NUL
const longHost = "あ".repeat(86); // 258 bytes: cut at 256, in the middle of a character, no NUL

/** a utmp as a PC keeps it: boot and run level, gettys, closed sessions, and the sessions `who` lists */
const records: Rec[] = [
  { type: UtType.BOOT_TIME, line: "~", id: "~~", user: "reboot", host: "6.1.0-18-amd64", at: "2026-01-10T00:00:00Z" },
  { type: UtType.RUN_LVL, pid: 0x4e35, line: "~", id: "~~", user: "runlevel", host: "6.1.0-18-amd64", at: "2026-01-10T00:00:05Z" },
  { type: UtType.INIT_PROCESS, pid: 610, line: "tty3", id: "tty3", at: "2026-01-10T00:00:06Z" },
  { type: UtType.LOGIN_PROCESS, pid: 611, line: "tty2", id: "tty2", user: "LOGIN", at: "2026-01-10T00:00:07Z" },
  { type: UtType.DEAD_PROCESS, pid: 700, line: "pts/20", id: "s/20", user: "olduser", host: "old.example", exit: [0, 0], at: "2026-01-11T00:00:00Z" },
  { type: UtType.USER_PROCESS, pid: 701, line: "pts/21", id: "s/21", user: "", host: "nobody.example", at: "2026-01-11T00:00:00Z" },
  // listed
  { type: UtType.USER_PROCESS, pid: 1001, line: "tty1", id: "tty1", user: "alice", at: "2026-03-01T00:30:00Z" },
  { type: UtType.USER_PROCESS, pid: 1002, line: "pts/0", id: "ts/0", user: "bob", host: "192.0.2.10", addr: "c000020a", at: "2026-03-05T22:00:00Z" },
  { type: UtType.USER_PROCESS, pid: 1003, line: "pts/1", id: "ts/1", user: "carol", host: "2001:db8::5", addr: "20010db8000000000000000000000005", at: "2025-12-31T23:30:00Z" },
  { type: UtType.USER_PROCESS, pid: 1004, line: ":0", id: ":0", user: "dave", host: ":0", at: "2025-11-20T01:02:00Z" },
  { type: UtType.USER_PROCESS, pid: 1005, line: "pts/2", id: "ts/2", user: "erin", host: "host.example", at: "2024-06-10T06:13:20Z" },
  { type: UtType.USER_PROCESS, pid: 1006, line: "pts/3", id: "ts/3", user: user32, host: "端末01.庁内.example.jp", at: "2026-02-14T12:00:00Z" },
  { type: UtType.USER_PROCESS, pid: 1007, line: "pts/4", id: "ts/4", user: "frank", host: "fe80::1%eth0", addr: "fe800000000000000000000000000001", at: "2026-03-04T15:00:00Z" },
  { type: UtType.USER_PROCESS, pid: 1008, line: "pts/5", id: "ts/5", user: "gina", host: "198.51.100.7", addr: "00000000000000000000ffffc6336407", at: "2025-07-07T07:07:00Z" },
  { type: UtType.USER_PROCESS, pid: 1009, line: "pts/6", id: "ts/6", user: "hank", host: "mosh [4321]", at: "2026-03-05T14:59:00Z" },
  { type: UtType.USER_PROCESS, pid: 1010, line: "pts/7", id: "ts/7", user: "ivan", host: "ws01.example:10.0", addr: "cb007109", at: "2026-03-05T15:00:00Z" },
  { type: UtType.USER_PROCESS, pid: 1011, line: "pts/8", id: "ts/8", user: "jun", host: "2001:db8::1:0:0:1", addr: "20010db8000000000001000000000001", at: "2026-01-15T03:00:00Z" },
  { type: UtType.USER_PROCESS, pid: 1012, line: "pts/9", id: "ts/9", user: "ken", addr: "20010000000000010000000000000001", at: "2026-01-15T03:01:00Z" },
  { type: UtType.USER_PROCESS, pid: 1013, line: "pts/10", id: "s/10", user: "lin", host: "2400:4050::", addr: "24004050000000000000000000000000", at: "2026-01-15T03:02:00Z" },
  { type: UtType.USER_PROCESS, pid: 1014, line: "pts/11", id: "s/11", user: "mai", host: "fd12:3456:789a:1::1", addr: "fd123456789a00010000000000000001", at: "2026-01-15T03:03:00Z" },
  { type: UtType.USER_PROCESS, pid: 1015, line: "pts/12", id: "s/12", user: "nao", host: longHost, at: "2026-01-15T03:04:00Z" },
  { type: UtType.USER_PROCESS, pid: DEAD_PID, line: "pts/13", id: "s/13", user: "oki", at: "2026-01-15T03:05:00Z" },
  { type: UtType.USER_PROCESS, pid: 1017, line: "pts/14", id: "s/14", user: "pat", host: "a(b)c d", at: "2026-01-15T03:06:00Z" },
];
const LISTED = 17;
const buf = Buffer.concat(records.map(utmpRecord));
const file = utmpFile(buf);

// 08:00 in Japan on 6 March = 23:00 UTC on 5 March
const EARLY_MORNING_JST = new Date("2026-03-05T23:00:00Z");

describe("asset: logged-in users from utmp, as systeminformation's users() through the real `who`", () => {
  it("the record layout (type, pid, id, exit, user, host) is the one `who -a` reads", () => {
    const out = execFileSync(realWho, ["-a", file], { encoding: "utf8", env: { ...process.env, LC_ALL: "C", TZ: "UTC" } });
    expect(out).toMatch(/^ +system boot +Jan 10 00:00$/m);
    expect(out).toMatch(/^ +run-level 5 +Jan 10 00:00 +last=S$/m); // pid 'N'<<8 | '5'; who shows "no previous" N as S
    expect(out).toMatch(/^ +tty3 +Jan 10 00:00 +610 id=tty3$/m);
    expect(out).toMatch(/^LOGIN +tty2 +Jan 10 00:00 +611 id=tty2$/m);
    expect(out).toMatch(/^ +pts\/20 +Jan 11 00:00 +700 id=s\/20 +term=0 exit=0$/m);
    expect(out).toMatch(/^bob +\? pts\/0 +Mar  5 22:00 +\? +1002 \(192\.0\.2\.10\)$/m);
    expect(out).toMatch(/^oki +\? pts\/13 +Jan 15 03:05 +\? +4194305$/m);
    const parsed = parseUtmp(buf);
    expect(parsed).toHaveLength(records.length);
    expect(parsed[1]).toMatchObject({ type: UtType.RUN_LVL, pid: 0x4e35, line: "~", id: "~~", user: "runlevel" });
    expect(parsed[4]).toMatchObject({ type: UtType.DEAD_PROCESS, pid: 700, id: "s/20", user: "olduser", host: "old.example", exit: { termination: 0, exit: 0 } });
    expect(parsed[7]).toMatchObject({ type: 7, pid: 1002, line: "pts/0", id: "ts/0", user: "bob", host: "192.0.2.10", tv: { sec: Date.parse("2026-03-05T22:00:00Z") / 1000, usec: 0 }, addrV6: [0xc000020a, 0, 0, 0] });
    expect(Buffer.byteLength(user32)).toBe(32);
    expect(parsed[11]!.user).toBe(user32);
    expect(parsed[20]!.host).toBe(`${"あ".repeat(85)}\uFFFD`); // 256 bytes, the last character cut
  });

  for (const tz of ["Asia/Tokyo", "UTC"]) {
    for (const now of [undefined, EARLY_MORNING_JST]) {
      it(`same user/tty/date/time/ip as systeminformation (TZ=${tz}, now ${now ? now.toISOString() : "real"})`, async () => {
        const { theirs, mine } = await both(file, buf, tz, now);
        expect(theirs).toHaveLength(LISTED); // systeminformation took its `who --ips` path and kept every line
        expect(comparable(mine)).toEqual(comparable(theirs));
        expect(mine.every((u) => u.command === "")).toBe(true);
      });
    }
  }

  it("the values, pinned (TZ=Asia/Tokyo, 08:00 on 6 March 2026): the real year, where systeminformation guesses it", async () => {
    const { theirs, mine } = await both(file, buf, "Asia/Tokyo", EARLY_MORNING_JST);
    expect(comparable(mine)).toEqual(comparable(theirs));
    const row = (u: SiUser) => [u.user, u.tty, u.date, u.time, u.ip].join(" ");
    // systeminformation's guesses, for the record: bob and ivan (today before 09:00 JST) get 2025, erin (2024) gets 2025
    expect(theirs.filter((u) => ["bob", "erin", "ivan"].includes(u.user)).map((u) => u.date)).toEqual(["2025-03-06", "2025-06-10", "2025-03-06"]);
    expect(mine.map(row)).toEqual([
      "alice tty1 2026-03-01 09:30 ",
      "bob pts/0 2026-03-06 07:00 192.0.2.10", // 22:00 UTC on 5 March
      "carol pts/1 2026-01-01 08:30 2001:db8::5",
      "dave :0 2025-11-20 10:02 :0",
      "erin pts/2 2024-06-10 15:13 host.example", // logged in 2024: who prints no year, utmp has it
      `${user32} pts/3 2026-02-14 21:00 端末01.庁内.example.jp`,
      "frank pts/4 2026-03-05 00:00 254.128.0.0", // who --ips prints fe80::1 as the IPv4 of its first 4 bytes
      "gina pts/5 2025-07-07 16:07 198.51.100.7",
      "hank pts/6 2026-03-05 23:59 mosh",
      "ivan pts/7 2026-03-06 00:00 203.0.113.9",
      "jun pts/8 2026-01-15 12:00 2001:db8::1:0:0:1",
      "ken pts/9 2026-01-15 12:01 2001:0:0:1::1",
      "lin pts/10 2026-01-15 12:02 36.0.64.80", // IPv6 whose last 96 bits are zero: IPv4 of the first word
      "mai pts/11 2026-01-15 12:03 fd12:3456:789a:1::1",
      `nao pts/12 2026-01-15 12:04 ${"あ".repeat(85)}\uFFFD`,
      "oki pts/13 2026-01-15 12:05 ",
      "pat pts/14 2026-01-15 12:06 abc",
    ]);
  });

  it("UTC: the same logins on the UTC calendar", async () => {
    const { mine } = await both(file, buf, "UTC", EARLY_MORNING_JST);
    expect(mine.slice(0, 3).map((u) => `${u.date} ${u.time}`)).toEqual(["2026-03-01 00:30", "2026-03-05 22:00", "2025-12-31 23:30"]);
  });

  it("no one logged in: both [] (systeminformation's fallback to plain `who` finds nobody either)", async () => {
    const none = Buffer.concat(records.slice(0, 6).map(utmpRecord)); // boot, run level, getty, login, closed, nameless
    const only = utmpFile(none);
    for (const tz of ["Asia/Tokyo", "UTC"]) {
      const { theirs, mine } = await both(only, none, tz);
      expect(theirs).toEqual([]);
      expect(mine).toEqual([]);
    }
  });
});

describe("asset: utmp reading", () => {
  it("parseUtmp ignores a trailing partial record and never throws", () => {
    expect(parseUtmp(Buffer.alloc(0))).toEqual([]);
    expect(parseUtmp(buf.subarray(0, UTMP_RECORD_SIZE * 2 + 100))).toHaveLength(2);
    expect(parseUtmp(buf.subarray(0, UTMP_RECORD_SIZE - 1))).toEqual([]);
    expect(parseUtmp(new Uint8Array(buf.subarray(UTMP_RECORD_SIZE * 7, UTMP_RECORD_SIZE * 8)))[0]!.user).toBe("bob");
    let seed = 7;
    const noise = Buffer.alloc(UTMP_RECORD_SIZE * 50 + 17).map(() => (seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff) >> 16);
    expect(() => usersFromUtmp(parseUtmp(noise))).not.toThrow();
    expect(parseUtmp(noise)).toHaveLength(50);
  });

  it("readLinuxUsers: [] without the file; the complete records of a truncated one; rejects on other errors", async () => {
    expect(await readLinuxUsers(join(dir, "no-such-utmp"))).toEqual([]);
    const cut = utmpFile(buf.subarray(0, UTMP_RECORD_SIZE * 9 + 200)); // up to carol, plus part of dave
    const tz = process.env.TZ;
    process.env.TZ = "UTC";
    const users = await readLinuxUsers(cut).finally(() => (tz === undefined ? delete process.env.TZ : (process.env.TZ = tz)));
    expect(users.map((u) => u.user)).toEqual(["alice", "bob", "carol"]);
    expect(users[1]).toEqual({ user: "bob", tty: "pts/0", date: users[1]!.date, time: "22:00", ip: "192.0.2.10", command: "" });
    mkdirSync(join(dir, "a-directory"));
    await expect(readLinuxUsers(join(dir, "a-directory"))).rejects.toThrow(/EISDIR/);
  });

  it("entries whose process is gone: skipped on the live file (as `who` without a file), kept for another file (as `who FILE`)", async () => {
    const f = utmpFile([
      utmpRecord({ type: UtType.USER_PROCESS, pid: process.pid, line: "pts/0", user: "alive", at: "2026-01-01T00:00:00Z" }),
      utmpRecord({ type: UtType.USER_PROCESS, pid: DEAD_PID, line: "pts/1", user: "stale", at: "2026-01-01T00:00:00Z" }),
      utmpRecord({ type: UtType.USER_PROCESS, pid: 0, line: "pts/2", user: "nopid", at: "2026-01-01T00:00:00Z" }),
    ]);
    expect(pidAlive(process.pid)).toBe(true);
    expect(pidAlive(DEAD_PID)).toBe(false);
    expect((await readLinuxUsers(f)).map((u) => u.user)).toEqual(["alive", "stale", "nopid"]);
    expect((await readLinuxUsers(f, { checkPids: true })).map((u) => u.user)).toEqual(["alive", "nopid"]);
    expect(usersFromUtmp(parseUtmp(buf), { isAlive: (pid) => pid !== 1002 }).map((u) => u.user)).not.toContain("bob");
  });

  it("formatIpv6 compresses like inet_ntop (first longest run of two or more zero groups)", () => {
    expect(formatIpv6([0x20010db8, 0, 0, 5])).toBe("2001:db8::5");
    expect(formatIpv6([0x20010db8, 0, 0x10000, 1])).toBe("2001:db8::1:0:0:1");
    expect(formatIpv6([0x20010db8, 0x10000, 1, 0])).toBe("2001:db8:1::1:0:0"); // two runs of 2: the first
    expect(formatIpv6([0x20010db8, 0x10001, 0x10001, 0x10001])).toBe("2001:db8:1:1:1:1:1:1");
    expect(formatIpv6([0x20010000, 0x1, 0, 0])).toBe("2001:0:0:1::");
    expect(formatIpv6([0, 0, 0xffff, 0xc0000201])).toBe("::ffff:192.0.2.1");
    expect(formatIpv6([0, 0, 0, 1])).toBe("::1");
    // the WHATWG URL serializer follows the same rule for addresses not starting with a zero group
    let seed = 11;
    const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff) >> 15;
    for (let i = 0; i < 500; i++) {
      const g = Array.from({ length: 8 }, (_, k) => (k === 0 ? 0x2000 + (rnd() & 0xfff) : rnd() % 3 === 0 ? rnd() & 0xffff : 0));
      const words = [0, 1, 2, 3].map((k) => ((g[2 * k]! << 16) | g[2 * k + 1]!) >>> 0) as [number, number, number, number];
      expect(formatIpv6(words)).toBe(new URL(`http://[${g.map((x) => x.toString(16)).join(":")}]/`).hostname.slice(1, -1));
    }
  });
});
