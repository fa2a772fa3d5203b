/**
 * The unauthenticated routes: /healthz, the route index (/api), the OpenAPI document
 * (/api/openapi.json), and the two WebSocket endpoints, documented here and upgraded in server.ts.
 */
import { z } from "zod";
import type { RouteFile } from "../http.js";


const RouteEntry = z.object({
  method: z.string(),
  path: z.string(),
  auth: z.enum(["admin", "none"]),
  action: z.string().optional(),
  summary: z.string(),
  query: z.array(z.string()).optional(),
  websocket: z.literal(true).optional(),
});

const UpgradeRequired = z.object({ error: z.string() });

export const indexRoutes: RouteFile = async (app) => {
  app.get("/healthz", {
    config: { public: true },
    schema: { summary: "liveness: {ok: true}", response: { 200: z.object({ ok: z.literal(true) }) } },
  }, async () => ({ ok: true as const }));

  app.get("/api", {
    config: { public: true },
    schema: {
      summary: "this index of every route, made from the routes' schemas",
      response: { 200: z.object({ name: z.string(), auth: z.string(), openapi: z.string(), routes: z.array(RouteEntry) }) },
    },
  }, async () => ({
    name: "kyoka",
    auth: "Authorization: Bearer <admin token (file admin-token in the data directory) | personal API token>, or the session cookie of POST /api/login with X-CSRF-Token on state-changing requests, on every route with auth: admin; its action (people/permissions.ts) says which roles may (403 otherwise)",
    openapi: "/api/openapi.json",
    routes: app.routeIndex,
  }));

  app.get("/api/openapi.json", {
    config: { public: true },
    schema: { summary: "the OpenAPI 3 document, made from the routes' schemas", response: { 200: z.record(z.string(), z.unknown()) } },
  }, async () => app.swagger() as unknown as Record<string, unknown>);

  // WebSocket endpoints: the upgrade is dispatched in server.ts; a plain GET is told to upgrade.
  const websocket = (summary: string) => ({
    config: { public: true, websocket: true },
    schema: { summary, response: { 426: UpgradeRequired } },
  });
  app.get("/agent", websocket("the agent WebSocket (Authorization: Bearer <agentId>:<secret>; protocol in SPEC.md)"),
    async (_req, reply) => reply.code(426).header("upgrade", "websocket").send({ error: "WebSocket upgrade required" }));
  app.get("/api/stream", websocket("live events and agent status changes, one JSON message each (WebSocket; admin token as Bearer or ?token=)"),
    async (_req, reply) => reply.code(426).header("upgrade", "websocket").send({ error: "WebSocket upgrade required" }));
};
