/**
 * A small network lab for end-to-end tests and benchmarks: network namespaces and veth pairs
 * that the caller creates and that `cleanup()` removes again (call it from afterAll / finally —
 * it never throws), plus helper processes (node one-liners, optionally inside a namespace).
 *
 * Only what is created here is touched: the root-namespace end of each veth gets an address in a
 * subnet the caller picks (the tests use 10.231.60–69.x), its peer goes into a test namespace.
 * No route of the machine is changed (a veth subnet adds only its own connected route).
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";

export function requireRootFor(what: string): void {
  if (process.getuid?.() !== 0) {
    throw new Error(`${what} needs root to create network namespaces and veth pairs (CI runs as root); run as root`);
  }
}

export function ip(...args: string[]): string {
  return execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

export interface Helper {
  child: ChildProcess;
  /** the first line the helper printed */
  line: string;
}

let ifCounter = 0;

export class NetLab {
  /** a short tag (from the pid) that makes names unique per run */
  readonly tag: string;
  private readonly namespaces: string[] = [];
  private readonly links: string[] = [];
  private readonly children: ChildProcess[] = [];

  constructor(prefix = "kyoka") {
    this.tag = `${prefix}${(process.pid % 100000).toString(36)}`;
  }

  /** A unique interface name (≤ 15 characters, the kernel's limit). */
  ifname(): string {
    return `k${(ifCounter++).toString(36)}${(process.pid % 100000).toString(36)}`.slice(0, 15);
  }

  addNs(suffix: string): string {
    const name = `${this.tag}-${suffix}`;
    ip("netns", "add", name);
    this.namespaces.push(name);
    ip("-n", name, "link", "set", "lo", "up");
    return name;
  }

  /**
   * A veth pair: `rootIf` stays in the root namespace with `rootAddr` (CIDR notation), the peer
   * goes into `ns` with `peerAddr`; both ends up. Returns the root-side name.
   */
  addVeth(ns: string, rootAddr: string, peerAddr?: string, rootIf = this.ifname()): string {
    const peer = this.ifname();
    ip("link", "add", rootIf, "type", "veth", "peer", "name", peer);
    this.links.push(rootIf);
    ip("link", "set", peer, "netns", ns);
    if (peerAddr) ip("-n", ns, "addr", "add", peerAddr, "dev", peer);
    ip("-n", ns, "link", "set", peer, "up");
    ip("addr", "add", rootAddr, "dev", rootIf);
    ip("link", "set", rootIf, "up");
    return rootIf;
  }

  delLink(name: string): void {
    try { ip("link", "del", name); } catch { /* already gone */ }
    const i = this.links.indexOf(name);
    if (i >= 0) this.links.splice(i, 1);
  }

  /** Spawn a node one-liner (inside `netns` when given); resolves with the first line it prints. */
  node(script: string, netns?: string): Promise<Helper> {
    const cmd = netns ? "ip" : process.execPath;
    const args = netns ? ["netns", "exec", netns, process.execPath, "-e", script] : ["-e", script];
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "inherit"] });
    this.children.push(child);
    return new Promise((resolve, reject) => {
      const rl = createInterface({ input: child.stdout! });
      rl.once("line", (line) => resolve({ child, line }));
      child.once("exit", (code) => reject(new Error(`helper process exited (${code}) before it was ready`)));
    });
  }

  /** A TCP listener on `host` (port 0 = any) inside `netns`; `line` is its port. */
  listener(host: string, netns?: string): Promise<Helper> {
    return this.node(`const s=require("net").createServer((c)=>{c.on("error",()=>{})}).listen(0,${JSON.stringify(host)},()=>console.log(s.address().port));setInterval(()=>{},1e6);`, netns);
  }

  /** A process holding one TCP connection to host:port open; `line` is its local port. */
  connector(host: string, port: number): Promise<Helper> {
    return this.node(`const c=require("net").connect(${port},${JSON.stringify(host)},()=>console.log(c.localPort));c.on("error",()=>{});setInterval(()=>{},1e6);`);
  }

  kill(h: Helper): void {
    if (h.child.exitCode === null && h.child.signalCode === null) h.child.kill("SIGKILL");
  }

  /** Kill the helpers, delete the veths and namespaces created here. Never throws. */
  cleanup(): void {
    for (const c of this.children.splice(0)) {
      try { if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL"); } catch { /* gone */ }
    }
    for (const l of this.links.splice(0)) {
      try { execFileSync("ip", ["link", "del", l], { stdio: "ignore" }); } catch { /* gone with its namespace */ }
    }
    for (const ns of this.namespaces.splice(0)) {
      try { execFileSync("ip", ["netns", "del", ns], { stdio: "ignore" }); } catch { /* gone */ }
    }
  }
}
