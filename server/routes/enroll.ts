/**
 * Enrollment: an agent trades an enrollment token for its own credential (agentId + secret), and
 * the admin's enrollment tokens (use count, expiry; shown once). The logic is server/enrollment.ts.
 */
import { z } from "zod";
import { EnrollBody, EnrollTokenInput } from "../enrollment.js";
import type { RouteFile } from "../http.js";

const EnrollTokenView = z.object({
  id: z.string(),
  name: z.string().nullable(),
  organisation: z.string().nullable(),
  maxUses: z.number().int().nullable(),
  uses: z.number().int(),
  expiresAt: z.string().nullable(),
  createdAt: z.string(),
  lastUsedAt: z.string().nullable(),
  deletedAt: z.string().nullable(),
  state: z.enum(["active", "expired", "used_up", "deleted"]),
});

export const enrollRoutes: RouteFile = async (app, { enrollment, workflow }) => {
  app.post("/api/enroll", {
    config: { public: true },
    schema: {
      summary: "enroll an agent with an enrollment token (no bearer); 401 wrong/expired/used-up token, 403 a revoked PC, 429 too many failures",
      body: EnrollBody,
      response: { 201: z.object({ agentId: z.string(), secret: z.string() }) },
    },
  }, async (req, reply) => reply.code(201).send(await enrollment.enroll(req.body, req.ip)));

  app.post("/api/enroll-tokens", {
    config: { action: "enroll-token.manage" },
    schema: {
      summary: "make an enrollment token {uses? (default 1, null: any), expiresAt? (default 7 days, null: never), name?, organisation?}; the token is shown once",
      body: EnrollTokenInput,
      response: { 201: EnrollTokenView.extend({ token: z.string() }) },
    },
  }, async (req, reply) => {
    const t = await enrollment.createToken(req.body);
    workflow.recordChange(req.principal, { remote: req.ip }, "enroll-token.create", t.id, { name: t.name, organisation: t.organisation, maxUses: t.maxUses, expiresAt: t.expiresAt });
    return reply.code(201).send(t);
  });

  app.get("/api/enroll-tokens", {
    config: { action: "enroll-token.manage" },
    schema: {
      summary: "the enrollment tokens (never the tokens themselves); ?all=1 includes deleted ones",
      querystring: z.object({ all: z.string().optional().describe("1 or true: include deleted tokens") }),
      response: { 200: z.array(EnrollTokenView) },
    },
  }, async (req) => enrollment.listTokens(["1", "true"].includes(req.query.all ?? "")));

  app.delete("/api/enroll-tokens/:id", {
    config: { action: "enroll-token.manage" },
    schema: {
      summary: "delete an enrollment token: it can no longer be used",
      params: z.object({ id: z.string().min(1).max(200) }), response: { 204: z.null().describe("no content") },
    },
  }, async (req, reply) => {
    await enrollment.deleteToken(req.params.id);
    workflow.recordChange(req.principal, { remote: req.ip }, "enroll-token.delete", req.params.id, {});
    return reply.code(204).send(null);
  });
};
