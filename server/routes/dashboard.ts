/**
 * The desk's dashboard (dashboard/, built by Vite into dist/dashboard at setup): `/` serves its
 * page and `/assets/*` its bundle, from memory (read once at start; a handful of files). The page
 * talks to the server only over the API and /api/stream. When the dashboard was not built (a
 * checkout where only `tsc` ran), `/` says so and how to build it.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { extname, join } from "node:path";
import { z } from "zod";
import { packageRoot } from "../../lib/paths.js";
import { NotFoundError } from "../errors.js";
import type { RouteFile } from "../http.js";

export const DASHBOARD_DIR = join(packageRoot, "dist", "dashboard");

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
  ".map": "application/json; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png", ".woff2": "font/woff2",
};

interface File { type: string; body: Buffer; etag: string }

function load(dir: string): { index: string | undefined; assets: Map<string, File> } {
  const assets = new Map<string, File>();
  const index = existsSync(join(dir, "index.html")) ? readFileSync(join(dir, "index.html"), "utf8") : undefined;
  const assetDir = join(dir, "assets");
  if (existsSync(assetDir)) {
    for (const name of readdirSync(assetDir)) {
      const type = TYPES[extname(name)];
      if (!type) continue;
      const body = readFileSync(join(assetDir, name));
      assets.set(name, { type, body, etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"` });
    }
  }
  return { index, assets };
}

const NOT_BUILT = `<!doctype html>
<html lang="ja">
<head><meta charset="utf-8"><title>kyoka（許可）</title>
<style>body{font-family:system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem;line-height:1.6}code{background:#f3f3f3;padding:0 .2em}</style>
</head>
<body>
<h1>kyoka（許可）</h1>
<p>ダッシュボードがビルドされていません。<code>npm run build:dashboard</code>（または <code>bash scripts/start.sh</code>）を実行してください。
API は <a href="/api">/api</a>（OpenAPI: <a href="/api/openapi.json">/api/openapi.json</a>）です。</p>
<p lang="en">The dashboard has not been built: run <code>npm run build:dashboard</code> (or <code>bash scripts/start.sh</code>).
The API is at <a href="/api">/api</a> (OpenAPI: <a href="/api/openapi.json">/api/openapi.json</a>).</p>
</body>
</html>
`;

export const dashboardRoutes: RouteFile = async (app) => {
  const { index, assets } = load(DASHBOARD_DIR);
  app.get("/", {
    config: { public: true },
    schema: { summary: "the dashboard (日本語 first; English by a toggle)", response: { 200: { description: "HTML", content: { "text/html": { schema: z.string() } } } } },
  }, async (_req, reply) => reply.type("text/html; charset=utf-8").header("cache-control", "no-cache").send(index ?? NOT_BUILT));

  app.get("/assets/:name", {
    config: { public: true },
    schema: {
      summary: "the dashboard's bundle (content-hashed names, cached for a year)",
      params: z.object({ name: z.string().max(200) }),
      response: { 200: { description: "a script, style sheet or source map", content: { "application/octet-stream": { schema: z.any() } } } },
    },
  }, async (req, reply) => {
    const file = assets.get(req.params.name);
    if (!file) throw new NotFoundError(`no asset ${req.params.name}`);
    return reply.type(file.type).header("etag", file.etag).header("cache-control", "public, max-age=31536000, immutable").send(file.body);
  });
};
