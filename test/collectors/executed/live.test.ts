/**
 * The executed collector on this machine (real /proc, real dpkg, a real loop-mounted ext4
 * medium): a program copied into a home folder and onto a medium is reported once with its
 * SHA-256 and medium; a second run is counted, not reported; a program of an installed .deb, a
 * trusted folder and the agent's own node are not reported; a file over the hashing limit is
 * reported with the reason; a prohibited hash with `terminate` is killed.
 * Needs root (dpkg -i, losetup, mount): fails, not skips, without.
 */
import { readdirSync, readlinkSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExecutedCollector } from "../../../agent/collectors/executed/index.js";
import { LinuxExecutedPlatform } from "../../../agent/collectors/executed/linux.js";
import { dpkg, requireRoot, uniquePackageName } from "../../helpers/dpkg.js";
import { recordingContext, type RecordingContext } from "../../helpers/collector-context.js";
import { removeDir, tempDir } from "../../helpers/kyoka.js";
import { Cleanup, ensureTools, loopOf, sh, waitFor } from "../media/helpers.js";
import { buildProgramDeb, copyProgram, runProgram, uniqueProgram } from "./live-helpers.js";
import type { ChildProcess } from "node:child_process";

const work = tempDir("kyoka-executed-live-");
const home = join(work, "home", "taro");
const cleanup = new Cleanup();
const children: ChildProcess[] = [];
const packages: string[] = [];
let ctx: RecordingContext;
let collector: ExecutedCollector;

const executed = () => ctx.events.filter((e) => e.type === "software.executed");
const eventsFor = (path: string) => executed().filter((e) => e.details.path === path);
const run = (path: string, args?: string[]) => {
  const c = runProgram(path, args);
  children.push(c);
  return c;
};
/** Wait for the event of a marker program started after `what`: the collector looks at starts in order, so everything before it was looked at. */
async function settle(name: string): Promise<void> {
  const marker = uniqueProgram(join(work, "markers"), name);
  const child = run(marker.path);
  await waitFor(`the marker ${name}`, () => eventsFor(marker.path)[0]);
  child.kill("SIGKILL");
  await collector.drained();
}

const POLICY = { media: { treatAsRemovable: ["/dev/loop*"] }, software: { executed: { trustedPaths: [`${work}/trusted/*`] } } };

beforeAll(async () => {
  requireRoot("the live executed collector test");
  ensureTools();
  ctx = recordingContext(POLICY);
  collector = new ExecutedCollector({ platform: new LinuxExecutedPlatform({ log: ctx.log }), terminateGraceMs: 1000 });
  await collector.start(ctx);
}, 60_000);

afterAll(async () => {
  for (const c of children) c.kill("SIGKILL");
  await collector?.stop();
  cleanup.all();
  for (const p of packages) await dpkg(["--purge", p]).catch(() => undefined);
  removeDir(work);
}, 60_000);

describe("executed collector, live", () => {
  it("a program copied into a home folder: one software.executed with its SHA-256, user and parent; a second run is counted", async () => {
    const prog = uniqueProgram(join(home, "Downloads"), "portable-tool");
    const child = run(prog.path);
    const ev = await waitFor("software.executed of the copied program", () => eventsFor(prog.path)[0]);
    expect(ev.details).toMatchObject({
      path: prog.path, name: "portable-tool", sha256: prog.sha256, format: "elf", pid: child.pid, user: "root", uid: 0,
      parent: { pid: process.pid, exe: process.execPath }, medium: null,
    });
    expect(ev.details.size).toBeGreaterThan(1000);
    expect(ctx.failures).toEqual([]);

    // the same bytes again, from the same path and from another: counted, not reported
    const again = run(prog.path);
    const copy = copyProgram(prog.path, join(home, "Desktop-copy"));
    run(copy);
    await settle("after-second-run");
    expect(eventsFor(prog.path)).toHaveLength(1);
    expect(eventsFor(copy)).toHaveLength(0);
    expect(collector.counts()[prog.sha256]).toMatchObject({ count: 3, path: prog.path });
    // the counts are in the collector's state (a restart does not report it again)
    await collector.stop();
    const before = ctx.events.length;
    await collector.start(ctx);
    expect((ctx.state.get<Record<string, { count: number }>>("seen") ?? {})[prog.sha256]?.count).toBe(3);
    run(prog.path);
    await settle("after-restart");
    expect(eventsFor(prog.path)).toHaveLength(1);
    expect(ctx.events.slice(before).filter((e) => e.details.sha256 === prog.sha256)).toEqual([]);
    child.kill("SIGKILL");
    again.kill("SIGKILL");
  }, 60_000);

  it("a program that exits at once is still seen, named and hashed from fanotify's fd (needs root on the host, Linux ≥ 5.1)", async () => {
    expect(collector.sourceKind).toBe("fanotify");
    const prog = uniqueProgram(join(home, "Downloads"), "quick-tool");
    // sleep 0: it has exited (and been reaped by this process) before anything could read /proc
    const child = run(prog.path, ["0"]);
    await new Promise((r) => child.once("exit", r));
    const ev = await waitFor("software.executed of the short-lived program", () => eventsFor(prog.path)[0]);
    expect(ev.details).toMatchObject({ path: prog.path, sha256: prog.sha256, pid: child.pid });
  }, 60_000);

  it("a program deleted as soon as it ran: the executed bytes are still hashed (the event's fd)", async () => {
    const prog = uniqueProgram(join(home, "Downloads"), "self-deleting");
    const child = run(prog.path, ["0"]);
    await new Promise((r) => child.once("exit", r));
    rmSync(prog.path);
    const ev = await waitFor("software.executed of the deleted program", () => eventsFor(prog.path)[0]);
    expect(ev.details).toMatchObject({ path: prog.path, sha256: prog.sha256, pid: child.pid });
  }, 60_000);

  it("no event fd is left open after the starts were looked at", async () => {
    await settle("fd-check");
    const eventFds = readdirSync("/proc/self/fd").filter((fd) => {
      try { return /\/(quick-tool|self-deleting|portable-tool|sleep|ld-linux[^/]*)( \(deleted\))?$/.test(readlinkSync(`/proc/self/fd/${fd}`)); } catch { return false; }
    });
    expect(eventFds).toEqual([]);
  }, 60_000);

  it("a program on a loop-mounted ext4 medium: the event links the medium (device, volume serial, mount)", async () => {
    const image = join(work, "stick.img");
    sh("truncate", ["-s", "16M", image]);
    sh("mkfs.ext4", ["-q", "-F", "-L", "KYOKASTICK", image]);
    const dev = cleanup.losetup(image);
    const mnt = join(work, "mnt");
    sh("mkdir", ["-p", mnt]);
    cleanup.mount([dev], mnt);
    const uuid = sh("blkid", ["-s", "UUID", "-o", "value", dev]).trim();
    const prog = uniqueProgram(join(mnt, "bin"), "from-stick");
    const child = run(prog.path);
    const ev = await waitFor("software.executed of the program on the medium", () => eventsFor(prog.path)[0]);
    expect(ev.details).toMatchObject({
      path: prog.path, sha256: prog.sha256,
      medium: { device: dev, mount: mnt, serial: uuid, serialSource: "volume", label: "KYOKASTICK" },
    });
    expect(loopOf(image)).toBe(dev);
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    cleanup.umount(mnt);
    cleanup.detach(dev);
  }, 60_000);

  it("a program of a .deb installed after the collector started, a trusted folder, node: nothing", async () => {
    const name = uniquePackageName("kyoka-exec");
    const pkg = buildProgramDeb(work, name);
    await dpkg(["-i", pkg.deb]);
    packages.push(name);
    const packaged = run(pkg.installedPath);
    // programs of the OS's own packages, listed by dpkg under /bin (merged /usr: they run as /usr/bin/…)
    run("/bin/sleep", ["0"]);
    run("/bin/sh", ["-c", "exit 0"]);
    const trusted = uniqueProgram(join(work, "trusted", "tools"), "site-tool");
    run(trusted.path);
    const builds = collector.stats.indexBuilds;
    await settle("after-packaged");
    expect(eventsFor(pkg.installedPath)).toEqual([]);
    expect(executed().filter((e) => e.details.sha256 === pkg.sha256)).toEqual([]);
    expect(eventsFor(trusted.path)).toEqual([]);
    expect(executed().filter((e) => e.details.path === process.execPath)).toEqual([]);
    expect(executed().filter((e) => /^\/(usr\/)?s?bin\/(sleep|dash|sh|bash)$/.test(String(e.details.path)))).toEqual([]);
    // the index followed dpkg (the package is newer than the index built at start)
    expect(collector.stats.indexBuilds).toBeGreaterThanOrEqual(builds);
    expect(collector.stats.indexBuilds).toBeGreaterThan(1);
    packaged.kill("SIGKILL");
  }, 120_000);

  it("a file over the hashing limit: reported with the reason instead of a hash", async () => {
    ctx.setPolicy({ ...POLICY, software: { executed: { ...POLICY.software.executed, hashMaxBytes: 4096 } } });
    const prog = uniqueProgram(join(home, "big"), "too-big");
    const child = run(prog.path);
    const ev = await waitFor("software.executed of the big program", () => eventsFor(prog.path)[0]);
    expect(ev.details).toMatchObject({ path: prog.path, sha256: null, hashError: "too_large" });
    expect(ev.details.size).toBeGreaterThan(4096);
    ctx.setPolicy(POLICY);
    child.kill("SIGKILL");
  }, 60_000);

  it("a prohibited hash with response terminate: the process is gone and the event says so", async () => {
    const prog = uniqueProgram(join(home, "Downloads"), "prohibited-tool");
    ctx.setPolicy({ ...POLICY, software: { executed: { ...POLICY.software.executed, response: "terminate", prohibited: [{ sha256: prog.sha256.toUpperCase(), reason: "test: banned" }] } } });
    const child = run(prog.path);
    const exited = new Promise<NodeJS.Signals | null>((r) => child.once("exit", (_c, sig) => r(sig)));
    const ev = await waitFor("software.executed of the prohibited program", () => eventsFor(prog.path)[0]);
    expect(ev.details).toMatchObject({ sha256: prog.sha256, response: "terminated", signal: "SIGTERM", prohibited: { by: ["sha256"], reason: "test: banned" } });
    expect(await exited).toBe("SIGTERM");
    // it is killed at every run, and each kill is recorded
    const second = run(prog.path);
    const exited2 = new Promise<NodeJS.Signals | null>((r) => second.once("exit", (_c, sig) => r(sig)));
    await waitFor("the second kill", () => eventsFor(prog.path).length === 2);
    expect(await exited2).toBe("SIGTERM");
    ctx.setPolicy(POLICY);
  }, 60_000);
});

