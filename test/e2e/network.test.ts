/**
 * The network control (別記2 第8, 第9) end to end: the real server and a real agent running only
 * the network collector, as child processes; veth pairs and a network namespace made by the test;
 * the events and their statuses read back through the HTTP API.
 *
 *  - a new subnet on a veth → network.attached, needs_approval;
 *  - a 甲許可 (approval) for a CIDR → a later attachment to it is approved (decided by the server);
 *  - a policy approvedNetworks entry → no event at all for that subnet;
 *  - a process holding a TCP connection to a listener inside the test namespace →
 *    network.connection naming the process, once per window however many polls see it;
 *  - a new listener on a port that is not approved → network.listening.
 *
 * Traffic stays on loopback and on the veths made here (10.231.60–64.x); the machine's own routes
 * are never touched. Needs root (CI runs as root); fails, not skips, without.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NetLab, requireRootFor, type Helper } from "../helpers/netlab.js";
import { grantApproval, removeDir, startAgent, startServer, tempDir, showLogsOnFailure, waitFor, type Proc, type ServerProc } from "../helpers/kyoka.js";

interface ApiEvent {
  id: number; agentId: string; seq: number | null; control: string; type: string; articles: string[]; severity: string;
  status: string; observedAt: string; receivedAt: string; details: Record<string, unknown>; approvalId: string | null;
}
interface ApiAgent { id: string; online: boolean; policyVersion: number | null }

const lab = new NetLab("kye2e");
const dirs: string[] = [];
const procs: Proc[] = [];
let server: ServerProc;
let agent: Proc;
let agentId: string;
let ns: string;

function dir(prefix: string): string {
  const d = tempDir(prefix);
  dirs.push(d);
  return d;
}


/** This agent's events of one type, oldest first. */
async function events(type: string): Promise<ApiEvent[]> {
  const res = await server.api<ApiEvent[]>(`/api/events?type=${type}&agent=${agentId}&limit=10000`);
  expect(res.status).toBe(200);
  return res.body.reverse();
}

async function waitEvent(type: string, pick: (e: ApiEvent) => boolean, what: string): Promise<ApiEvent> {
  return waitFor(async () => (await events(type)).find(pick), `${type} ${what} at the server`, 30_000, 100);
}

beforeAll(async () => {
  requireRootFor("test/e2e/network.test.ts");
  ns = lab.addNs("peer");
  server = await startServer({ dataDir: dir("kyoka-e2e-net-data-") });
  procs.push(server);
  agent = startAgent({ server: server.wsUrl, stateDir: dir("kyoka-e2e-net-agent-"), enrollToken: server.enrollToken, extra: ["--collectors", "network"] });
  procs.push(agent);
  agentId = await waitFor(async () => (await server.api<ApiAgent[]>("/api/agents")).body[0]?.id, "the agent to enroll");
  await waitFor(async () => (await events("agent.started")).length > 0, "agent.started");
});

afterAll(async () => {
  // the lab first: namespaces and veths must go even when a process refuses to die
  lab.cleanup();
  await Promise.all(procs.splice(0).map((p) => p.kill("SIGKILL")));
  dirs.forEach(removeDir);
});

describe("network control, end to end", () => {
  it("a veth with a new subnet → network.attached, needs_approval, 別記2 第8", async () => {
    showLogsOnFailure(procs);
    const iface = lab.addVeth(ns, "10.231.60.1/24", "10.231.60.2/24");
    const ev = await waitEvent("network.attached", (e) => e.details.iface === iface, iface);
    expect(ev).toMatchObject({ control: "network", status: "needs_approval", severity: "high", approvalId: null });
    expect(ev.articles).toContain("別記2 第8");
    expect(ev.details).toMatchObject({ iface, address: "10.231.60.1", cidr: "10.231.60.0/24" });
    // one event for that subnet, however many polls have seen it since
    expect((await events("network.attached")).filter((e) => e.details.iface === iface)).toHaveLength(1);
  });

  it("a 甲許可 for a CIDR → a later attachment to that network is approved", async () => {
    showLogsOnFailure(procs);
    const created = await grantApproval(server, {
      control: "network", match: { cidr: "10.231.61.0/24" }, scope: { all: true }, reason: "e2e: 甲 approved the test network",
    });
    expect(created.status).toBe(201);
    const iface = lab.addVeth(ns, "10.231.61.1/24", "10.231.61.2/24");
    const ev = await waitEvent("network.attached", (e) => e.details.iface === iface, iface);
    expect(ev).toMatchObject({ control: "network", status: "approved", approvalId: created.body.id });
    expect(ev.details).toMatchObject({ address: "10.231.61.1", cidr: "10.231.61.0/24" });
    expect(ev.articles).toContain("別記2 第8");
  });

  it("a policy approvedNetworks entry → no event at all for that subnet", async () => {
    showLogsOnFailure(procs);
    const current = await server.api<{ version: number; policy: { network: { approvedNetworks: unknown[] } } }>("/api/policy");
    const policy = structuredClone(current.body.policy);
    policy.network.approvedNetworks = [...policy.network.approvedNetworks, { name: "e2e", cidr: "10.231.62.0/24" }];
    const put = await server.api<{ version: number }>("/api/policy", { method: "PUT", body: JSON.stringify(policy), contentType: "application/json" });
    expect(put.status).toBe(200);
    await waitFor(async () => (await server.api<ApiAgent[]>("/api/agents")).body[0]?.policyVersion === put.body.version, "the agent to run the new policy");

    const approved = lab.addVeth(ns, "10.231.62.1/24", "10.231.62.2/24");
    // a marker attached after it: once its event is in, the approved one has been read too
    const marker = lab.addVeth(ns, "10.231.63.1/24", "10.231.63.2/24");
    await waitEvent("network.attached", (e) => e.details.iface === marker, `${marker} (the marker)`);
    const all = (await server.api<ApiEvent[]>(`/api/events?control=network&agent=${agentId}&limit=10000`)).body;
    expect(all.filter((e) => e.details.iface === approved || String(e.details.cidr ?? "").startsWith("10.231.62."))).toEqual([]);
  });

  it("a process holding a TCP connection into the test namespace → network.connection naming it, once per window", async () => {
    showLogsOnFailure(procs);
    lab.addVeth(ns, "10.231.64.1/24", "10.231.64.2/24");
    const listeners: Helper[] = [];
    for (let i = 0; i < 3; i++) listeners.push(await lab.listener("10.231.64.2", ns));
    const ports = listeners.map((l) => Number(l.line));
    const client = await lab.connector("10.231.64.2", ports[0]!);

    const toPort = (port: number) => (e: ApiEvent) => e.details.remoteAddress === "10.231.64.2" && e.details.remotePort === port;
    const ev = await waitEvent("network.connection", toPort(ports[0]!), `to 10.231.64.2:${ports[0]}`);
    expect(ev).toMatchObject({ control: "network", status: "needs_approval" });
    expect(ev.articles).toContain("別記2 第8");
    expect(ev.details).toMatchObject({
      pid: client.child.pid, process: "node", exe: process.execPath, user: "root",
      protocol: "tcp", localAddress: "10.231.64.1", localPort: Number(client.line),
    });

    // later connections (other processes, other ports) are reported too — each proves another
    // scan of the tables while the first connection was still held; it is still reported once
    for (const port of ports.slice(1)) {
      const other = await lab.connector("10.231.64.2", port);
      const later = await waitEvent("network.connection", toPort(port), `to 10.231.64.2:${port}`);
      expect(later.details.pid).toBe(other.child.pid);
    }
    expect((await events("network.connection")).filter(toPort(ports[0]!))).toHaveLength(1);

    // the listener inside the namespace is seen too, named by its process, with its namespace
    const inNs = await waitEvent("network.listening", (e) => e.details.port === ports[0] && e.details.address === "10.231.64.2", `on 10.231.64.2:${ports[0]}`);
    expect(inNs.details).toMatchObject({ pid: listeners[0]!.child.pid, process: "node", protocol: "tcp" });
    expect(typeof inNs.details.netns).toBe("number");
  });

  it("a new listener on a port that is not approved → network.listening, needs_approval", async () => {
    showLogsOnFailure(procs);
    const listener = await lab.listener("127.0.0.1");
    const port = Number(listener.line);
    const ev = await waitEvent("network.listening", (e) => e.details.port === port && e.details.address === "127.0.0.1", `on 127.0.0.1:${port}`);
    expect(ev).toMatchObject({ control: "network", status: "needs_approval", severity: "medium" });
    expect(ev.articles).toContain("別記2 第8");
    expect(ev.details).toMatchObject({ pid: listener.child.pid, process: "node", protocol: "tcp" });
    expect(ev.details.netns).toBeUndefined();
  });
});
