/**
 * lib/exec.ts, the one command runner, on real child processes (this Node as the program):
 * output and exit codes, encodings, environment, and each way a run ends early — timeout, abort,
 * too much output (killed or truncated) — and the one rejection, a program that cannot start.
 */
import { describe, expect, it } from "vitest";
import { exec, execFailure, stdoutOf } from "../../lib/exec.js";

const node = process.execPath;
const js = (code: string): string[] => ["-e", code];
/** a child that would run for a minute: every test that uses it ends it early */
const forever = js("setInterval(() => {}, 1000); process.stdout.write('started\\n')");

describe("exec", () => {
  it("returns the exit code, stdout and stderr of a run", async () => {
    const r = await exec(node, js("process.stdout.write('out'); process.stderr.write('err\\nmore'); process.exitCode = 3"));
    expect(r).toEqual({ code: 3, signal: null, stdout: "out", stderr: "err\nmore", timedOut: false, aborted: false, overflowed: false });
    expect(() => stdoutOf("x", ["a"], r)).toThrow("x a: exit 3: err");
    expect(stdoutOf("x", [], { ...r, code: 0 })).toBe("out");
  });

  it("passes arguments as they are (no shell) and decodes UTF-8 split across chunks", async () => {
    const r = await exec(node, [...js("const b = Buffer.from(process.argv[1].repeat(20000)); for (let i = 0; i < b.length; i += 7) process.stdout.write(b.subarray(i, i + 7))"), "日本語 $HOME *"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("日本語 $HOME *".repeat(20000));
  });

  it("returns bytes with encoding: buffer", async () => {
    const r = await exec(node, js("process.stdout.write(Buffer.from([0x82, 0xa0, 0x00, 0xff]))"), { encoding: "buffer" });
    expect(Buffer.isBuffer(r.stdout)).toBe(true);
    expect([...r.stdout]).toEqual([0x82, 0xa0, 0x00, 0xff]);
    expect(r.stderr).toEqual(Buffer.alloc(0));
  });

  it("runs with the environment given, else this process's", async () => {
    const print = js("process.stdout.write(String(process.env.KYOKA_EXEC_TEST) + ' ' + String(process.env.LC_ALL))");
    expect((await exec(node, print, { env: { KYOKA_EXEC_TEST: "given", LC_ALL: "C" } })).stdout).toBe("given C");
    process.env.KYOKA_EXEC_TEST = "inherited";
    try {
      expect((await exec(node, print)).stdout).toMatch(/^inherited /);
    } finally {
      delete process.env.KYOKA_EXEC_TEST;
    }
  });

  it("kills a run past its timeout with killSignal (SIGTERM by default), keeping what it wrote", async () => {
    // long enough for the child to have started and written under load
    const r = await exec(node, forever, { timeoutMs: 4000 });
    expect(r).toMatchObject({ code: null, signal: "SIGTERM", timedOut: true, aborted: false, stdout: "started\n" });
    expect(execFailure("node", ["-e"], r)).toBe("node -e: timed out");
    expect(await exec(node, forever, { timeoutMs: 500, killSignal: "SIGKILL" })).toMatchObject({ signal: "SIGKILL", timedOut: true });
  });

  it("stops the child with SIGTERM when aborted, and does not start one when already aborted", async () => {
    const ac = new AbortController();
    const running = exec(node, js("process.stdout.write('ready'); setInterval(() => {}, 1000)"), { signal: ac.signal, killSignal: "SIGKILL" });
    setTimeout(() => ac.abort(), 300);
    expect(await running).toMatchObject({ code: null, signal: "SIGTERM", aborted: true, timedOut: false });
    expect(await exec("/nonexistent/kyoka-cmd", [], { signal: ac.signal })).toMatchObject({ code: null, aborted: true, stdout: "" });
  });

  it("kills a child writing more than maxBuffer (the default), or keeps the first bytes and lets it finish (truncate)", async () => {
    const big = js("process.stdout.write('x'.repeat(3 * 1024 * 1024)); process.stderr.write('done')");
    const killed = await exec(node, big);
    expect(killed).toMatchObject({ code: null, signal: "SIGTERM", overflowed: true });
    expect(killed.stdout.length).toBeLessThanOrEqual(1024 * 1024);
    const truncated = await exec(node, big, { maxBuffer: 1000, overflow: "truncate" });
    expect(truncated).toMatchObject({ code: 0, overflowed: true, stderr: "done" });
    expect(truncated.stdout).toBe("x".repeat(1000));
  });

  it("rejects only when the program cannot be started", async () => {
    await expect(exec("/nonexistent/kyoka-cmd", [])).rejects.toMatchObject({ code: "ENOENT" });
    await expect(exec("kyoka-no-such-command-on-path", ["a"])).rejects.toMatchObject({ code: "ENOENT" });
  });
});
