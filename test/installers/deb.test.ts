/**
 * The .deb packages (installers/build.sh deb), installed with dpkg on this machine (root; under
 * the test lock — dpkg is machine-wide): files, owners and modes as designed, `systemd-analyze
 * verify` accepts the units, the agent enrolls at install from a pre-seeded /etc/kyoka/agent.yaml,
 * the unit's command runs the agent with that config, a reinstall (upgrade) keeps the state,
 * `dpkg -r` stops/disables and keeps config + state, `dpkg -P` deletes them. No running systemd is
 * needed (the maintainer scripts only use deb-systemd-helper, and systemctl when systemd runs).
 */
import { execFileSync } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dpkg, installedVersion, requireRoot } from "../helpers/dpkg.js";
import { freePort, processScope, startServer, waitFor, type ServerProc } from "../helpers/kyoka.js";
import { buildInstallers, outDir, runProgram, version } from "./helpers.js";

const scope = processScope();
const agentDeb = join(outDir, `kyoka_${version}_amd64.deb`);
const serverDeb = join(outDir, `kyoka-server_${version}_amd64.deb`);
const wants = "/etc/systemd/system/multi-user.target.wants/kyoka-agent.service";
let server: ServerProc;

type Agent = { id: string; online: boolean; hostname: string };

function mode(path: string): string {
  return (statSync(path).mode & 0o7777).toString(8);
}
function owner(path: string): string {
  const st = lstatSync(path);
  return `${st.uid}:${st.gid}`;
}

beforeAll(async () => {
  requireRoot("the .deb tests");
  buildInstallers("deb");
  // debconf answers go to a throwaway database, not the machine's
  const db = scope.dir();
  process.env.DEBCONF_DB_OVERRIDE = `File{${join(db, "config.dat")}}`;
  process.env.DEBIAN_FRONTEND = "noninteractive";
  // a leftover of an interrupted run
  for (const p of ["kyoka-server", "kyoka"]) if (await installedVersion(p)) await dpkg(["--purge", p]);
  if (existsSync("/etc/kyoka/agent.yaml") || existsSync("/var/lib/kyoka")) {
    throw new Error("/etc/kyoka/agent.yaml or /var/lib/kyoka exists without the kyoka package: not touching them");
  }
  // lives for the whole file (a tracked process is killed after each test)
  server = await startServer({ dataDir: scope.dir() });
}, 900_000);

afterAll(async () => {
  await server?.kill("SIGTERM");
  for (const p of ["kyoka-server", "kyoka"]) if (await installedVersion(p)) await dpkg(["--purge", p]);
}, 120_000);

describe("the kyoka .deb", () => {
  it("installs with a pre-seeded config: files, owners, modes, the service enabled, enrolled at install", async () => {
    mkdirSync("/etc/kyoka", { recursive: true });
    writeFileSync("/etc/kyoka/agent.yaml", `server: ${server.wsUrl}\nenrollToken: ${server.enrollToken}\nstateDir: /var/lib/kyoka\n`, { mode: 0o644 });
    await dpkg(["-i", agentDeb]);
    expect(await installedVersion("kyoka")).toBe(version);

    expect(owner("/usr/lib/kyoka/kyoka")).toBe("0:0");
    expect(mode("/usr/lib/kyoka/kyoka")).toBe("755");
    expect(readlinkSync("/usr/bin/kyoka")).toBe("../lib/kyoka/kyoka");
    expect(mode("/lib/systemd/system/kyoka-agent.service")).toBe("644");
    expect(owner("/etc/kyoka/agent.yaml")).toBe("0:0");
    expect(mode("/etc/kyoka/agent.yaml")).toBe("600");
    expect(owner("/var/lib/kyoka")).toBe("0:0");
    expect(mode("/var/lib/kyoka")).toBe("700");
    // enabled (deb-systemd-helper) without a running systemd
    expect(readlinkSync(wants)).toBe("/lib/systemd/system/kyoka-agent.service");

    // enrolled by postinst (kyoka enroll) from the pre-seeded config
    const cred = JSON.parse(readFileSync("/var/lib/kyoka/credential.json", "utf8")) as { agentId: string; server: string };
    expect(mode("/var/lib/kyoka/credential.json")).toBe("600");
    expect(cred.server).toBe(server.wsUrl);
    const agents = (await server.api<Agent[]>("/api/agents")).body;
    expect(agents.map((a) => a.id)).toEqual([cred.agentId]);
  });

  it("systemd-analyze verify accepts the units", () => {
    execFileSync("systemd-analyze", ["verify", "/lib/systemd/system/kyoka-agent.service"], { stdio: "pipe" });
    const unit = readFileSync("/lib/systemd/system/kyoka-agent.service", "utf8");
    expect(unit).toMatch(/^Restart=on-failure$/m);
    expect(unit).toMatch(/^StateDirectoryMode=0700$/m);
    // a private mount namespace would hide the agent's read-only remount of media from the session
    expect(unit).not.toMatch(/^(ProtectSystem|ProtectHome|PrivateTmp)=/m);
  });

  it("the unit's command runs the agent from the installed config, with the credential of the install", async () => {
    const unit = readFileSync("/lib/systemd/system/kyoka-agent.service", "utf8");
    const cmd = /^ExecStart=(.+)$/m.exec(unit)![1]!.split(" ");
    const agent = scope.track(runProgram(cmd[0]!, [...cmd.slice(1), "--collectors", "none"], { env: { ...process.env, KYOKA_CACHE_DIR: "" } }));
    const cred = JSON.parse(readFileSync("/var/lib/kyoka/credential.json", "utf8")) as { agentId: string };
    await waitFor(async () => (await server.api<Agent[]>("/api/agents")).body.find((a) => a.id === cred.agentId && a.online), "the installed agent online", 60_000);
    expect((await server.api<Agent[]>("/api/agents")).body).toHaveLength(1);
    expect((await agent.kill("SIGTERM")).code).toBe(0);
  });

  it("an upgrade (reinstall) keeps the config and the state: no second enrollment", async () => {
    const before = readFileSync("/var/lib/kyoka/credential.json", "utf8");
    const config = readFileSync("/etc/kyoka/agent.yaml", "utf8");
    await dpkg(["-i", agentDeb]);
    expect(readFileSync("/var/lib/kyoka/credential.json", "utf8")).toBe(before);
    expect(readFileSync("/etc/kyoka/agent.yaml", "utf8")).toBe(config);
    expect((await server.api<Agent[]>("/api/agents")).body).toHaveLength(1);
  });

  it("kyoka-server: the native SQLite beside the executable, its unit verifies, the installed server serves", async () => {
    await dpkg(["-i", serverDeb]);
    expect(mode("/usr/lib/kyoka/better_sqlite3.node")).toBe("644");
    expect(readFileSync("/var/lib/dpkg/info/kyoka-server.conffiles", "utf8").trim()).toBe("/etc/kyoka/server.yaml");
    execFileSync("systemd-analyze", ["verify", "/lib/systemd/system/kyoka-server.service"], { stdio: "pipe" });
    const port = await freePort();
    const data = scope.dir();
    const s = scope.track(runProgram("/usr/bin/kyoka", ["server", "--config", "/etc/kyoka/server.yaml", "--host", "127.0.0.1", "--port", String(port), "--data", data]));
    await waitFor(() => /listening on/.test(s.stdout()), "the installed server to listen", 30_000);
    expect(await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()).toEqual({ ok: true });
    expect((await s.kill("SIGTERM")).code).toBe(0);

    // as the unit runs it: a dynamic user with no home and a read-only system, so the executable
    // unpacks into the unit's CacheDirectory (KYOKA_RUNTIME_DIR); nobody stands in for the dynamic
    // user, and the folders are made as systemd makes CacheDirectory= and StateDirectory=
    const unit = readFileSync("/lib/systemd/system/kyoka-server.service", "utf8");
    const cacheDir = /^CacheDirectory=(\S+)$/m.exec(unit)?.[1];
    expect(cacheDir).toBe("kyoka-server");
    const unitEnv = Object.fromEntries([...unit.matchAll(/^Environment=([A-Z_]+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!]));
    expect(unitEnv.KYOKA_RUNTIME_DIR).toBe(`/var/cache/${cacheDir}/runtime`);
    const cache = `/var/cache/${cacheDir}`;
    execFileSync("rm", ["-rf", cache]);
    mkdirSync(cache, { mode: 0o700 });
    const sandboxData = scope.dir();
    execFileSync("chown", ["nobody:nogroup", cache, sandboxData]);
    const port2 = await freePort();
    const asUnit = scope.track(runProgram("/usr/bin/setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups",
      "/usr/bin/kyoka", "server", "--config", "/etc/kyoka/server.yaml", "--host", "127.0.0.1", "--port", String(port2), "--data", sandboxData],
    { env: { PATH: "/usr/bin:/bin", HOME: "/", ...unitEnv } }));
    try {
      await waitFor(() => /listening on/.test(asUnit.stdout()), "the server as the unit's user to listen", 30_000);
      expect(await (await fetch(`http://127.0.0.1:${port2}/healthz`)).json()).toEqual({ ok: true });
      const runtimes = execFileSync("find", [`${cache}/runtime`, "-mindepth", "1", "-maxdepth", "1", "-user", "nobody"], { encoding: "utf8" }).trim().split("\n").filter(Boolean);
      expect(runtimes).toHaveLength(1); // unpacked there, by that user
      expect(existsSync(join(runtimes[0]!, "bundles/server.cjs"))).toBe(true);
      expect((await asUnit.kill("SIGTERM")).code).toBe(0);
    } finally {
      execFileSync("rm", ["-rf", cache]);
    }
    await dpkg(["--purge", "kyoka-server"]);
    expect(existsSync("/usr/lib/kyoka/better_sqlite3.node")).toBe(false);
    expect(existsSync("/etc/kyoka/server.yaml")).toBe(false);
  });

  it("dpkg -r removes the program and disables the service; config and state stay", async () => {
    await dpkg(["-r", "kyoka"]);
    expect(existsSync("/usr/lib/kyoka/kyoka")).toBe(false);
    expect(existsSync("/usr/bin/kyoka")).toBe(false);
    expect(existsSync("/lib/systemd/system/kyoka-agent.service")).toBe(false);
    expect(() => lstatSync(wants)).toThrow();
    expect(existsSync("/etc/kyoka/agent.yaml")).toBe(true);
    expect(existsSync("/var/lib/kyoka/credential.json")).toBe(true);
  });

  it("dpkg -P deletes the config and the state", async () => {
    await dpkg(["-P", "kyoka"]);
    expect(existsSync("/etc/kyoka/agent.yaml")).toBe(false);
    expect(existsSync("/var/lib/kyoka")).toBe(false);
    expect(await installedVersion("kyoka")).toBeUndefined();
  });

  it("without a pre-seeded config: the server URL and token from KYOKA_SERVER / KYOKA_ENROLL_TOKEN", async () => {
    process.env.KYOKA_SERVER = server.wsUrl;
    process.env.KYOKA_ENROLL_TOKEN = server.enrollToken;
    try {
      await dpkg(["-i", agentDeb]);
    } finally {
      delete process.env.KYOKA_SERVER;
      delete process.env.KYOKA_ENROLL_TOKEN;
    }
    const config = readFileSync("/etc/kyoka/agent.yaml", "utf8");
    expect(config).toContain(`server: ${server.wsUrl}`);
    expect(config).toContain(`enrollToken: ${server.enrollToken}`);
    expect(mode("/etc/kyoka/agent.yaml")).toBe("600");
    const cred = JSON.parse(readFileSync("/var/lib/kyoka/credential.json", "utf8")) as { agentId: string };
    // a second agent (the first one's state was purged)
    expect((await server.api<Agent[]>("/api/agents")).body.map((a) => a.id)).toContain(cred.agentId);
    expect((await server.api<Agent[]>("/api/agents")).body).toHaveLength(2);
    await dpkg(["-P", "kyoka"]);
    expect(existsSync("/etc/kyoka/agent.yaml")).toBe(false);
  });
});
