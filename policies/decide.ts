/**
 * THE decision (pure): an event's status, severity, articles and approval, and the reasons for
 * them, from the event, the catalog, the policy, the approvals (甲許可), the server's ledgers and
 * the server's clock. Agent events (agents-ws.ts) and server-made events (agent.silent in the
 * silence sweep, asset.unregistered in assets.ts) all go through here; nothing else sets a status.
 *
 * 1. The catalog's default status and severity for the type (policies/catalog.yaml).
 * 2. The type's `rules`, in order: the first whose check holds sets the status (and severity when
 *    it names one). The checks are below (CHECKS), one small function each, over the policy, the
 *    details and the ledger view — the catalog says which apply to which type.
 * 3. Approvals: when the type is clearable, the deciding rule does not forbid it, and the status
 *    is needs_approval or info, the first approval of the control in force at `now` whose scope
 *    covers the agent (and, when it names one, the agent's organisation) and whose match covers
 *    the details makes it `approved`.
 *
 * Every step that decides leaves one reason, in Japanese and English, stored with the event.
 * Total: details were validated (policies/details.ts) and every matcher refuses a wrong type.
 */
import { prohibitedProgram } from "./matchers/executed.js";
import { STATUS_LABEL } from "./labels.js";
import type { Catalog, CatalogRule, RuleCheck } from "./catalog.js";
import { globMatch, matcherFor } from "./matchers/index.js";
import { approvedDestinationFor, approvedListeningPortFor, approvedNetworkFor } from "./network-rules.js";
import type { Policy } from "./policy.js";
import { controlOf } from "./names.js";
import type { Approval, Control, Details, EventType, Reason, Scope, Severity, Status } from "./schema.js";

/** What the media ledger (媒体台帳) knows of the event's medium (server/media-ledger.ts `observe`). */
export interface MediaView {
  /** its serial (and vendor/product id where the record names them) is in the ledger */
  registered: boolean;
  /** the serial is also seen on another device, or registered for another one */
  serialConflict: boolean;
  /** the ledger record, when registered */
  mediumId?: string | null;
}

/** The server's ledgers as they bear on this one event. */
export interface LedgerViews {
  media?: MediaView;
}

export interface DecideEvent {
  type: EventType;
  details: Details;
  /** organisation: the contractor organisation the agent belongs to (server/people/) */
  agent: { id: string; tags: readonly string[]; organisation?: string | undefined };
}

export interface DecideContext {
  catalog: Catalog;
  policy: Policy;
  /** the approvals not deleted (validity is checked here against `now`) */
  approvals: readonly Approval[];
  ledgers?: LedgerViews;
  /** the server's clock at ingest */
  now: Date;
}

export interface Decision {
  control: Control;
  articles: string[];
  severity: Severity;
  status: Status;
  approvalId: string | null;
  reasons: Reason[];
}

export { STATUS_LABEL };

/** The one-line reasons of the catalog defaults: shared arrays, so the store serializes each once. */
const DEFAULT_REASONS: Record<Status, readonly Reason[]> = Object.fromEntries(
  (Object.keys(STATUS_LABEL) as Status[]).map((st) => [st, Object.freeze([
    Object.freeze({ ja: `カタログの既定: ${STATUS_LABEL[st].ja}`, en: `catalog default: ${STATUS_LABEL[st].en}` }),
  ])]),
) as Record<Status, readonly Reason[]>;

export function scopeCovers(scope: Scope, agent: { id: string; tags: readonly string[] }): boolean {
  if ("all" in scope) return scope.all === true;
  if ("agents" in scope) return scope.agents.includes(agent.id);
  return scope.tags.some((t) => agent.tags.includes(t));
}

export function approvalInForce(approval: Approval, now: Date): boolean {
  const t = now.getTime();
  return Date.parse(approval.validFrom) <= t && t < Date.parse(approval.validUntil);
}

/** Quote a value from an event or a policy in a reason, short. */
function q(v: unknown): string {
  const s = typeof v === "string" ? v : JSON.stringify(v) ?? String(v);
  return `"${s.length > 80 ? `${s.slice(0, 79)}…` : s}"`;
}

type CheckInput = { type: EventType; details: Details; rule: CatalogRule; ctx: DecideContext };
/** A check: the reason it holds, or undefined. */
type Check = (i: CheckInput) => Reason | undefined;

const CHECKS: Record<RuleCheck, Check> = {
  prohibitedSoftware: ({ details, ctx }) => {
    for (const rule of ctx.policy.software.prohibited) {
      if (!globMatch(rule.name, details.name)) continue;
      if (rule.publisher !== undefined && !globMatch(rule.publisher, details.publisher)) continue;
      const why = rule.reason ? `（${rule.reason}）` : "";
      return { ja: `禁止ソフトウェア規則 ${q(rule.name)} に一致${why}`, en: `matched prohibited rule ${q(rule.name)}${rule.reason ? ` (${rule.reason})` : ""}` };
    }
    return undefined;
  },
  prohibitedProgram: ({ details, ctx }) => {
    const hit = prohibitedProgram(ctx.policy.software.executed.prohibited, details);
    if (!hit) return undefined;
    const what = hit.by.map((b) => `${b} ${q(hit.rule[b as "sha256" | "signer" | "name"])}`).join(", ");
    const why = hit.rule.reason;
    return { ja: `禁止プログラム規則 (${what}) に一致${why ? `（${why}）` : ""}`, en: `matched prohibited program rule (${what})${why ? ` (${why})` : ""}` };
  },
  approvedNetwork: ({ details, ctx }) => {
    const n = approvedNetworkFor(ctx.policy.network, details);
    if (!n) return undefined;
    const name = n.name ?? n.cidr ?? n.ssid ?? n.iface ?? n.gatewayMac ?? n.bssid ?? "";
    return { ja: `ポリシーの承認済みネットワーク ${q(name)} に一致`, en: `matched approved network ${q(name)} of the policy` };
  },
  approvedDestination: ({ details, ctx }) => {
    const d = approvedDestinationFor(ctx.policy.network, details.remoteAddress, details.remotePort);
    if (!d) return undefined;
    const what = d.ports ? `${d.cidr} (${d.ports.join(", ")})` : d.cidr;
    return { ja: `ポリシーの承認済み宛先 ${q(what)} に一致`, en: `matched approved destination ${q(what)} of the policy` };
  },
  approvedListeningPort: ({ details, ctx }) => {
    const p = approvedListeningPortFor(ctx.policy.network, { protocol: details.protocol, port: details.port }, details);
    if (!p) return undefined;
    const what = `${p.port}${p.protocol ? `/${p.protocol}` : ""}${p.process ? ` ${p.process}` : ""}`;
    return { ja: `ポリシーの承認済み待受ポート ${q(what)} に一致`, en: `matched approved listening port ${q(what)} of the policy` };
  },
  mediaRegistered: ({ ctx }) => {
    const m = ctx.ledgers?.media;
    if (!m || !m.registered || m.serialConflict) return undefined;
    return m.mediumId
      ? { ja: `媒体台帳に登録済み (${m.mediumId})`, en: `registered in the media ledger (${m.mediumId})` }
      : { ja: "媒体台帳に登録済み", en: "registered in the media ledger" };
  },
  mediaUnregistered: ({ ctx }) => {
    const m = ctx.ledgers?.media;
    return m && !m.registered ? { ja: "媒体台帳に未登録", en: "not in the media ledger" } : undefined;
  },
  serialConflict: ({ ctx }) =>
    ctx.ledgers?.media?.serialConflict
      ? { ja: "シリアル番号が別の媒体と重複", en: "serial number also belongs to another medium" }
      : undefined,
  detailEquals: ({ details, rule }) =>
    rule.field !== undefined && details[rule.field] === rule.equals
      ? { ja: `details.${rule.field} が ${q(rule.equals)}`, en: `details.${rule.field} is ${q(rule.equals)}` }
      : undefined,
  always: () => ({ ja: "常に適用", en: "always applies" }),
};

function policySetting(policy: Policy, setting: NonNullable<CatalogRule["statusFromPolicy"]>): Status {
  switch (setting) {
    case "media.unencrypted":
      return policy.media.unencrypted;
  }
}

export function decide(event: DecideEvent, ctx: DecideContext): Decision {
  const { type, details } = event;
  const entry = ctx.catalog.events[type];
  const control = controlOf(type);
  let severity: Severity = entry.severity;
  let status: Status = entry.defaultStatus;
  let clearable = entry.clearable;
  let reasons: Reason[] = [];

  let decidedBy: CatalogRule | undefined;
  for (const rule of entry.rules) {
    const held = CHECKS[rule.check]({ type, details, rule, ctx });
    if (!held) continue;
    decidedBy = rule;
    if (rule.statusFromPolicy) {
      status = policySetting(ctx.policy, rule.statusFromPolicy);
      const label = STATUS_LABEL[status];
      reasons.push({ ja: `ポリシー ${rule.statusFromPolicy} により${label.ja}`, en: `policy ${rule.statusFromPolicy}: ${label.en}` });
    } else {
      status = rule.status!;
      reasons.push(rule.reason ?? held);
    }
    if (rule.severity) severity = rule.severity;
    if (rule.clearable === false) clearable = false;
    break;
  }
  // (a shared array: anything added to it below copies it first)
  if (!decidedBy) reasons = DEFAULT_REASONS[status] as Reason[];

  if (status === "approved") return { control, articles: entry.articles, severity, status, approvalId: null, reasons };

  if (clearable && (status === "needs_approval" || status === "info")) {
    const matcher = matcherFor(control);
    for (const approval of ctx.approvals) {
      if (approval.control !== control) continue;
      if (!approvalInForce(approval, ctx.now)) continue;
      if (!scopeCovers(approval.scope, event.agent)) continue;
      if (approval.organisation !== undefined && approval.organisation !== event.agent.organisation) continue;
      if (!matcher(approval.match, details, type)) continue;
      const until = approval.validUntil.slice(0, 10);
      reasons = [...reasons, { ja: `甲許可 ${approval.id} (有効期限 ${until}) に一致`, en: `matched approval ${approval.id} (valid until ${until})` }];
      return { control, articles: entry.articles, severity, status: "approved", approvalId: approval.id, reasons };
    }
  } else if (entry.clearable && !clearable && status === "needs_approval") {
    reasons = [...reasons, { ja: "この判定は甲許可では解除できない", en: "no approval can clear this" }];
  }
  return { control, articles: entry.articles, severity, status, approvalId: null, reasons };
}
