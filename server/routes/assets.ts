/** The PC ledger (台帳): the ledger joined with the live inventory, CSV import and export (server/assets.ts). */
import { z } from "zod";
import { UnsupportedMediaTypeError } from "../errors.js";
import type { RouteFile } from "../http.js";

const Issue = z.object({ line: z.number().int(), message: z.string() });

const AgentAssetView = z.object({
  id: z.string(),
  hostname: z.string(),
  online: z.boolean(),
  lastSeen: z.string().nullable(),
  inventory: z.object({ pcId: z.string(), serial: z.string(), macs: z.array(z.string()), hostname: z.string(), snapshotAt: z.string() }).nullable(),
});

const AssetsView = z.object({
  generatedAt: z.string(),
  unseenDays: z.number(),
  entries: z.array(z.object({
    assetNo: z.string(),
    hostname: z.string(),
    serial: z.string(),
    macs: z.array(z.string()),
    location: z.string(),
    owner: z.string(),
    registeredAt: z.string(),
    note: z.string(),
    flags: z.array(z.string()),
    matchedBy: z.enum(["serial", "mac", "hostname"]).nullable(),
    agent: AgentAssetView.nullable(),
  })),
  unregisteredAgents: z.array(AgentAssetView.extend({ eventId: z.number().int().nullable() })),
});

const ImportResult = z.object({
  imported: z.number().int(),
  mode: z.enum(["replace", "upsert"]),
  encoding: z.string(),
  errors: z.array(Issue),
  warnings: z.array(Issue),
  ledgerSize: z.number().int(),
});

export const assetRoutes: RouteFile = async (app, { assets, workflow }) => {
  if (!assets) return;
  app.get("/api/assets", {
    config: { action: "asset.read" },
    schema: { summary: "the ledger (台帳) joined with the live inventory; agents not in the ledger (a contractor-side caller: its organisation's PCs only)", response: { 200: AssetsView } },
  }, async (req) => {
    const view = await assets.view();
    const ids = workflow.visibleAgentIds(req.principal);
    if (ids === null) return view;
    // the organisation filter: ledger rows matched to this organisation's PCs, its unregistered PCs
    return {
      ...view,
      entries: view.entries.filter((e) => e.agent !== null && ids.has(e.agent.id)),
      unregisteredAgents: view.unregisteredAgents.filter((a) => ids.has(a.id)),
    };
  });

  app.post("/api/assets/import", {
    config: { body: "bytes", action: "asset.write" },
    schema: {
      summary: "import the ledger CSV (UTF-8, UTF-8 BOM, UTF-16 BOM or Shift_JIS); replaces the ledger unless mode=upsert",
      consumes: ["text/csv"],
      querystring: z.object({ mode: z.enum(["replace", "upsert"]).default("replace") }),
      response: { 200: ImportResult },
    },
  }, async (req) => {
    const ctype = String(req.headers["content-type"] ?? "");
    if (/json|form/i.test(ctype)) throw new UnsupportedMediaTypeError(`the body must be the CSV file (text/csv), not ${ctype}`);
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    return assets.importCsv(body, req.query.mode);
  });

  app.get("/api/assets/export", {
    config: { action: "asset.export" },
    schema: {
      summary: "the ledger as CSV (UTF-8 with BOM, CRLF, Japanese headers)",
      response: { 200: { description: "CSV", content: { "text/csv": { schema: z.any().describe("CSV text") } } } },
    },
  }, async (_req, reply) => {
    const csv = await assets.exportCsv();
    const day = new Date().toISOString().slice(0, 10).replace(/-/g, "");
    return reply
      .type("text/csv; charset=utf-8")
      .header("content-disposition", `attachment; filename="kyoka-ledger-${day}.csv"; filename*=UTF-8''${encodeURIComponent(`台帳-${day}.csv`)}`)
      .send(csv);
  });
};
