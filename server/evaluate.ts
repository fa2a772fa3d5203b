/**
 * The status of an event at ingest (pure): catalog defaults, then the policy's rules, then the
 * approvals (甲許可) in force. An approval clears an event when its control matches, its `match`
 * covers the details (matcherFor), its scope covers the agent, and validFrom ≤ now < validUntil.
 */
import { catalogEntry } from "../policies/catalog.js";
import { globMatch, matcherFor } from "../policies/matchers/index.js";
import type { Policy } from "../policies/policy.js";
import { controlOf, type Approval, type Control, type Details, type EventType, type Scope, type Severity, type Status } from "../policies/schema.js";

export interface EvaluateContext {
  /** organisation: the contractor organisation the agent belongs to (server/people/) */
  agent: { id: string; tags: readonly string[]; organisation?: string };
  policy: Policy;
  /** the approvals not deleted (validity is checked here against `now`) */
  approvals: readonly Approval[];
  /** the server's clock at ingest */
  now: Date;
}

export interface Evaluation {
  control: Control;
  articles: string[];
  severity: Severity;
  status: Status;
  approvalId: string | null;
}

export function scopeCovers(scope: Scope, agent: { id: string; tags: readonly string[] }): boolean {
  if ("all" in scope) return scope.all === true;
  if ("agents" in scope) return scope.agents.includes(agent.id);
  return scope.tags.some((t) => agent.tags.includes(t));
}

export function approvalInForce(approval: Approval, now: Date): boolean {
  const t = now.getTime();
  return Date.parse(approval.validFrom) <= t && t < Date.parse(approval.validUntil);
}

/** A prohibited-software rule of the policy that names this software, if any (禁止ソフトウェア). */
function prohibitedSoftware(policy: Policy, details: Details): boolean {
  for (const rule of policy.software.prohibited) {
    if (!globMatch(rule.name, details.name)) continue;
    if (rule.publisher !== undefined && !globMatch(rule.publisher, details.publisher)) continue;
    return true;
  }
  return false;
}

export function evaluate(event: { type: EventType; details: Details }, ctx: EvaluateContext): Evaluation {
  const { type, details } = event;
  const entry = catalogEntry(type);
  const control = controlOf(type);
  let severity: Severity = entry.severity;
  let status: Status = entry.defaultStatus;

  // Policy rules.
  if ((type === "software.installed" || type === "software.updated") && prohibitedSoftware(ctx.policy, details)) {
    status = "violation";
    severity = "critical";
  } else if (type === "media.unencrypted") {
    status = ctx.policy.media.unencrypted;
  } else if (type === "media.scanned" && details.result === "infected") {
    status = "violation";
    severity = "critical";
  } else if (type === "media.inserted" && (details.registered === false || details.serialConflict === true)) {
    // not in the media ledger (媒体台帳): a private or unknown medium (個人情報取扱特記事項 第12 第8項);
    // details.registered / serialConflict are set by the server (server/media-ledger.ts)
    status = "needs_approval";
    severity = details.serialConflict === true ? "high" : "medium";
  }
  // one serial on two different media: an approval matched by serial cannot tell them apart
  const serialConflict = control === "media" && details.serialConflict === true;

  // Approvals (甲許可): only what the catalog says an approval can clear, and never a violation.
  if (entry.clearable && !serialConflict && (status === "needs_approval" || status === "info")) {
    const matcher = matcherFor(control);
    for (const approval of ctx.approvals) {
      if (approval.control !== control) continue;
      if (!approvalInForce(approval, ctx.now)) continue;
      if (!scopeCovers(approval.scope, ctx.agent)) continue;
      if (approval.organisation !== undefined && approval.organisation !== ctx.agent.organisation) continue;
      if (!matcher(approval.match, details, type)) continue;
      return { control, articles: entry.articles, severity, status: "approved", approvalId: approval.id };
    }
  }
  return { control, articles: entry.articles, severity, status, approvalId: null };
}
