/**
 * Process events: the kernel's proc connector (live, needs root on the host: CI runs as root), the
 * fallback to polling when the connector is unavailable (a real user namespace, where the kernel
 * stays silent; a source that fails to start), and the pure decoding of connector messages.
 * Nothing here asserts timing: each live test waits for the event it expects (bounded by the test
 * timeout) and checks what it carries.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { afterEach, describe, expect, it } from "vitest";
import { runInUserNamespace } from "./userns.js";
import { pino } from "pino";
import { PollingProcessSource, ProcessEvents, type ProcessEventSink, type ProcessSource } from "../../agent/os/process-events.js";
import { kernelFiltersProcEvents, mcastMessage, NetlinkProcSource, parseProcEvents, procPidIdentities, PROC_EVENT_EXEC, PROC_EVENT_EXIT, PROC_EVENT_FORK } from "../../agent/os/linux/proc-events.js";

const log = pino({ level: "silent" });

function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new Error("the proc connector tests need root on the host (CAP_NET_ADMIN in the initial namespaces): run them as root, as CI does");
}

const children: ChildProcess[] = [];
afterEach(() => { for (const c of children.splice(0)) c.kill("SIGKILL"); });

function sleeper(seconds = 30): ChildProcess {
  const c = spawn("/bin/sleep", [String(seconds)], { stdio: "ignore" });
  children.push(c);
  return c;
}

/** Resolves with the first pid for which `pick` holds, reported through `on`. */
function first(on: (fn: (pid: number) => void) => () => void, pick: (pid: number) => boolean): Promise<number> {
  return new Promise((resolve) => {
    const off = on((pid) => { if (pick(pid)) { off(); resolve(pid); } });
  });
}

describe("proc connector (live)", () => {
  it("reports a real process start (exec, with its pid) and its exit", async () => {
    requireRoot();
    const events = new ProcessEvents({ log });
    let target = -1;
    const exec = first((fn) => events.onExec(fn), (pid) => pid === target);
    const exit = first((fn) => events.onExit(fn), (pid) => pid === target);
    const fork = new Promise<[number, number]>((resolve) => events.onFork((pid, parent) => { if (pid === target) resolve([pid, parent]); }));
    await events.start();
    try {
      expect(events.mode).toBe("netlink");
      const child = sleeper();
      target = child.pid!;
      expect(await exec).toBe(target);
      // node forked it: the fork names this process as the parent
      expect(await fork).toEqual([target, process.pid]);
      child.kill("SIGTERM");
      expect(await exit).toBe(target);
      expect(events.counts.resync).toBe(0);
    } finally {
      await events.stop();
    }
  });

  it("threads are not processes: a new thread is neither a fork nor an exit", async () => {
    requireRoot();
    const events = new ProcessEvents({ log });
    const forks: number[] = [], exits: number[] = [];
    events.onFork((pid, parent) => { if (parent === process.pid) forks.push(pid); });
    events.onExit((pid) => { if (pid === process.pid) exits.push(pid); });
    await events.start();
    try {
      expect(events.mode).toBe("netlink");
      // a worker thread starts and ends inside this process
      const { Worker } = await import("node:worker_threads");
      const w = new Worker("process.exit(0)", { eval: true });
      await once(w, "exit");
      // then a real child, whose events come after the thread's on the same socket
      let target = -1;
      const exec = first((fn) => events.onExec(fn), (pid) => pid === target);
      const child = sleeper();
      target = child.pid!;
      await exec;
      expect(forks).toEqual([target]);
      expect(exits).toEqual([]);
    } finally {
      await events.stop();
    }
  });

  it("shares one source between users: the second start reuses it, the source ends with the last stop", async () => {
    requireRoot();
    const events = new ProcessEvents({ log });
    await events.start();
    await events.start();
    await events.stop();
    expect(events.mode).toBe("netlink");
    let target = -1;
    const exec = first((fn) => events.onExec(fn), (pid) => pid === target);
    target = sleeper().pid!;
    expect(await exec).toBe(target);
    await events.stop();
    expect(events.mode).toBeUndefined();
  });
});

describe("fallback to polling", () => {
  it("in a user namespace (as in a container) the kernel stays silent: polling is chosen and still reports a real process", async () => {
    // a child node in a new user namespace (root mapped): the proc connector ignores it
    const script = `
      import { ProcessEvents } from "./agent/os/process-events.ts";
      import { pino } from "pino";
      import { spawn } from "node:child_process";
      const events = new ProcessEvents({ log: pino({ level: "silent" }), pollMs: 100 });
      let target = -1;
      const seen = new Promise((resolve) => events.onExec((pid) => { if (pid === target) resolve(pid); }));
      await events.start();
      const c = spawn("/bin/sleep", ["30"], { stdio: "ignore" });
      target = c.pid;
      const pid = await seen;
      console.log(JSON.stringify({ mode: events.mode, child: target, seen: pid }));
      c.kill(); await events.stop();
    `;
    const { code, out, err } = await runInUserNamespace(script);
    expect(err).toBe("");
    expect(code).toBe(0);
    const r = JSON.parse(out) as { mode: string; child: number; seen: number };
    expect(r.mode).toBe("poll");
    expect(r.seen).toBe(r.child);
  });

  it("a source that cannot start is passed over: polling reports a real process start and exit", async () => {
    const broken: ProcessSource = { mode: "netlink", start: async () => { throw new Error("koffi not loadable"); }, stop: async () => undefined };
    const lines: unknown[] = [];
    const recording = pino({ level: "info" }, { write: (s: string) => { lines.push(JSON.parse(s)); } });
    const events = new ProcessEvents({ log: recording, sources: () => [broken, new PollingProcessSource(procPidIdentities(), 50)] });
    let target = -1;
    const exec = first((fn) => events.onExec(fn), (pid) => pid === target);
    const exit = first((fn) => events.onExit(fn), (pid) => pid === target);
    await events.start();
    try {
      expect(events.mode).toBe("poll");
      expect(lines).toContainEqual(expect.objectContaining({ mode: "poll", unavailable: ["netlink: koffi not loadable"] }));
      const child = sleeper();
      target = child.pid!;
      expect(await exec).toBe(target);
      child.kill("SIGKILL");
      await once(child, "exit");
      expect(await exit).toBe(target);
    } finally {
      await events.stop();
    }
  });

  it("no source at all is an error the caller sees", async () => {
    const broken: ProcessSource = { mode: "netlink", start: async () => { throw new Error("nope"); }, stop: async () => undefined };
    const events = new ProcessEvents({ log, sources: () => [broken] });
    await expect(events.start()).rejects.toThrow(/no source could start.*nope/);
  });

  it("polling reports new pids, a changed program (exec) and gone pids", () => {
    let table = new Map<number, string>([[1, "/sbin/init"], [10, "/bin/bash"]]);
    const src = new PollingProcessSource(() => table, 60_000);
    const got: string[] = [];
    const sink: ProcessEventSink = {
      exec: (pid) => got.push(`exec ${pid}`), fork: (pid) => got.push(`fork ${pid}`),
      exit: (pid) => got.push(`exit ${pid}`), resync: () => got.push("resync"),
    };
    void src.start(sink);
    table = new Map([[1, "/sbin/init"], [10, "/usr/bin/qbittorrent-nox"], [11, "/bin/ls"]]);
    src.poll(sink);
    table = new Map([[1, "/sbin/init"], [10, "/usr/bin/qbittorrent-nox"]]);
    src.poll(sink);
    void src.stop();
    expect(got).toEqual(["exec 10", "fork 11", "exec 11", "exit 11"]);
  });
});

describe("proc connector messages", () => {
  /** nlmsghdr + cn_msg + proc_event as the kernel lays them out (little-endian host). */
  function message(what: number, data: number[], seq = 7, ack = 0): Buffer {
    const ev = Buffer.alloc(16 + 24);
    ev.writeUInt32LE(what, 0);
    ev.writeUInt32LE(1, 4); // cpu
    ev.writeBigUInt64LE(123456789n, 8);
    data.forEach((v, i) => ev.writeUInt32LE(v >>> 0, 16 + 4 * i));
    const cn = Buffer.alloc(20);
    cn.writeUInt32LE(1, 0); cn.writeUInt32LE(1, 4); cn.writeUInt32LE(seq, 8); cn.writeUInt32LE(ack, 12); cn.writeUInt16LE(ev.length, 16);
    const nl = Buffer.alloc(16);
    nl.writeUInt32LE(16 + 20 + ev.length, 0); nl.writeUInt16LE(3, 4);
    return Buffer.concat([nl, cn, ev]);
  }

  it("decodes exec, fork, exit and the subscription ack", () => {
    expect(parseProcEvents(message(PROC_EVENT_EXEC, [4242, 4242]))).toEqual([{ what: "exec", pid: 4242, tgid: 4242 }]);
    expect(parseProcEvents(message(PROC_EVENT_FORK, [100, 100, 101, 100]))).toEqual([{ what: "fork", parentPid: 100, parentTgid: 100, childPid: 101, childTgid: 100 }]);
    expect(parseProcEvents(message(PROC_EVENT_EXIT, [77, 77, 256]))).toEqual([{ what: "exit", pid: 77, tgid: 77, exitCode: 256 }]);
    expect(parseProcEvents(message(0, [1], 389, 1))).toEqual([{ what: "ack", seq: 389, ack: 1, err: 1 }]);
    expect(parseProcEvents(message(0x200, [5, 5]))).toEqual([{ what: "other", code: 0x200 }]);
  });

  it("skips truncated, foreign and malformed datagrams without throwing", () => {
    const m = message(PROC_EVENT_EXEC, [1, 1]);
    expect(parseProcEvents(m.subarray(0, 30))).toEqual([]);
    const foreign = Buffer.from(m);
    foreign.writeUInt32LE(9, 16); // another connector index
    expect(parseProcEvents(foreign)).toEqual([]);
    const badLen = Buffer.from(m);
    badLen.writeUInt32LE(10_000, 0);
    expect(parseProcEvents(badLen)).toEqual([]);
    expect(parseProcEvents(Buffer.alloc(0))).toEqual([]);
  });

  it("builds the subscribe message, with the event filter for kernels that take it", () => {
    const plain = mcastMessage(1, 5);
    expect(plain.length).toBe(40);
    expect(plain.readUInt32LE(0)).toBe(40);
    expect(plain.readUInt16LE(16 + 16)).toBe(4);
    const filtered = mcastMessage(1, 5, PROC_EVENT_EXEC | PROC_EVENT_EXIT);
    expect(filtered.readUInt16LE(16 + 16)).toBe(8);
    expect(filtered.readUInt32LE(16 + 24)).toBe((PROC_EVENT_EXEC | PROC_EVENT_EXIT) >>> 0);
    expect(kernelFiltersProcEvents("6.18.44-fc-v1098")).toBe(true);
    expect(kernelFiltersProcEvents("6.6.0")).toBe(true);
    expect(kernelFiltersProcEvents("6.5.13")).toBe(false);
    expect(kernelFiltersProcEvents("5.15.0-91-generic")).toBe(false);
    expect(kernelFiltersProcEvents("weird")).toBe(false);
  });

  it("NetlinkProcSource.stop before start is harmless", async () => {
    await new NetlinkProcSource().stop();
  });
});
