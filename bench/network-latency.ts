/**
 * Network change → API latency: a real server and a real agent (network collector only) as child
 * processes, with veth pairs and a network namespace made here (10.231.65–68.x; the machine's own
 * routes are never touched, everything is removed at the end, also on failure).
 *
 *  - attachment: a veth pair is added, the root end gets an address in a new /28 and is set up;
 *    time from the last `ip` command returning to `network.attached` for that interface being
 *    visible in `GET /api/events` (polled every 20 ms);
 *  - connection: a new process opens and holds a TCP connection to a listener inside the test
 *    namespace, each time on another listening port (so the once-per-window dedupe hides none);
 *    time from the process reporting "connected" to `network.connection` for that remote port
 *    being visible.
 * Between changes: --pause-ms plus 0–2 s at random (so the changes do not fall into step with
 * the agent's 2 s poll). Prints p50/p95/max of each and the load average at start and end. Needs
 * root. Run `npm run build` first (the agent is dist/cli/main.js).
 *
 *   npx tsx bench/network-latency.ts [--n 20] [--pause-ms 500] [--hold-sockets N] [--churn-ms MS]
 *
 * --hold-sockets N holds N loopback sockets open on the machine during the run, --churn-ms MS
 * opens and closes another connection every MS ms (a busy machine: thousands of sockets, TCP
 * ActiveOpens moving all the time), as bench/agent-idle.ts does.
 *
 * Targets (issue 18): attachment and connection p95 ≤ 500 ms each.
 */
import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { NetLab, requireRootFor, type Helper } from "../test/helpers/netlab.js";
import { cli, percentile, sleep, socketHolder, startServer, tmp, until } from "./lib.js";

requireRootFor("bench/network-latency.ts");
const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => (args.includes(name) ? args[args.indexOf(name) + 1]! : dflt);
const n = Math.min(Number(opt("--n", "20")), 32);
const pauseMs = Number(opt("--pause-ms", "500"));
const holdSockets = Number(opt("--hold-sockets", "0"));
const churnMs = Number(opt("--churn-ms", "0"));
const pollMs = 20;
/** the pause plus up to one poll interval (2 s) at random, so the changes do not fall into step with the agent's poll */
const pause = (): number => pauseMs + Math.random() * 2000;

interface ApiEvent { type: string; details: Record<string, unknown> }


const holder = await socketHolder(holdSockets, churnMs);
const lab = new NetLab("kybench");
const stateDir = tmp("kyoka-bench-net-agent-");
const load0 = loadavg();
const server = await startServer();
const agent = spawn(process.execPath, [cli, "agent", "--server", server.url.replace(/^http/, "ws"), "--state-dir", stateDir, "--enroll-token", server.enrollToken, "--collectors", "network"], {
  stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, KYOKA_LOG_LEVEL: "warn" },
});
const api = async <T>(path: string): Promise<T> => {
  const res = await fetch(server.url + path, { headers: { authorization: `Bearer ${server.adminToken}` } });
  if (res.status !== 200) throw new Error(`GET ${path}: ${res.status}`);
  return (await res.json()) as T;
};

const attachMs: number[] = [];
const connectMs: number[] = [];
try {
  const agentId = await until(async () => (await api<{ id: string }[]>("/api/agents"))[0]?.id, "the agent to enroll", 30_000, 100);
  await until(async () => ((await api<ApiEvent[]>(`/api/events?type=agent.started&agent=${agentId}`)).length ? true : undefined), "agent.started", 30_000, 100);
  const ns = lab.addNs("peer");
  await sleep(3000);

  const visible = async (type: string, pick: (e: ApiEvent) => boolean, what: string): Promise<void> => {
    await until(async () => ((await api<ApiEvent[]>(`/api/events?type=${type}&agent=${agentId}&limit=50`)).some(pick) ? true : undefined), what, 60_000, pollMs);
  };

  // attachment: the i-th /28 of 10.231.66.0/23
  for (let i = 0; i < n; i++) {
    const base = 16 * (i % 16);
    const net = `10.231.${66 + Math.floor(i / 16)}`;
    const iface = lab.ifname();
    lab.addVeth(ns, `${net}.${base + 1}/28`, `${net}.${base + 2}/28`, iface);
    const t0 = performance.now();
    await visible("network.attached", (e) => e.details.iface === iface, `network.attached ${iface}`);
    attachMs.push(performance.now() - t0);
    await sleep(pause());
  }

  // connection: n listening ports in the namespace (one process), a new client process per port
  lab.addVeth(ns, "10.231.68.1/24", "10.231.68.2/24");
  const listener = await lab.node(
    `const net=require("net");const ports=[];let k=0;for(let i=0;i<${n};i++){const s=net.createServer((c)=>c.on("error",()=>{})).listen(0,"10.231.68.2",()=>{ports[i]=s.address().port;if(++k===${n})console.log(ports.join(","));});}setInterval(()=>{},1e6);`,
    ns);
  const ports = listener.line.split(",").map(Number);
  // let the listeners' own events (and the owner scan they need) settle first
  await visible("network.listening", (e) => e.details.port === ports[n - 1], "the listeners' events");
  await sleep(pauseMs);
  const clients: Helper[] = [];
  for (const port of ports) {
    const client = await lab.connector("10.231.68.2", port);
    const t0 = performance.now();
    clients.push(client);
    await visible("network.connection", (e) => e.details.remotePort === port && e.details.remoteAddress === "10.231.68.2", `network.connection :${port}`);
    connectMs.push(performance.now() - t0);
    await sleep(pause());
  }
} finally {
  lab.cleanup();
  if (agent.exitCode === null && agent.signalCode === null) {
    const agentExited = new Promise((r) => agent.once("exit", r));
    agent.kill("SIGTERM");
    await agentExited;
  }
  await server.stop();
  holder?.kill();
  rmSync(stateDir, { recursive: true, force: true });
}

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { n: s.length, p50: Math.round(percentile(s, 50)), p95: Math.round(percentile(s, 95)), max: Math.round(s[s.length - 1] ?? NaN), min: Math.round(s[0] ?? NaN) };
};
process.stdout.write(JSON.stringify({
  machine: { cpus: cpus().length, load1AtStart: +load0[0]!.toFixed(2), load1AtEnd: +loadavg()[0]!.toFixed(2) },
  pauseMs, holdSockets, churnMs,
  attachmentToApiMs: stats(attachMs),
  connectionToApiMs: stats(connectMs),
}, null, 2) + "\n");
