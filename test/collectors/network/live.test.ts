/**
 * Live tests on this machine's kernel: veth pairs and network namespaces the test creates and
 * removes. Needs root (CI runs as root). Traffic goes only to addresses on veths created here
 * (10.231.5x.0/24); the machine's own routes are never touched (gateway changes happen inside a
 * test namespace, read with `ip -n <ns>`).
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NetworkCollector } from "../../../agent/collectors/network/collector.js";
import { LinuxAttachmentReader } from "../../../agent/collectors/network/linux.js";
import type { AttachmentReader } from "../../../agent/collectors/network/types.js";
import { SocketTableReader } from "../../../agent/os/linux/sockets.js";
import type { NewEvent } from "../../../policies/schema.js";
import { recordingContext } from "../../helpers/collector-context.js";
import { waitFor } from "./helpers.js";

const tag = (process.pid % 100000).toString(36);
const NS_GW = `kyoka-gw-${tag}`;
const NS_SRV = `kyoka-srv-${tag}`;
const IF = (n: string) => `ky${n}${tag}`.slice(0, 15);
const createdNs: string[] = [];
const createdLinks: string[] = [];
const children: ChildProcess[] = [];
const collectors: NetworkCollector[] = [];

function ip(...args: string[]): string {
  return execFileSync("ip", args, { encoding: "utf8" });
}

function addNs(name: string): void {
  ip("netns", "add", name);
  createdNs.push(name);
  ip("-n", name, "link", "set", "lo", "up");
}

function addVeth(a: string, b: string): void {
  ip("link", "add", a, "type", "veth", "peer", "name", b);
  createdLinks.push(a);
}

const noAttachment: AttachmentReader = { read: async () => [], routes: async () => [] };

/** Spawn a node one-liner (optionally inside a netns); resolves with the first line it prints. */
function node(script: string, netns?: string): Promise<{ child: ChildProcess; line: string }> {
  const cmd = netns ? "ip" : process.execPath;
  const args = netns ? ["netns", "exec", netns, process.execPath, "-e", script] : ["-e", script];
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "inherit"] });
  children.push(child);
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.once("line", (line) => resolve({ child, line }));
    child.once("exit", (code) => reject(new Error(`helper process exited (${code}) before it was ready`)));
  });
}

const summary = (events: NewEvent[]) => JSON.stringify(events.map((e) => [e.type, e.details]));

beforeAll(() => {
  if (process.getuid?.() !== 0) {
    throw new Error("network live tests need root to create network namespaces and veth pairs (CI runs as root); run as root");
  }
});

afterAll(async () => {
  for (const c of collectors) await c.stop().catch(() => undefined);
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  for (const l of createdLinks) {
    try { execFileSync("ip", ["link", "del", l], { stdio: "ignore" }); } catch { /* already gone with its namespace */ }
  }
  for (const ns of createdNs) {
    try { execFileSync("ip", ["netns", "del", ns], { stdio: "ignore" }); } catch { /* gone */ }
  }
});

describe("network collector, live", () => {
  it("a new veth subnet in the root namespace → network.attached; an approved one → nothing", async () => {
    addNs(NS_SRV);
    const ctx = recordingContext({ network: { pollSeconds: 0.5, approvedNetworks: [{ cidr: "10.231.51.0/24" }] } });
    const collector = new NetworkCollector({ attachment: new LinuxAttachmentReader(), sockets: null, debounceMs: 100 });
    collectors.push(collector);
    await collector.start(ctx);

    const a = IF("a"), b = IF("b");
    addVeth(a, b);
    ip("link", "set", b, "netns", NS_SRV);
    ip("addr", "add", "10.231.50.1/24", "dev", a);
    ip("link", "set", a, "up");
    ip("-n", NS_SRV, "addr", "add", "10.231.50.2/24", "dev", b);
    ip("-n", NS_SRV, "link", "set", b, "up");
    const ev = await waitFor(
      () => ctx.events.find((e) => e.type === "network.attached" && e.details.iface === a),
      () => `network.attached for ${a}; got ${summary(ctx.events)}`,
    );
    expect(ev.details).toMatchObject({ iface: a, address: "10.231.50.1", cidr: "10.231.50.0/24" });
    // the notices came from rtnetlink (the fallback, `ip monitor`, is in fallback.test.ts)
    expect(collector.watchSource).toBe("rtnetlink");

    const c = IF("c"), d = IF("d");
    addVeth(c, d);
    ip("addr", "add", "10.231.51.1/24", "dev", c);
    ip("link", "set", c, "up");
    await waitFor(
      () => (ctx.state.data.get("attachment") as Record<string, unknown> | undefined)?.[c],
      () => `attachment state to include ${c}`,
    );
    expect(ctx.events.filter((e) => e.details.iface === c)).toEqual([]);
    // a restart with the same state reports nothing again
    await collector.stop();
    const before = ctx.events.length;
    await collector.start(ctx);
    expect(ctx.events.slice(before).filter((e) => e.details.iface === a || e.details.iface === c)).toEqual([]);
  });

  it("a default gateway change inside a test namespace → network.changed", async () => {
    addNs(NS_GW);
    const e = IF("e"), f = IF("f");
    ip("-n", NS_GW, "link", "add", e, "type", "veth", "peer", "name", f);
    ip("-n", NS_GW, "addr", "add", "10.231.52.2/24", "dev", e);
    ip("-n", NS_GW, "link", "set", e, "up");
    ip("-n", NS_GW, "link", "set", f, "up");
    ip("-n", NS_GW, "route", "add", "default", "via", "10.231.52.1", "dev", e);

    const ctx = recordingContext({ network: { pollSeconds: 0.3 } });
    const collector = new NetworkCollector({ attachment: new LinuxAttachmentReader({ netns: NS_GW }), sockets: null, debounceMs: 100 });
    collectors.push(collector);
    await collector.start(ctx);
    expect(ctx.events.find((x) => x.type === "network.attached" && x.details.iface === e)?.details).toMatchObject({ gateway: "10.231.52.1", cidr: "10.231.52.0/24" });

    ip("-n", NS_GW, "route", "replace", "default", "via", "10.231.52.254", "dev", e);
    const changed = await waitFor(
      () => ctx.events.find((x) => x.type === "network.changed" && x.details.iface === e),
      () => `network.changed for ${e}; got ${summary(ctx.events)}`,
    );
    expect(changed.details).toMatchObject({ iface: e, gateway: "10.231.52.254", before: { gateway: "10.231.52.1" }, after: { gateway: "10.231.52.254" } });
    await collector.stop();
  });

  it("a TCP connection to a listener in a test namespace → network.connection naming the process; approved → nothing", async () => {
    const g = IF("g"), h = IF("h");
    addVeth(g, h);
    ip("link", "set", h, "netns", NS_SRV);
    ip("addr", "add", "10.231.53.1/24", "dev", g);
    ip("link", "set", g, "up");
    ip("-n", NS_SRV, "addr", "add", "10.231.53.2/24", "dev", h);
    ip("-n", NS_SRV, "link", "set", h, "up");

    const server = await node(
      `const s=require("net").createServer(()=>{}).listen(0,"10.231.53.2",()=>console.log(s.address().port));`, NS_SRV);
    const port = Number(server.line);
    const client = await node(
      `const c=require("net").connect(${port},"10.231.53.2",()=>console.log("connected"));setInterval(()=>{},1e6);`);
    expect(client.line).toBe("connected");

    const ctx = recordingContext({ network: { pollSeconds: 0.3 } });
    const collector = new NetworkCollector({ attachment: noAttachment, sockets: new SocketTableReader() });
    collectors.push(collector);
    await collector.start(ctx);
    const conn = await waitFor(
      () => ctx.events.find((x) => x.type === "network.connection" && x.details.remoteAddress === "10.231.53.2" && x.details.remotePort === port),
      () => `network.connection to 10.231.53.2:${port}; got ${summary(ctx.events)}`,
    );
    expect(conn.details).toMatchObject({ pid: client.child.pid, process: "node", exe: process.execPath, user: "root", protocol: "tcp", localAddress: "10.231.53.1" });
    // the listener lives in another namespace: seen through /proc/<pid>/net, named by its process
    const listen = await waitFor(
      () => ctx.events.find((x) => x.type === "network.listening" && x.details.port === port),
      () => `network.listening on ${port} in ${NS_SRV}; got ${summary(ctx.events)}`,
    );
    expect(listen.details).toMatchObject({ pid: server.child.pid, process: "node", address: "10.231.53.2", protocol: "tcp" });
    expect(typeof listen.details.netns).toBe("number");
    // one event per (process, remote, port) per window
    await collector.poll();
    await collector.poll();
    expect(ctx.events.filter((x) => x.type === "network.connection" && x.details.remotePort === port)).toHaveLength(1);
    await collector.stop();

    const approved = recordingContext({ network: {
      approvedDestinations: [{ cidr: "127.0.0.0/8" }, { cidr: "::1/128" }, { cidr: "10.231.53.0/24" }],
      approvedListeningPorts: [{ port, protocol: "tcp" }],
    } });
    const c2 = new NetworkCollector({ attachment: noAttachment, sockets: new SocketTableReader() });
    collectors.push(c2);
    await c2.start(approved);
    await c2.poll();
    expect(approved.events.filter((x) => x.details.remotePort === port || x.details.port === port)).toEqual([]);
    await c2.stop();
  });

  it("a new listener on a port that is not approved → network.listening once", async () => {
    const ctx = recordingContext({ network: { pollSeconds: 0.3 } });
    const collector = new NetworkCollector({ attachment: noAttachment, sockets: new SocketTableReader() });
    collectors.push(collector);
    await collector.start(ctx);
    const listener = await node(`const s=require("net").createServer().listen(0,"127.0.0.1",()=>console.log(s.address().port));`);
    const port = Number(listener.line);
    const ev = await waitFor(
      () => ctx.events.find((x) => x.type === "network.listening" && x.details.port === port),
      () => `network.listening on ${port}; got ${summary(ctx.events)}`,
    );
    expect(ev.details).toMatchObject({ pid: listener.child.pid, process: "node", address: "127.0.0.1", protocol: "tcp" });
    expect(ev.details.netns).toBeUndefined();
    await collector.poll();
    expect(ctx.events.filter((x) => x.type === "network.listening" && x.details.port === port)).toHaveLength(1);
    await collector.stop();
  });

  it("a connection opened between two polls is read at once through the TCP ActiveOpens watch; without the watch the poll still reports it", async () => {
    if (!createdNs.includes(NS_SRV)) addNs(NS_SRV);
    const g = IF("w"), h = IF("x");
    addVeth(g, h);
    ip("link", "set", h, "netns", NS_SRV);
    ip("addr", "add", "10.231.55.1/24", "dev", g);
    ip("link", "set", g, "up");
    ip("-n", NS_SRV, "addr", "add", "10.231.55.2/24", "dev", h);
    ip("-n", NS_SRV, "link", "set", h, "up");
    // a listener per phase: one event per (process, remote, port) per window would hide the second
    const listen = async () => Number((await node(
      `const s=require("net").createServer(()=>{}).listen(0,"10.231.55.2",()=>console.log(s.address().port));`, NS_SRV)).line);
    const [port, port2] = [await listen(), await listen()];
    const connectFrom = async (to: number) => {
      const client = await node(`const c=require("net").connect(${to},"10.231.55.2",()=>console.log("connected"));setInterval(()=>{},1e6);`);
      expect(client.line).toBe("connected");
      return client.child.pid;
    };
    const approveListener = { approvedListeningPorts: [{ port, protocol: "tcp" as const }, { port: port2, protocol: "tcp" as const }] };

    // a poll period of an hour: only the watch can bring the connection in
    const ctx = recordingContext({ network: { pollSeconds: 3600, ...approveListener } });
    const tables = new SocketTableReader();
    await tables.ready;
    expect(tables.source).toBe("sock_diag");
    const collector = new NetworkCollector({ attachment: noAttachment, sockets: tables });
    collectors.push(collector);
    await collector.start(ctx);
    const pid = await connectFrom(port);
    const conn = await waitFor(
      () => ctx.events.find((x) => x.type === "network.connection" && x.details.remotePort === port && x.details.pid === pid),
      () => `network.connection to 10.231.55.2:${port}; got ${summary(ctx.events)}`, 30_000,
    );
    expect(conn.details).toMatchObject({ remoteAddress: "10.231.55.2", process: "node", protocol: "tcp" });
    expect(collector.stats.watchTriggered).toBeGreaterThanOrEqual(1);
    // the watch's look was the connections-only sock_diag read, not a read of the whole tables
    expect(collector.stats.connectionLooks).toBeGreaterThanOrEqual(1);
    expect(tables.stats.connectionReads).toBeGreaterThanOrEqual(1);
    await collector.stop();

    // the watch off (socketWatchMs 0): the poll finds the next connection, the watch never ran
    const polled = recordingContext({ network: { pollSeconds: 0.3, ...approveListener } });
    const c2 = new NetworkCollector({ attachment: noAttachment, sockets: new SocketTableReader(), socketWatchMs: 0 });
    collectors.push(c2);
    await c2.start(polled);
    const pid2 = await connectFrom(port2);
    await waitFor(
      () => polled.events.find((x) => x.type === "network.connection" && x.details.pid === pid2 && x.details.remotePort === port2),
      () => `network.connection from ${pid2}; got ${summary(polled.events)}`, 30_000,
    );
    expect(c2.stats.watchTriggered).toBe(0);
    await c2.stop();
  });
});
