/**
 * The network collector's Linux sources made unavailable (KYOKA_NO_NETLINK=1: koffi/netlink
 * cannot be used, as where koffi does not load): attachment changes still come in through
 * `ip monitor` and `ip -json`, and connections through the full socket tables (/proc text, no
 * quick connections-only look). A veth pair and a network namespace made here. Needs root (veth
 * pairs, ip netns): fails, not skips, without.
 */
process.env.KYOKA_NO_NETLINK = "1"; // before anything loads libc: netlink.ts remembers the first answer

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NetworkCollector } from "../../../agent/collectors/network/collector.js";
import { LinuxAttachmentReader } from "../../../agent/collectors/network/linux.js";
import type { AttachmentReader, WatchSource } from "../../../agent/collectors/network/types.js";
import { SocketTableReader } from "../../../agent/os/linux/sockets.js";
import { recordingContext } from "../../helpers/collector-context.js";
import { waitFor } from "../../helpers/kyoka.js";
import { NetLab, requireRootFor } from "../../helpers/netlab.js";

const lab = new NetLab("kfb");
const collectors: NetworkCollector[] = [];
let ns: string;

beforeAll(() => {
  requireRootFor("the network fallback test");
  ns = lab.addNs("peer");
});

afterAll(async () => {
  for (const c of collectors) await c.stop().catch(() => undefined);
  lab.cleanup();
});

describe("network collector without netlink (fallback)", () => {
  it("the reader watches through `ip monitor` and reads through `ip -json`; a new veth subnet → network.attached", async () => {
    const reader = new LinuxAttachmentReader();
    let source: WatchSource | undefined;
    const stop = reader.watch(() => undefined, () => undefined, (s) => { source = s; });
    try {
      await waitFor(() => source, "the watch's source");
      expect(source).toMatchObject({ name: "ip monitor", debounceMs: 300 });
      expect(source!.reason).toMatch(/KYOKA_NO_NETLINK/);
    } finally {
      stop();
    }

    const ctx = recordingContext({ network: { pollSeconds: 3600 } });
    const collector = new NetworkCollector({ attachment: reader, sockets: null });
    collectors.push(collector);
    await collector.start(ctx);
    await waitFor(() => collector.watchSource, "the collector's watch source");
    expect(collector.watchSource).toBe("ip monitor");
    // a poll period of an hour: only the `ip monitor` notice brings it in
    const iface = lab.addVeth(ns, "10.231.73.1/24", "10.231.73.2/24");
    const ev = await waitFor(() => ctx.events.find((e) => e.type === "network.attached" && e.details.iface === iface), `network.attached ${iface}`);
    expect(ev.details).toMatchObject({ address: "10.231.73.1", cidr: "10.231.73.0/24" });
    expect(reader.stats.netlinkReads).toBe(0);
    expect(reader.stats.ipReads).toBeGreaterThanOrEqual(2);
  });

  it("connections: /proc tables, no quick look; the ActiveOpens watch still reads the tables at once", async () => {
    lab.addVeth(ns, "10.231.74.1/24", "10.231.74.2/24");
    const listener = await lab.listener("10.231.74.2", ns);
    const port = Number(listener.line);
    const tables = new SocketTableReader();
    await tables.ready;
    expect(tables.source).toBe("procfs");
    expect(tables.readConnections()).toBeUndefined();
    const noAttachment: AttachmentReader = { read: async () => [], routes: async () => [] };
    const ctx = recordingContext({ network: { pollSeconds: 3600, approvedListeningPorts: [{ port, protocol: "tcp" }] } });
    const collector = new NetworkCollector({ attachment: noAttachment, sockets: tables });
    collectors.push(collector);
    await collector.start(ctx);
    const client = await lab.connector("10.231.74.2", port);
    const ev = await waitFor(
      () => ctx.events.find((e) => e.type === "network.connection" && e.details.remotePort === port && e.details.pid === client.child.pid),
      `network.connection to :${port}`,
    );
    expect(ev.details).toMatchObject({ remoteAddress: "10.231.74.2", process: "node" });
    expect(collector.stats.watchTriggered).toBeGreaterThanOrEqual(1);
    expect(collector.stats.connectionLooks).toBe(0);
    expect(tables.stats.diagReads).toBe(0);
  });
});
