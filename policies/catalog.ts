/** The control catalog (policies/catalog.yaml), validated at load and checked against EVENT_TYPES. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { z } from "zod";
import { policiesDir } from "../lib/paths.js";
import { Control, CONTROLS, EVENT_TYPES, EventType, formatIssues, Severity, Status } from "./schema.js";

const Title = z.strictObject({ ja: z.string().min(1), en: z.string().min(1) });
const Article = z.string().min(1);

export const CatalogEntry = z.strictObject({
  articles: z.array(Article).min(1),
  title: Title,
  severity: Severity,
  defaultStatus: Status,
  /** whether an approval (甲許可) can clear it */
  clearable: z.boolean(),
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
