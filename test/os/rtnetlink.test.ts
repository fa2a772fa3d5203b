/**
 * rtnetlink (agent/os/linux/rtnetlink.ts) and the Linux attachment reader on it, against this
 * machine's kernel: the dumps give the interface states and routes `ip -json` gives; a veth pair
 * and a network namespace made here raise link and address notices, and the change is read back
 * through them; after a notice only the tables it touched are dumped again. The fallback (no
 * netlink: `ip` and `ip monitor`) is in test/collectors/network/fallback.test.ts.
 * Needs root (veth pairs, ip netns): fails, not skips, without.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LinuxAttachmentReader } from "../../agent/collectors/network/linux.js";
import type { WatchSource } from "../../agent/collectors/network/types.js";
import { nlMessage } from "../../agent/os/linux/netlink.js";
import { RTM_NEWADDR, RTM_NEWLINK, RTM_NEWROUTE, tablesTouched, type RouteTable } from "../../agent/os/linux/rtnetlink.js";
import { ip, NetLab, requireRootFor } from "../helpers/netlab.js";
import { waitFor } from "../helpers/kyoka.js";

describe("rtnetlink notices (pure)", () => {
  it("a datagram's messages name the tables they touch; other types none", () => {
    const dgram = Buffer.concat([nlMessage(RTM_NEWLINK, 0, 0, Buffer.alloc(16)), nlMessage(RTM_NEWADDR, 0, 0, Buffer.alloc(8))]);
    expect([...tablesTouched(dgram)].sort()).toEqual(["addr", "link"]);
    expect([...tablesTouched(nlMessage(RTM_NEWROUTE, 0, 0, Buffer.alloc(12)))]).toEqual(["route"]);
    expect(tablesTouched(nlMessage(28 /* RTM_NEWNEIGH */, 0, 0, Buffer.alloc(12))).size).toBe(0);
  });
});

describe("rtnetlink on this kernel (needs root)", () => {
  const lab = new NetLab("krt");
  let ns: string;
  const stops: (() => void)[] = [];

  beforeAll(() => {
    requireRootFor("the rtnetlink test");
    ns = lab.addNs("peer");
  });

  afterAll(() => {
    for (const s of stops) s();
    lab.cleanup();
  });

  it("the dumps give the same interface states and routes as `ip -json`, with a veth of the test's", async () => {
    const iface = lab.addVeth(ns, "10.231.70.1/24", "10.231.70.2/24");
    const viaNetlink = new LinuxAttachmentReader();
    const viaIp = new LinuxAttachmentReader({ netlink: false });
    // interfaces come and go on a shared machine between two reads: retry until both agree
    let a = await viaNetlink.read(), b = await viaIp.read();
    for (let i = 0; i < 20 && JSON.stringify(a) !== JSON.stringify(b); i++) {
      a = await viaNetlink.read();
      b = await viaIp.read();
    }
    expect(a).toEqual(b);
    expect(a.find((s) => s.iface === iface)).toMatchObject({ up: true, addresses: [{ address: "10.231.70.1", prefixlen: 24, cidr: "10.231.70.0/24", family: 4 }] });
    let ra = await viaNetlink.routes(), rb = await viaIp.routes();
    for (let i = 0; i < 20 && JSON.stringify(ra) !== JSON.stringify(rb); i++) {
      ra = await viaNetlink.routes();
      rb = await viaIp.routes();
    }
    expect(ra).toEqual(rb);
    expect(ra).toContainEqual({ dst: "10.231.70.0/24", gateway: null, dev: iface, metric: 0, family: 4 });
    expect(viaNetlink.stats.ipReads).toBe(0);
    expect(viaNetlink.stats.netlinkReads).toBeGreaterThan(0);
    expect(viaIp.stats.netlinkReads).toBe(0);
  });

  it("a veth pair and an address raise notices; the change is read back through them", async () => {
    const reader = new LinuxAttachmentReader();
    await reader.read();
    const touched: number[] = [];
    let source: WatchSource | undefined;
    stops.push(reader.watch(() => touched.push(Date.now()), (err) => { throw err; }, (s) => { source = s; }));
    await waitFor(() => source, "the watch's source");
    expect(source).toMatchObject({ name: "rtnetlink" });
    expect(source!.reason).toBeUndefined();
    const before = touched.length;
    const iface = lab.addVeth(ns, "10.231.71.1/24", "10.231.71.2/24");
    await waitFor(() => touched.length > before || undefined, "a notice for the new veth");
    const st = await waitFor(async () => (await reader.readChanged()).find((s) => s.iface === iface && s.addresses.length), `${iface} with its address`);
    expect(st.addresses).toEqual([{ address: "10.231.71.1", prefixlen: 24, cidr: "10.231.71.0/24", family: 4 }]);
    // a second address on it: another notice, and it is read back
    const n = touched.length;
    ip("addr", "add", "10.231.72.1/24", "dev", iface);
    await waitFor(() => touched.length > n || undefined, "a notice for the new address");
    const st2 = await waitFor(async () => (await reader.readChanged()).find((s) => s.iface === iface && s.addresses.length === 2), `${iface} with two addresses`);
    expect(st2.addresses.map((a) => a.cidr)).toEqual(["10.231.71.0/24", "10.231.72.0/24"]);
  });

  it("after a notice only the tables it touched are dumped again (a link takes its addresses and routes with it)", async () => {
    const reader = new LinuxAttachmentReader();
    await reader.read();
    expect(reader.stats.dumps).toMatchObject({ link: 1, addr: 1, route: 1 });
    const dumped = (tables: RouteTable[]) => {
      const d0 = { ...reader.stats.dumps };
      reader.markChanged(tables);
      return reader.readChanged().then(() => ({ link: reader.stats.dumps.link - d0.link, addr: reader.stats.dumps.addr - d0.addr, route: reader.stats.dumps.route - d0.route }));
    };
    expect(await dumped(["route"])).toEqual({ link: 0, addr: 0, route: 1 });
    expect(await dumped(["addr"])).toEqual({ link: 0, addr: 1, route: 1 });
    expect(await dumped(["link"])).toEqual({ link: 1, addr: 1, route: 1 });
    expect(await dumped([])).toEqual({ link: 0, addr: 0, route: 0 });
    // read() (the reconciling poll's) dumps everything
    const d0 = { ...reader.stats.dumps };
    await reader.read();
    expect(reader.stats.dumps.link - d0.link).toBe(1);
    expect(reader.stats.ipReads).toBe(0);
  });
});
