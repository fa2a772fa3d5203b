/**
 * Compliance reports (server/reports/): generate one on demand (stored and audited), list the
 * stored ones, fetch one again byte-identical (audited as a download).
 */
import { z } from "zod";
import type { RouteFile } from "../http.js";
import { DAY_RE } from "../reports/period.js";
import { CONTENT_TYPE, ReportFormat, reportFileName, type ReportMeta } from "../reports/service.js";

const Day = z.string().regex(DAY_RE, "a day YYYY-MM-DD (Asia/Tokyo)");

const ComplianceQuery = z.strictObject({
  from: Day.describe("first day of the period, YYYY-MM-DD (Asia/Tokyo), included"),
  to: Day.describe("last day of the period, YYYY-MM-DD (Asia/Tokyo), included"),
  organisation: z.string().min(1).max(200).optional()
    .describe("organisation id or name; none: the fleet (甲's roles) or the caller's own organisation (desk, contractor)"),
  format: ReportFormat.default("json").describe("json, csv (UTF-8 with BOM), html (printable A4) or pdf (needs Chromium on the server: else 501)"),
});

const ReportMetaView = z.object({
  id: z.string(),
  kind: z.literal("compliance"),
  from: z.string(),
  to: z.string(),
  organisationId: z.string().nullable(),
  format: ReportFormat,
  sha256: z.string(),
  bytes: z.number().int(),
  trigger: z.string(),
  createdBy: z.string(),
  createdAt: z.string(),
});

const ReportBody = {
  description: "the report (bytes as stored; X-Kyoka-Report-Id and X-Kyoka-Report-Sha256 name it)",
  content: {
    "application/json": { schema: z.any().describe("the report model") },
    "text/csv": { schema: z.any().describe("CSV, UTF-8 with BOM") },
    "text/html": { schema: z.any().describe("printable A4 HTML") },
    "application/pdf": { schema: z.any().describe("PDF") },
  },
};

export const reportRoutes: RouteFile = async (app, { reports }) => {
  if (!reports) return;
  const headers = (meta: ReportMeta, orgName: string | null) => ({
    "content-type": CONTENT_TYPE[meta.format],
    "content-disposition": `attachment; filename="${reportFileName(meta).replace(/[^\x20-\x7e]/g, "_")}"; filename*=UTF-8''${encodeURIComponent(reportFileName(meta, orgName))}`,
    "x-kyoka-report-id": meta.id,
    "x-kyoka-report-sha256": meta.sha256,
  });

  app.get("/api/reports/compliance", {
    config: { action: "report.read" },
    schema: {
      summary: "generate a compliance report for a period (fleet summary, per organisation, per PC × control, each line with its clause); stored and audited",
      querystring: ComplianceQuery,
      response: { 200: ReportBody },
    },
  }, async (req, reply) => {
    const { meta, content, organisationName } = await reports.generate(req.principal, req.query, { remote: req.ip });
    return reply.code(200).headers(headers(meta, organisationName)).send(content);
  });

  app.get("/api/reports", {
    config: { action: "report.read" },
    schema: {
      summary: "the stored reports, newest first (a contractor-side caller: its organisation's only)",
      querystring: z.strictObject({ limit: z.coerce.number().int().min(1).max(1000).default(200) }),
      response: { 200: z.array(ReportMetaView) },
    },
  }, async (req) => reports.list(req.principal, req.query.limit));

  app.get("/api/reports/:id", {
    config: { action: "report.read" },
    schema: {
      summary: "one stored report, byte-identical to when it was generated (audited as a download)",
      params: z.object({ id: z.string().min(1).max(100) }),
      response: { 200: ReportBody },
    },
  }, async (req, reply) => {
    const { meta, content, organisationName } = reports.get(req.principal, req.params.id, { remote: req.ip });
    return reply.code(200).headers(headers(meta, organisationName)).send(content);
  });
};
