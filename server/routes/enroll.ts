/** Enrollment: an agent trades the enrollment token for its own credential (agentId + secret). */
import { randomBytes, randomUUID } from "node:crypto";
import { z } from "zod";
import { AuthenticationError } from "../errors.js";
import type { RouteFile } from "../http.js";
import { secretEquals, sha256Hex } from "../tokens.js";

const EnrollBody = z.object({
  token: z.string().min(1),
  hostname: z.string().min(1).max(255),
  os: z.string().max(255),
  version: z.string().max(100),
});

export const enrollRoutes: RouteFile = async (app, { store, tokens, authLimit, log }) => {
  app.post("/api/enroll", {
    config: { public: true },
    schema: {
      summary: "enroll an agent with the enrollment token (no bearer); the secret is stored only as its sha256",
      body: EnrollBody,
      response: { 201: z.object({ agentId: z.string(), secret: z.string() }) },
    },
  }, async (req, reply) => {
    const body = req.body;
    authLimit.check(req.ip);
    if (!secretEquals(body.token, tokens.enrollToken)) {
      authLimit.failed(req.ip, "enrollment token", "/api/enroll");
      throw new AuthenticationError("wrong enrollment token");
    }
    const agentId = randomUUID();
    const secret = randomBytes(32).toString("base64url");
    await store.createAgent({ id: agentId, secretHash: sha256Hex(secret), hostname: body.hostname, os: body.os, version: body.version, enrolledAt: new Date().toISOString() });
    log.info({ agentId, hostname: body.hostname, os: body.os, remote: req.ip }, "agent enrolled");
    return reply.code(201).send({ agentId, secret });
  });
};
