/**
 * Incident report drafts (事故報告書（案）): `GET /api/events/:id/incident-report?format=html|md`
 * for a critical event (server/incident/report.ts). 甲's roles get every event's; a desk or
 * contractor user only its own organisation's (403 otherwise).
 */
import { z } from "zod";
import { ForbiddenError, InvalidInputError, NotFoundError } from "../errors.js";
import type { RouteFile } from "../http.js";
import { gatherIncident, isIncident, renderIncidentHtml, renderIncidentMarkdown } from "../incident/report.js";
import { can } from "../people/permissions.js";

export const incidentRoutes: RouteFile = async (app, { store, assets, workflow, log }) => {
  app.get("/api/events/:id/incident-report", {
    config: { action: "incident.read" },
    schema: {
      summary: "incident report draft (事故報告書（案）) of a critical event, in Japanese: HTML (printable A4) or Markdown",
      params: z.object({ id: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER) }),
      querystring: z.strictObject({ format: z.enum(["html", "md"]).default("html").describe("html (default) or md (Markdown)") }),
      response: {
        200: {
          description: "the draft",
          content: { "text/html": { schema: z.any().describe("HTML") }, "text/markdown": { schema: z.any().describe("Markdown") } },
        },
      },
    },
  }, async (req, reply) => {
    const { id } = req.params;
    const event = await store.getEvent(id);
    if (!event) throw new NotFoundError(`no event ${id}`);
    const organisationId = workflow.people.agentOrganisation(event.agentId);
    if (!can(req.principal, "incident.read", { organisationId: organisationId ?? null, agentId: event.agentId })) {
      throw new ForbiddenError(`${req.principal.actor} (${req.principal.role}) may not read the events of another organisation`);
    }
    if (!isIncident(event)) {
      throw new InvalidInputError(`event ${id} is not an incident (status ${event.status}, severity ${event.severity}): drafts are made for violations and open high/critical events`);
    }
    const report = await gatherIncident({
      store,
      organisationName: (agentId) => {
        const org = workflow.people.agentOrganisation(agentId);
        return (org && workflow.people.findOrganisation(org)?.name) ?? null;
      },
      ledgerOf: async (agentId) => {
        if (!assets) return null;
        const line = (await assets.view()).entries.find((e) => e.agent?.id === agentId);
        if (!line) return null;
        const { assetNo, hostname, serial, macs, location, owner, registeredAt, note } = line;
        return { assetNo, hostname, serial, macs, location, owner, registeredAt, note };
      },
    }, event);
    const { format } = req.query;
    log.info({ eventId: id, format, actor: req.principal.actor }, "incident report draft made");
    return reply
      .type(format === "md" ? "text/markdown; charset=utf-8" : "text/html; charset=utf-8")
      .header("content-disposition", `inline; filename="kyoka-incident-${id}.${format}"`)
      .send(format === "md" ? renderIncidentMarkdown(report) : renderIncidentHtml(report));
  });
};
