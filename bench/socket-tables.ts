/**
 * One full read of every namespace's socket tables, /proc text vs netlink sock_diag
 * (agent/os/linux/sock-diag.ts), with 5,000 extra loopback sockets held open; and the network
 * collector's quick look at connections (readConnections: our namespace's TCP ESTABLISHED,
 * SYN_SENT and LISTEN rows, filtered in the kernel), without and with the rows already judged
 * skipped before decoding, and with the default policy's approved destinations (loopback) left out
 * by the kernel too (inet_diag bytecode) — what the collector asks for.
 *
 *   npx tsx bench/socket-tables.ts [--pairs 2500] [--reads 40]     (as root: sock_diag needs it)
 *
 * A child node process opens `pairs` loopback TCP connection pairs; this process then makes
 * `reads` full reads with each source, interleaved (so a load change hits both alike), and prints
 * the CPU time (user + system, process.cpuUsage) and wall time per read: median and p95, the
 * rows returned, and the load average. The two must return the same sockets (checked on the held
 * ones); TIME_WAIT rows, which sock_diag filters in the kernel, are not counted in either.
 */
import { spawn } from "node:child_process";
import { loadavg } from "node:os";
import { createInterface } from "node:readline";
import { SocketTableReader } from "../agent/os/linux/sockets.js";

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => (args.includes(name) ? args[args.indexOf(name) + 1]! : dflt);
const PAIRS = Number(opt("--pairs", "2500"));
const READS = Number(opt("--reads", "40"));

const holder = `
const net = require("net"); const held = [];
const srv = net.createServer((s) => { held.push(s); });
srv.listen(0, "127.0.0.1", async () => {
  for (let i = 0; i < ${PAIRS}; i++) await new Promise((r) => { const c = net.connect(srv.address().port, "127.0.0.1", r); held.push(c); });
  setTimeout(() => console.log(srv.address().port), 200);
});
setInterval(() => {}, 1e6);
`;

const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;
const round = (x: number): number => Math.round(x * 100) / 100;

async function main(): Promise<void> {
  const child = spawn(process.execPath, ["-e", holder], { stdio: ["ignore", "pipe", "inherit"] });
  try {
    const port = Number(await new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once("line", resolve)));
    const diag = new SocketTableReader();
    await diag.ready;
    if (diag.source !== "sock_diag") throw new Error("sock_diag is not available here (run as root, with koffi)");
    const proc = new SocketTableReader({ sockDiag: false });
    const held = (r: SocketTableReader) => r.read().filter((s) => s.inode !== 0 && (s.localPort === port || s.remotePort === port)).length;
    const counts = { sock_diag: held(diag), procfs: held(proc) };
    if (counts.sock_diag !== counts.procfs) throw new Error(`the sources disagree on the held sockets: ${JSON.stringify(counts)}`);
    const samples: Record<string, { cpu: number[]; wall: number[]; rows: number }> = {
      sock_diag: { cpu: [], wall: [], rows: 0 }, procfs: { cpu: [], wall: [], rows: 0 },
      connections: { cpu: [], wall: [], rows: 0 }, connectionsSkipKnown: { cpu: [], wall: [], rows: 0 },
      connectionsSkipKnownApproved: { cpu: [], wall: [], rows: 0 },
    };
    // the default policy's approved destinations (loopback): the kernel leaves those rows out
    const approved = [{ cidr: "127.0.0.0/8" }, { cidr: "::1/128" }];
    // the network collector's quick look (readConnections): TCP ESTABLISHED|SYN_SENT|LISTEN of our
    // namespace, filtered in the kernel; then the same with the rows judged before skipped
    const known = new Set(diag.readConnections()!.filter((s) => s.state === "ESTABLISHED").map((s) => s.inode));
    const load0 = loadavg()[0]!;
    for (let i = 0; i < READS; i++) {
      const reads = {
        sock_diag: () => diag.read(), procfs: () => proc.read(),
        connections: () => diag.readConnections()!, connectionsSkipKnown: () => diag.readConnections(known)!,
        connectionsSkipKnownApproved: () => diag.readConnections(known, approved)!,
      };
      for (const [name, read] of Object.entries(reads)) {
        const c0 = process.cpuUsage(), t0 = performance.now();
        const rows = read().filter((s) => s.inode !== 0).length;
        const wall = performance.now() - t0, c = process.cpuUsage(c0);
        samples[name]!.cpu.push((c.user + c.system) / 1000);
        samples[name]!.wall.push(wall);
        samples[name]!.rows = rows;
      }
    }
    const out = Object.fromEntries(Object.entries(samples).map(([k, s]) => [k, {
      rows: s.rows, cpuMsMedian: round(pct(s.cpu, 0.5)), cpuMsP95: round(pct(s.cpu, 0.95)), wallMsMedian: round(pct(s.wall, 0.5)), wallMsP95: round(pct(s.wall, 0.95)),
    }]));
    process.stdout.write(`${JSON.stringify({ bench: "socket-tables", pairs: PAIRS, reads: READS, heldSockets: counts.procfs, ...out, loadavg: [round(load0), round(loadavg()[0]!)] })}\n`);
  } finally {
    child.kill("SIGKILL");
  }
}

main().catch((err) => { process.stderr.write(`${String(err?.stack ?? err)}\n`); process.exit(1); });
