/**
 * Approvals (甲許可): create (甲 recording a permission directly, e.g. a paper one), list (`?all=1`
 * with the deleted ones), delete (no longer in force). Through the workflow (server/people/): the
 * role is checked, the change audited, open matching events resolved, the PCs told at once.
 */
import { z } from "zod";
import { Control, Scope } from "../../policies/schema.js";
import type { RouteFile } from "../http.js";

const ApprovalView = z.object({
  id: z.string(),
  control: Control,
  match: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
  scope: Scope,
  validFrom: z.string(),
  validUntil: z.string(),
  reason: z.string(),
  createdAt: z.string(),
  deletedAt: z.string().nullable(),
  organisation: z.string().optional(),
  requestId: z.string().optional(),
  createdBy: z.string().optional(),
  /** open matching events resolved by this approval (on creation) */
  resolved: z.number().int().optional(),
});

export const approvalRoutes: RouteFile = async (app, { workflow }) => {
  app.post("/api/approvals", {
    config: { action: "approval.manage" },
    schema: {
      summary: "create an approval (甲許可) {control, match, scope, validFrom, validUntil, reason, organisation?}; open matching events are resolved",
      body: z.unknown(),
      response: { 201: ApprovalView },
    },
  }, async (req, reply) => {
    const { approval, resolved } = workflow.createApproval(req.principal, req.body, { remote: req.ip });
    return reply.code(201).send({ ...approval, deletedAt: null, resolved });
  });

  app.get("/api/approvals", {
    config: { action: "approval.read" },
    schema: {
      summary: "the approvals in force (all=1: the deleted ones too); a contractor-side caller sees those of or covering its organisation",
      querystring: z.object({ all: z.string().optional().describe("1 or true: include deleted approvals") }),
      response: { 200: z.array(ApprovalView) },
    },
  }, async (req) => workflow.listApprovals(req.principal, ["1", "true"].includes(req.query.all ?? "")));

  app.delete("/api/approvals/:id", {
    config: { action: "approval.manage" },
    schema: { summary: "delete an approval (kept as a record with deletedAt)", params: z.object({ id: z.string().min(1).max(200) }), response: { 204: z.null().describe("no content") } },
  }, async (req, reply) => {
    workflow.deleteApproval(req.principal, req.params.id, { remote: req.ip });
    return reply.code(204).send(null);
  });
};
