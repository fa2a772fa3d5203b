/**
 * The unauthenticated routes: the home page, /healthz, the route index (/api), the OpenAPI document
 * (/api/openapi.json), and the two WebSocket endpoints, documented here and upgraded in server.ts.
 */
import { z } from "zod";
import type { RouteFile } from "../http.js";

const HOME_PAGE = `<!doctype html>
<html lang="ja">
<head><meta charset="utf-8"><title>kyoka（許可）</title>
<style>body{font-family:system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem;line-height:1.6}code{background:#f3f3f3;padding:0 .2em}</style>
</head>
<body>
<h1>kyoka（許可）</h1>
<p>kyoka は、委託先（乙）のパソコンが情報セキュリティ関連業務特記事項（別記2）などの契約条項を守っていることを、
証跡とともに継続的に示すためのエンドポイント監視エージェントと集約サーバです。
ソフトウェアの導入・更新・削除、ネットワーク接続、記録媒体、ファイル交換ソフト、機器の台帳を監視します。</p>
<p>ダッシュボードは準備中です。API は <a href="/api">/api</a>（OpenAPI: <a href="/api/openapi.json">/api/openapi.json</a>）を参照してください（管理トークン: データディレクトリの <code>admin-token</code>）。</p>
<hr>
<h2 lang="en">kyoka (許可, "permission")</h2>
<p lang="en">kyoka is an endpoint policy agent and aggregation server that proves, continuously and with evidence,
that a contractor's PCs keep the security clauses of their contract: software changes, network attachment,
removable media, file-sharing software and the hardware ledger.</p>
<p lang="en">The dashboard is coming. See the API at <a href="/api">/api</a> (OpenAPI: <a href="/api/openapi.json">/api/openapi.json</a>; admin token: <code>admin-token</code> in the data directory).</p>
</body>
</html>
`;

const RouteEntry = z.object({
  method: z.string(),
  path: z.string(),
  auth: z.enum(["admin", "none"]),
  summary: z.string(),
  query: z.array(z.string()).optional(),
  websocket: z.literal(true).optional(),
});

const UpgradeRequired = z.object({ error: z.string() });

export const indexRoutes: RouteFile = async (app) => {
  app.get("/", {
    config: { public: true },
    schema: { summary: "the home page (日本語, then English)", response: { 200: { description: "HTML", content: { "text/html": { schema: z.string() } } } } },
  }, async (_req, reply) => reply.type("text/html; charset=utf-8").send(HOME_PAGE));

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
    auth: "Authorization: Bearer <admin token> (file admin-token in the data directory) on every route with auth: admin",
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
