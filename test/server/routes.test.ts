/**
 * The route table of the running server, the route index (GET /api) and the OpenAPI document
 * (GET /api/openapi.json) agree: every route the router has is in both, and nothing else is.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, request, startTestServer, type TestServer } from "./helpers.js";

interface IndexEntry { method: string; path: string; auth: "admin" | "none"; summary: string; query?: string[]; websocket?: true }
interface OpenApi {
  openapi: string;
  paths: Record<string, Record<string, { summary?: string; security?: unknown[]; parameters?: Array<{ in: string; name: string }>; responses: Record<string, unknown> }>>;
}

/** "METHOD /path" for every route in Fastify's printed router tree. */
function routesFromTree(tree: string): string[] {
  const out: string[] = [];
  const stack: string[] = [];
  for (const line of tree.split("\n")) {
    const m = /^((?:│ {3}| {4})*)(?:├── |└── )(.*?)(?: \(([^)]*)\))?$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    stack.push(m[2]!);
    const path = stack.join("");
    for (const method of (m[3] ?? "").split(",").map((s) => s.trim()).filter(Boolean)) out.push(`${method} ${path}`);
  }
  return out.sort();
}

describe("server: the route table, /api and the OpenAPI document agree", () => {
  let srv: TestServer;
  let index: { routes: IndexEntry[]; openapi: string };
  let doc: OpenApi;
  let table: string[];
  beforeAll(async () => {
    srv = await startTestServer();
    table = routesFromTree(srv.printRoutes());
    index = (await request<typeof index>(srv, "GET", "/api")).json;
    doc = (await request<OpenApi>(srv, "GET", "/api/openapi.json")).json;
  });
  afterAll(async () => { await srv.stop(); });

  it("the router has the routes SPEC.md names", () => {
    for (const r of ["GET /healthz", "POST /api/enroll", "GET /api/agents", "GET /api/events", "GET /api/events/export", "POST /api/events/:id/resolve",
      "GET /api/openapi.json", "PUT /api/policy", "GET /api/assets", "POST /api/media", "DELETE /api/approvals/:id", "GET /metrics", "GET /agent", "GET /api/stream"]) {
      expect(table, r).toContain(r);
    }
  });

  it("GET /api lists exactly the router's routes, each with a summary and its auth", () => {
    expect(index.openapi).toBe("/api/openapi.json");
    expect(index.routes.map((r) => `${r.method} ${r.path}`).sort()).toEqual(table);
    for (const r of index.routes) expect(r.summary, `${r.method} ${r.path}`).not.toBe("");
    const auth = new Map(index.routes.map((r) => [`${r.method} ${r.path}`, r.auth]));
    expect(auth.get("GET /api/events")).toBe("admin");
    expect(auth.get("POST /api/enroll")).toBe("none");
    expect(auth.get("GET /healthz")).toBe("none");
    expect(index.routes.find((r) => r.path === "/api/events" && r.method === "GET")!.query).toEqual(
      expect.arrayContaining(["control", "type", "agent", "status", "since", "limit", "cursor"]));
    expect(index.routes.filter((r) => r.websocket).map((r) => r.path).sort()).toEqual(["/agent", "/api/stream"]);
  });

  it("the OpenAPI document has exactly the router's routes, with the same summaries, auth and parameters", () => {
    expect(doc.openapi).toMatch(/^3\./);
    const fromDoc: string[] = [];
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const method of Object.keys(ops)) fromDoc.push(`${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ":$1")}`);
    }
    expect(fromDoc.sort()).toEqual(table);
    for (const r of index.routes) {
      const op = doc.paths[r.path.replace(/:(\w+)/g, "{$1}")]![r.method.toLowerCase()]!;
      expect(op.summary, `${r.method} ${r.path}`).toBe(r.summary);
      expect(op.security !== undefined, `${r.method} ${r.path} security`).toBe(r.auth === "admin");
      const query = (op.parameters ?? []).filter((p) => p.in === "query").map((p) => p.name).sort();
      expect(query, `${r.method} ${r.path} query`).toEqual([...(r.query ?? [])].sort());
      expect(Object.keys(op.responses).length, `${r.method} ${r.path} responses`).toBeGreaterThan(0);
    }
    expect(doc.paths["/api/events/{id}/resolve"]!.post!.parameters!.some((p) => p.in === "path" && p.name === "id")).toBe(true);
  });

  it("every route in the index answers (no 404 from the router) at its path", async () => {
    for (const r of index.routes) {
      const path = r.path.replace(/:(\w+)/g, "x");
      const res = await api(srv, r.method, path);
      // a 404 of the route itself (e.g. "no agent x") is fine; the router's own "no route" is not
      expect(String((res.json as { error?: string } | undefined)?.error ?? ""), `${r.method} ${path}`).not.toMatch(/^no route|not allowed/);
      expect(res.status, `${r.method} ${path}`).not.toBe(405);
    }
  });
});
