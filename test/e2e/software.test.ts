/**
 * The software control (別記2 第10) end to end: the real server and a real agent running only the
 * software collector, as child processes; real `.deb` packages installed, updated and removed with
 * dpkg; the statuses read back through the HTTP API — needs_approval without a 甲許可, approved
 * with one, violation for prohibited software — and a SIGTERM of the agent while dpkg is running
 * loses nothing and reports nothing twice. Needs root (CI runs as root); fails, not skips, without.
 */
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildDeb, dpkg, installedVersion, purge, requireRoot, uniquePackageName } from "../helpers/dpkg.js";
import { grantApproval, removeDir, startAgent, startServer, tempDir, showLogsOnFailure, waitFor, type Proc, type ServerProc } from "../helpers/kyoka.js";

interface ApiEvent {
  id: number; agentId: string; seq: number | null; control: string; type: string; articles: string[]; severity: string;
  status: string; observedAt: string; receivedAt: string; details: Record<string, unknown>; approvalId: string | null;
}
interface ApiAgent { id: string; online: boolean }

const pkg = uniquePackageName("kyoka-e2e"); // v1.0 → v2.0, then removed
const banned = `${pkg}-banned`; // prohibited by the policy
const slow = `${pkg}-slow`; // its postinst waits for a gate: installed while the agent stops
const mine = new Set([pkg, banned, slow]);

const work = tempDir("kyoka-e2e-sw-");
const stateDir = tempDir("kyoka-e2e-sw-agent-");
const dataDir = tempDir("kyoka-e2e-sw-data-");
const debs: Record<string, string> = {};
let server: ServerProc;
let agent: Proc;
let agentId: string;
const procs: Proc[] = [];

function track<T extends Proc>(p: T): T {
  procs.push(p);
  return p;
}


const softwareAgent = (enrollToken?: string): Proc =>
  track(startAgent({ server: server.wsUrl, stateDir, enrollToken, extra: ["--collectors", "software"] }));

/** This agent's software events about our packages, oldest first. */
async function myEvents(): Promise<ApiEvent[]> {
  const res = await server.api<ApiEvent[]>(`/api/events?control=software&agent=${agentId}&limit=10000`);
  expect(res.status).toBe(200);
  return res.body.filter((e) => mine.has(String(e.details.name))).reverse();
}

async function waitEvent(type: string, name: string, version: string): Promise<ApiEvent> {
  return waitFor(async () => (await myEvents()).find((e) => e.type === type && e.details.name === name && e.details.version === version),
    `${type} ${name} ${version} at the server`, 30_000, 100);
}

beforeAll(async () => {
  requireRoot("test/e2e/software.test.ts");
  debs["1.0"] = await buildDeb(work, { name: pkg, version: "1.0" });
  debs["2.0"] = await buildDeb(work, { name: pkg, version: "2.0" });
  debs.banned = await buildDeb(work, { name: banned, version: "0.9" });
  // postinst: say it is running, then wait (≤ 60 s) until the test opens the gate
  debs.slow = await buildDeb(work, {
    name: slow, version: "3.1",
    postinst: [
      "#!/bin/sh", "set -e",
      `touch '${join(work, "in-postinst")}'`,
      "i=0",
      `while [ ! -e '${join(work, "gate")}' ] && [ "$i" -lt 600 ]; do sleep 0.1; i=$((i+1)); done`,
      "exit 0", "",
    ].join("\n"),
  });

  server = track(await startServer({ dataDir }));
  agent = softwareAgent(server.enrollToken);
  agentId = await waitFor(async () => (await server.api<ApiAgent[]>("/api/agents")).body[0]?.id, "the agent to enroll");
  // the baseline first: what is installed after it is a change
  await waitFor(async () => (await server.api<ApiEvent[]>(`/api/events?type=software.inventory&agent=${agentId}`)).body.length === 1,
    "the baseline software.inventory");
});

afterAll(async () => {
  try {
    await purge(pkg, banned, slow);
  } finally {
    writeFileSync(join(work, "gate"), ""); // never leave a postinst waiting
    await Promise.all(procs.map((p) => p.kill("SIGKILL")));
    [work, stateDir, dataDir].forEach(removeDir);
  }
});

describe("software control end to end (dpkg → agent → server → API)", () => {
  it("a new package without 甲許可: software.installed, needs_approval, 別記2 第10", async () => {
    showLogsOnFailure(procs);
    await dpkg(["-i", debs["1.0"]!]);
    const ev = await waitEvent("software.installed", pkg, "1.0");
    expect(ev).toMatchObject({
      agentId, control: "software", type: "software.installed", status: "needs_approval", articles: ["別記2 第10"], approvalId: null,
      details: { name: pkg, version: "1.0", source: "dpkg", publisher: "Kyoka Test <test@example.invalid>" },
    });
    expect(ev.details.previousVersion).toBeUndefined();
  });

  it("an update covered by an approval in force: software.updated, previousVersion, approved with its id", async () => {
    showLogsOnFailure(procs);
    const created = await grantApproval(server, {
      control: "software", match: { name: "kyoka-e2e-*", version: ">=2 <3", action: "update" }, scope: { all: true },
      reason: "e2e: 甲許可 for the 2.x update",
    });
    expect(created.status).toBe(201);
    expect(typeof created.body.id).toBe("string");

    await dpkg(["-i", debs["2.0"]!]);
    const ev = await waitEvent("software.updated", pkg, "2.0");
    expect(ev).toMatchObject({
      type: "software.updated", status: "approved", approvalId: created.body.id, articles: ["別記2 第10"],
      details: { name: pkg, version: "2.0", previousVersion: "1.0", source: "dpkg" },
    });
  });

  it("prohibited by the policy: software.installed is a violation", async () => {
    showLogsOnFailure(procs);
    const put = await server.api<{ version: number }>("/api/policy", {
      method: "PUT",
      body: `software:\n  prohibited:\n    - name: "${pkg}-ban*"\n      reason: e2e prohibited package\n`,
    });
    expect(put.status).toBe(200);
    await dpkg(["-i", debs.banned!]);
    const ev = await waitEvent("software.installed", banned, "0.9");
    expect(ev).toMatchObject({ type: "software.installed", status: "violation", articles: ["別記2 第10"], approvalId: null, details: { name: banned, source: "dpkg" } });
  });

  it("removal: software.removed with the version that was removed", async () => {
    showLogsOnFailure(procs);
    await dpkg(["-r", pkg, banned]);
    const ev = await waitEvent("software.removed", pkg, "2.0");
    // the approval covered updates only: a removal still needs 甲許可
    expect(ev).toMatchObject({ type: "software.removed", status: "needs_approval", approvalId: null, details: { name: pkg, version: "2.0", source: "dpkg" } });
    await waitEvent("software.removed", banned, "0.9");
  });

  it("the agent stopped (SIGTERM) while dpkg installs: reported exactly once after the restart", async () => {
    showLogsOnFailure(procs);
    const install = dpkg(["-i", debs.slow!]);
    install.catch(() => undefined); // awaited below; do not let a failure go unhandled meanwhile
    await waitFor(() => existsSync(join(work, "in-postinst")), "dpkg to run the postinst", 60_000, 20);
    expect(await installedVersion(slow)).toBeUndefined(); // dpkg is still at it

    const exit = await agent.kill("SIGTERM");
    expect(exit.code).toBe(0);
    writeFileSync(join(work, "gate"), "");
    await install;
    expect(await installedVersion(slow)).toBe("3.1");

    agent = softwareAgent();
    const ev = await waitEvent("software.installed", slow, "3.1");
    expect(ev).toMatchObject({ status: "needs_approval", details: { name: slow, version: "3.1", source: "dpkg" } });
    // a later change, seen live by the restarted agent, comes after anything its start reported
    await dpkg(["-r", slow]);
    await waitEvent("software.removed", slow, "3.1");
    expect((await myEvents()).filter((e) => e.details.name === slow).map((e) => e.type)).toEqual(["software.installed", "software.removed"]);
  });

  it("nothing was reported twice: one event per (type, name, version), exactly the changes made", async () => {
    showLogsOnFailure(procs);
    const events = await myEvents();
    const keys = events.map((e) => `${e.type} ${String(e.details.name)} ${String(e.details.version)}`);
    const counts = new Map<string, number>();
    for (const k of keys) counts.set(k, (counts.get(k) ?? 0) + 1);
    expect([...counts.entries()].filter(([, n]) => n > 1)).toEqual([]);
    expect([...keys].sort()).toEqual([
      `software.installed ${banned} 0.9`,
      `software.installed ${pkg} 1.0`,
      `software.installed ${slow} 3.1`,
      `software.removed ${banned} 0.9`,
      `software.removed ${pkg} 2.0`,
      `software.removed ${slow} 3.1`,
      `software.updated ${pkg} 2.0`,
    ].sort());
    // and one baseline inventory: the restart did not take a second one
    expect((await server.api<ApiEvent[]>(`/api/events?type=software.inventory&agent=${agentId}`)).body).toHaveLength(1);
    expect(new Set(events.map((e) => e.seq)).size).toBe(events.length);
  });
});
