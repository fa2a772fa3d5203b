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
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { takeSnapshot } from "../agent/collectors/snapshot-sources.js";
import type { ComplianceInput, Lang } from "../agent/compliance.js";
import { cachedParse } from "../lib/parse-cache.js";
import type { Policy } from "../policies/policy.js";
import { defaultStateDir } from "./state-dir.js";
import { UsageError } from "./usage-error.js";

export interface SnapshotFlags {
  json?: boolean;
  policy?: string;
  lang?: string;
  stateDir?: string;
}

/**
 * The policy to judge by, where it came from, and the approvals pushed to this PC. Policies are
 * parsed through the parse cache (policies/cached.ts): yaml and zod are loaded only when a text is
 * new to it.
 */
export async function snapshotPolicy(flags: SnapshotFlags): Promise<Omit<ComplianceInput, "now" | "catalog">> {
  const { cachedPolicy, cachedDefaultPolicy } = await import("../policies/cached.js");
  if (flags.policy) {
    let text: string;
    try {
      text = readFileSync(flags.policy, "utf8");
    } catch (err) {
      throw new UsageError(`--policy ${flags.policy}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    try {
      return { policy: await cachedPolicy(text, "policy-file"), policySource: { source: "file", file: flags.policy } };
    } catch (err) {
      const { PolicyError } = await import("../policies/policy.js");
      if (err instanceof PolicyError) throw new UsageError(`--policy ${flags.policy}: ${err.message}`);
      throw err;
    }
  }
  const dir = resolve(flags.stateDir ?? defaultStateDir());
  // the server's last policy, as the agent's PolicyStore keeps it (agent/state.ts)
  let text: string | undefined;
  try {
    text = await readFile(join(dir, "policy.json"), "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "ENOENT") process.stderr.write(`kyoka: the server's policy in ${dir} cannot be read (${code ?? String(err)}): judging by the default policy\n`);
  }
  let persisted: { version: number; policy: Policy } | undefined;
  if (text !== undefined) {
    const persistedText = text;
    try {
      persisted = await cachedParse("server-policy", persistedText, new URL("../agent/state.js", import.meta.url),
        async () => (await import("../agent/state.js")).parsePersistedPolicy(persistedText));
    } catch {
      // unreadable: the agent itself uses the default policy until the server sends one
    }
  }
  if (!persisted) return { policy: await cachedDefaultPolicy(), policySource: { source: "default" } };
  return { policy: persisted.policy, policySource: { source: "server", version: persisted.version }, ...(await statusApprovals(dir)) };
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
  const stateDir = resolve(flags.stateDir ?? defaultStateDir());
  const { cachedCatalog } = await import("../policies/cached.js");
  const [input, catalog, doc, { evaluateCompliance, complianceText }] = await Promise.all([
    snapshotPolicy(flags), cachedCatalog(), takeSnapshot(undefined, { stateDir }), import("../agent/compliance.js"),
  ]);
  const report = evaluateCompliance(doc, { ...input, catalog });
  process.exitCode = report.needsAction ? 1 : 0;
  if (flags.json) {
    process.stdout.write(JSON.stringify({ ...doc, compliance: report }, null, 2) + "\n");
    return;
  }
  process.stdout.write(complianceText(report, lang, doc.takenAt));
  process.stdout.write(lang === "ja" ? "（全項目の JSON は --json）\n" : "(use --json for the full document)\n");
}
