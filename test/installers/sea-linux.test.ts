/**
 * The Linux single executable (installers/build.sh linux → installers/out/kyoka-linux-x64), run
 * from a folder with no node_modules and with no Node.js on PATH: --version names the version and
 * the build, `snapshot --json` reports, `agent` enrolls with a real server (dist/, started here)
 * and delivers its events; `server` says where the native SQLite is expected and works once it is
 * there; the private folder it unpacks into must not be writable by others.
 *
 * The executable's main script holds the command line and the agent; the server's code is a second
 * bundle (bundles/server.cjs, unpacked with the other files) loaded only by the server's commands
 * (installers/sea/bundle.mjs). KYOKA_TRACE_BUNDLES=1 makes the executable say when it loads it:
 * `--version`, `snapshot`, `status` and `agent` must not; `server`, `enroll-token`, `user` and
 * `local` must, and work with the modules both bundles share (one UsageError class, the unpacked
 * policies and dashboard, the baked build).
 */
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { api, freePort, processScope, root, startServer, waitFor } from "../helpers/kyoka.js";
import { buildInstallers, gitDescribe, outDir, pathWithoutNode, runProgram, version } from "./helpers.js";

const scope = processScope();
let dir: string;
let exe: string;
let env: NodeJS.ProcessEnv;

beforeAll(() => {
  buildInstallers("linux");
  dir = scope.dir();
  exe = join(dir, "app", "kyoka");
  mkdirSync(join(dir, "app"));
  copyFileSync(join(outDir, "kyoka-linux-x64"), exe);
  chmodSync(exe, 0o755);
  env = {
    PATH: pathWithoutNode(dir), HOME: join(dir, "home"), LANG: "C.UTF-8",
    KYOKA_RUNTIME_DIR: join(dir, "runtime"), KYOKA_CACHE_DIR: join(dir, "cache"), KYOKA_LOG_LEVEL: "info",
    KYOKA_TRACE_BUNDLES: "1",
  };
}, 600_000);

/** the line the executable writes (KYOKA_TRACE_BUNDLES=1) when it loads the server's bundle */
const SERVER_BUNDLE_LOADED = /^kyoka: loaded the server bundle (.*)$/gm;
const serverBundleLoads = (stderr: string): string[] => [...stderr.matchAll(SERVER_BUNDLE_LOADED)].map((m) => m[1]!);
/** the unpacked server bundle: <runtime>/<id>/bundles/server.cjs */
function unpackedServerBundle(): string {
  const [id] = readdirSync(join(dir, "runtime"));
  return join(dir, "runtime", id!, "bundles", "server.cjs");
}

describe("the Linux single executable", () => {
  it("runs where there is no Node.js and no node_modules", () => {
    expect(readdirSync(join(dir, "app"))).toEqual(["kyoka"]);
    const which = runProgram("/bin/sh", ["-c", "command -v node || echo none"], { env });
    return which.exited.then(() => expect(which.stdout().trim()).toBe("none"));
  });

  it("--version names the version and the build it was made from", async () => {
    const p = scope.track(runProgram(exe, ["--version"], { env, cwd: join(dir, "app") }));
    expect((await p.exited).code).toBe(0);
    const m = /^(\S+) \(build (\S+), (\d{4}-\d\d-\d\d)\)$/.exec(p.stdout().trim());
    expect(m, p.stdout()).not.toBeNull();
    expect(m![1]).toBe(version);
    expect(m![2]).toBe(gitDescribe());
    expect(serverBundleLoads(p.stderr())).toEqual([]);
  });

  it("--help lists the server's commands without loading the server's code", async () => {
    for (const args of [["--help"], ["server", "--help"]]) {
      const p = scope.track(runProgram(exe, args, { env, cwd: join(dir, "app") }));
      expect((await p.exited).code).toBe(0);
      expect(p.stdout()).toMatch(args.length === 1 ? /^ {2}server \[options\]/m : /--data <dir>/);
      expect(serverBundleLoads(p.stderr())).toEqual([]);
    }
  });

  it("snapshot --json reports every section, with the bundled policy unpacked privately", async () => {
    const p = scope.track(runProgram(exe, ["snapshot", "--json", "--state-dir", scope.dir()], { env, cwd: join(dir, "app") }));
    const { code } = await p.exited;
    const snap = JSON.parse(p.stdout()) as Record<string, unknown> & { errors: unknown[]; software: { packages?: unknown[] }; compliance: { needsAction: boolean; controls: unknown[] } };
    // judged by the bundled catalog and decision: the exit code says whether something needs action
    expect(code, p.stderr()).toBe(snap.compliance.needsAction ? 1 : 0);
    expect(snap.compliance.controls).toHaveLength(6); // software, p2p, network, media, asset, and software/executed
    expect(snap.errors).toEqual([]);
    for (const k of ["hardware", "software", "network", "media", "p2p"]) expect(snap).toHaveProperty(k);
    // this machine is Debian: dpkg's packages are read (the collector runs from the bundle)
    expect(JSON.stringify(snap.software)).toContain("dpkg");
    const [id] = readdirSync(join(dir, "runtime"));
    expect(readdirSync(join(dir, "runtime", id!, "policies")).sort()).toEqual(["catalog.yaml", "default-policy.yaml", "p2p-signatures.yaml"]);
    expect(readFileSync(join(dir, "runtime", id!, "policies", "catalog.yaml"), "utf8")).toBe(readFileSync(join(root, "policies/catalog.yaml"), "utf8"));
    // the server's code is unpacked with the rest (as built), and not loaded by snapshot
    const sha256 = (file: string): string => createHash("sha256").update(readFileSync(file)).digest("hex");
    expect(sha256(unpackedServerBundle())).toBe(sha256(join(outDir, "work", "server.cjs")));
    expect(serverBundleLoads(p.stderr())).toEqual([]);
  });

  it("agent enrolls with a real server and delivers its events", async () => {
    const server = scope.track(await startServer({ dataDir: scope.dir() }));
    const state = join(dir, "agent-state");
    const agent = scope.track(runProgram(exe, ["agent", "--server", server.wsUrl, "--enroll-token", server.enrollToken, "--state-dir", state,
      "--collectors", "software", "--selftest-events", "3"], { env, cwd: join(dir, "app") }));
    type A = { id: string; online: boolean; version: string };
    const online = await waitFor(async () => (await server.api<A[]>("/api/agents")).body.find((a) => a.online), "the agent online", 60_000);
    expect(online.version).toBe(version);
    expect(JSON.parse(readFileSync(join(state, "credential.json"), "utf8")).agentId).toBe(online.id);
    await waitFor(async () => (await server.api<unknown[]>(`/api/events?agent=${online.id}&type=agent.selftest`)).body.length === 3, "3 selftest events", 60_000);
    await waitFor(async () => (await server.api<unknown[]>(`/api/events?agent=${online.id}&type=software.inventory`)).body.length > 0, "the software inventory", 60_000);
    // the agent's status (a light command) from the executable, while it runs
    const status = scope.track(runProgram(exe, ["status", "--state-dir", state, "--json"], { env, cwd: join(dir, "app") }));
    expect((await status.exited).code, status.stderr()).toBe(0);
    expect(serverBundleLoads(status.stderr())).toEqual([]);
    expect((await agent.kill("SIGTERM")).code).toBe(0);
    // the agent's main script holds the agent: it never loaded the server's code
    expect(serverBundleLoads(agent.stderr())).toEqual([]);
    expect(agent.stderr()).toMatch(/"msg":"agent stopped"/);
  });

  it("server: without the native SQLite beside it, says to use the server package; with it, serves", async () => {
    const data = scope.dir();
    const port = await freePort();
    const without = scope.track(runProgram(exe, ["server", "--port", String(port), "--data", data], { env }));
    expect((await without.exited).code).toBe(1);
    expect(without.stderr()).toMatch(/better_sqlite3\.node.*kyoka-server package/);

    copyFileSync(join(root, "node_modules/better-sqlite3/build/Release/better_sqlite3.node"), join(dir, "app", "better_sqlite3.node"));
    const withIt = scope.track(runProgram(exe, ["server", "--port", String(port), "--host", "127.0.0.1", "--data", data], { env }));
    await waitFor(() => /listening on/.test(withIt.stdout()), "the server to listen", 30_000);
    // the server's code came from the second bundle, unpacked privately
    expect(serverBundleLoads(withIt.stderr())).toEqual([unpackedServerBundle()]);
    const res = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(await res.json()).toEqual({ ok: true });
    // the dashboard travels in the executable (dist/dashboard as assets)
    const page = await (await fetch(`http://127.0.0.1:${port}/`)).text();
    expect(page).toMatch(/\/assets\/index-[\w-]+\.js/);

    // another server command from the executable: an enrollment token on the server's data
    const create = scope.track(runProgram(exe, ["enroll-token", "create", "--data", data, "--json", "--name", "sea"], { env }));
    expect((await create.exited).code, create.stderr()).toBe(0);
    expect(serverBundleLoads(create.stderr())).toHaveLength(1);
    const { token } = JSON.parse(create.stdout()) as { token: string };

    // the executable's agent enrolls with it at the executable's server, which ingests its events
    // and decides them by the unpacked catalog
    const adminToken = readFileSync(join(data, "admin-token"), "utf8").trim();
    const get = <T>(path: string) => api<T>(`http://127.0.0.1:${port}`, adminToken, path);
    const agent = scope.track(runProgram(exe, ["agent", "--server", `ws://127.0.0.1:${port}`, "--enroll-token", token, "--state-dir", scope.dir(),
      "--collectors", "software", "--selftest-events", "2"], { env, cwd: join(dir, "app") }));
    type A = { id: string; online: boolean; version: string };
    const online = await waitFor(async () => (await get<A[]>("/api/agents")).body.find((a) => a.online), "the agent online", 60_000);
    expect(online.version).toBe(version);
    await waitFor(async () => (await get<unknown[]>(`/api/events?agent=${online.id}&type=agent.selftest`)).body.length === 2, "2 selftest events", 60_000);
    type E = { status: string; articles: string[] };
    const [inventory] = await waitFor(async () => {
      const events = (await get<E[]>(`/api/events?agent=${online.id}&type=software.inventory`)).body;
      return events.length > 0 && events;
    }, "the software inventory", 60_000);
    expect(inventory).toMatchObject({ status: "info", articles: ["別記2 第10"] });
    expect((await agent.kill("SIGTERM")).code).toBe(0);
    expect(serverBundleLoads(agent.stderr())).toEqual([]);
    expect((await withIt.kill("SIGTERM")).code).toBe(0);

    // a domain error raised in the server's bundle is a usage error of the main script's command
    // line (exit 2, one line): both bundles use one InvalidInputError and one UsageError class
    writeFileSync(join(dir, "password"), "a long enough password\n", { mode: 0o600 });
    const desk = scope.track(runProgram(exe, ["user", "add", "--login", "desk1", "--role", "desk", "--password-file", join(dir, "password"), "--data", data], { env }));
    expect((await desk.exited).code, desk.stderr()).toBe(2);
    expect(desk.stderr()).toMatch(/^kyoka: .*role desk needs a contractor organisation$/m);
    expect(serverBundleLoads(desk.stderr())).toHaveLength(1);
  });

  it("local: the server from the second bundle and the executable itself as its agent", async () => {
    const data = scope.dir();
    const port = await freePort();
    const local = scope.track(runProgram(exe, ["local", "--port", String(port), "--data", data, "--state-dir", join(data, "agent")], { env, cwd: join(dir, "app") }));
    await waitFor(() => /kyoka is running/.test(local.stdout()), "kyoka local to start", 30_000);
    const adminToken = readFileSync(join(data, "admin-token"), "utf8").trim();
    type A = { id: string; online: boolean; version: string };
    const online = await waitFor(async () => (await api<A[]>(`http://127.0.0.1:${port}`, adminToken, "/api/agents")).body.find((a) => a.online), "the local agent online", 60_000);
    expect(online.version).toBe(version);
    expect((await local.kill("SIGTERM")).code).toBe(0);
    // the server (this process) loaded it once; its agent child (same standard error) did not
    expect(serverBundleLoads(local.stderr())).toEqual([unpackedServerBundle()]);
  });

  it("refuses a private folder that others can write to", async () => {
    const shared = join(dir, "shared-runtime");
    mkdirSync(shared, { mode: 0o777 });
    chmodSync(shared, 0o777);
    const p = scope.track(runProgram(exe, ["snapshot", "--json"], { env: { ...env, KYOKA_RUNTIME_DIR: shared } }));
    await p.exited;
    expect(p.stderr()).toMatch(/cannot unpack kyoka's bundled files.*writable by others/);
    expect(existsSync(join(shared, readdirSync(shared)[0] ?? "none", "policies", "catalog.yaml"))).toBe(false);
  });
});
