/**
 * `kyoka snapshot [--json]` as a user runs it (the built CLI in a child process): every section,
 * the hardware inventory typed and the same as the agent's reader gives, and the caches it keeps
 * between runs (parsed policy/signatures, executable hashes) in KYOKA_CACHE_DIR. Without --json it
 * is the local compliance check: per control what was found and its status under the policy in
 * force (default, --policy FILE, or the server's last one in the state folder), each finding with
 * its clause, in 日本語 or English; exit 0 when nothing needs action, 1 when something does.
 *
 * The executed section is judged too: a program copied outside any package and running, and the
 * programs the agent's state folder says it has seen, each once, with its status and clause.
 *
 * Needs qbittorrent-nox installed (scripts/setup.sh --test) for the P2P finding of the default policy.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { Inventory, normalize } from "../../agent/collectors/asset/inventory.js";
import { pcIdentity } from "../../agent/collectors/asset/identity.js";
import { readSystemInformation } from "../../agent/collectors/asset/platform.js";
import { processScope, root, run } from "../helpers/kyoka.js";
import { runProgram, uniqueProgram } from "../collectors/executed/live-helpers.js";

const scope = processScope();

/**
 * A policy under which nothing on this machine needs action: P2P, network and programs from outside
 * packages off (this shared machine runs other jobs' programs), nothing prohibited.
 */
const NOTHING = "collectors: { p2p: { enabled: false }, network: { enabled: false }, executed: { enabled: false } }\n";
/** The same, prohibiting bash (present on every Linux machine) */
const PROHIBIT_BASH = `${NOTHING}software: { prohibited: [ { name: bash, reason: test } ] }\n`;

function policyFile(text: string): string {
  const f = join(scope.dir(), "policy.yaml");
  writeFileSync(f, text);
  return f;
}

async function snapshot(args: string[], cacheDir: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; out: string; err: string }> {
  const p = scope.track(run(["snapshot", ...args], { KYOKA_CACHE_DIR: cacheDir, ...env }));
  const { code } = await p.exited;
  return { code, out: p.stdout(), err: p.stderr() };
}

/** `kyoka snapshot ARGS` with every module it loads listed (test/helpers/module-log.mjs): the modules, as paths relative to the checkout. */
async function snapshotModules(args: string[], cacheDir: string): Promise<{ code: number | null; err: string; modules: string[] }> {
  const log = join(scope.dir(), "modules.log");
  const hook = fileURLToPath(new URL("../helpers/module-log.mjs", import.meta.url));
  const r = await snapshot(args, cacheDir, { KYOKA_MODULE_LOG: log, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --import ${hook}` });
  const modules = [...new Set(readFileSync(log, "utf8").split("\n").filter(Boolean)
    .map((m) => (m.startsWith("file:") ? fileURLToPath(m) : m)).map((m) => relative(root, m)))];
  return { code: r.code, err: r.err, modules };
}

/**
 * What `kyoka snapshot` must not load: the server, the dashboard and the libraries only they or the
 * agent daemon use (issue 7's figures: loading them cost more than the snapshot's own work), and —
 * once the parse cache is warm — yaml and zod. systeminformation: not on x86-64 Linux (kyoka's own readers).
 */
const NEVER = [
  /^dist\/server\//, /^dist\/dashboard\//, /^dist\/cli\/(config|server-command|agent-command|local-command|people-command|report-command)\.js$/,
  /^dist\/agent\/(agent|supervisor|transport|queue)\.js$/, /^dist\/agent\/collectors\/index\.js$/,
  ...["fastify", "@fastify", "better-sqlite3", "pg", "pino", "pino-pretty", "ws", "node-cron", "chokidar", "nodemailer", "iconv-lite", "prom-client", "fastify-type-provider-zod"]
    .map((p) => new RegExp(`^node_modules/${p.replace("/", "\\/")}/`)),
  ...(process.platform === "linux" && process.arch === "x64" ? [/^node_modules\/systeminformation\//] : []),
];
const WARM_NEVER = [...NEVER, /^node_modules\/zod\//, /^node_modules\/yaml\//];
const loaded = (modules: string[], never: RegExp[]) => modules.filter((m) => never.some((re) => re.test(m)));

describe("kyoka snapshot", () => {
  it("--json prints every section; the hardware is the agent's inventory of this PC; a second run answers from its caches", async () => {
    const cache = scope.dir();
    const first = await snapshot(["--json", "--state-dir", scope.dir()], cache);
    const doc = JSON.parse(first.out) as Record<string, unknown> & { errors: unknown[]; hardware: Record<string, unknown>; p2p: unknown[]; compliance: { needsAction: boolean; policy: unknown; controls: Array<{ control: string; verdict: string }> } };
    // the statuses: the exit code says whether something needs action
    expect(first.code, first.err).toBe(doc.compliance.needsAction ? 1 : 0);
    expect(doc.compliance.policy).toEqual({ source: "default" });
    expect(doc.compliance.controls.map((c) => c.control)).toEqual(["software", "p2p", "network", "media", "asset", "software"]);
    expect((doc.compliance.controls as Array<{ section?: string }>).at(-1)!.section).toBe("executed");
    expect(doc.errors).toEqual([]);
    for (const section of ["hardware", "software", "network", "media", "p2p", "executed"]) expect(doc[section], section).toBeDefined();
    expect(Object.keys(doc.sourceDurationMs as object).sort()).toEqual(["executed", "hardware", "media", "network", "p2p", "software"]);

    const { pcId, pcIdBasis, ...inv } = doc.hardware;
    const typed = Inventory.parse(inv);
    expect(typed.errors).toEqual([]);
    // the same reader the agent's asset collector uses, in this process
    const agentView = normalize(await readSystemInformation());
    expect(pcId).toBe(pcIdentity(agentView).id);
    expect(pcIdBasis).toBe(pcIdentity(agentView).basis);
    const stable = (i: Inventory) => ({ ...i, users: [], cpu: { ...i.cpu, speedGHz: 0 } });
    expect(stable(typed)).toEqual(stable(agentView));

    // the caches: policy and signatures parsed once, and the hashes of the executables it identified
    const files = readdirSync(cache).sort();
    expect(files.filter((f) => f.startsWith("policy-") || f.startsWith("p2p-signatures-"))).toHaveLength(2);
    expect(files).toContain("p2p-hashes.json");
    const hashes = JSON.parse(readFileSync(join(cache, "p2p-hashes.json"), "utf8")) as { version: string; value: { markersKey: string; entries: [string, { sha256: string }][] } };
    expect(hashes.value.markersKey).toMatch(/^[0-9a-f]{64}$/);
    // at least this test's own node binary was running and was identified
    expect(hashes.value.entries.length).toBeGreaterThan(0);
    expect(hashes.value.entries.every(([k, v]) => /^\d+:\d+:\d+:\d+:\d+$/.test(k) && /^[0-9a-f]{64}$/.test(v.sha256))).toBe(true);

    const second = await snapshot(["--json", "--state-dir", scope.dir()], cache);
    const again = JSON.parse(second.out) as typeof doc;
    // (a connection that came or went between the runs may change the verdict)
    expect(second.code, second.err).toBe(again.compliance.needsAction ? 1 : 0);
    expect(again.errors).toEqual([]);
    expect(again.hardware.pcId).toBe(pcId);
  }, 60_000);

  it("without --json: per control its status and findings with their clause, 日本語 by default; the default policy finds the installed P2P client (exit 1)", async () => {
    const version = execFileSync("dpkg-query", ["-W", "-f=${Version}", "qbittorrent-nox"], { encoding: "utf8" });
    const r = await snapshot(["--state-dir", scope.dir()], scope.dir());
    expect(r.code, r.err).toBe(1);
    expect(r.out).toContain("ポリシー: 既定");
    expect(r.out).toMatch(/^\[要対応\] ファイル交換ソフトの禁止 \(p2p; 個人情報取扱特記事項 第12 第9項, 別記2 第17\)/m);
    expect(r.out).toContain(`  違反 個人情報取扱特記事項 第12 第9項: qBittorrent (qbittorrent-nox ${version}) installed\n`);
    expect(r.out).toMatch(/^\[問題なし\] ソフトウェアの無許可導入・更新・削除の禁止 \(software; 別記2 第10\) — \d+ 件を確認$/m);
    expect(r.out).toMatch(/^結果: 要対応（違反 \d+ 件/m);
    expect(r.out).toContain("--json");
  }, 60_000);

  it("--policy FILE: a prohibited package present on this PC is a violation with its clause (exit 1), in 日本語 and --lang en", async () => {
    const bash = execFileSync("dpkg-query", ["-W", "-f=${Version}", "bash"], { encoding: "utf8" });
    const file = policyFile(PROHIBIT_BASH);
    const ja = await snapshot(["--policy", file], scope.dir());
    expect(ja.code, ja.err).toBe(1);
    expect(ja.out).toContain(`ポリシー: ファイル ${file}`);
    expect(ja.out).toMatch(/^\[要対応\] ソフトウェアの無許可導入・更新・削除の禁止 \(software; 別記2 第10\)/m);
    expect(ja.out).toContain(`  違反 別記2 第10: bash ${bash} installed\n`);
    expect(ja.out).toMatch(/^\[対象外（ポリシーで無効）\] ファイル交換ソフトの禁止/m);
    expect(ja.out).toContain("結果: 要対応（違反 1 件、甲許可待ち 0 件）");

    const en = await snapshot(["--policy", file, "--lang", "en"], scope.dir());
    expect(en.code, en.err).toBe(1);
    expect(en.out).toContain(`policy: file ${file}`);
    expect(en.out).toMatch(/^\[needs action\] No software install, update or removal without permission \(software; 別記2 第10\)/m);
    expect(en.out).toContain(`  violation 別記2 第10: bash ${bash} installed\n`);
    expect(en.out).toMatch(/^\[off \(disabled by the policy\)\] File-sharing \(P2P\) software prohibited/m);
    expect(en.out).toContain("result: needs action (1 violation(s), 0 needing approval)");
  }, 60_000);

  it("exit 0 when nothing needs action; --json has the statuses; the server's last policy in the state folder is used when enrolled", async () => {
    const ok = await snapshot(["--policy", policyFile(NOTHING), "--lang", "en"], scope.dir());
    expect(ok.code, ok.out + ok.err).toBe(0);
    expect(ok.out).toContain("result: nothing needs action");
    expect(ok.out).not.toMatch(/^\s+(violation|needs approval) /m);

    const json = await snapshot(["--json", "--policy", policyFile(PROHIBIT_BASH)], scope.dir());
    expect(json.code, json.err).toBe(1);
    const doc = JSON.parse(json.out) as { software: unknown; compliance: { needsAction: boolean; counts: Record<string, number>; controls: Array<{ control: string; verdict: string; findings: Array<{ type: string; status: string; articles: string[]; subject: string; reasons: Array<{ ja: string; en: string }> }> }> } };
    expect(doc.software).toBeDefined();
    expect(doc.compliance.needsAction).toBe(true);
    expect(doc.compliance.counts.violation).toBe(1);
    const software = doc.compliance.controls.find((c) => c.control === "software")!;
    expect(software.verdict).toBe("needs_action");
    expect(software.findings).toEqual([expect.objectContaining({ type: "software.installed", status: "violation", articles: ["別記2 第10"], subject: expect.stringMatching(/^bash /) as string })]);
    expect(software.findings[0]!.reasons[0]!.ja).toBe("禁止ソフトウェア規則 \"bash\" に一致（test）");
    expect(doc.compliance.controls.find((c) => c.control === "p2p")!.verdict).toBe("off");

    // enrolled: the policy the server last pushed (version 4) prohibits bash
    const stateDir = scope.dir();
    mkdirSync(stateDir, { recursive: true });
    const { parsePolicyText } = await import("../../policies/policy.js");
    writeFileSync(join(stateDir, "policy.json"), JSON.stringify({ version: 4, policy: parsePolicyText(PROHIBIT_BASH) }));
    const enrolled = await snapshot(["--state-dir", stateDir], scope.dir());
    expect(enrolled.code, enrolled.err).toBe(1);
    expect(enrolled.out).toContain("ポリシー: サーバーの最新 (版 4)");
    expect(enrolled.out).toMatch(/^ {2}違反 別記2 第10: bash /m);

    const bad = await snapshot(["--lang", "fr"], scope.dir());
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("--lang fr: must be ja or en");
  }, 90_000);

  it("loads only what it needs: never the server, the dashboard, the agent daemon's libraries; yaml and zod only while its parse cache is cold (default, --policy FILE, enrolled)", async () => {
    const cache = scope.dir();
    const cold = await snapshotModules(["--json", "--state-dir", scope.dir()], cache);
    expect(cold.code, cold.err).not.toBe(2);
    // the list is real: the snapshot's own sections are in it, and a cold cache parses the policy with yaml and zod
    expect(cold.modules).toEqual(expect.arrayContaining([
      "dist/cli/snapshot-command.js", "dist/agent/collectors/p2p/snapshot.js", "dist/agent/collectors/executed/snapshot.js", "dist/agent/compliance.js",
    ]));
    expect(cold.modules.some((m) => m.startsWith("node_modules/yaml/")) && cold.modules.some((m) => m.startsWith("node_modules/zod/"))).toBe(true);
    expect(loaded(cold.modules, NEVER)).toEqual([]);

    const warm = await snapshotModules(["--json", "--state-dir", scope.dir()], cache);
    expect(warm.code, warm.err).not.toBe(2);
    expect(warm.modules).toContain("dist/agent/collectors/p2p/snapshot.js");
    expect(loaded(warm.modules, WARM_NEVER)).toEqual([]);

    const file = policyFile(PROHIBIT_BASH);
    await snapshotModules(["--policy", file], cache);
    const byFile = await snapshotModules(["--policy", file], cache);
    expect(byFile.code, byFile.err).toBe(1);
    expect(loaded(byFile.modules, WARM_NEVER)).toEqual([]);

    const stateDir = scope.dir();
    const { parsePolicyText } = await import("../../policies/policy.js");
    writeFileSync(join(stateDir, "policy.json"), JSON.stringify({ version: 5, policy: parsePolicyText(PROHIBIT_BASH) }));
    await snapshotModules(["--state-dir", stateDir], cache);
    const enrolled = await snapshotModules(["--state-dir", stateDir], cache);
    expect(enrolled.code, enrolled.err).toBe(1);
    expect(loaded(enrolled.modules, WARM_NEVER)).toEqual([]);
  }, 120_000);

  it("judges by the server's policy from the parse cache as from the file: a changed or broken policy.json is read again", async () => {
    const cache = scope.dir();
    const stateDir = scope.dir();
    const { parsePolicyText } = await import("../../policies/policy.js");
    writeFileSync(join(stateDir, "policy.json"), JSON.stringify({ version: 6, policy: parsePolicyText(PROHIBIT_BASH) }));
    for (let i = 0; i < 2; i++) {
      const r = await snapshot(["--state-dir", stateDir, "--lang", "en"], cache);
      expect(r.code, r.err).toBe(1);
      expect(r.out).toContain("policy: the server's last (version 6)");
    }
    writeFileSync(join(stateDir, "policy.json"), JSON.stringify({ version: 7, policy: parsePolicyText(NOTHING) }));
    const changed = await snapshot(["--state-dir", stateDir, "--lang", "en"], cache);
    expect(changed.code, changed.out + changed.err).toBe(0);
    expect(changed.out).toContain("policy: the server's last (version 7)");
    // not a policy: judged by the default, as the agent does until the server sends one
    writeFileSync(join(stateDir, "policy.json"), JSON.stringify({ version: 8, policy: { collectors: "nonsense" } }));
    const broken = await snapshot(["--state-dir", stateDir, "--lang", "en"], cache);
    expect(broken.out).toContain("policy: the default");
  }, 90_000);

  it("programs from outside packages: one running now and one the agent has seen → 甲許可待ち with clause and SHA-256; a prohibited hash → 違反; a pushed 甲許可 → 許可済み", async () => {
    const home = scope.dir();
    const prog = uniqueProgram(join(home, "Downloads"), "portable-tool");
    const child = runProgram(prog.path);
    try {
      // what the agent recorded (its state folder): a program that ran three times and is not running now
      const stateDir = scope.dir();
      const seenSha = "e".repeat(64);
      mkdirSync(join(stateDir, "state"), { recursive: true });
      writeFileSync(join(stateDir, "state", "executed.json"), JSON.stringify({ seen: { [seenSha]: { count: 3, firstSeen: "2026-12-01T00:00:00.000Z", lastSeen: "2026-12-02T00:00:00.000Z", path: "/media/usb/tool" } } }));
      const policyOn = "collectors: { p2p: { enabled: false }, network: { enabled: false } }\n";
      const r = await snapshot(["--policy", policyFile(policyOn), "--state-dir", stateDir], scope.dir());
      expect(r.code, r.err).toBe(1);
      expect(r.out).toMatch(/^\[要対応\] パッケージ外のプログラムの実行（未導入ソフトウェア） \(software\/executed; 別記2 第10\) — \d+ 件を確認/m);
      expect(r.out).toContain(`  甲許可待ち 別記2 第10: ${prog.path} (SHA-256 ${prog.sha256.slice(0, 16)}…) running (1 process(es))\n`);
      expect(r.out).toContain(`  甲許可待ち 別記2 第10: /media/usb/tool (SHA-256 ${seenSha.slice(0, 16)}…) ran 3 time(s) (last 2026-12-02T00:00:00.000Z)\n`);

      // prohibited by its hash: a violation
      const prohibited = await snapshot(["--policy", policyFile(`${policyOn}software: { executed: { prohibited: [ { sha256: "${prog.sha256}" } ] } }\n`), "--state-dir", stateDir, "--lang", "en"], scope.dir());
      expect(prohibited.code).toBe(1);
      expect(prohibited.out).toContain(`  violation 別記2 第10: ${prog.path} (SHA-256 ${prog.sha256.slice(0, 16)}…) running (1 process(es))\n`);

      // enrolled, with a 甲許可 by hash the server pushed: approved, no longer listed
      const { parsePolicyText } = await import("../../policies/policy.js");
      writeFileSync(join(stateDir, "policy.json"), JSON.stringify({ version: 5, policy: parsePolicyText(policyOn) }));
      writeFileSync(join(stateDir, "status.json"), JSON.stringify({ agentId: "pc-1", approvals: [{ id: "ap-1", control: "software", match: { sha256: prog.sha256 }, validFrom: "2026-01-01T00:00:00Z", validUntil: "2099-01-01T00:00:00Z", reason: "site tool" }] }));
      const approved = await snapshot(["--state-dir", stateDir, "--json"], scope.dir());
      const doc = JSON.parse(approved.out) as { compliance: { controls: Array<{ section: string; findings: Array<{ subject: string; status: string; approvalId: string | null }> }> } };
      const ex = doc.compliance.controls.find((c) => c.section === "executed")!;
      expect(ex.findings.find((f) => f.subject.startsWith(`${prog.path} `))).toMatchObject({ status: "approved", approvalId: "ap-1" });
      expect(ex.findings.find((f) => f.subject.startsWith("/media/usb/tool "))).toMatchObject({ status: "needs_approval" });
    } finally {
      child.kill("SIGKILL");
    }
  }, 90_000);

  it("works with the cache turned off (KYOKA_CACHE_DIR='') and with an unusable cache folder", async () => {
    const nothing = policyFile(NOTHING);
    const off = await snapshot(["--json", "--policy", nothing], "");
    expect(off.code, off.err).toBe(0);
    expect((JSON.parse(off.out) as { errors: unknown[] }).errors).toEqual([]);
    const blocked = await snapshot(["--json", "--policy", nothing], "/proc/version/not-a-dir");
    expect(blocked.code, blocked.err).toBe(0);
    expect((JSON.parse(blocked.out) as { errors: unknown[] }).errors).toEqual([]);
  }, 60_000);
});
