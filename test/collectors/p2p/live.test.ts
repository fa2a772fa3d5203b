/**
 * The P2P collector on the live machine, as root: real qBittorrent and Transmission from apt,
 * started ONLY inside a network namespace holding nothing but loopback; a renamed copy of a
 * client; a plain process on a BitTorrent port; terminate; portable executables on disk.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { P2pCollector } from "../../../agent/collectors/p2p/index.js";
import { loadSignatures, type Signatures } from "../../../agent/collectors/p2p/signatures.js";
import { isAlive } from "../../../agent/os/linux/procfs.js";
import { parsePolicyText } from "../../../policies/policy.js";
import type { NewEvent } from "../../../policies/schema.js";
import { ensureAptPackages, eventually, fakeContext, IsolatedNetns, lockP2pClients, type MemoryState, requireRoot } from "./live-helpers.js";

const QBT = "/usr/bin/qbittorrent-nox";
const TRD = "/usr/bin/transmission-daemon";

let netns: IsolatedNetns;
let unlock: (() => void) | undefined;
let dir: string;
let sigs: Signatures;
const sha = async (path: string) => createHash("sha256").update(await readFile(path)).digest("hex");

/** A collector that only walks `presentPaths` we give it (never the real homes). */
function collectorWith(policyYaml: string) {
  const ctx = fakeContext(policyYaml);
  const collector = new P2pCollector({ signatures: sigs, terminateGraceMs: 1500, presentRestMs: 0, homeDirs: async () => [join(dir, "home")] });
  return { ctx, collector };
}

const ofPid = (events: NewEvent[], type: string, pid: number | undefined) =>
  events.filter((e) => e.type === type && e.details.pid === pid);

async function startTransmission(binary: string, name: string, rpcPort: number, peerPort: number) {
  const cfg = join(dir, `${name}-cfg`);
  await mkdir(join(dir, `${name}-dl`), { recursive: true });
  return netns.spawn(binary, ["-f", "-g", cfg, "-T", "-p", String(rpcPort), "-P", String(peerPort), "-O", "-Y", "-M", "-w", join(dir, `${name}-dl`), "--log-error"]);
}

async function startQbittorrent(binary: string, name: string, webPort: number, peerPort: number) {
  const profile = join(dir, `${name}-profile`);
  // qBittorrent 4.5 has no --confirm-legal-notice: accept the notice in its config instead.
  await mkdir(join(profile, "qBittorrent", "config"), { recursive: true });
  await writeFile(join(profile, "qBittorrent", "config", "qBittorrent.conf"), "[LegalNotice]\nAccepted=true\n");
  return netns.spawn(binary, [`--profile=${profile}`, `--webui-port=${webPort}`, `--torrenting-port=${peerPort}`]);
}

beforeAll(async () => {
  requireRoot();
  ensureAptPackages(["qbittorrent-nox", "transmission-daemon"]);
  unlock = await lockP2pClients();
  dir = await mkdtemp(join(tmpdir(), "kyoka-p2p-live-"));
  await mkdir(join(dir, "home"), { recursive: true });
  // Known hashes of the clients we can obtain: computed from the installed binaries, not hard-coded.
  sigs = loadSignatures(undefined, { qbittorrent: [await sha(QBT)], transmission: [await sha(TRD)] });
  netns = new IsolatedNetns();
  netns.open();
});

afterAll(async () => {
  await netns?.close();
  unlock?.();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("P2pCollector on Linux (live, isolated netns)", () => {
  it("reports qBittorrent and Transmission installed (dpkg), once", async () => {
    const { ctx, collector } = collectorWith("p2p: { presentPaths: [] }");
    await collector.start(ctx);
    await collector.stop();
    await collector.scanOnce();
    const installed = ctx.events.filter((e) => e.type === "p2p.installed").map((e) => [e.details.family, e.details.name]);
    expect(installed).toContainEqual(["qBittorrent", "qbittorrent-nox"]);
    expect(installed).toContainEqual(["Transmission", "transmission-daemon"]);
    const before = ctx.events.length;
    await collector.scanOnce();
    expect(ctx.events.slice(before).filter((e) => e.type === "p2p.installed")).toEqual([]);
  });

  it("detects running clients, their traffic, a renamed copy, and a plain process on a P2P port", async () => {
    const renamed = join(dir, "notes-helper");
    await copyFile(TRD, renamed);
    const qbt = await startQbittorrent(QBT, "qbt", 18080, 6882);
    const trd = await startTransmission(TRD, "trd", 19091, 51413);
    const copy = await startTransmission(renamed, "copy", 19092, 52999);
    const plain = netns.spawn(process.execPath, ["-e", "require('net').createServer().listen(6881, '127.0.0.1')"]);

    const { ctx, collector } = collectorWith("p2p: { presentPaths: [] }");
    await collector.start(ctx); // the timer path: scans every 2 s
    try {
      await eventually(async () => {
        const need = [
          ofPid(ctx.events, "p2p.running", qbt.pid).length, ofPid(ctx.events, "p2p.running", trd.pid).length,
          ofPid(ctx.events, "p2p.running", copy.pid).length,
          ofPid(ctx.events, "p2p.traffic", qbt.pid).length, ofPid(ctx.events, "p2p.traffic", trd.pid).length,
          ofPid(ctx.events, "p2p.traffic", plain.pid).length, ofPid(ctx.events, "p2p.traffic", copy.pid).length,
        ];
        return need.every((n) => n > 0) ? true : undefined;
      }, "running and traffic events for every process in the netns", 30_000);
    } finally {
      await collector.stop();
    }
    expect(ctx.failures).toEqual([]);

    const [q] = ofPid(ctx.events, "p2p.running", qbt.pid);
    expect(q!.details).toMatchObject({ family: "qBittorrent", confidence: "high", path: QBT, sha256: await sha(QBT), name: "qbittorrent-nox" });
    const [t] = ofPid(ctx.events, "p2p.running", trd.pid);
    expect(t!.details).toMatchObject({ family: "Transmission", confidence: "high", path: TRD, name: "transmission-da" });

    // the renamed copy: caught by its hash (and its contents), not by its name
    const [c] = ofPid(ctx.events, "p2p.running", copy.pid);
    expect(c!.details).toMatchObject({ family: "Transmission", confidence: "high", path: renamed, name: "notes-helper" });
    expect((c!.details.evidence as string[]).join("\n")).toMatch(/sha256 [0-9a-f]{64} is a known Transmission executable/);

    // traffic: the clients' sockets (inside the netns, not the host's /proc/net) are high confidence
    const [tt] = ofPid(ctx.events, "p2p.traffic", trd.pid);
    expect(tt!.details).toMatchObject({ family: "Transmission", confidence: "high", netns: expect.any(String) });
    expect(tt!.details.ports).toContain(51413);
    const [qt] = ofPid(ctx.events, "p2p.traffic", qbt.pid);
    expect(qt!.details.ports).toContain(6882);
    expect(ofPid(ctx.events, "p2p.traffic", copy.pid)[0]!.details.ports).toContain(52999);

    // a plain node process listening on 6881: only the port matches → low confidence
    const [pt] = ofPid(ctx.events, "p2p.traffic", plain.pid);
    expect(pt!.details).toMatchObject({ confidence: "low", ports: [6881], name: "node" });
    expect(ofPid(ctx.events, "p2p.running", plain.pid)).toEqual([]);

    // once per (pid, exe) while it runs; a stopped client brings nothing new
    const n = ctx.events.length;
    await collector.scanOnce();
    expect(ctx.events.length).toBe(n);
    await netns.kill(qbt);
    await collector.scanOnce();
    await collector.scanOnce();
    expect(ctx.events.slice(n)).toEqual([]);

    // a restart with the same state reports nothing already reported
    const again = new P2pCollector({ signatures: sigs, homeDirs: async () => [join(dir, "home")] });
    const ctx2 = fakeContext("p2p: { presentPaths: [] }", ctx.state as MemoryState);
    await again.start(ctx2);
    await again.stop();
    await again.scanOnce();
    expect(ctx2.events.filter((e) => [trd.pid, copy.pid, plain.pid].includes(e.details.pid as number))).toEqual([]);

    for (const p of [trd, copy, plain]) await netns.kill(p);
  });

  it("a client restarted on the same ports between two scans: its sockets are the new process's", async () => {
    const { ctx, collector } = collectorWith("p2p: { presentPaths: [] }");
    await collector.start(ctx);
    await collector.stop();
    const listening = (port: number) => eventually(async () =>
      (execFileSync("ip", ["netns", "exec", netns.name, "ss", "-Hltn", `sport = :${port}`], { encoding: "utf8" }).trim() ? true : undefined), `a listener on ${port}`);
    const first = await startTransmission(TRD, "again1", 19093, 53001);
    await listening(53001);
    await eventually(async () => { await collector.scanOnce(); return ofPid(ctx.events, "p2p.traffic", first.pid)[0]; }, "the first client's traffic");
    // killed and started again with the same ports before the next scan: equal socket counts
    await netns.kill(first);
    const second = await startTransmission(TRD, "again2", 19093, 53001);
    await listening(53001);
    const t = await eventually(async () => { await collector.scanOnce(); return ofPid(ctx.events, "p2p.traffic", second.pid)[0]; }, "the second client's traffic");
    expect(t.details).toMatchObject({ family: "Transmission", confidence: "high" });
    expect(t.details.ports).toContain(53001);
    // nothing reported for a socket without its owner (the dead client's inode)
    expect(ctx.events.filter((e) => e.type === "p2p.traffic" && e.details.pid === undefined)).toEqual([]);
    await netns.kill(second);
  });

  it("response: terminate kills a detected client (renamed copy) and records it", async () => {
    const renamed = join(dir, "sync-agent");
    await copyFile(QBT, renamed);
    const { ctx, collector } = collectorWith("p2p: { presentPaths: [] }");
    await collector.start(ctx);
    await collector.stop();
    await collector.scanOnce(); // the machine as it is: nothing of ours is running yet
    ctx.setPolicy(parsePolicyText("p2p: { response: terminate, presentPaths: [] }"));
    const child = await startQbittorrent(renamed, "term", 18081, 52998);
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    const ev = await eventually(async () => {
      await collector.scanOnce();
      return ofPid(ctx.events, "p2p.running", child.pid)[0];
    }, "the renamed qBittorrent to be seen");
    expect(ev.details).toMatchObject({ family: "qBittorrent", response: "terminated", path: renamed });
    await exited;
    expect(isAlive(child.pid!, undefined)).toBe(false);
  });

  it("finds portable clients on disk by name and by hash, skipping node_modules, once", async () => {
    const root = join(dir, "home", "Downloads");
    await mkdir(join(root, "tools", "node_modules", "x"), { recursive: true });
    await writeFile(join(root, "tools", "Winny.exe"), Buffer.concat([Buffer.from("MZ"), Buffer.alloc(4096)]));
    await copyFile(TRD, join(root, "tools", "backup-tool"));
    await writeFile(join(root, "tools", "node_modules", "x", "Share.exe"), Buffer.concat([Buffer.from("MZ"), Buffer.alloc(4096)]));
    await writeFile(join(root, "notes.txt"), "qBittorrent v4 and libtransmission mentioned in a text file");
    const { ctx, collector } = collectorWith("p2p: { presentPaths: ['~/Downloads'] }");
    await collector.start(ctx);
    await collector.stop();
    await collector.scanOnce();
    const present = ctx.events.filter((e) => e.type === "p2p.present");
    expect(present.map((e) => [e.details.family, e.details.path]).sort()).toEqual([
      ["Transmission", join(root, "tools", "backup-tool")],
      ["Winny", join(root, "tools", "Winny.exe")],
    ]);
    expect(present.find((e) => e.details.family === "Transmission")!.details.sha256).toBe(await sha(TRD));
    await collector.scanOnce();
    expect(ctx.events.filter((e) => e.type === "p2p.present")).toHaveLength(2);
  });
});
