/**
 * The server's storage contract. SQLite (store-sqlite.ts) is the embedded default; a PostgreSQL
 * store implements the same interface later. Every method returns a Promise so a networked
 * database fits; the SQLite ingest path additionally offers a synchronous batch write
 * (`SyncEventWriter`) because group commit is the hot path.
 */
import type { Approval, Control, Details, EventType, Reason, Severity, Status, StoredEvent } from "../policies/schema.js";
import type { LedgerEntry } from "../policies/ledger.js";

/** An agent as the API shows it (SPEC.md GET /api/agents). */
export interface AgentRecord {
  id: string;
  hostname: string;
  os: string;
  version: string;
  tags: string[];
  enrolledAt: string;
  lastSeen: string | null;
  revokedAt: string | null;
  policyVersion: number | null;
  online: boolean;
  /** when the current silence was recorded (agent.silent); null while the agent talks */
  silentAt: string | null;
  /** when the agent last said bye (a clean stop is not a silence) */
  byeAt: string | null;
}

/** What authenticating an agent needs. */
export interface AgentCredential {
  id: string;
  secretHash: string;
  revokedAt: string | null;
  tags: string[];
}

export interface NewAgent {
  id: string;
  secretHash: string;
  hostname: string;
  os: string;
  version: string;
  enrolledAt: string;
  /** the PC's hardware identity as the agent computed it at enrollment (agent/collectors/asset/identity.ts) */
  pcId?: string | null;
  /** the enrollment token used; null for the bootstrap token (`<data>/enroll-token`) */
  enrollTokenId?: string | null;
  /** the address it enrolled from */
  remote?: string | null;
}

/** An enrollment token as stored (the token itself only as its sha256). */
export interface EnrollTokenRecord {
  id: string;
  name: string | null;
  organisation: string | null;
  /** null: any number of uses */
  maxUses: number | null;
  uses: number;
  /** null: never expires */
  expiresAt: string | null;
  createdAt: string;
  lastUsedAt: string | null;
  deletedAt: string | null;
}

/** Why a token cannot be used (consumeEnrollToken). */
export type EnrollTokenRefusal = "unknown" | "deleted" | "expired" | "used_up";

/** A PC kept out: the hardware identity of a revoked agent, until an admin allows it again. */
export interface PcBlock {
  pcId: string;
  agentId: string;
  blockedAt: string;
}

/** An event ready to store: status and reasons already decided at ingest (decide.ts). */
export interface EventRow {
  agentId: string;
  /** null for events the server makes itself (agent.silent) */
  seq: number | null;
  control: Control;
  type: EventType;
  articles: string[];
  severity: Severity;
  status: Status;
  observedAt: string;
  receivedAt: string;
  details: Details;
  /** `details` already serialized (validation did it); the store writes it as is */
  detailsJson?: string;
  approvalId: string | null;
  /** why it has its status (policies/decide.ts) */
  reasons: Reason[];
}

/** what countEventsBy groups by */
export type CountGroup = "control" | "agent" | "day";

export interface EventQuery {
  control?: Control;
  type?: EventType;
  agent?: string;
  /** the organisation filter (server/people/permissions.ts orgScope): only these agents' events */
  agents?: readonly string[];
  status?: Status;
  /** ISO time: events received at or after it */
  since?: string;
  /** ISO time: events received before it */
  until?: string;
  severity?: Severity;
  /** free text: a case-insensitive substring of the type or the details (the dashboard's search) */
  text?: string;
  /** keyset paging (newest first): only events with a smaller id */
  beforeId?: number;
  /** keyset iteration (oldest first, e.g. an export): only events with a larger id */
  afterId?: number;
  /** "desc" (default): newest first; "asc": oldest first */
  order?: "desc" | "asc";
  /** a bulk read (an export walking the whole table): kept out of the store's page cache where it can */
  bulk?: boolean;
  limit: number;
}

/** A registered medium (媒体台帳の一行), server/media-ledger.ts. */
export interface MediaRecord {
  id: string;
  serial: string;
  vendorId: string | null;
  productId: string | null;
  label: string | null;
  owner: string;
  note: string | null;
  registeredAt: string;
}

/** An approval as stored: soft-deleted ones keep their record with deletedAt. */
export type ApprovalRecord = Approval & { deletedAt: string | null };

/** One PC × control × collector × day (Asia/Tokyo) with at least one ok agent.check (server/evidence.ts). */
export interface EvidenceRecord {
  agentId: string;
  control: Control;
  collector: string;
  /** YYYY-MM-DD, Asia/Tokyo */
  day: string;
  /** ok checks stored for that day */
  checks: number;
  /** observedAt of the first and the last of them */
  firstAt: string;
  lastAt: string;
}

export interface EvidenceQuery {
  /** only these agents (the organisation filter); all when absent */
  agents?: readonly string[];
  /** days, YYYY-MM-DD, both included */
  fromDay: string;
  toDay: string;
}

export interface PolicyRecord {
  version: number;
  text: string;
  createdAt: string;
}

export interface Store {
  // agents
  createAgent(agent: NewAgent): Promise<void>;
  agentCredential(id: string): Promise<AgentCredential | undefined>;
  getAgent(id: string): Promise<AgentRecord | undefined>;
  listAgents(): Promise<AgentRecord[]>;
  /** on hello: what the agent says about itself; clears silence and bye */
  agentHello(id: string, info: { hostname: string; os: string; version: string; policyVersion: number | null; at: string }): Promise<void>;
  setAgentPolicyVersion(id: string, version: number): Promise<void>;
  setAgentOnline(id: string, online: boolean, lastSeen: string): Promise<void>;
  /** bulk lastSeen update for connected agents (one transaction) */
  touchAgents(lastSeen: Map<string, string>): Promise<void>;
  markAgentBye(id: string, at: string): Promise<void>;
  /** agents not heard from since `before`, not revoked, not stopped with bye, not already flagged */
  silentCandidates(before: string): Promise<AgentRecord[]>;
  markAgentSilent(id: string, at: string): Promise<void>;
  revokeAgent(id: string, at: string): Promise<boolean>;
  setAgentTags(id: string, tags: string[]): Promise<boolean>;
  /** offline for every agent (at server start: nobody is connected yet) */
  resetOnline(): Promise<void>;

  // enrollment (server/enrollment.ts)
  createEnrollToken(token: EnrollTokenRecord & { tokenHash: string }): Promise<void>;
  /** newest first; deleted ones only with includeDeleted */
  listEnrollTokens(includeDeleted?: boolean): Promise<EnrollTokenRecord[]>;
  /** the token with this hash, whatever its state */
  findEnrollToken(tokenHash: string): Promise<EnrollTokenRecord | undefined>;
  /** take one use, atomically: the token, or why it cannot be used */
  consumeEnrollToken(tokenHash: string, at: string): Promise<{ ok: true; token: EnrollTokenRecord } | { ok: false; reason: EnrollTokenRefusal; token?: EnrollTokenRecord }>;
  /** soft delete; false when unknown or already deleted */
  deleteEnrollToken(id: string, at: string): Promise<boolean>;
  /** the hardware identities known for an agent: the one sent at enrollment and the latest asset.snapshot's */
  agentPcIds(agentId: string): Promise<string[]>;
  /** keep these PCs out (a revocation); a PC allowed before is blocked again */
  blockPcs(agentId: string, pcIds: string[], at: string): Promise<void>;
  /** the block in force for a PC, if any */
  pcBlock(pcId: string): Promise<PcBlock | undefined>;
  /** lift the blocks an agent's revocation put in place; the PCs unblocked */
  allowPcs(agentId: string, at: string): Promise<string[]>;

  // events
  /** highest stored seq of the agent, 0 when none */
  maxSeq(agentId: string): Promise<number>;
  /** INSERT OR IGNORE in one transaction; per row the new id, or null when (agentId, seq) was already stored */
  insertEvents(rows: EventRow[]): Promise<Array<number | null>>;
  queryEvents(query: EventQuery): Promise<StoredEvent[]>;
  /**
   * The same events as NDJSON lines, each exactly `JSON.stringify` of its StoredEvent, built from
   * the stored JSON text without parsing it (the NDJSON export's path; optional: without it the
   * export stringifies queryEvents' rows).
   */
  queryEventLines?(query: EventQuery): Promise<string[]>;
  /** how many events match, per status (the dashboard's counts) */
  countEvents(query: Omit<EventQuery, "limit" | "beforeId" | "afterId" | "order" | "status">): Promise<Record<Status, number>>;
  /**
   * The same counts per status, for each value of `by` in one grouped query (the compliance
   * charts): the control, the agent, or the day received in Asia/Tokyo (YYYY-MM-DD). Only values
   * with at least one event are keys.
   */
  countEventsBy(query: Omit<EventQuery, "limit" | "beforeId" | "afterId" | "order" | "status">, by: CountGroup): Promise<Record<string, Record<Status, number>>>;
  getEvent(id: number): Promise<StoredEvent | undefined>;
  resolveEvent(id: number, resolution: string, note: string | null, at: string): Promise<StoredEvent | undefined>;

  /**
   * Evidence that checks ran (server/evidence.ts): the days with an ok agent.check. insertEvents
   * records it in the same transaction as the event (only for a newly stored agent.check whose
   * details say ok: true), so a duplicate never counts twice.
   */
  listEvidence(query: EvidenceQuery): Promise<EvidenceRecord[]>;

  // approvals (甲許可)
  createApproval(approval: Approval): Promise<void>;
  listApprovals(includeDeleted?: boolean): Promise<ApprovalRecord[]>;
  deleteApproval(id: string, at: string): Promise<boolean>;

  // policies
  latestPolicy(): Promise<PolicyRecord | undefined>;
  insertPolicy(text: string, at: string): Promise<number>;

  // PC ledger (台帳): server/assets.ts
  /** the ledger in file order */
  listLedger(): Promise<LedgerEntry[]>;
  /** replace: the ledger becomes `entries`; upsert: entries replace those with the same assetNo, others stay */
  saveLedger(entries: LedgerEntry[], mode: "replace" | "upsert", at: string): Promise<void>;
  /** the newest event of `type` of each agent */
  latestEventPerAgent(type: EventType): Promise<StoredEvent[]>;

  // media ledger (媒体台帳): server/media-ledger.ts
  /** registered media not deleted, oldest first */
  listRegisteredMedia(): Promise<MediaRecord[]>;
  registerMedium(medium: MediaRecord): Promise<void>;
  /** soft delete; false when unknown or already deleted */
  deleteRegisteredMedium(id: string, at: string): Promise<boolean>;

  close(): Promise<void>;
}

/** A store whose batch write can run synchronously (SQLite): group commit uses it when present. */
export interface SyncEventWriter {
  insertEventsSync(rows: EventRow[]): Array<number | null>;
}

export function hasSyncWriter(store: Store): store is Store & SyncEventWriter {
  return typeof (store as Partial<SyncEventWriter>).insertEventsSync === "function";
}

/** The API shape of a stored row (SPEC.md GET /api/events). */
export function toStoredEvent(id: number, row: EventRow): StoredEvent {
  return {
    id,
    agentId: row.agentId,
    seq: row.seq,
    control: row.control,
    type: row.type,
    articles: row.articles,
    severity: row.severity,
    status: row.status,
    observedAt: row.observedAt,
    receivedAt: row.receivedAt,
    details: row.details,
    approvalId: row.approvalId,
    reasons: row.reasons,
    resolution: null,
    note: null,
    resolvedAt: null,
  };
}
