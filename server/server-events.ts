/**
 * Events the server makes about itself (catalog `origin: server`), decided by decide.ts like any
 * other and stored through the same group commit (ingest.ts): e.g. agent.delivery_failed when a
 * notification or a report could not be delivered after its retries.
 */
import { loadCatalog } from "../policies/catalog.js";
import type { Details, EventType } from "../policies/schema.js";
import { decide } from "../policies/decide.js";
import type { Ingest } from "./ingest.js";
import type { ServerState } from "./state.js";
import type { EventRow } from "./store.js";

/** The agent id of server-made events that concern no single PC (only 甲-side roles see them). */
export const SERVER_AGENT_ID = "kyoka-server";

/** One server-made event row, decided now; `agentId` names the PC it concerns, else SERVER_AGENT_ID. */
export function serverEventRow(state: ServerState, type: EventType, details: Details, agentId: string = SERVER_AGENT_ID, now = new Date()): EventRow {
  const organisation = agentId === SERVER_AGENT_ID ? undefined : state.agentOrganisation(agentId);
  const d = decide({ type, details, agent: { id: agentId, tags: [], organisation } },
    { catalog: loadCatalog(), policy: state.policy.policy, approvals: state.approvals, now });
  return {
    agentId, seq: null, control: d.control, type, articles: d.articles, severity: d.severity, status: d.status,
    observedAt: now.toISOString(), receivedAt: now.toISOString(), details, approvalId: d.approvalId, reasons: d.reasons,
  };
}

/** Store a server-made event through the group commit; resolves after its commit. */
export function recordServerEvent(ingest: Ingest, row: EventRow): Promise<void> {
  return new Promise<void>((resolve, reject) => ingest.submit([row], (err) => (err ? reject(err) : resolve())));
}
