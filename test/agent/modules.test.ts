/**
 * What `kyoka agent` loads (test/helpers/module-log.mjs lists every module of the process): none of
 * the server's modules or the libraries only the server uses — each costs the long-lived agent
 * memory (BENCHMARKS.md, issue 18) — and on x86-64 Linux not systeminformation (kyoka's own
 * readers). The agent runs with every collector and a server that does not answer (it keeps
 * collecting and retrying), until it has started its collectors and tried to enroll.
 */
import { readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { freePort, processScope, root, run, waitFor } from "../helpers/kyoka.js";

const scope = processScope();

describe("kyoka agent's modules", () => {
  it("loads no server module, no better-sqlite3, fastify, pg or nodemailer, and no systeminformation on x86-64 Linux", async () => {
    const log = join(scope.dir(), "modules.log");
    const hook = fileURLToPath(new URL("../helpers/module-log.mjs", import.meta.url));
    const port = await freePort(); // nobody listens: enrollment fails and is retried
    const agent = scope.track(run(["agent", "--server", `ws://127.0.0.1:${port}`, "--state-dir", scope.dir(), "--enroll-token", "t".repeat(32)], {
      KYOKA_MODULE_LOG: log, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --import ${hook}`, KYOKA_LOG_LEVEL: "info",
    }));
    await waitFor(() => agent.stderr().includes("cannot enroll yet") && agent.stderr().includes("executed collector started"), "the agent's collectors and first enrollment", 60_000);
    const modules = [...new Set(readFileSync(log, "utf8").split("\n").filter(Boolean)
      .map((m) => relative(root, m.startsWith("file:") ? fileURLToPath(m) : m)))];
    // the list is real: the agent and its collectors are in it
    expect(modules).toEqual(expect.arrayContaining(["dist/agent/agent.js", "dist/agent/collectors/executed/collector.js", "dist/agent/collectors/p2p/collector.js"]));
    const never = [
      /^dist\/server\//, /^dist\/dashboard\//, /^dist\/cli\/(server-config|server-command|local-command|people-command|report-command)\.js$/,
      /^node_modules\/(fastify|@fastify|better-sqlite3|pg|nodemailer|prom-client|fastify-type-provider-zod)\//,
      ...(process.platform === "linux" && process.arch === "x64" ? [/^node_modules\/systeminformation\//] : []),
    ];
    expect(modules.filter((m) => never.some((re) => re.test(m)))).toEqual([]);
  }, 90_000);
});
