/** The control catalog as the server serves it (GET /api/catalog): titles, clauses, texts. */
import type { Control, EventType, Severity, Status } from "../../policies/schema.js";
import { get } from "./api.js";
import type { Lang } from "./i18n.js";

type Title = { ja: string; en: string };
/** The shape of policies/catalog.yaml as GET /api/catalog serves it (policies/catalog.ts). */
export interface Catalog {
  controls: Record<Control, { articles: string[]; title: Title }>;
  events: Record<EventType, { articles: string[]; title: Title; severity: Severity; defaultStatus: Status; clearable: boolean }>;
}

let loaded: Promise<Catalog | null> | undefined;

export function loadCatalog(): Promise<Catalog | null> {
  loaded ??= get<Catalog>("/api/catalog").catch(() => null);
  return loaded;
}

export function typeTitle(cat: Catalog | null, type: string, lang: Lang): string {
  const e = cat?.events[type as keyof Catalog["events"]];
  return e ? e.title[lang] : type;
}

export function controlTitle(cat: Catalog | null, control: string, lang: Lang): string {
  const c = cat?.controls[control as keyof Catalog["controls"]];
  return c ? c.title[lang] : control;
}
