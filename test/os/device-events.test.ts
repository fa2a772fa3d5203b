/**
 * Device and mount events on the live machine (root: loop devices and mounts): kernel uevents
 * over netlink for a real loop device, poll(2) on /proc/self/mountinfo for a real mount, the media
 * collector told by them with its poll slowed to an hour, and the fallback (no event source) where
 * the poll still reports the medium. Each test waits for what it expects (bounded by the test
 * timeout); nothing asserts timing.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MediaCollector } from "../../agent/collectors/media/collector.js";
import { LinuxMediaReader } from "../../agent/collectors/media/linux.js";
import { watchMounts } from "../../agent/os/linux/mount-watch.js";
import { parseUevent, watchUevents, type Uevent } from "../../agent/os/linux/uevents.js";
import { Cleanup, ensureTools, fakeContext, sh, waitFor } from "../collectors/media/helpers.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const cleanup = new Cleanup();
let tmp = "";

function makeExt4(name: string): string {
  const img = join(tmp, `${name}.img`);
  sh("truncate", ["-s", "16M", img]);
  sh("mkfs.ext4", ["-q", "-F", "-L", name.toUpperCase().slice(0, 15), img]);
  return img;
}

beforeAll(() => {
  ensureTools();
  tmp = mkdtempSync(join(tmpdir(), "kyoka-devev-"));
});
afterAll(() => {
  cleanup.all();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe("kernel uevents (live)", () => {
  it("a real loop device attached → a block uevent naming it", async () => {
    const seen: Uevent[] = [];
    const stop = await watchUevents((e) => seen.push(e), () => undefined);
    try {
      const dev = cleanup.losetup(makeExt4("ueventa"));
      const name = dev.replace("/dev/", "");
      const ev = await waitFor(`a block uevent for ${name}`, () => seen.find((e) => e.subsystem === "block" && e.devname === name));
      expect(["add", "change"]).toContain(ev.action);
      expect(ev.devpath).toContain(`/block/${name}`);
    } finally {
      stop();
    }
  });

  it("decodes a kernel uevent and ignores libudev's re-broadcasts and junk", () => {
    const msg = Buffer.from("add@/devices/virtual/block/loop7\0ACTION=add\0DEVPATH=/devices/virtual/block/loop7\0SUBSYSTEM=block\0DEVNAME=loop7\0DEVTYPE=disk\0SEQNUM=4242\0");
    expect(parseUevent(msg)).toEqual({ action: "add", devpath: "/devices/virtual/block/loop7", subsystem: "block", devname: "loop7", devtype: "disk" });
    expect(parseUevent(Buffer.from("libudev\0\xfe\xed\xca\xfe"))).toBeUndefined();
    expect(parseUevent(Buffer.from("garbage"))).toBeUndefined();
    expect(parseUevent(Buffer.alloc(0))).toBeUndefined();
  });
});

describe("mount table events (live)", () => {
  it("a real mount and unmount each wake the watcher", async () => {
    let changes = 0;
    const errors: Error[] = [];
    const stop = await watchMounts(() => { changes++; }, (e) => errors.push(e));
    try {
      const dir = join(tmp, "tmpfs");
      mkdirSync(dir, { recursive: true });
      cleanup.mount(["-t", "tmpfs", "kyoka-test"], dir);
      await waitFor("a change after mount", () => changes >= 1);
      const after = changes;
      cleanup.umount(dir);
      await waitFor("a change after umount", () => changes > after);
      expect(errors).toEqual([]);
    } finally {
      stop();
    }
  });
});

describe("media collector on device and mount events (live)", () => {
  const policy = (pollSeconds: number) => ({ media: { treatAsRemovable: ["/dev/loop*"], pollSeconds, scan: { enabled: false } } });

  async function insertAndRemove(c: MediaCollector, ctx: ReturnType<typeof fakeContext>, name: string): Promise<void> {
    const img = makeExt4(name);
    const dir = join(tmp, name);
    mkdirSync(dir, { recursive: true });
    cleanup.mount(["-o", "loop", img], dir);
    const inserted = await waitFor(`media.inserted for ${dir}`, () => ctx.events.find((e) => e.type === "media.inserted" && e.details.mount === dir));
    expect(inserted.details).toMatchObject({ fsType: "ext4", label: name.toUpperCase() });
    cleanup.umount(dir);
    await waitFor("media.removed", () => ctx.events.find((e) => e.type === "media.removed" && e.details.device === inserted.details.device));
    expect(ctx.failures).toEqual([]);
  }

  it("with the poll an hour apart, a medium mounted and unmounted after start is reported through the events", async () => {
    const reader = new LinuxMediaReader();
    const ctx = fakeContext(policy(3600));
    const c = new MediaCollector({ reader, settleMs: 500, safetyPollMs: 3_600_000 });
    await c.start(ctx);
    try {
      await waitFor("both event sources", () => reader.live().has("uevent") && reader.live().has("mountinfo"));
      await insertAndRemove(c, ctx, "evmedium");
    } finally {
      await c.stop();
    }
    expect(reader.live().size).toBe(0);
  });

  it("without event sources (unavailable) the poll still reports the medium", async () => {
    const reader = new LinuxMediaReader();
    (reader as { watch?: unknown }).watch = undefined;
    const ctx = fakeContext(policy(0.2));
    const c = new MediaCollector({ reader, settleMs: 500 });
    await c.start(ctx);
    try {
      await insertAndRemove(c, ctx, "pollmedium");
      expect(reader.live().size).toBe(0);
    } finally {
      await c.stop();
    }
  });

  it("with netlink and koffi turned off (KYOKA_NO_NETLINK=1) the reader names no live source", async () => {
    const script = `
      import { LinuxMediaReader } from "./agent/collectors/media/linux.ts";
      const r = new LinuxMediaReader();
      const stop = r.watch(() => {});
      await new Promise((res) => setTimeout(res, 500));
      console.log(JSON.stringify([...r.live()]));
      stop();
      process.exit(0);
    `;
    const p = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { cwd: root, stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, KYOKA_NO_NETLINK: "1" } });
    let out = "";
    p.stdout!.on("data", (d) => { out += d; });
    const [code] = await once(p, "exit");
    expect(code).toBe(0);
    expect(JSON.parse(out)).toEqual([]);
  });
});
