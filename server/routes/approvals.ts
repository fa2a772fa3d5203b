/** Approvals (甲許可): create, list (`?all=1` with the deleted ones), delete (no longer in force). */
import { randomUUID } from "node:crypto";
import { z } from "zod";
import { ApprovalInput, Control, Scope, type Approval } from "../../policies/schema.js";
import { NotFoundError } from "../errors.js";
import type { RouteFile } from "../http.js";
import type { ApprovalRecord } from "../store.js";

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
});

function approvalView(a: ApprovalRecord | Approval): z.infer<typeof ApprovalView> {
  return {
    id: a.id, control: a.control, match: a.match, scope: a.scope, validFrom: a.validFrom, validUntil: a.validUntil,
    reason: a.reason, createdAt: a.createdAt, deletedAt: "deletedAt" in a ? a.deletedAt : null,
  };
}

export const approvalRoutes: RouteFile = async (app, { store, state, log }) => {
  app.post("/api/approvals", {
    schema: { summary: "create an approval (甲許可) {control, match, scope, validFrom, validUntil, reason}", body: ApprovalInput, response: { 201: ApprovalView } },
  }, async (req, reply) => {
    const approval: Approval = { ...req.body, id: randomUUID(), createdAt: new Date().toISOString() };
    await store.createApproval(approval);
    state.approvals = [...state.approvals, approval];
    log.info({ approvalId: approval.id, control: approval.control, scope: approval.scope }, "approval created");
    return reply.code(201).send(approvalView(approval));
  });

  app.get("/api/approvals", {
    schema: {
      summary: "the approvals in force (all=1: the deleted ones too)",
      querystring: z.object({ all: z.string().optional().describe("1 or true: include deleted approvals") }),
      response: { 200: z.array(ApprovalView) },
    },
  }, async (req) => {
    const all = ["1", "true"].includes(req.query.all ?? "");
    return (await store.listApprovals(all)).map(approvalView);
  });

  app.delete("/api/approvals/:id", {
    schema: { summary: "delete an approval (kept as a record with deletedAt)", params: z.object({ id: z.string().min(1).max(200) }), response: { 204: z.null().describe("no content") } },
  }, async (req, reply) => {
    const { id } = req.params;
    if (!(await store.deleteApproval(id, new Date().toISOString()))) throw new NotFoundError(`no approval ${id}`);
    state.approvals = state.approvals.filter((a) => a.id !== id);
    log.info({ approvalId: id }, "approval deleted (no longer in force)");
    return reply.code(204).send(null);
  });
};
