/**
 * Agents: the list (with live online status), revocation of a credential (which also keeps the
 * agent's PC from enrolling again until allowed), tags (used by approval scopes).
 */
import { z } from "zod";
import { NotFoundError } from "../errors.js";
import type { RouteFile } from "../http.js";
import type { AgentRecord } from "../store.js";

export const AgentView = z.looseObject({
  id: z.string(),
  hostname: z.string(),
  os: z.string(),
  version: z.string(),
  online: z.boolean(),
  lastSeen: z.string().nullable(),
  policyVersion: z.number().int().nullable(),
  tags: z.array(z.string()),
  enrolledAt: z.string(),
  revoked: z.boolean(),
  revokedAt: z.string().nullable(),
});
export type AgentView = z.infer<typeof AgentView>;

export function agentView(a: AgentRecord, live: { online: boolean; lastSeen: string } | undefined): AgentView {
  return {
    id: a.id,
    hostname: a.hostname,
    os: a.os,
    version: a.version,
    online: live ? live.online : false,
    lastSeen: live ? live.lastSeen : a.lastSeen,
    policyVersion: a.policyVersion,
    tags: a.tags,
    enrolledAt: a.enrolledAt,
    revoked: a.revokedAt !== null,
    revokedAt: a.revokedAt,
  };
}

const IdParams = z.object({ id: z.string().min(1).max(200) });
const TagsBody = z.array(z.string().min(1).max(100)).max(100);

export const agentRoutes: RouteFile = async (app, { store, gateway, enrollment, log, workflow }) => {
  app.get("/api/agents", {
    config: { action: "agent.read" },
    schema: { summary: "every enrolled agent, online or not (a contractor-side caller: its organisation's)", response: { 200: z.array(AgentView) } },
  }, async (req) => {
    const ids = workflow.visibleAgentIds(req.principal);
    return (await store.listAgents()).filter((a) => ids === null || ids.has(a.id)).map((a) => ({
      ...agentView(a, gateway.liveStatus(a.id)), organisation: workflow.people.agentOrganisation(a.id) ?? null,
    }));
  });

  app.post("/api/agents/:id/revoke", {
    config: { action: "agent.manage" },
    schema: {
      summary: "revoke the agent's credential (a connected agent is closed with 4403); its PC (pcId) cannot enroll again until allow-reenroll",
      params: IdParams, response: { 200: AgentView },
    },
  }, async (req) => {
    const { id } = req.params;
    if (!(await store.revokeAgent(id, new Date().toISOString()))) throw new NotFoundError(`no agent ${id}`);
    gateway.revoked(id);
    workflow.recordChange(req.principal, { remote: req.ip }, "agent.revoke", id, {});
    log.warn({ agentId: id }, "agent credential revoked");
    await enrollment.revoked(id);
    return agentView((await store.getAgent(id))!, undefined);
  });

  app.post("/api/agents/:id/allow-reenroll", {
    config: { action: "agent.manage" },
    schema: {
      summary: "let a revoked agent's PC enroll again (its old credential stays revoked)",
      params: IdParams, response: { 200: z.object({ agentId: z.string(), allowedPcIds: z.array(z.string()) }) },
    },
  }, async (req) => enrollment.allowReenroll(req.params.id));

  app.put("/api/agents/:id/tags", {
    config: { action: "agent.manage" },
    schema: { summary: "set the agent's tags [tag, ...] (approval scopes by tag)", params: IdParams, body: TagsBody, response: { 200: AgentView } },
  }, async (req) => {
    const { id } = req.params;
    const tags = [...new Set(req.body)];
    if (!(await store.setAgentTags(id, tags))) throw new NotFoundError(`no agent ${id}`);
    gateway.setTags(id, tags);
    workflow.recordChange(req.principal, { remote: req.ip }, "agent.tags", id, { tags });
    gateway.pushApprovals([id]);
    return agentView((await store.getAgent(id))!, gateway.liveStatus(id));
  });

  app.put("/api/agents/:id/organisation", {
    config: { action: "agent.manage" },
    schema: { summary: "move the agent to a contractor organisation {organisation: name or id}", params: IdParams,
      body: z.strictObject({ organisation: z.string().min(1).max(200) }), response: { 200: AgentView } },
  }, async (req) => {
    const { id } = req.params;
    const organisation = workflow.moveAgent(req.principal, id, req.body.organisation, { remote: req.ip });
    return { ...agentView((await store.getAgent(id))!, gateway.liveStatus(id)), organisation };
  });
};
