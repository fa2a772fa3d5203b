/**
 * SocketOwners on a fake /proc: socket inode → owning process, the scan rate limit, and the
 * processes that appeared since the last listing (scanned outside the limit).
 */
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { SocketOwners } from "../../../agent/os/linux/sockets.js";
import { removeDir, tempDir } from "../../helpers/kyoka.js";

const root = tempDir("kyoka-fake-proc-");
afterAll(() => removeDir(root));

function addProcess(pid: number, comm: string, sockets: number[]): void {
  const dir = join(root, String(pid));
  mkdirSync(join(dir, "fd"), { recursive: true });
  writeFileSync(join(dir, "comm"), `${comm}\n`);
  writeFileSync(join(dir, "status"), "Name:\tx\nUid:\t1000\t1000\t1000\t1000\n");
  symlinkSync(`/usr/bin/${comm}`, join(dir, "exe"));
  symlinkSync("/dev/null", join(dir, "fd", "0"));
  sockets.forEach((inode, i) => addSocket(pid, inode, 3 + i));
}

function addSocket(pid: number, inode: number, fd: number): void {
  symlinkSync(`socket:[${inode}]`, join(root, String(pid), "fd", String(fd)));
}

describe("SocketOwners", () => {
  it("finds a new process's socket at once, while an old process's new socket waits for the rate limit", () => {
    writeFileSync(join(root, "passwd"), "alice:x:1000:1000::/home/alice:/bin/sh\n");
    addProcess(100, "browser", [1000]);
    addProcess(101, "idle", []);
    const owners = new SocketOwners({ procRoot: root, passwdPath: join(root, "passwd"), minScanIntervalMs: 3_600_000 });

    // the first lookup is a full scan
    expect(owners.resolve([1000]).get(1000)).toEqual({ pid: 100, process: "browser", exe: "/usr/bin/browser", uid: 1000, user: "alice" });
    expect(owners.stats.fullScans).toBe(1);

    // a process started since: found without waiting for the limit
    addProcess(200, "curl", [2000]);
    expect(owners.resolve([2000]).get(2000)?.pid).toBe(200);
    expect(owners.pending.size).toBe(0);
    expect(owners.stats.fullScans).toBe(1);

    // a new socket of a process listed before: left pending until a scan is allowed
    addSocket(101, 1010, 3);
    expect(owners.resolve([1010]).has(1010)).toBe(false);
    expect([...owners.pending]).toEqual([1010]);
    expect(owners.stats.fullScans).toBe(1);

    // known inodes are answered from the cache
    expect(owners.resolve([1000, 2000]).size).toBe(2);
  });

  it("without a limit, a new socket of a process listed before is found by the next scan", () => {
    const owners = new SocketOwners({ procRoot: root, passwdPath: join(root, "passwd"), minScanIntervalMs: 0 });
    expect(owners.resolve([1000]).get(1000)?.pid).toBe(100);
    addSocket(100, 1001, 9);
    expect(owners.resolve([1001]).get(1001)?.pid).toBe(100);
  });
});
