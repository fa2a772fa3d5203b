/** The control catalog (policies/catalog.yaml) for the dashboard: titles in both languages, clauses, statuses. */
import { z } from "zod";
import { loadCatalog } from "../../policies/catalog.js";
import type { RouteFile } from "../http.js";

const Title = z.object({ ja: z.string(), en: z.string() });

export const catalogRoutes: RouteFile = async (app) => {
  app.get("/api/catalog", {
    config: { action: "any" },
    schema: {
      summary: "the control catalog: every control and event type with its clauses, titles (日本語/English), severity, default status and whether 甲許可 can clear it",
      response: {
        200: z.object({
          controls: z.record(z.string(), z.object({ articles: z.array(z.string()), title: Title }).loose()),
          events: z.record(z.string(), z.object({ articles: z.array(z.string()), title: Title }).loose()),
        }),
      },
    },
  }, async () => {
    const cat = loadCatalog();
    return { controls: cat.controls, events: cat.events };
  });
};
