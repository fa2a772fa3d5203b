/** The policy in force: read it, or put a new version (YAML or JSON) that reaches every connected agent. */
import { z } from "zod";
import { parsePolicyText, PolicyError } from "../../policies/policy.js";
import { InvalidInputError } from "../errors.js";
import type { RouteFile } from "../http.js";

export const policyRoutes: RouteFile = async (app, { store, state, gateway, log, workflow }) => {
  app.get("/api/policy", {
    config: { action: "policy.read" },
    schema: {
      summary: "the policy in force: version, parsed policy and its text",
      response: { 200: z.object({ version: z.number().int(), policy: z.record(z.string(), z.unknown()), text: z.string() }) },
    },
  }, async () => {
    const p = state.policy;
    return { version: p.version, policy: p.policy as unknown as Record<string, unknown>, text: p.text };
  });

  app.put("/api/policy", {
    config: { body: "text", action: "policy.write" },
    schema: {
      summary: "a new policy version (YAML or JSON text); an invalid one is refused with 400 {error, line} and the old one stays",
      consumes: ["application/yaml", "text/yaml", "application/json", "text/plain"],
      body: z.string().describe("the policy as YAML or JSON"),
      response: { 200: z.object({ version: z.number().int() }) },
    },
  }, async (req) => {
    const text = req.body;
    let policy;
    try {
      policy = parsePolicyText(text);
    } catch (err) {
      if (err instanceof PolicyError) {
        log.warn({ line: err.line, err: err.message }, "policy refused; the policy in force stays");
        throw new InvalidInputError(err.message, { line: err.line ?? null });
      }
      throw err;
    }
    const version = await store.insertPolicy(text, new Date().toISOString());
    state.policy = { version, policy, text };
    workflow.recordChange(req.principal, { remote: req.ip }, "policy.write", String(version), { version, bytes: Buffer.byteLength(text) });
    log.info({ version }, "new policy version in force");
    gateway.pushPolicy();
    return { version };
  });
};
