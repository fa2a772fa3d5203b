/**
 * `kyoka snapshot [--json] [--policy FILE] [--lang ja|en] [--state-dir DIR]`: the local compliance
 * check (点検) a contractor runs before an audit. One snapshot from every collector's source,
 * judged under the policy in force — `--policy FILE`, else the server's last policy when this PC
 * is enrolled (`<state dir>/policy.json`, with the approvals 甲許可 the server last pushed,
 * `status.json`), else the default — by the server's own decision (policies/decide.ts).
 * Exit 0 when nothing needs action, 1 when something does (a violation, a 甲許可 pending, a
 * control that could not be checked); 2 for a usage error.
 */
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { takeSnapshot } from "../agent/collectors/snapshot-sources.js";
import type { ComplianceInput, Lang } from "../agent/compliance.js";
import { UsageError } from "./usage-error.js";

export interface SnapshotFlags {
  json?: boolean;
  policy?: string;
  lang?: string;
  stateDir?: string;
}

/** The policy to judge by, where it came from, and the approvals pushed to this PC. */
export async function snapshotPolicy(flags: SnapshotFlags): Promise<Omit<ComplianceInput, "now">> {
  const { parsePolicyText, defaultPolicyText, PolicyError } = await import("../policies/policy.js");
  if (flags.policy) {
    let text: string;
    try {
      text = readFileSync(flags.policy, "utf8");
    } catch (err) {
      throw new UsageError(`--policy ${flags.policy}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    try {
      return { policy: parsePolicyText(text), policySource: { source: "file", file: flags.policy } };
    } catch (err) {
      if (err instanceof PolicyError) throw new UsageError(`--policy ${flags.policy}: ${err.message}`);
      throw err;
    }
  }
  const [{ defaultStateDir }, { PolicyStore }, { noopLogger }] = await Promise.all([
    import("./config.js"), import("../agent/state.js"), import("../lib/noop-log.js"),
  ]);
  const dir = resolve(flags.stateDir ?? defaultStateDir());
  const fallback = parsePolicyText(defaultPolicyText());
  const store = new PolicyStore(dir, fallback, noopLogger());
  try {
    await store.load();
  } catch (err) {
    process.stderr.write(`kyoka: the server's policy in ${dir} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)}): judging by the default policy\n`);
  }
  const version = store.version();
  if (version === null) return { policy: fallback, policySource: { source: "default" } };
  return { policy: store.policy(), policySource: { source: "server", version }, ...(await statusApprovals(dir)) };
}

/** The approvals (甲許可) the server last pushed to this PC, from the agent's status file. */
async function statusApprovals(dir: string): Promise<Pick<ComplianceInput, "approvals" | "agent">> {
  let s: { agentId?: unknown; approvals?: unknown };
  try {
    s = JSON.parse(readFileSync(join(dir, "status.json"), "utf8")) as typeof s;
  } catch {
    return {};
  }
  const { pushedApprovals } = await import("../agent/compliance.js");
  return { agent: { id: typeof s.agentId === "string" ? s.agentId : "local", tags: [] }, approvals: pushedApprovals(s.approvals) };
}

export async function runSnapshotCommand(flags: SnapshotFlags): Promise<void> {
  const lang = (flags.lang ?? "ja") as Lang;
  if (lang !== "ja" && lang !== "en") throw new UsageError(`--lang ${flags.lang}: must be ja or en`);
  // the policy first: a bad --policy is a usage error before any reading
  const stateDir = resolve(flags.stateDir ?? (await import("./config.js")).defaultStateDir());
  const [input, doc, { evaluateCompliance, complianceText }] = await Promise.all([
    snapshotPolicy(flags), takeSnapshot(undefined, { stateDir }), import("../agent/compliance.js"),
  ]);
  const report = evaluateCompliance(doc, input);
  process.exitCode = report.needsAction ? 1 : 0;
  if (flags.json) {
    process.stdout.write(JSON.stringify({ ...doc, compliance: report }, null, 2) + "\n");
    return;
  }
  process.stdout.write(complianceText(report, lang, doc.takenAt));
  process.stdout.write(lang === "ja" ? "（全項目の JSON は --json）\n" : "(use --json for the full document)\n");
}
