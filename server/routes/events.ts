/**
 * Events: the list (newest first, keyset-paged: the next page is in a `Link: <…>; rel="next"`
 * header), the export (every matching event, streamed: CSV or NDJSON), and resolving one.
 */
import { Readable } from "node:stream";
import { z } from "zod";
import { Control, EventType, Severity, Status, StoredEvent } from "../../policies/schema.js";
import { NotFoundError } from "../errors.js";
import { exportEvents, type EventFilter } from "../events-export.js";
import type { RouteFile } from "../http.js";

/** Largest page of GET /api/events; more through the Link header or the export. */
export const MAX_EVENTS_LIMIT = 10_000;

const IsoTime = z.string().refine((s) => !Number.isNaN(Date.parse(s)), "not an ISO 8601 date/time");
const iso = (s: string | undefined): string | undefined => (s === undefined ? undefined : new Date(s).toISOString());

const Filters = {
  control: Control.optional(),
  type: EventType.optional(),
  agent: z.string().min(1).max(200).optional(),
  status: Status.optional(),
  severity: Severity.optional(),
  q: z.string().min(1).max(200).optional().describe("free text: a case-insensitive part of the type or the evidence fields"),
  organisation: z.string().min(1).max(200).optional().describe("only the events of this organisation's PCs (its id or name)"),
};

const EventsQuery = z.strictObject({
  ...Filters,
  since: IsoTime.optional().describe("events received at or after this time"),
  until: IsoTime.optional().describe("events received before this time"),
  limit: z.coerce.number().int().min(1).max(MAX_EVENTS_LIMIT).default(100).describe(`events per page, at most ${MAX_EVENTS_LIMIT}`),
  cursor: z.string().regex(/^[1-9][0-9]{0,15}$/, "not a cursor from a Link header").optional()
    .describe("the next page: copied from the Link rel=\"next\" header of the previous page"),
});

const { status: _status, ...CountFilters } = Filters;
const CountsQuery = z.strictObject({
  ...CountFilters,
  since: IsoTime.optional().describe("events received at or after this time"),
  until: IsoTime.optional().describe("events received before this time"),
});

const ExportQuery = z.strictObject({
  ...Filters,
  format: z.enum(["csv", "ndjson"]).default("csv"),
  from: IsoTime.optional().describe("events received at or after this time"),
  to: IsoTime.optional().describe("events received before this time"),
});

/** The API view of an event; fields a newer store adds (e.g. reasons) pass through. */
const EventView = StoredEvent.loose();

const ResolveBody = z.strictObject({
  resolution: z.string().min(1).max(200),
  note: z.string().max(10_000).nullable().optional(),
});

export const eventRoutes: RouteFile = async (app, { store, log, workflow }) => {
  /**
   * the organisation filter: a contractor-side caller sees its organisation's agents only; the
   * `organisation` query (the dashboard's per-organisation view) narrows to one organisation's
   * agents, never beyond what the caller may see
   */
  const scoped = (req: { principal: import("../people/permissions.js").Principal }, organisation?: string): { agents?: string[] } => {
    const ids = workflow.visibleAgentIds(req.principal);
    if (organisation === undefined) return ids === null ? {} : { agents: [...ids] };
    const org = workflow.people.findOrganisation(organisation);
    const of = org ? workflow.people.agentsOf(org.id).map((a) => a.id) : [];
    return { agents: of.filter((id) => ids === null || ids.has(id)) };
  };

  app.get("/api/events", {
    config: { action: "event.read" },
    schema: {
      summary: "events, newest first; the next page is in the Link header (rel=\"next\")",
      querystring: EventsQuery,
      response: { 200: z.array(EventView) },
    },
  }, async (req, reply) => {
    const { cursor, limit, since, until, q, organisation, ...filters } = req.query;
    // one more than asked tells whether there is a next page
    const rows = await store.queryEvents({
      ...filters, ...scoped(req, organisation), text: q, since: iso(since), until: iso(until), beforeId: cursor === undefined ? undefined : Number(cursor), limit: limit + 1,
    });
    if (rows.length > limit) {
      rows.length = limit;
      const next = new URLSearchParams();
      for (const [k, v] of Object.entries({ ...filters, q, organisation, since, until, limit: String(limit) })) if (v !== undefined) next.set(k, v);
      next.set("cursor", String(rows[rows.length - 1]!.id));
      void reply.header("link", `</api/events?${next.toString()}>; rel="next"`);
    }
    return rows;
  });

  app.get("/api/events/counts", {
    config: { action: "event.read" },
    schema: {
      summary: "how many events match the filters, per status (the dashboard's counts)",
      querystring: CountsQuery,
      response: { 200: z.record(Status, z.number().int().nonnegative()) },
    },
  }, async (req) => {
    const { since, until, q, organisation, ...filters } = req.query;
    return store.countEvents({ ...filters, ...scoped(req, organisation), text: q, since: iso(since), until: iso(until) });
  });

  app.get("/api/events/counts/by/:group", {
    config: { action: "event.read" },
    schema: {
      summary: "the counts per status for each control, organisation (id) or day received (Asia/Tokyo, YYYY-MM-DD), in one grouped query (the compliance charts); only groups with events are keys",
      params: z.object({ group: z.enum(["control", "organisation", "day"]) }),
      querystring: CountsQuery,
      response: { 200: z.record(z.string(), z.record(Status, z.number().int().nonnegative())) },
    },
  }, async (req) => {
    const { since, until, q, organisation, ...filters } = req.query;
    const query = { ...filters, ...scoped(req, organisation), text: q, since: iso(since), until: iso(until) };
    const { group } = req.params;
    if (group !== "organisation") return store.countEventsBy(query, group);
    // per PC, then summed per organisation (the agents table's organisation of each PC)
    const orgOf = workflow.people.agentOrganisations();
    const out: Record<string, Record<string, number>> = {};
    for (const [agent, counts] of Object.entries(await store.countEventsBy(query, "agent"))) {
      const org = orgOf.get(agent);
      if (org === undefined) continue;
      const sum = (out[org] ??= { needs_approval: 0, approved: 0, violation: 0, info: 0 });
      for (const [status, n] of Object.entries(counts)) sum[status] = (sum[status] ?? 0) + n;
    }
    return out;
  });

  app.get("/api/events/export", {
    config: { action: "event.read" },
    schema: {
      summary: "every matching event, oldest first, streamed: CSV (UTF-8 with BOM, Japanese headers) or NDJSON",
      querystring: ExportQuery,
      response: {
        200: {
          description: "the events",
          content: { "text/csv": { schema: z.any().describe("CSV text") }, "application/x-ndjson": { schema: z.any().describe("one event per line") } },
        },
      },
    },
  }, async (req, reply) => {
    const { format, from, to, q, organisation, ...filters } = req.query;
    const filter: EventFilter = { ...filters, ...scoped(req, organisation), text: q, since: iso(from), until: iso(to) };
    const day = new Date().toISOString().slice(0, 10).replace(/-/g, "");
    const stream = Readable.from(exportEvents(store, filter, format), { objectMode: false });
    stream.on("error", (err) => log.error({ err }, "event export failed; the response was cut"));
    log.info({ format, ...filter }, "event export started");
    return reply
      .type(format === "csv" ? "text/csv; charset=utf-8" : "application/x-ndjson; charset=utf-8")
      .header("content-disposition", `attachment; filename="kyoka-events-${day}.${format === "csv" ? "csv" : "ndjson"}"`)
      .send(stream);
  });

  app.post("/api/events/:id/resolve", {
    config: { action: "event.resolve" },
    schema: {
      summary: "record how an event was dealt with {resolution, note}",
      params: z.object({ id: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER) }),
      body: ResolveBody,
      response: { 200: EventView },
    },
  }, async (req) => {
    const { id } = req.params;
    // role, organisation and existence checked, and the audit row written, by the workflow
    const event = workflow.resolveEvent(req.principal, id, req.body.resolution, req.body.note ?? null, { remote: req.ip });
    log.info({ eventId: id, resolution: req.body.resolution }, "event resolved");
    return event;
  });
};
