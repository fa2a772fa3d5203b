/**
 * The socket tables through netlink sock_diag (agent/os/linux/sock-diag.ts), against this
 * machine's kernel: the same rows as the /proc text for sockets this test owns, in our namespace
 * and in a network namespace the test makes (entered with setns and left again), and the
 * SocketTableReader using it by default, and its quick connections-only read (readConnections). The
 * decoder is also checked on hand-made records.
 * Needs root (setns into another namespace, ip netns): fails, not skips, without.
 */
import { readlinkSync } from "node:fs";
import { createServer, connect, type Server, type Socket } from "node:net";
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseDiagMessage, SockDiagReader } from "../../agent/os/linux/sock-diag.js";
import { parseNsLink, readSocketTables, SocketTableReader, type SocketEntry } from "../../agent/os/linux/sockets.js";
import { NetLab, requireRootFor } from "../helpers/netlab.js";
import { HOST_LE } from "../../agent/os/linux/netlink.js";

const key = (s: SocketEntry): string =>
  `${s.protocol}${s.family} ${s.localAddress}:${s.localPort} ${s.remoteAddress}:${s.remotePort} ${s.state} uid=${s.uid} inode=${s.inode}`;
/** rows both sources list (TIME_WAIT and request sockets never leave the kernel through sock_diag) */
const comparable = (rows: SocketEntry[]): SocketEntry[] => rows.filter((r) => r.inode !== 0);

function record(family: number, state: number, sport: number, dport: number, src: number[], dst: number[], uid: number, inode: number): Buffer {
  const b = Buffer.alloc(72);
  b[0] = family; b[1] = state;
  b.writeUInt16BE(sport, 4); b.writeUInt16BE(dport, 6);
  Buffer.from(src).copy(b, 8); Buffer.from(dst).copy(b, 24);
  if (HOST_LE) { b.writeUInt32LE(uid, 64); b.writeUInt32LE(inode, 68); } else { b.writeUInt32BE(uid, 64); b.writeUInt32BE(inode, 68); }
  return b;
}

describe("sock_diag records (pure)", () => {
  it("decodes IPv4, IPv6 and IPv4-mapped IPv6 as the /proc parser does", () => {
    expect(parseDiagMessage(record(2, 10, 8080, 0, [127, 0, 0, 1], [0, 0, 0, 0], 1000, 4242), "tcp")).toEqual({
      protocol: "tcp", family: 4, localAddress: "127.0.0.1", localPort: 8080, remoteAddress: "0.0.0.0", remotePort: 0,
      state: "LISTEN", uid: 1000, inode: 4242,
    });
    const mapped = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3];
    const v6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    expect(parseDiagMessage(record(10, 1, 50000, 443, mapped, v6, 0, 7), "tcp")).toMatchObject({
      family: 6, localAddress: "10.1.2.3", remoteAddress: "2001:db8::1", state: "ESTABLISHED", localPort: 50000, remotePort: 443,
    });
    expect(parseDiagMessage(record(10, 7, 5353, 0, new Array(16).fill(0), new Array(16).fill(0), 0, 9), "udp")).toMatchObject({
      protocol: "udp", family: 6, localAddress: "::", state: "CLOSE",
    });
    expect(parseDiagMessage(Buffer.alloc(40), "tcp")).toBeUndefined();
    expect(parseDiagMessage(record(1, 1, 0, 0, [], [], 0, 0), "tcp")).toBeUndefined();
  });
});

describe("sock_diag on this kernel (needs root)", () => {
  const lab = new NetLab("ksd");
  let diag: SockDiagReader;
  const servers: Server[] = [];
  const sockets: Socket[] = [];
  let udp: UdpSocket;

  beforeAll(async () => {
    requireRootFor("the sock_diag test");
    diag = await SockDiagReader.open();
    const server = createServer((c) => sockets.push(c));
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    const client = connect(port, "127.0.0.1");
    sockets.push(client);
    await new Promise<void>((r) => client.once("connect", () => r()));
    udp = createSocket("udp6");
    await new Promise<void>((r) => udp.bind(0, "::", r));
  }, 30_000);

  afterAll(() => {
    for (const s of sockets) s.destroy();
    for (const s of servers) s.close();
    udp?.close();
    diag?.close();
    lab.cleanup();
  });

  it("our namespace: every socket the /proc tables list with an inode is listed the same, ours included", () => {
    const viaDiag = diag.read();
    const viaProc = comparable(readSocketTables());
    const byInode = new Map(viaDiag.map((r) => [r.inode, r]));
    // sockets come and go on a shared machine between the two reads: compare those in both
    let both = 0;
    for (const r of viaProc) {
      const d = byInode.get(r.inode);
      if (!d) continue;
      both++;
      expect(key(d)).toBe(key(r));
    }
    expect(both).toBeGreaterThanOrEqual(4);
    const port = (servers[0]!.address() as { port: number }).port;
    const udpPort = udp.address().port;
    const mine = viaDiag.filter((r) => r.localPort === port || r.remotePort === port || (r.protocol === "udp" && r.localPort === udpPort));
    expect(mine.map((r) => `${r.protocol}${r.family} ${r.state} ${r.localPort === port ? "server" : r.remotePort === port ? "client" : "udp"}`).sort())
      .toEqual(["tcp4 ESTABLISHED client", "tcp4 ESTABLISHED server", "tcp4 LISTEN server", "udp6 CLOSE udp"]);
    // no TIME_WAIT row (inode 0) ever comes through sock_diag
    expect(viaDiag.filter((r) => r.state === "TIME_WAIT")).toEqual([]);
  });

  it("another namespace: entered with setns and left again; its listener is read, ours are not mixed in", async () => {
    const ownBefore = readlinkSync("/proc/thread-self/ns/net");
    const ns = lab.addNs("a");
    const h = await lab.listener("127.0.0.1", ns);
    const pid = h.child.pid!;
    // `ip netns exec` setns()es then execs node: wait for the process to be in the namespace
    let nsInode: number | undefined;
    for (let i = 0; i < 50 && nsInode === undefined; i++) {
      const n = parseNsLink(readlinkSync(`/proc/${pid}/ns/net`));
      if (n !== parseNsLink(ownBefore)) nsInode = n;
      else await new Promise((r) => setTimeout(r, 100));
    }
    expect(nsInode).toBeDefined();
    const rows = diag.read({ nsInode: nsInode!, pid });
    expect(readlinkSync("/proc/thread-self/ns/net")).toBe(ownBefore);
    expect(rows.map(key)).toEqual(comparable(readSocketTables(pid)).map(key));
    expect(rows).toEqual([expect.objectContaining({ protocol: "tcp", localAddress: "127.0.0.1", localPort: Number(h.line), state: "LISTEN" })]);
    expect(diag.stats.namespacesOpened).toBe(1);
    // the namespace's socket is kept for the next read, and closed when the namespace is gone
    diag.read({ nsInode: nsInode!, pid });
    expect(diag.stats.namespacesOpened).toBe(1);
    diag.retain(new Set());
    diag.read({ nsInode: nsInode!, pid });
    expect(diag.stats.namespacesOpened).toBe(2);
  });

  it("readConnections: our namespace's TCP ESTABLISHED, SYN_SENT and LISTEN rows only (the kernel's state filter); rows in skip left out, listeners kept", async () => {
    const reader = new SocketTableReader();
    await reader.ready;
    expect(reader.source).toBe("sock_diag");
    const port = (servers[0]!.address() as { port: number }).port;
    const rows = reader.readConnections()!;
    expect(rows.length).toBeGreaterThan(0);
    expect(new Set(rows.map((r) => r.protocol))).toEqual(new Set(["tcp"]));
    for (const r of rows) expect(["ESTABLISHED", "SYN_SENT", "LISTEN"]).toContain(r.state);
    const own = parseNsLink(readlinkSync("/proc/self/ns/net"));
    expect(new Set(rows.map((r) => r.netns))).toEqual(new Set([own]));
    const mine = rows.filter((r) => r.localPort === port || r.remotePort === port);
    expect(mine.map((r) => `${r.state} ${r.localPort === port ? "server" : "client"}`).sort())
      .toEqual(["ESTABLISHED client", "ESTABLISHED server", "LISTEN server"]);
    // the UDP socket and every other state stay in the kernel; a full read lists them
    expect(reader.read().some((r) => r.protocol === "udp" && r.localPort === udp.address().port)).toBe(true);
    // skipped: the two established rows (by inode); the listener is returned whatever skip says
    const skip = new Set(mine.map((r) => r.inode));
    const again = reader.readConnections(skip)!.filter((r) => r.localPort === port || r.remotePort === port);
    expect(again.map((r) => r.state)).toEqual(["LISTEN"]);
    expect(reader.stats.connectionReads).toBe(2);
    // approved destinations are left out by the kernel (inet_diag bytecode): the loopback pair goes,
    // the listener (no remote address) stays; an approval for another port leaves the pair in
    const ours = (rows: SocketEntry[] | undefined) => rows!.filter((r) => r.localPort === port || r.remotePort === port).map((r) => r.state).sort();
    expect(ours(reader.readConnections(undefined, [{ cidr: "127.0.0.0/8" }, { cidr: "::1/128" }]))).toEqual(["LISTEN"]);
    expect(ours(reader.readConnections(undefined, [{ cidr: "127.0.0.1/32", ports: [port === 1 ? 2 : 1] }]))).toEqual(["ESTABLISHED", "ESTABLISHED", "LISTEN"]);
    // the server end's remote port is the client's: approving the listener's port drops only the client end
    expect(ours(reader.readConnections(undefined, [{ cidr: "127.0.0.0/8", ports: [port] }]))).toEqual(["ESTABLISHED", "LISTEN"]);
    expect(ours(reader.readConnections(undefined, [{ cidr: "10.0.0.0/8" }, { cidr: "2001:db8::/32" }]))).toEqual(["ESTABLISHED", "ESTABLISHED", "LISTEN"]);
    // without sock_diag there is no quick look: the caller reads the tables
    expect(new SocketTableReader({ sockDiag: false }).readConnections()).toBeUndefined();
  });

  it("SocketTableReader reads through sock_diag by default and through /proc when told not to; the same rows", async () => {
    const ns = lab.addNs("b");
    const h = await lab.listener("127.0.0.1", ns);
    const port = Number(h.line);
    const viaDiag = new SocketTableReader();
    await viaDiag.ready;
    expect(viaDiag.source).toBe("sock_diag");
    const viaProc = new SocketTableReader({ sockDiag: false });
    await viaProc.ready;
    expect(viaProc.source).toBe("procfs");
    const find = (rows: SocketEntry[]) => rows.find((r) => r.localPort === port && r.state === "LISTEN");
    let a: SocketEntry | undefined, b: SocketEntry | undefined;
    for (let i = 0; i < 50 && !(a && b); i++) {
      viaDiag.forget([h.child.pid!]);
      viaProc.forget([h.child.pid!]);
      a = find(viaDiag.read());
      b = find(viaProc.read());
      if (!(a && b)) await new Promise((r) => setTimeout(r, 100));
    }
    expect(a).toBeDefined();
    expect(a).toEqual(b);
    expect(viaDiag.stats.diagReads).toBeGreaterThan(0);
    expect(viaProc.stats.diagReads).toBe(0);
  });
});
