/** Prometheus metrics (admin token): ingest counters, connected agents, batch histograms. */
import { z } from "zod";
import type { RouteFile } from "../http.js";

export const metricsRoutes: RouteFile = async (app, { metrics }) => {
  app.get("/metrics", {
    config: { action: "metrics.read" },
    schema: {
      summary: "Prometheus metrics (text exposition format)",
      response: { 200: { description: "Prometheus text", content: { "text/plain": { schema: z.string() } } } },
    },
  }, async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
};
