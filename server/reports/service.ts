/**
 * Compliance reports (server/reports/): generate (model.ts → JSON, CSV, HTML or PDF), store each
 * one with its period, organisation, format, SHA-256 and bytes (table `reports`, migration 4), list
 * them and hand one back byte-identical. Generation and every download are written to the audit
 * trail (server/people/audit.ts: `report.generate`, `report.download`).
 *
 * Who sees what: `report.read` (server/people/permissions.ts); a contractor-side user (desk,
 * contractor) gets reports of its own organisation only — asking for none gives its own, asking
 * for another is 403 — and lists only those; 甲's roles get every organisation and the fleet.
 */
import { createHash, randomUUID } from "node:crypto";
import Database from "better-sqlite3";
import { z } from "zod";
import type { Logger } from "../../lib/log.js";
import { ForbiddenError, NotFoundError } from "../errors.js";
import { can, orgScope, type Principal } from "../people/permissions.js";
import type { CallContext, Workflow } from "../people/workflow.js";
import { buildComplianceReport, type ComplianceReport, type EvidenceSource } from "./model.js";
import { makePeriod } from "./period.js";
import { renderCsv } from "./render-csv.js";
import { renderHtml } from "./render-html.js";
import { renderPdf } from "./render-pdf.js";

export const REPORT_FORMATS = ["json", "csv", "html", "pdf"] as const;
export const ReportFormat = z.enum(REPORT_FORMATS);
export type ReportFormat = z.infer<typeof ReportFormat>;

export const CONTENT_TYPE: Record<ReportFormat, string> = {
  json: "application/json; charset=utf-8",
  csv: "text/csv; charset=utf-8",
  html: "text/html; charset=utf-8",
  pdf: "application/pdf",
};

export interface ReportMeta {
  id: string;
  kind: "compliance";
  from: string;
  to: string;
  /** null: every organisation (the fleet) */
  organisationId: string | null;
  format: ReportFormat;
  sha256: string;
  bytes: number;
  /** `request` (on demand) or `schedule:<name>` */
  trigger: string;
  createdBy: string;
  createdAt: string;
}

export interface GeneratedReport {
  meta: ReportMeta;
  content: Buffer;
  /** the model (for a scheduled run's log line) */
  report: ComplianceReport;
}

export interface ReportRequest {
  from: string;
  to: string;
  /** id or name; none: the caller's own organisation, or (甲) the fleet */
  organisation?: string;
  format: ReportFormat;
}

interface ReportDbRow {
  id: string; kind: string; period_from: string; period_to: string; organisation_id: string | null; format: string; sha256: string; bytes: number;
  trigger_name: string; created_by: string; created_at: string;
}

const metaFromRow = (r: ReportDbRow): ReportMeta => ({
  id: r.id, kind: "compliance", from: r.period_from, to: r.period_to, organisationId: r.organisation_id, format: r.format as ReportFormat,
  sha256: r.sha256, bytes: r.bytes, trigger: r.trigger_name, createdBy: r.created_by, createdAt: r.created_at,
});

/** A file name for a report: kyoka-compliance-<from>_<to>[-<org>].<ext> */
export function reportFileName(meta: Pick<ReportMeta, "from" | "to" | "format">, organisationName?: string | null): string {
  const org = organisationName ? `-${organisationName.replace(/[^\p{L}\p{N}._-]+/gu, "_").slice(0, 60)}` : "";
  return `kyoka-compliance-${meta.from}_${meta.to}${org}.${meta.format}`;
}

export interface ReportsDeps {
  /** the server's SQLite handle (the reports table, the audit trail) */
  db: Database.Database;
  /** the database file: each report is built on its own read-only connection */
  dbPath: string;
  workflow: Workflow;
  log: Logger;
  /** evidence that checks ran (days per PC × control); default: days with events (model.ts) */
  evidence?: { source: EvidenceSource; name: string };
  now?: () => Date;
}

/** The principal of scheduled reports in the audit trail. */
export const SCHEDULE_PRINCIPAL: Principal = { actor: "server:schedule", role: "admin", organisationId: null, via: "admin-token" };

export class Reports {
  private readonly insert: Database.Statement;

  constructor(private readonly deps: ReportsDeps) {
    this.insert = deps.db.prepare(`INSERT INTO reports (id, kind, period_from, period_to, organisation_id, format, sha256, bytes, content, trigger_name, created_by, created_at)
      VALUES (?, 'compliance', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  }

  private require(p: Principal): void {
    if (!can(p, "report.read")) throw new ForbiddenError(`${p.actor} (${p.role}) may not read reports`);
  }

  /** The organisation a principal's report is for: its own when bound to one. */
  private organisationFor(p: Principal, asked: string | undefined): { id: string; name: string } | null {
    const scope = orgScope(p);
    if (asked === undefined) {
      if (scope === null) return null;
      const own = this.deps.workflow.people.findOrganisation(scope);
      if (!own) throw new ForbiddenError(`${p.actor} belongs to no organisation`);
      return { id: own.id, name: own.name };
    }
    const org = this.deps.workflow.people.findOrganisation(asked);
    if (!org) {
      if (scope !== null) throw new ForbiddenError(`${p.actor} (${p.role}) may only read reports of its own organisation`);
      throw new NotFoundError(`no organisation ${JSON.stringify(asked)}`);
    }
    if (scope !== null && org.id !== scope) throw new ForbiddenError(`${p.actor} (${p.role}) may only read reports of its own organisation`);
    return { id: org.id, name: org.name };
  }

  /** Every organisation's id (a schedule's `organisations: each`). */
  organisationIds(): string[] {
    return this.deps.workflow.people.listOrganisations().map((o) => o.id);
  }

  /** Build the model (no storing): for tests and the benchmark. */
  async build(from: string, to: string, organisationId: string | null): Promise<ComplianceReport> {
    const period = makePeriod(from, to);
    const ro = new Database(this.deps.dbPath, { readonly: true, fileMustExist: true });
    try {
      ro.pragma("cache_size = -8192");
      ro.pragma("busy_timeout = 5000");
      return await buildComplianceReport(ro, { period, organisationId, evidence: this.deps.evidence, now: this.deps.now?.() });
    } finally {
      ro.close();
    }
  }

  /** Generate, store and audit a report; `trigger` names the schedule for scheduled ones. */
  async generate(p: Principal, req: ReportRequest, ctx: CallContext, trigger = "request"): Promise<GeneratedReport & { organisationName: string | null }> {
    this.require(p);
    const format = ReportFormat.parse(req.format);
    const org = this.organisationFor(p, req.organisation);
    const started = performance.now();
    const report = await this.build(req.from, req.to, org?.id ?? null);
    const content = await render(report, format);
    const now = (this.deps.now?.() ?? new Date()).toISOString();
    const meta: ReportMeta = {
      id: randomUUID(), kind: "compliance", from: report.period.from, to: report.period.to, organisationId: org?.id ?? null, format,
      sha256: createHash("sha256").update(content).digest("hex"), bytes: content.length, trigger, createdBy: p.actor, createdAt: now,
    };
    this.insert.run(meta.id, meta.from, meta.to, meta.organisationId, meta.format, meta.sha256, meta.bytes, content, meta.trigger, meta.createdBy, meta.createdAt);
    this.deps.workflow.recordChange(p, ctx, "report.generate", meta.id, {
      from: meta.from, to: meta.to, organisationId: meta.organisationId, format, sha256: meta.sha256, bytes: meta.bytes, trigger,
    });
    this.deps.log.info({ reportId: meta.id, from: meta.from, to: meta.to, organisationId: meta.organisationId, format, bytes: meta.bytes,
      pcs: report.summary.pcs, ms: Math.round(performance.now() - started), trigger }, "compliance report generated");
    return { meta, content, report, organisationName: org?.name ?? null };
  }

  /** Stored reports the principal may see, newest first. */
  list(p: Principal, limit = 200): ReportMeta[] {
    this.require(p);
    const scope = orgScope(p);
    const rows = (scope === null
      ? this.deps.db.prepare(`SELECT id, kind, period_from, period_to, organisation_id, format, sha256, bytes, trigger_name, created_by, created_at FROM reports
          ORDER BY created_at DESC, id LIMIT ?`).all(limit)
      : this.deps.db.prepare(`SELECT id, kind, period_from, period_to, organisation_id, format, sha256, bytes, trigger_name, created_by, created_at FROM reports
          WHERE organisation_id = ? ORDER BY created_at DESC, id LIMIT ?`).all(scope, limit)) as ReportDbRow[];
    return rows.map(metaFromRow);
  }

  /** One stored report, its bytes exactly as generated; the download is audited. */
  get(p: Principal, id: string, ctx: CallContext): { meta: ReportMeta; content: Buffer; organisationName: string | null } {
    this.require(p);
    const r = this.deps.db.prepare(`SELECT * FROM reports WHERE id = ?`).get(id) as (ReportDbRow & { content: Buffer }) | undefined;
    const scope = orgScope(p);
    if (!r) throw new NotFoundError(`no report ${id}`);
    // another organisation's (or the fleet's) report: 403 like every route of another organisation's data (issue 13)
    if (scope !== null && r.organisation_id !== scope) throw new ForbiddenError(`${p.actor} (${p.role}) may only read reports of its own organisation`);
    const meta = metaFromRow(r);
    this.deps.workflow.recordChange(p, ctx, "report.download", id, { sha256: meta.sha256, bytes: meta.bytes, format: meta.format });
    const orgName = r.organisation_id ? this.deps.workflow.people.findOrganisation(r.organisation_id)?.name ?? null : null;
    return { meta, content: r.content, organisationName: orgName };
  }
}

export async function render(report: ComplianceReport, format: ReportFormat): Promise<Buffer> {
  switch (format) {
    case "json": return Buffer.from(`${JSON.stringify(report, null, 2)}\n`, "utf8");
    case "csv": return renderCsv(report);
    case "html": return renderHtml(report);
    case "pdf": return renderPdf(renderHtml(report));
  }
}

