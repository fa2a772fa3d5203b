/**
 * A readable console: `kyoka server` (and `agent`, `local`) print readable lines on a terminal and
 * JSON lines when stderr is not a terminal or with `--log-format json`. The terminal case runs the
 * built CLI under a pseudo-terminal with `script` (bsdutils, installed by scripts/setup.sh --test).
 */
import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { cli, freePort, processScope, run, waitFor } from "../helpers/kyoka.js";

const scope = processScope();

/** `kyoka server` on a pseudo-terminal until it listens; returns what the terminal showed. */
async function serverOnTerminal(extra: string[]): Promise<string> {
  const port = await freePort();
  const cmd = [process.execPath, cli, "server", "--port", String(port), "--host", "127.0.0.1", "--data", scope.dir(), ...extra].map((a) => `'${a}'`).join(" ");
  const child = spawn("script", ["-qefc", cmd, "/dev/null"], { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, KYOKA_LOG_FORMAT: "" } });
  let out = "";
  child.stdout.on("data", (d: Buffer) => { out += d.toString("utf8"); });
  try {
    await waitFor(() => /server listening on/.test(out) && /admin token:/.test(out), "the server to listen on the terminal", 30_000);
  } finally {
    // Ctrl-C on the terminal: the server stops cleanly and script exits with it
    const exited = new Promise((r) => child.once("exit", r));
    child.stdin.write("\x03");
    const t = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(t);
  }
  // colours off for the comparison
  return out.replace(/\x1b\[[0-9;]*m/g, "");
}

describe("console: readable lines on a terminal, JSON otherwise", () => {
  it("on a terminal: one readable line per record (time, level, component: message), no JSON", async () => {
    const out = await serverOnTerminal([]);
    expect(out).toMatch(/\[\d\d:\d\d:\d\d\] INFO: server: kyoka server listening on http:\/\/127\.0\.0\.1:\d+/);
    expect(out).toMatch(/INFO: server:media: media ledger \(媒体台帳\) loaded/);
    expect(out.split(/\r?\n/).some((l) => l.startsWith('{"level"'))).toBe(false);
  });

  it("on a terminal with --log-format json: JSON lines", async () => {
    const out = await serverOnTerminal(["--log-format", "json"]);
    const records = out.split(/\r?\n/).filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as { component?: string; msg: string });
    expect(records.some((r) => r.component === "server" && r.msg.startsWith("kyoka server listening"))).toBe(true);
  });

  it("not on a terminal (a pipe): JSON lines; --log-format pretty: readable lines; a bad format is a usage error", async () => {
    const port = await freePort();
    const p = scope.track(run(["server", "--port", String(port), "--host", "127.0.0.1", "--data", scope.dir()]));
    await waitFor(() => /listening on/.test(p.stdout()), "the server to listen", 30_000);
    await waitFor(() => /kyoka server listening/.test(p.stderr()), "the log line", 10_000);
    await p.kill();
    const lines = p.stderr().trim().split("\n");
    for (const l of lines) expect(() => JSON.parse(l), l).not.toThrow();

    const port2 = await freePort();
    const q = scope.track(run(["server", "--port", String(port2), "--host", "127.0.0.1", "--data", scope.dir(), "--log-format", "pretty"]));
    await waitFor(() => /INFO: server: kyoka server listening/.test(q.stderr()), "a readable log line", 30_000);
    await q.kill();
    expect(q.stderr()).not.toMatch(/^\{"level"/m);

    const bad = scope.track(run(["agent", "--server", "ws://127.0.0.1:1", "--log-format", "xml"]));
    expect((await bad.exited).code).toBe(2);
    expect(bad.stderr()).toMatch(/--log-format/);
  });
});
