/**
 * The agent never reports itself: a single executable carries the P2P catalog's markers and
 * protocol traits in its own bytes (under Wine the installed kyoka.exe was reported as qBittorrent,
 * with "traffic" on its own connection). A fake platform lists the agent's own process under a
 * client's name with its own executable, and a socket of its own on a P2P port, next to a real
 * client's process and socket: only the other process is reported.
 */
import { describe, expect, it } from "vitest";
import { P2pCollector } from "../../../agent/collectors/p2p/index.js";
import type { P2pPlatform } from "../../../agent/collectors/p2p/platform.js";
import { loadSignatures } from "../../../agent/collectors/p2p/signatures.js";
import { fakeContext } from "./live-helpers.js";

const OTHER = 2_000_000_001; // a pid no real process has

function platform(): P2pPlatform {
  const procs = [
    { pid: process.pid, ppid: 1, name: "qbittorrent-nox", cmdline: ["qbittorrent-nox"], exe: process.execPath },
    { pid: OTHER, ppid: 1, name: "qbittorrent-nox", cmdline: ["qbittorrent-nox", "--webui-port=8080"] },
  ];
  const sock = (pid: number, localPort: number) => ({
    protocol: "tcp" as const, family: 4 as const, localAddress: "0.0.0.0", localPort, remoteAddress: "0.0.0.0", remotePort: 0,
    state: "LISTEN" as const, uid: 0, inode: pid === OTHER ? 11 : 12, netns: 1, pid,
  });
  return {
    os: "linux",
    listProcesses: async () => procs,
    executableOf: () => undefined,
    installed: async () => [],
    isAlive: () => true,
    sockets: { read: async () => [sock(process.pid, 8999), sock(OTHER, 6881)] },
  };
}

describe("p2p: the agent itself", () => {
  it("is never reported running or as P2P traffic, whatever its name, bytes and ports", async () => {
    const ctx = fakeContext("p2p: { scanSeconds: 3600, presentPaths: [] }");
    const collector = new P2pCollector({ platform: platform(), signatures: loadSignatures(), processEvents: null });
    await collector.start(ctx);
    try {
      await collector.scanOnce({ present: "wait" });
      const running = ctx.events.filter((e) => e.type === "p2p.running");
      const traffic = ctx.events.filter((e) => e.type === "p2p.traffic");
      expect(running.map((e) => e.details.pid)).toEqual([OTHER]);
      expect(traffic.length).toBeGreaterThan(0);
      expect(traffic.every((e) => e.details.pid === OTHER)).toBe(true);
      expect(JSON.stringify(ctx.events)).not.toContain(`"pid":${process.pid}`);
    } finally {
      await collector.stop();
    }
  });
});
