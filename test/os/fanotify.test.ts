/**
 * fanotify exec events (agent/os/linux/fanotify.ts) and the executed collector's start sources
 * built on them: the pure decoding of the kernel's event records; live (needs root on the host:
 * CAP_SYS_ADMIN, CI runs as root) an exec carries the pid and an open fd on the executed file,
 * a tmpfs mounted after the start is marked and its programs seen; in a user namespace (no
 * CAP_SYS_ADMIN on the host, as in a container) fanotify is refused and the process event source
 * is used instead. Nothing asserts timing: each live test waits for what it expects.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { readlinkSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runInUserNamespace } from "./userns.js";
import { pino } from "pino";
import { closeQuietly, FanotifyExec, FAN_OPEN_EXEC, FAN_Q_OVERFLOW, parseFanotifyEvents } from "../../agent/os/linux/fanotify.js";
import { execMountPoints, FanotifyStarts } from "../../agent/collectors/executed/event-source.js";
import type { ProcessStart } from "../../agent/collectors/executed/platform.js";
import { removeDir, tempDir } from "../helpers/kyoka.js";
import { Cleanup, sh, waitFor } from "../collectors/media/helpers.js";
import { uniqueProgram } from "../collectors/executed/live-helpers.js";

const log = pino({ level: "silent" });
const work = tempDir("kyoka-fanotify-");
const cleanup = new Cleanup();
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) c.kill("SIGKILL");
  cleanup.all();
  removeDir(work);
});

function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new Error("the fanotify tests need root on the host (CAP_SYS_ADMIN): run them as root, as CI does");
}

/** One fanotify_event_metadata record (little-endian, as on x86/arm). */
function record(mask: number, fd: number, pid: number, vers = 3): Buffer {
  const b = Buffer.alloc(24);
  b.writeUInt32LE(24, 0);
  b[4] = vers;
  b.writeUInt16LE(24, 6);
  b.writeBigUInt64LE(BigInt(mask), 8);
  b.writeInt32LE(fd, 16);
  b.writeInt32LE(pid, 20);
  return b;
}

describe("fanotify event records", () => {
  it("decodes execs (pid, fd), an overflow and other events; a truncated tail is left alone", () => {
    const buf = Buffer.concat([record(FAN_OPEN_EXEC, 7, 1234), record(FAN_Q_OVERFLOW, -1, 0), record(0x20 /* FAN_OPEN */, 9, 55), Buffer.alloc(10)]);
    expect(parseFanotifyEvents(buf)).toEqual([
      { what: "exec", pid: 1234, fd: 7 },
      { what: "overflow" },
      { what: "other", mask: 0x20, fd: 9 },
    ]);
  });

  it("refuses a metadata version it does not know (the layout could differ)", () => {
    expect(() => parseFanotifyEvents(record(FAN_OPEN_EXEC, 7, 1, 4))).toThrow(/version 4/);
  });

  it("marks the filesystems programs run from, not proc/sysfs/cgroup/autofs", () => {
    const mountinfo = [
      "22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw",
      "23 22 0:5 / /proc rw - proc proc rw",
      "24 22 0:6 / /sys rw - sysfs sysfs rw",
      "25 22 0:30 / /tmp rw - tmpfs tmpfs rw",
      "26 24 0:31 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw",
      "27 22 0:32 / /mnt/auto rw - autofs systemd-1 rw",
      "28 22 7:0 / /media/taro/USB\\040STICK rw - vfat /dev/loop0 rw",
    ].join("\n");
    expect(execMountPoints(mountinfo)).toEqual(["/", "/tmp", "/media/taro/USB STICK"]);
  });
});

describe("fanotify (live)", () => {
  it("an exec of a program that exits at once: its pid and an open fd on the very file", async () => {
    requireRoot();
    const fan = await FanotifyExec.open();
    try {
      expect(fan.markMounts(execMountPoints(sh("cat", ["/proc/self/mountinfo"]))).marked).toBeGreaterThan(0);
      const prog = uniqueProgram(join(work, "a"), "quick");
      let target = -1;
      const seen = new Promise<{ pid: number; path: string }>((resolve) => {
        void fan.listen((pid, fd) => {
          let path = "";
          try { path = readlinkSync(`/proc/self/fd/${fd}`); } finally { closeQuietly(fd); }
          if (pid === target && path === prog.path) resolve({ pid, path });
        }, () => undefined, (err) => { throw err; });
      });
      const c = spawn(prog.path, ["0"], { stdio: "ignore" });
      target = c.pid!;
      await once(c, "exit");
      expect(await seen).toEqual({ pid: c.pid, path: prog.path });
    } finally {
      fan.close();
    }
  });

  it("a filesystem mounted after the start is marked: a program run from it that exits at once is seen", async () => {
    requireRoot();
    const starts: ProcessStart[] = [];
    const source = new FanotifyStarts(log);
    await source.start((s) => {
      for (const x of s) { starts.push({ pid: x.pid, ...(x.exe ? { exe: x.exe } : {}) }); x.release?.(); }
    }, (err) => { throw err; });
    try {
      const mnt = join(work, "tmpfs");
      sh("mkdir", ["-p", mnt]);
      cleanup.mount(["-t", "tmpfs", "kyoka-fanotify-test"], mnt);
      const prog = uniqueProgram(join(mnt, "bin"), "from-new-mount");
      // run it until an exec event names it (the mark follows the mount table's change event)
      const ran = new Set<number>();
      const seen = await waitFor("an exec from the new tmpfs", () => {
        const hit = starts.find((s) => s.exe === prog.path && ran.has(s.pid));
        if (!hit) ran.add(spawnSync(prog.path, ["0"]).pid);
        return hit;
      });
      expect(seen.exe).toBe(prog.path);
      cleanup.umount(mnt);
    } finally {
      await source.stop();
    }
  });
});

describe("fanotify unavailable", () => {
  it("in a user namespace (as in a container) fanotify is refused and the process event source runs instead", async () => {
    const script = `
      import { FanotifyExec } from "./agent/os/linux/fanotify.ts";
      import { linuxProcessStarts } from "./agent/collectors/executed/event-source.ts";
      import { pino } from "pino";
      let refused = "";
      try { (await FanotifyExec.open()).close(); } catch (err) { refused = err.message; }
      const source = linuxProcessStarts(pino({ level: "silent" }));
      await source.start(() => undefined, (err) => { throw err; });
      console.log(JSON.stringify({ refused, kind: source.kind }));
      await source.stop();
      process.exit(0);
    `;
    const { code, out, err } = await runInUserNamespace(script);
    expect(err).toBe("");
    expect(code).toBe(0);
    const r = JSON.parse(out) as { refused: string; kind: string };
    expect(r.refused).toMatch(/fanotify_init \(not permitted: needs root\) failed: errno 1/);
    expect(r.kind).toBe("poll");
  }, 60_000);
});
