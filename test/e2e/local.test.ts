/**
 * The main job, as the README's first command runs it (`scripts/start.sh` = `kyoka local`): the
 * server on the embedded store plus this PC's agent as a child process, enrolled against it. The
 * dashboard answers on localhost, the agent is online with this machine's hostname and its
 * agent.started is stored; Ctrl-C (SIGINT) stops both cleanly — the agent first, so its
 * agent.stopped reaches the server before the server closes (checked by starting the server
 * again on the same data folder) — and leaves no agent process behind.
 * Runs the real agent with every collector (as root in CI, like the other e2e tests).
 */
import { readFileSync, readdirSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { api, freePort, processScope, run, startServer, waitFor } from "../helpers/kyoka.js";

const scope = processScope();

/** pids whose parent is `pid` */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) out.push(Number(d));
    } catch { /* exited */ }
  }
  return out;
}
const alive = (pid: number): boolean => { try { process.kill(pid, 0); return true; } catch { return false; } };

type Agent = { id: string; hostname: string; online: boolean };

describe("kyoka local (the main job)", () => {
  it("serves the dashboard, runs this PC's agent online, and stops both cleanly on Ctrl-C with nothing lost", { timeout: 180_000 }, async () => {
    const data = scope.dir();
    const port = await freePort();
    const local = scope.track(run(["local", "--port", String(port), "--data", data, "--state-dir", join(data, "agent"), "--log-format", "json"]));
    const url = await waitFor(() => {
      if (local.child.exitCode !== null) throw new Error(`kyoka local exited ${local.child.exitCode}`);
      return /kyoka is running: (\S+?)\/?\n/.exec(local.stdout())?.[1];
    }, "kyoka local to print its URL", 60_000);
    expect(url).toBe(`http://127.0.0.1:${port}`);
    expect(local.stdout()).toContain(join(data, "admin-token"));

    // the dashboard (Japanese first) on localhost
    const page = await fetch(`${url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/text\/html/);
    const html = await page.text();
    expect(html).toContain('<div id="app">');
    expect(html).toMatch(/<html[^>]* lang="ja"/);

    // this PC's agent, enrolled with the local enrollment token, online
    const token = readFileSync(join(data, "admin-token"), "utf8").trim();
    const agent = await waitFor(async () => (await api<Agent[]>(url, token, "/api/agents")).body.find((a) => a.online), "the local agent online", 60_000);
    expect(agent.hostname).toBe(hostname());
    await waitFor(async () => (await api<unknown[]>(url, token, `/api/events?agent=${agent.id}&type=agent.started`)).body.length > 0, "agent.started stored", 30_000);
    const agentPids = childrenOf(local.child.pid!);
    expect(agentPids.length).toBeGreaterThanOrEqual(1);

    // Ctrl-C: both stop, in order
    local.child.kill("SIGINT");
    const exit = await local.exited;
    expect(exit).toEqual({ code: 0, signal: null });
    for (const pid of agentPids) await waitFor(() => !alive(pid), `the agent process ${pid} gone`, 10_000);

    // the agent's last word reached the server before it closed
    const again = scope.track(await startServer({ dataDir: data }));
    const stopped = (await again.api<{ details: { reason?: string } }[]>(`/api/events?agent=${agent.id}&type=agent.stopped`)).body;
    expect(stopped).toHaveLength(1);
    expect((await again.api<Agent[]>("/api/agents")).body.map((a) => a.id)).toEqual([agent.id]);
  });
});
