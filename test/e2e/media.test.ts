/**
 * The media control (別記2 第2, 第3, 第11; 個人情報取扱特記事項 第12 第8項) end to end: the real server
 * and a real agent running only the media collector, as child processes; a policy PUT through the
 * API that treats loop devices as removable and scans with a custom ClamAV signature folder; real
 * exFAT (FUSE) and ext4 images on loop devices standing in for USB sticks. Statuses are read back
 * through the HTTP API: an unregistered medium needs approval, a registered one is info, files
 * written onto it are copy-out needing 甲許可 until an approval for this medium + this PC + now
 * covers them, EICAR is a critical violation, and pulling the medium out is media.removed.
 *
 * Loop images have no USB serial: the agent reports the filesystem UUID (volume serial) as
 * `serial` with `serialSource: "volume"`, so the media ledger and approvals match on it.
 * Needs root (CI runs as root); fails, not skips, without.
 */
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cleanup, ensureTools, sh } from "../collectors/media/helpers.js";
import { grantApproval, removeDir, startAgent, startServer, tempDir, showLogsOnFailure, waitFor, type Proc, type ServerProc } from "../helpers/kyoka.js";

interface ApiEvent {
  id: number; agentId: string; seq: number | null; control: string; type: string; articles: string[]; severity: string;
  status: string; observedAt: string; receivedAt: string; details: Record<string, unknown>; approvalId: string | null;
}
interface ApiAgent { id: string; online: boolean; policyVersion: number | null }
interface CopiedFile { path: string; size: number; sha256: string }

// The EICAR test string, assembled so this file itself is not flagged by scanners.
const EICAR = ["X5O!P%@AP[4\\PZX54(P^)7CC)7}$", "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"].join("");

const work = tempDir("kyoka-e2e-media-");
const stateDir = tempDir("kyoka-e2e-media-agent-");
const dataDir = tempDir("kyoka-e2e-media-data-");
const cleanup = new Cleanup();
const procs: Proc[] = [];
let server: ServerProc;
let agentId = "";

// the exFAT "stick": its image, loop device, mount point and volume serial (what the agent reports as serial)
const exfat = { img: join(work, "stick.img"), dir: join(work, "stick"), dev: "", serial: "" };

const sha256 = (b: Buffer | string): string => createHash("sha256").update(b).digest("hex");


/** This agent's media events about one serial, oldest first (after event id `after`). */
async function mediaEvents(serial: string, after = 0): Promise<ApiEvent[]> {
  const res = await server.api<ApiEvent[]>(`/api/events?control=media&agent=${agentId}&limit=10000`);
  expect(res.status).toBe(200);
  return res.body.filter((e) => e.id > after && e.details.serial === serial).reverse();
}

function waitEvent(type: string, serial: string, after = 0, timeoutMs = 60_000): Promise<ApiEvent> {
  return waitFor(async () => (await mediaEvents(serial, after)).find((e) => e.type === type), `${type} of ${serial} at the server`, timeoutMs, 200);
}

async function lastId(): Promise<number> {
  const res = await server.api<ApiEvent[]>("/api/events?limit=1");
  return res.body[0]?.id ?? 0;
}

/** Plug the exFAT stick in: loop device + FUSE mount. */
function plugExfat(): void {
  exfat.dev = cleanup.losetup(exfat.img);
  cleanup.mount([exfat.dev], exfat.dir, "mount.exfat-fuse");
}

/** Pull it out: unmount and detach the loop device. */
function pullExfat(): void {
  cleanup.umount(exfat.dir);
  cleanup.detach(exfat.dev);
}

beforeAll(async () => {
  ensureTools();
  // a custom ClamAV signature folder (MD5 of the 68-byte EICAR string : size : name), no freshclam
  const sigs = join(work, "sigs");
  mkdirSync(sigs);
  writeFileSync(join(sigs, "test.hdb"), "44d88612fea8a8f36de82e1278abb02f:68:Test.EICAR\n");
  sh("truncate", ["-s", "64M", exfat.img]);
  sh("mkfs.exfat", ["-L", "KYOKAE2E", exfat.img]);
  exfat.serial = sh("blkid", ["-p", "-s", "UUID", "-o", "value", exfat.img]).trim();
  expect(exfat.serial).not.toBe("");
  mkdirSync(exfat.dir);

  server = await startServer({ dataDir });
  procs.push(server);
  procs.push(startAgent({ server: server.wsUrl, stateDir, enrollToken: server.enrollToken, extra: ["--collectors", "media"] }));
  agentId = await waitFor(async () => (await server.api<ApiAgent[]>("/api/agents")).body[0]?.id, "the agent to enroll")
    .catch((err: unknown) => {
      process.stderr.write(`agent stderr:\n${procs[1]!.stderr().slice(-4000)}\n`);
      throw err;
    });
  const put = await server.api<{ version: number }>("/api/policy", {
    method: "PUT",
    body: {
      media: {
        treatAsRemovable: ["/dev/loop*"],
        pollSeconds: 0.5,
        scan: { enabled: true, scanner: "clamscan", databasePath: sigs },
      },
    },
  });
  expect(put.status).toBe(200);
  await waitFor(async () => (await server.api<ApiAgent[]>("/api/agents")).body.find((a) => a.id === agentId && a.policyVersion === put.body.version),
    "the agent to get the media policy");
}, 120_000);

afterAll(async () => {
  try {
    cleanup.all();
  } finally {
    await Promise.all(procs.map((p) => p.kill("SIGKILL")));
    [work, stateDir, dataDir].forEach(removeDir);
  }
});

describe("media control end to end (loop device → agent → server → API)", { timeout: 120_000 }, () => {
  let insertedAt = 0;

  it("an unregistered medium: media.inserted needs_approval (第12 第8項), registered: false, volume serial as serial", async () => {
    showLogsOnFailure(procs);
    plugExfat();
    const ev = await waitEvent("media.inserted", exfat.serial);
    expect(ev).toMatchObject({
      agentId, control: "media", status: "needs_approval", approvalId: null,
      details: {
        device: exfat.dev, serial: exfat.serial, serialSource: "volume", uuid: exfat.serial, vendorId: null, productId: null,
        fsType: "exfat", label: "KYOKAE2E", mount: exfat.dir, bus: "loop", encrypted: false, registered: false, serialConflict: false,
      },
    });
    expect(ev.articles).toContain("個人情報取扱特記事項 第12 第8項");
    // the scan on insertion (別記2 第11) came back clean: info
    expect(await waitEvent("media.scanned", exfat.serial)).toMatchObject({ status: "info", details: { result: "clean", scanner: "clamscan" } });
  });

  it("registered in the media ledger (POST /api/media): pulled out (media.removed) and plugged in again → info, registered: true", async () => {
    showLogsOnFailure(procs);
    const rec = await server.api<{ id: string; serial: string }>("/api/media", {
      method: "POST", body: { serial: exfat.serial, label: "KYOKAE2E", owner: "情報システム課 山田", note: "e2e test stick" },
    });
    expect(rec.status).toBe(201);
    expect((await server.api<{ id: string }[]>("/api/media")).body.map((m) => m.id)).toContain(rec.body.id);

    const before = await lastId();
    pullExfat();
    expect(await waitEvent("media.removed", exfat.serial, before)).toMatchObject({ status: "info", details: { serial: exfat.serial } });
    plugExfat();
    const again = await waitEvent("media.inserted", exfat.serial, before);
    expect(again).toMatchObject({ status: "info", details: { registered: true, serialConflict: false, mediumId: rec.body.id, device: exfat.dev } });
    await waitEvent("media.scanned", exfat.serial, before);
    insertedAt = await lastId();
  });

  it("three files written onto it: media.copy_out needs_approval (別記2 第2) with sizes and SHA-256", async () => {
    showLogsOnFailure(procs);
    const files: Record<string, Buffer> = {
      [join(exfat.dir, "報告書.txt")]: Buffer.from("持ち出し e2e\n"),
      [join(exfat.dir, "data.bin")]: Buffer.alloc(300_000, 7),
      [join(exfat.dir, "empty.dat")]: Buffer.alloc(0),
    };
    for (const [p, b] of Object.entries(files)) await writeFile(p, b);
    const events = await waitFor(async () => {
      const evs = (await mediaEvents(exfat.serial, insertedAt)).filter((e) => e.type === "media.copy_out");
      return evs.flatMap((e) => e.details.files as CopiedFile[]).length >= 3 ? evs : undefined;
    }, "copy_out of 3 files at the server", 60_000, 200);
    for (const e of events) {
      expect(e).toMatchObject({ status: "needs_approval", severity: "high", articles: ["別記2 第2", "別記2 第3"], approvalId: null });
      expect(e.details).toMatchObject({ registered: true, serial: exfat.serial, mount: exfat.dir });
    }
    const reported = events.flatMap((e) => e.details.files as CopiedFile[]);
    expect(reported).toHaveLength(3);
    for (const [p, b] of Object.entries(files)) {
      expect(reported.find((f) => f.path === p)).toEqual({ path: p, size: b.length, sha256: sha256(b) });
    }
    insertedAt = await lastId();
  });

  it("an approval for this medium (serial) + this PC + now: the next copy_out is approved with its id", async () => {
    showLogsOnFailure(procs);
    const approval = await grantApproval(server, {
      control: "media", match: { serial: exfat.serial, action: "copy_out" }, scope: { agents: [agentId] },
      reason: "納品データの持ち出し（e2e）",
    });
    expect(approval.status).toBe(201);
    const body = Buffer.from("承認済みの持ち出し\n");
    const path = join(exfat.dir, "approved.txt");
    await writeFile(path, body);
    const ev = await waitEvent("media.copy_out", exfat.serial, insertedAt);
    expect(ev).toMatchObject({ status: "approved", approvalId: approval.body.id });
    expect(ev.details.files).toEqual([{ path, size: body.length, sha256: sha256(body) }]);
  });

  it("EICAR on a medium brought in: media.scanned infected → violation, critical (別記2 第11)", async () => {
    showLogsOnFailure(procs);
    // the image is filled without mounting it (mkfs -d), so the agent sees it only when it is plugged in
    const staging = join(work, "vir-content");
    mkdirSync(staging);
    writeFileSync(join(staging, "eicar.com"), EICAR);
    writeFileSync(join(staging, "readme.txt"), "harmless\n");
    const img = join(work, "vir.img");
    const uuid = "6f1c2a9e-1d2b-4c3d-8e4f-5a6b7c8d9e0f";
    sh("truncate", ["-s", "32M", img]);
    sh("mkfs.ext4", ["-q", "-F", "-U", uuid, "-L", "KYOKAVIR", "-d", staging, img]);
    const dir = join(work, "vir");
    mkdirSync(dir);
    cleanup.mount(["-o", "loop", img], dir);
    const scanned = await waitEvent("media.scanned", uuid);
    expect(scanned).toMatchObject({ status: "violation", severity: "critical", articles: ["別記2 第11"], details: { result: "infected", mount: dir } });
    expect(scanned.details.infectedFiles).toEqual([{ path: join(dir, "eicar.com"), signature: expect.stringMatching(/^Test\.EICAR/) }]);
    expect(await waitEvent("media.inserted", uuid)).toMatchObject({ status: "needs_approval", details: { registered: false, fsType: "ext4" } });
    // ext4 on `mount -o loop`: unmounting frees the loop device, like pulling the stick out
    cleanup.umount(dir);
    await waitEvent("media.removed", uuid);
  });

  it("unmounted and pulled out: media.removed", async () => {
    showLogsOnFailure(procs);
    const before = await lastId();
    pullExfat();
    expect(await waitEvent("media.removed", exfat.serial, before)).toMatchObject({ status: "info", details: { device: exfat.dev, serial: exfat.serial } });
  });
});
