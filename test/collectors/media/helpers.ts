/** Test helpers for the media collector: a recording CollectorContext, loop devices, tools. */
import { execFileSync, spawnSync } from "node:child_process";
import { recordingContext, type RecordingContext } from "../../helpers/collector-context.js";
export type { RecordingContext } from "../../helpers/collector-context.js";

export function fakeContext(policy: unknown): RecordingContext {
  return recordingContext(policy);
}

export async function waitFor<T>(what: string, probe: () => T | undefined | null | false | Promise<T | undefined | null | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: "utf8", input, stdio: ["pipe", "pipe", "pipe"] });
}

function have(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
}

/** Install what the live media tests need from Debian when it is missing. */
export function ensureTools(): void {
  if (process.getuid?.() !== 0) {
    throw new Error("the live media tests need root (loop devices, mount, cryptsetup); run them as root as CI does");
  }
  const needs: [string, string][] = [
    ["mkfs.exfat", "exfatprogs"],
    ["mount.exfat-fuse", "exfat-fuse"],
    ["clamscan", "clamav"],
    ["cryptsetup", "cryptsetup-bin"],
    ["losetup", "mount"],
    ["mkfs.ext4", "e2fsprogs"],
    ["blkid", "util-linux"],
  ];
  const missing = [...new Set(needs.filter(([c]) => !have(c)).map(([, p]) => p))];
  if (missing.length === 0) return;
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const install = () => spawnSync("apt-get", ["install", "-y", "--no-install-recommends", ...missing], { env, stdio: "pipe", encoding: "utf8" });
  let r = install();
  if (r.status !== 0) {
    spawnSync("apt-get", ["update"], { env, stdio: "pipe" });
    r = install();
  }
  if (r.status !== 0) throw new Error(`apt-get install ${missing.join(" ")} failed: ${r.stderr}`);
  const still = needs.filter(([c]) => !have(c)).map(([c]) => c);
  if (still.length) throw new Error(`still missing after install: ${still.join(", ")}`);
}

/** Tracks loop devices and mounts so afterAll can undo them even when a test failed. */
export class Cleanup {
  readonly mounts: string[] = [];
  readonly loops: string[] = [];

  losetup(image: string): string {
    const dev = sh("losetup", ["-f", "--show", image]).trim();
    this.loops.push(dev);
    return dev;
  }

  mount(args: string[], dir: string, cmd = "mount"): void {
    sh(cmd, [...args, dir]);
    this.mounts.push(dir);
  }

  /** umount as a user would: a scanning agent may hold the medium busy for a moment, so retry. */
  umount(dir: string): void {
    for (let i = 0; ; i++) {
      const r = spawnSync("umount", [dir], { encoding: "utf8" });
      if (r.status === 0) break;
      if (i >= 50 || !/busy/.test(r.stderr)) throw new Error(`umount ${dir}: ${r.stderr.trim()}`);
      spawnSync("sleep", ["0.1"]);
    }
    const i = this.mounts.indexOf(dir);
    if (i >= 0) this.mounts.splice(i, 1);
  }

  detach(dev: string): void {
    spawnSync("losetup", ["-d", dev], { stdio: "ignore" });
    const i = this.loops.indexOf(dev);
    if (i >= 0) this.loops.splice(i, 1);
  }

  all(): void {
    for (const m of this.mounts.splice(0).reverse()) spawnSync("umount", ["-l", m], { stdio: "ignore" });
    for (const l of this.loops.splice(0)) spawnSync("losetup", ["-d", l], { stdio: "ignore" });
  }
}

/** The loop device backing a file (for `mount -o loop`). */
export function loopOf(image: string): string {
  const out = sh("losetup", ["-j", image]).trim().split("\n")[0] ?? "";
  return out.split(":")[0]!;
}
