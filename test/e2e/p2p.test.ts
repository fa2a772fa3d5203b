/**
 * The P2P control (個人情報取扱特記事項 第12 第9項) end to end: the real server and a real agent
 * running only the P2P collector, as child processes; a real `transmission-daemon` (from apt)
 * started ONLY inside a fresh network namespace holding nothing but loopback, its config under a
 * temp dir. Read back through the HTTP API: p2p.running is a critical violation naming the clause,
 * with family, path and sha256; a 甲許可 does not clear it; a stopped client brings no new running
 * event. Needs root (ip netns, /proc/<pid>/fd); fails, not skips, without.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { grantApproval, removeDir, startAgent, startServer, tempDir, showLogsOnFailure, waitFor, type Proc, type ServerProc } from "../helpers/kyoka.js";
import { ensureAptPackages, IsolatedNetns, lockP2pClients, requireRoot } from "../collectors/p2p/live-helpers.js";

interface ApiEvent {
  id: number; agentId: string; seq: number | null; control: string; type: string; articles: string[]; severity: string;
  status: string; observedAt: string; receivedAt: string; details: Record<string, unknown>; approvalId?: string | null;
}
interface ApiAgent { id: string; online: boolean }

const TRD = "/usr/bin/transmission-daemon";
const QBT = "/usr/bin/qbittorrent-nox";
const CLAUSE = "個人情報取扱特記事項 第12 第9項";

const work = tempDir("kyoka-e2e-p2p-");
const stateDir = tempDir("kyoka-e2e-p2p-agent-");
const dataDir = tempDir("kyoka-e2e-p2p-data-");
const procs: Proc[] = [];
let netns: IsolatedNetns | undefined;
let unlock: (() => void) | undefined;
let server: ServerProc;
let agentId: string;
let trdSha: string;
let runs = 0;
/** pids of the processes this file started (the host may run others the agent reports too) */
const ours = new Set<number>();


/** transmission-daemon in the foreground inside the isolated namespace, config and downloads in the temp dir. */
function startTransmission() {
  const n = ++runs;
  const cfg = join(work, `trd-${n}-cfg`), dl = join(work, `trd-${n}-dl`);
  mkdirSync(dl, { recursive: true });
  const child = netns!.spawn(TRD, ["-f", "-g", cfg, "-T", "-p", String(19090 + n), "-P", String(51413 + n), "-O", "-Y", "-M", "-w", dl, "--log-error"]);
  if (child.pid === undefined) throw new Error("transmission-daemon did not start");
  ours.add(child.pid);
  return child;
}

/** qbittorrent-nox inside the isolated namespace, its profile (legal notice accepted) in the temp dir. */
function startQbittorrent() {
  const n = ++runs;
  const profile = join(work, `qbt-${n}-profile`);
  mkdirSync(join(profile, "qBittorrent", "config"), { recursive: true });
  writeFileSync(join(profile, "qBittorrent", "config", "qBittorrent.conf"), "[LegalNotice]\nAccepted=true\n");
  const child = netns!.spawn(QBT, [`--profile=${profile}`, `--webui-port=${18180 + n}`, `--torrenting-port=${6990 + n}`]);
  if (child.pid === undefined) throw new Error("qbittorrent-nox did not start");
  ours.add(child.pid);
  return child;
}

/** This agent's p2p events, oldest first. */
async function p2pEvents(): Promise<ApiEvent[]> {
  const res = await server.api<ApiEvent[]>(`/api/events?control=p2p&agent=${agentId}&limit=10000`);
  expect(res.status).toBe(200);
  return res.body.slice().reverse();
}

const ofPid = (events: ApiEvent[], type: string, pid: number | undefined) => events.filter((e) => e.type === type && e.details.pid === pid);

async function waitEvent(type: string, pid: number | undefined): Promise<ApiEvent> {
  return waitFor(async () => ofPid(await p2pEvents(), type, pid)[0], `${type} of pid ${pid} at the server`, 30_000, 100);
}

beforeAll(async () => {
  requireRoot();
  ensureAptPackages(["transmission-daemon", "qbittorrent-nox"]);
  trdSha = createHash("sha256").update(readFileSync(TRD)).digest("hex");
  unlock = await lockP2pClients(); // not alongside the live collector test (see lockP2pClients)
  netns = new IsolatedNetns();
  netns.open();
  server = await startServer({ dataDir });
  procs.push(server);
  procs.push(startAgent({ server: server.wsUrl, stateDir, enrollToken: server.enrollToken, extra: ["--collectors", "p2p"] }));
  agentId = await waitFor(async () => (await server.api<ApiAgent[]>("/api/agents")).body[0]?.id, "the agent to enroll");
});

afterAll(async () => {
  try {
    await netns?.close(); // SIGKILL by pid of every process started in it, then `ip netns del`
  } finally {
    unlock?.();
    await Promise.all(procs.map((p) => p.kill("SIGKILL")));
    [work, stateDir, dataDir].forEach(removeDir);
  }
});

describe("P2P control end to end (transmission-daemon in an isolated netns → agent → server → API)", () => {
  it("a running client: p2p.running, violation, critical, the clause, family/path/sha256", async () => {
    showLogsOnFailure(procs);
    const trd = startTransmission();
    const ev = await waitEvent("p2p.running", trd.pid);
    expect(ev).toMatchObject({
      agentId, control: "p2p", type: "p2p.running", status: "violation", severity: "critical",
      details: { family: "Transmission", familyId: "transmission", path: TRD, sha256: trdSha, pid: trd.pid, confidence: "high" },
    });
    expect(ev.articles).toContain(CLAUSE);
    // its peer port inside the namespace is seen too
    const traffic = await waitEvent("p2p.traffic", trd.pid);
    expect(traffic).toMatchObject({ status: "violation", severity: "critical", details: { family: "Transmission" } });
    await netns!.kill(trd);

    // the incident report draft (事故報告書（案）) of this real detection names the process, the clause and the time
    const jst = (iso: string) => { const s = new Date(Date.parse(iso) + 9 * 3600_000).toISOString(); return `${s.slice(0, 4)}/${s.slice(5, 7)}/${s.slice(8, 10)} ${s.slice(11, 19)} JST`; };
    for (const format of ["html", "md"]) {
      const draft = await server.api<string>(`/api/events/${ev.id}/incident-report?format=${format}`);
      expect(draft.status, format).toBe(200);
      expect(draft.body, format).toContain("事故報告書（案）");
      expect(draft.body, format).toContain(TRD);
      expect(draft.body, format).toContain(`PID: ${trd.pid}`);
      expect(draft.body, format).toContain(CLAUSE);
      expect(draft.body, format).toContain(jst(ev.observedAt));
      expect(draft.body, format).toContain(jst(ev.receivedAt));
      expect(draft.body, format).toContain("ファイル交換ソフトの通信"); // the traffic event, within the hour around it
      expect(draft.body, format).toContain("原因（乙記入）");
    }
  });

  it("qBittorrent too: installed (from the package database) and running, both violations", async () => {
    showLogsOnFailure(procs);
    const installed = await waitFor(async () => (await p2pEvents()).find((e) => e.type === "p2p.installed" && e.details.family === "qBittorrent"), "p2p.installed of qBittorrent");
    expect(installed).toMatchObject({ status: "violation", severity: "critical" });
    expect(installed.articles).toContain(CLAUSE);
    const qbt = startQbittorrent();
    const ev = await waitEvent("p2p.running", qbt.pid);
    expect(ev).toMatchObject({
      status: "violation", severity: "critical",
      details: { family: "qBittorrent", path: QBT, sha256: createHash("sha256").update(readFileSync(QBT)).digest("hex"), pid: qbt.pid },
    });
    await netns!.kill(qbt);
  });

  it("a 甲許可 for it does not clear it: a client started under the approval is still a violation", async () => {
    showLogsOnFailure(procs);
    const created = await grantApproval(server, {
      control: "p2p", match: { family: "Transmission", name: "transmission-da" }, scope: { all: true },
      reason: "e2e: an attempt to permit P2P software",
    });
    // the server may refuse it outright, or record it without effect: either way nothing is approved
    expect([201, 400, 422]).toContain(created.status);

    const trd = startTransmission();
    const ev = await waitEvent("p2p.running", trd.pid);
    expect(ev).toMatchObject({ status: "violation", severity: "critical", details: { family: "Transmission", path: TRD } });
    expect(ev.approvalId ?? null).toBeNull();
    expect(ev.articles).toContain(CLAUSE);
    expect((await p2pEvents()).filter((e) => e.status === "approved")).toEqual([]);
    await netns!.kill(trd);
  });

  it("a stopped client brings no new running event", async () => {
    showLogsOnFailure(procs);
    const trd = startTransmission();
    await waitEvent("p2p.running", trd.pid);
    await netns!.kill(trd);
    const oursRunning = (events: ApiEvent[]) => events.filter((e) => e.type === "p2p.running" && ours.has(e.details.pid as number)).map((e) => e.id);
    const runningBefore = oursRunning(await p2pEvents());

    // A sentinel started after the kill: once its traffic event is at the server, every scan
    // since the kill has been delivered (one agent, events in sequence order).
    const sentinel = netns!.spawn(process.execPath, ["-e", "require('net').createServer().listen(6881, '127.0.0.1')"]);
    ours.add(sentinel.pid!);
    await waitEvent("p2p.traffic", sentinel.pid);

    const after = await p2pEvents();
    expect(oursRunning(after)).toEqual(runningBefore);
    expect(ofPid(after, "p2p.running", trd.pid)).toHaveLength(1);
    expect(ofPid(after, "p2p.running", sentinel.pid)).toEqual([]);
    await netns!.kill(sentinel);
  });
});
