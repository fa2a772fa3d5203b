/** The control catalog (policies/catalog.yaml), validated at load and checked against EVENT_TYPES. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { z } from "zod";
import { policiesDir } from "../lib/paths.js";
import { Control, CONTROLS, EVENT_TYPES, EventType, formatIssues, Severity, Status } from "./schema.js";

const Title = z.strictObject({ ja: z.string().min(1), en: z.string().min(1) });
const Article = z.string().min(1);

/** The checks a catalog rule can name; policies/decide.ts implements each one. */
export const RULE_CHECKS = [
  "prohibitedSoftware", "prohibitedProgram", "approvedNetwork", "approvedDestination", "approvedListeningPort",
  "mediaRegistered", "mediaUnregistered", "serialConflict", "detailEquals", "always",
] as const;
export const RuleCheck = z.enum(RULE_CHECKS);
export type RuleCheck = z.infer<typeof RuleCheck>;

/** Policy settings a rule may take its status from. */
export const POLICY_STATUS_SETTINGS = ["media.unencrypted"] as const;

export const CatalogRule = z.strictObject({
  check: RuleCheck,
  /** detailEquals: the details field and the value it must equal */
  field: z.string().min(1).optional(),
  equals: z.union([z.string(), z.number(), z.boolean()]).optional(),
  status: Status.optional(),
  statusFromPolicy: z.enum(POLICY_STATUS_SETTINGS).optional(),
  severity: Severity.optional(),
  /** false: no approval clears what this rule decided */
  clearable: z.boolean().optional(),
  /** the reason stored with the event (else the check's own wording) */
  reason: Title.optional(),
}).refine((r) => (r.status === undefined) !== (r.statusFromPolicy === undefined), { message: "a rule names exactly one of status, statusFromPolicy" })
  .refine((r) => r.check !== "detailEquals" || (r.field !== undefined && r.equals !== undefined), { message: "detailEquals needs field and equals" });
export type CatalogRule = z.infer<typeof CatalogRule>;

export const CatalogEntry = z.strictObject({
  articles: z.array(Article).min(1),
  title: Title,
  severity: Severity,
  defaultStatus: Status,
  /** whether an approval (甲許可) can clear it */
  clearable: z.boolean(),
  /** queue shedding: routine telemetry goes before anything important (agent/queue.ts) */
  priority: z.enum(["important", "routine"]),
  /** server: made by the server only, refused from agents */
  origin: z.enum(["agent", "server"]).default("agent"),
  rules: z.array(CatalogRule).default([]),
});
export type CatalogEntry = z.infer<typeof CatalogEntry>;

const ControlEntry = z.strictObject({ articles: z.array(Article).min(1), title: Title });

/** Parsed as partial records, so a missing entry gets one short message naming it (below). */
const CatalogFile = z.strictObject({
  controls: z.partialRecord(Control, ControlEntry),
  events: z.partialRecord(EventType, CatalogEntry),
});
export interface Catalog {
  controls: Record<Control, z.infer<typeof ControlEntry>>;
  events: Record<EventType, CatalogEntry>;
}

export function parseCatalog(text: string): Catalog {
  const parsed = CatalogFile.safeParse(parse(text));
  if (!parsed.success) throw new Error(`catalog.yaml: ${formatIssues(parsed.error)}`);
  const cat = parsed.data;
  const missing = [
    ...EVENT_TYPES.filter((t) => !cat.events[t]),
    ...CONTROLS.filter((c) => !cat.controls[c]),
  ];
  if (missing.length) throw new Error(`catalog.yaml: missing entries for ${missing.join(", ")}`);
  for (const [type, e] of Object.entries(cat.events)) {
    if (e.defaultStatus === "approved") throw new Error(`catalog.yaml: ${type}: defaultStatus cannot be approved`);
    // anything that can end as needs_approval or violation must survive a full queue
    const mayEscalate = e.defaultStatus === "needs_approval" || e.defaultStatus === "violation"
      || e.rules.some((r) => r.statusFromPolicy !== undefined || r.status === "needs_approval" || r.status === "violation");
    if (mayEscalate && e.priority !== "important") {
      throw new Error(`catalog.yaml: ${type}: can become needs_approval or violation, so its priority must be important`);
    }
  }
  return cat as Catalog;
}

let cached: Catalog | undefined;
export function loadCatalog(): Catalog {
  cached ??= parseCatalog(readFileSync(join(policiesDir, "catalog.yaml"), "utf8"));
  return cached;
}

export function catalogEntry(type: EventType): CatalogEntry {
  return loadCatalog().events[type];
}

/** The event types only the server makes (catalog `origin: server`): refused from agents. */
let serverOnlyCached: ReadonlySet<EventType> | undefined;
export function serverOnlyTypes(catalog?: Catalog): ReadonlySet<EventType> {
  if (catalog) return new Set(EVENT_TYPES.filter((t) => catalog.events[t].origin === "server"));
  serverOnlyCached ??= serverOnlyTypes(loadCatalog());
  return serverOnlyCached;
}
