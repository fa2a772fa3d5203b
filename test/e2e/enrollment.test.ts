/**
 * Enrollment tokens end to end with the real binary: `kyoka enroll-token create|list|delete`
 * against the running server's data folder, and `kyoka agent --enroll-token-file` (the token never
 * on the command line).
 */
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { cli, removeDir, root, run, startAgent, startServer, tempDir, waitFor, type Proc } from "../helpers/kyoka.js";

interface ApiEvent { id: number; agentId: string; type: string }

const dirs: string[] = [];
const procs: Proc[] = [];
function dir(): string { const d = tempDir(); dirs.push(d); return d; }
afterEach(async () => { await Promise.all(procs.splice(0).map((p) => p.kill("SIGKILL"))); });
afterAll(() => dirs.forEach(removeDir));

function kyoka(args: string[]): { code: number; stdout: string; stderr: string } {
  try {
    const stdout = execFileSync(process.execPath, [cli, ...args], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    return { code: 0, stdout, stderr: "" };
  } catch (err) {
    const e = err as { status: number; stdout: string; stderr: string };
    return { code: e.status, stdout: e.stdout, stderr: e.stderr };
  }
}

describe("kyoka enroll-token and --enroll-token-file", () => {
  it("a single-use token made by the CLI enrolls one agent from a file, not a second; list and delete", async () => {
    const data = dir();
    const server = await startServer({ dataDir: data });
    procs.push(server);

    const made = kyoka(["enroll-token", "create", "--uses", "1", "--expires", "1h", "--name", "e2e batch", "--data", data]);
    expect(made.code, made.stderr).toBe(0);
    const token = made.stdout.split("\n")[0]!.trim();
    expect(token).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    expect(made.stdout).toMatch(/uses 1; expires 20\d\d-/);
    const tokenFile = join(dir(), "enroll-token");
    writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });

    const agent = startAgent({ server: server.wsUrl, stateDir: dir(), extra: ["--collectors", "none", "--enroll-token-file", tokenFile] });
    procs.push(agent);
    await waitFor(async () => (await server.api<ApiEvent[]>("/api/events?type=agent.started")).body.length === 1, "the agent enrolled with the file's token");
    // the token is not on the agent's command line (what `ps` shows)
    const cmdline = readFileSync(`/proc/${agent.child.pid}/cmdline`, "utf8");
    expect(cmdline).not.toContain(token);

    const second = startAgent({ server: server.wsUrl, stateDir: dir(), extra: ["--collectors", "none", "--enroll-token-file", tokenFile] });
    procs.push(second);
    const exit = await second.exited;
    expect(exit.code).toBe(1);
    expect(second.stderr()).toMatch(/refused the enrollment token \(HTTP 401: enrollment token .* is used up \(1 of 1 uses\)\)/);

    const list = kyoka(["enroll-token", "list", "--data", data, "--json"]);
    expect(list.code).toBe(0);
    const tokens = JSON.parse(list.stdout) as Array<{ id: string; name: string; state: string; uses: number }>;
    expect(tokens).toHaveLength(1);
    expect(tokens[0]).toMatchObject({ name: "e2e batch", state: "used_up", uses: 1 });
    expect(list.stdout).not.toContain(token);

    // an unlimited token from the environment variable; deleted, it stops working
    const open = JSON.parse(kyoka(["enroll-token", "create", "--uses", "unlimited", "--expires", "never", "--data", data, "--json"]).stdout) as { id: string; token: string };
    const viaEnv = run(["agent", "--server", server.wsUrl, "--state-dir", dir(), "--collectors", "none"], { KYOKA_ENROLL_TOKEN: open.token });
    procs.push(viaEnv);
    await waitFor(async () => (await server.api<ApiEvent[]>("/api/events?type=agent.started")).body.length === 2, "the agent enrolled with KYOKA_ENROLL_TOKEN");
    expect(kyoka(["enroll-token", "delete", open.id, "--data", data]).code).toBe(0);
    const late = run(["agent", "--server", server.wsUrl, "--state-dir", dir(), "--collectors", "none"], { KYOKA_ENROLL_TOKEN: open.token });
    procs.push(late);
    expect((await late.exited).code).toBe(1);
    expect(late.stderr()).toMatch(/was deleted/);
  });

  it("usage errors: bad --uses, bad --expires, a data folder without a store, an empty token file", async () => {
    const data = dir();
    for (const [args, msg] of [
      [["--uses", "0"], /--uses 0/],
      [["--uses", "many"], /--uses many/],
      [["--expires", "soon"], /--expires soon/],
    ] as const) {
      const r = kyoka(["enroll-token", "create", ...args, "--data", data]);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toMatch(msg);
    }
    const none = kyoka(["enroll-token", "list", "--data", data]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/no kyoka\.db/);
    const empty = join(dir(), "empty");
    writeFileSync(empty, "\n");
    const agent = run(["agent", "--server", "ws://127.0.0.1:9", "--state-dir", dir(), "--enroll-token-file", empty]);
    expect((await agent.exited).code).toBe(2);
    expect(agent.stderr()).toMatch(/--enroll-token-file .*empty/);
  });
});
