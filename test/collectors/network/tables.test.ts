/**
 * SocketTableReader.readIfChanged on a fake /proc with two network namespaces: only a namespace
 * whose kernel counters moved is read again; the others give the rows of the last read, until
 * the periodic full read.
 */
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { SocketTableReader } from "../../../agent/os/linux/sockets.js";
import { removeDir, tempDir } from "../../helpers/kyoka.js";

const root = tempDir("kyoka-fake-proc-");
afterAll(() => removeDir(root));

const HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
/** a TCP listener on 127.0.0.1:<port> */
const row = (i: number, port: number, inode: number): string =>
  `   ${i}: 0100007F:${port.toString(16).toUpperCase().padStart(4, "0")} 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 ${inode} 1 0000000000000000 100 0 0 10 0\n`;

function writeNet(dir: string, opens: number, ports: number[], inode0: number): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "snmp"), `Tcp: RtoAlgorithm ActiveOpens PassiveOpens CurrEstab\nTcp: 1 ${opens} 0 0\n`);
  writeFileSync(join(dir, "sockstat"), `TCP: inuse ${ports.length} orphan 0 tw 0 alloc ${ports.length} mem 0\nUDP: inuse 0 mem 0\n`);
  writeFileSync(join(dir, "tcp"), HEADER + ports.map((p, i) => row(i, p, inode0 + i)).join(""));
  for (const f of ["tcp6", "udp", "udp6"]) writeFileSync(join(dir, f), HEADER);
}

describe("SocketTableReader.readIfChanged", () => {
  it("re-reads only the namespaces whose counters moved", () => {
    // our namespace (net:[1]) through /proc/net, another (net:[2]) through pid 20
    mkdirSync(join(root, "self/ns"), { recursive: true });
    symlinkSync("net:[1]", join(root, "self/ns/net"));
    mkdirSync(join(root, "10/ns"), { recursive: true });
    symlinkSync("net:[1]", join(root, "10/ns/net"));
    mkdirSync(join(root, "20/ns"), { recursive: true });
    symlinkSync("net:[2]", join(root, "20/ns/net"));
    writeNet(join(root, "net"), 1, [8080], 100);
    writeNet(join(root, "20/net"), 1, [9090], 200);

    const reader = new SocketTableReader({ procRoot: root });
    const ports = (rows: { localPort: number; netns: number }[] | undefined) => rows?.map((r) => `${r.netns}:${r.localPort}`).sort();
    expect(ports(reader.readIfChanged(3_600_000))).toEqual(["1:8080", "2:9090"]);
    expect(reader.readIfChanged(3_600_000)).toBeUndefined();

    // namespace 2 changes (counters and table); namespace 1's table changes without its counters
    // moving (what the counters cannot see): only namespace 2 is read again
    writeNet(join(root, "20/net"), 2, [9090, 9091], 200);
    writeFileSync(join(root, "net/tcp"), HEADER + row(0, 8080, 100) + row(1, 8081, 101));
    expect(ports(reader.readIfChanged(3_600_000))).toEqual(["1:8080", "2:9090", "2:9091"]);
    expect(reader.stats.namespacesReused).toBe(1);

    // the periodic full read reads every namespace
    expect(ports(reader.readIfChanged(0))).toEqual(["1:8080", "1:8081", "2:9090", "2:9091"]);
    expect(reader.stats.namespacesReused).toBe(1);
    // and read() always does
    expect(ports(reader.read())).toEqual(["1:8080", "1:8081", "2:9090", "2:9091"]);
  });
});

describe("one SocketTableReader shared by two users (the P2P and the network collector)", () => {
  it("a read by one view is given to the other while the counters have not moved; a move is read once, for both", () => {
    const shared = tempDir("kyoka-fake-proc-shared-");
    try {
      mkdirSync(join(shared, "self/ns"), { recursive: true });
      symlinkSync("net:[1]", join(shared, "self/ns/net"));
      mkdirSync(join(shared, "10/ns"), { recursive: true });
      symlinkSync("net:[1]", join(shared, "10/ns/net"));
      writeNet(join(shared, "net"), 1, [8080], 100);
      const reader = new SocketTableReader({ procRoot: shared });
      const p2p = reader.view(), network = reader.view();
      const ports = (rows: { localPort: number }[] | undefined) => rows?.map((r) => r.localPort).sort();

      expect(ports(p2p.read())).toEqual([8080]);
      expect(reader.stats.fullReads).toBe(1);
      // the network collector's look right after: the same rows, no read of its own
      expect(ports(network.readIfChanged(3_600_000))).toEqual([8080]);
      expect(reader.stats).toMatchObject({ fullReads: 1, shared: 1 });
      // nothing new for either
      expect(network.readIfChanged(3_600_000)).toBeUndefined();
      expect(p2p.readIfChanged(3_600_000)).toBeUndefined();

      // the counters move: whoever looks first reads, the other is given that read
      writeNet(join(shared, "net"), 2, [8080, 8081], 100);
      expect(ports(network.readIfChanged(3_600_000))).toEqual([8080, 8081]);
      expect(ports(p2p.readIfChanged(3_600_000))).toEqual([8080, 8081]);
      expect(reader.stats).toMatchObject({ fullReads: 2, shared: 2 });

      // each view has its own owner cache
      expect(p2p.owners).not.toBe(network.owners);
    } finally {
      removeDir(shared);
    }
  });
});

describe("the namespace listing reused by the shared reader", () => {
  it("lists /proc once per nsReuseMs; a forgotten pid (a process that exec'd) makes the next call list again", async () => {
    const fake = tempDir("kyoka-fake-proc-ns-");
    try {
      mkdirSync(join(fake, "self/ns"), { recursive: true });
      symlinkSync("net:[1]", join(fake, "self/ns/net"));
      mkdirSync(join(fake, "10/ns"), { recursive: true });
      symlinkSync("net:[1]", join(fake, "10/ns/net"));
      writeNet(join(fake, "net"), 1, [8080], 100);
      const reader = new SocketTableReader({ procRoot: fake, nsReuseMs: 60_000 });
      const inodes = () => reader.namespaces().map((n) => n.inode).sort();
      expect(inodes()).toEqual([1]);
      const listings = reader.stats.namespaceListings;
      // a process enters a new namespace: not seen while the listing is reused…
      mkdirSync(join(fake, "30/ns"), { recursive: true });
      symlinkSync("net:[3]", join(fake, "30/ns/net"));
      writeNet(join(fake, "30/net"), 1, [7070], 300);
      for (let i = 0; i < 5; i++) reader.readIfChanged(3_600_000);
      expect(reader.stats.namespaceListings).toBe(listings);
      expect(inodes()).toEqual([1]);
      // …until the caller says that pid changed (the P2P source does, on its exec event)
      reader.forget([30]);
      expect(inodes()).toEqual([1, 3]);
      expect(reader.stats.namespaceListings).toBe(listings + 1);
      // without reuse (the default) every call lists
      const plain = new SocketTableReader({ procRoot: fake });
      plain.namespaces(); plain.namespaces();
      expect(plain.stats.namespaceListings).toBe(2);
    } finally {
      removeDir(fake);
    }
  });
});
