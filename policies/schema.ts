/**
 * One event schema and one protocol message map, shared by agent, server and dashboard.
 * Every boundary validates with these (zod); the TypeScript types are inferred from them.
 */
import { z } from "zod";
import { CONTROLS, controlOf, EVENT_TYPES, SEVERITIES, STATUSES } from "./names.js";

export { CONTROLS, controlOf, EVENT_TYPES, SEVERITIES, STATUSES };

export const Control = z.enum(CONTROLS);
export type Control = z.infer<typeof Control>;

export const EventType = z.enum(EVENT_TYPES);
export type EventType = z.infer<typeof EventType>;

export const Status = z.enum(STATUSES);
export type Status = z.infer<typeof Status>;

export const Severity = z.enum(SEVERITIES);
export type Severity = z.infer<typeof Severity>;

const IsoTime = z.iso.datetime({ offset: true });

/** details: each control's own fields (SPEC.md); unknown extra fields are kept as evidence. */
export const Details = z.record(z.string(), z.unknown());
export type Details = z.infer<typeof Details>;

/** An event as the agent observed it (before the server decides its status). */
export const AgentEvent = z.strictObject({
  seq: z.number().int().positive(),
  type: EventType,
  observedAt: IsoTime,
  details: Details,
});
export type AgentEvent = z.infer<typeof AgentEvent>;

/** What a collector hands to the queue: the queue assigns seq. */
export type NewEvent = Omit<AgentEvent, "seq" | "observedAt"> & { observedAt?: string };

/** One reason for an event's status, in the catalog's two languages (policies/decide.ts). */
export const Reason = z.strictObject({ ja: z.string(), en: z.string() });
export type Reason = z.infer<typeof Reason>;

/** An event as stored and served by the API (SPEC.md GET /api/events). */
export const StoredEvent = z.object({
  id: z.number().int(),
  agentId: z.string(),
  seq: z.number().int().nullable(),
  control: Control,
  type: EventType,
  articles: z.array(z.string()),
  severity: Severity,
  status: Status,
  observedAt: z.string(),
  receivedAt: z.string(),
  details: Details,
  approvalId: z.string().nullable().optional(),
  /** why it has its status: one line per rule, approval or default that decided it */
  reasons: z.array(Reason),
  resolution: z.string().nullable().optional(),
  note: z.string().nullable().optional(),
  resolvedAt: z.string().nullable().optional(),
});
export type StoredEvent = z.infer<typeof StoredEvent>;

// ---------------------------------------------------------------------------------------------
// Approvals (甲許可)
export const Scope = z.union([
  z.strictObject({ all: z.literal(true) }),
  z.strictObject({ agents: z.array(z.string()).min(1) }),
  z.strictObject({ tags: z.array(z.string()).min(1) }),
]);
export type Scope = z.infer<typeof Scope>;

export const ApprovalInput = z.strictObject({
  control: Control,
  match: z.record(z.string().max(64), z.union([z.string().max(1024), z.number(), z.boolean()])),
  scope: Scope,
  validFrom: IsoTime,
  validUntil: IsoTime,
  reason: z.string().min(1).max(2000),
  /** restricts the approval to the PCs of one organisation (id or name; server/people/) */
  organisation: z.string().min(1).max(200).optional(),
}).refine((a) => Date.parse(a.validFrom) < Date.parse(a.validUntil), {
  message: "validFrom must be before validUntil",
  path: ["validUntil"],
});
export type ApprovalInput = z.infer<typeof ApprovalInput>;
/** requestId: the request (申請) it decided; createdBy: who made it (server/people/workflow.ts) */
export type Approval = ApprovalInput & { id: string; createdAt: string; requestId?: string; createdBy?: string };

// ---------------------------------------------------------------------------------------------
// Agent <-> server protocol: one JSON message per WebSocket frame, discriminated by `t`.
/** hello fields are bounded as at enrollment (POST /api/enroll) */
export const AgentHello = z.strictObject({
  t: z.literal("hello"),
  agentId: z.string().min(1).max(200),
  hostname: z.string().min(1).max(255),
  os: z.string().max(255),
  version: z.string().max(100),
  policyVersion: z.number().int().nonnegative().nullable(),
  /** the highest seq the agent has queued (for diagnostics) */
  lastSeq: z.number().int().nonnegative(),
});
/**
 * One event of an `events` frame as the frame schema sees it: only its seq. The rest (type,
 * observedAt, details) is checked per event (policies/details.ts checkEvent), so one bad event is
 * refused alone (`ack.rejected`) and never fails the frame, another event or another agent.
 */
export type EventEnvelope = { seq: number } & Record<string, unknown>;
function isEnvelope(v: unknown): v is EventEnvelope {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const seq = (v as { seq?: unknown }).seq;
  return typeof seq === "number" && Number.isSafeInteger(seq) && seq > 0;
}
export const AgentEventsMsg = z.strictObject({
  t: z.literal("events"),
  // checked by hand, not copied: this runs on every event of every frame
  events: z.array(z.unknown()).min(1).max(5000).superRefine((events, ctx) => {
    for (let i = 0; i < events.length; i++) {
      if (!isEnvelope(events[i])) ctx.addIssue({ code: "custom", path: [i, "seq"], message: "each event needs a positive integer seq (at most 2^53 − 1)" });
    }
  }).transform((events) => events as EventEnvelope[]),
});
export const AgentHeartbeat = z.strictObject({ t: z.literal("heartbeat"), at: IsoTime });
export const AgentBye = z.strictObject({ t: z.literal("bye"), reason: z.string().max(1000) });
export const AgentMessage = z.discriminatedUnion("t", [AgentHello, AgentEventsMsg, AgentHeartbeat, AgentBye]);
export type AgentMessage = z.infer<typeof AgentMessage>;

export const ServerWelcome = z.strictObject({
  t: z.literal("welcome"),
  /** the highest seq of this agent the server has durably stored: the agent resumes after it */
  ackedSeq: z.number().int().nonnegative(),
  heartbeatSeconds: z.number().positive(),
  serverTime: IsoTime,
});
/** An event the server refused: it is not stored; the ack's seq covers it (the agent deletes it). */
export const RejectedEvent = z.strictObject({ seq: z.number().int().positive(), path: z.string().max(300), message: z.string().max(500) });
export type RejectedEvent = z.infer<typeof RejectedEvent>;
/** Everything up to `seq` is durably stored, except the `rejected` events (refused, never stored). */
export const ServerAck = z.strictObject({
  t: z.literal("ack"),
  seq: z.number().int().nonnegative(),
  rejected: z.array(RejectedEvent).max(5000).optional(),
});
export const ServerPolicy = z.strictObject({ t: z.literal("policy"), version: z.number().int().positive(), policy: z.unknown() });
export const ServerHeartbeat = z.strictObject({ t: z.literal("heartbeat"), serverTime: IsoTime });
export const ServerError = z.strictObject({ t: z.literal("error"), code: z.string(), message: z.string() });
/**
 * The approvals (甲許可) in force that cover this PC and its pending requests (申請), pushed at
 * hello and within a moment of every decision, so the agent can tell its user (log line,
 * `kyoka status`). The server stays the authority: it decides every event by its own clock.
 */
export const PushedApproval = z.object({
  id: z.string().max(200),
  control: Control,
  match: z.record(z.string().max(64), z.union([z.string().max(1024), z.number(), z.boolean()])),
  validFrom: z.string().max(64),
  validUntil: z.string().max(64),
  reason: z.string().max(4000),
  requestId: z.string().max(200).optional(),
});
export const PushedRequest = z.object({
  id: z.string().max(200),
  control: Control,
  match: z.record(z.string().max(64), z.union([z.string().max(1024), z.number(), z.boolean()])),
  status: z.enum(["pending", "approved", "denied"]),
  validUntil: z.string().max(64),
  reason: z.string().max(4000),
  requestedAt: z.string().max(64),
  decisionNote: z.string().max(4000).nullable().optional(),
});
export const ServerApprovals = z.strictObject({
  t: z.literal("approvals"),
  approvals: z.array(PushedApproval).max(10_000),
  requests: z.array(PushedRequest).max(10_000),
  serverTime: IsoTime,
});
export type ServerApprovals = z.infer<typeof ServerApprovals>;
export const ServerMessage = z.discriminatedUnion("t", [ServerWelcome, ServerAck, ServerPolicy, ServerHeartbeat, ServerError, ServerApprovals]);
export type ServerMessage = z.infer<typeof ServerMessage>;

/**
 * WebSocket close codes used between agent and server, for refusals inside the protocol (after
 * the upgrade). A credential refused before the upgrade is an HTTP status instead: 401 (unknown,
 * like 4401), 403 (revoked, like 4403), 429/503 (limits).
 */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  policyViolation: 1008,
  tooBig: 1009,
  unauthorized: 4401,
  revoked: 4403,
  badMessage: 4400,
  /** connected but no hello within the server's hello deadline */
  helloTimeout: 4408,
  replaced: 4409,
} as const;

/** Largest frame either side accepts. */
export const MAX_FRAME_BYTES = 1024 * 1024;

/** Format a zod error as one line per issue: `path: message`. */
export function formatIssues(err: z.ZodError): string {
  return err.issues.map((i) => `${i.path.length ? i.path.join(".") : "(root)"}: ${i.message}`).join("; ");
}
