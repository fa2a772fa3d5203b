/**
 * docs/controls.md, generated from the catalog: every control and event type with its clauses,
 * titles (日本語 / English), severity, default status and whether 甲許可 can clear it. The part
 * between the markers is rewritten by `npm run docs:controls`; a test fails when it is stale.
 */
import type { Catalog } from "./catalog.js";
import { controlOf, type Control, type EventType } from "./schema.js";

export const BEGIN_MARK = "<!-- BEGIN generated from policies/catalog.yaml: npm run docs:controls -->";
export const END_MARK = "<!-- END generated -->";

const STATUS_JA: Record<string, string> = {
  needs_approval: "甲許可待ち", approved: "許可済み", violation: "違反", info: "記録",
};

function cell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\n/g, " ");
}

/** The generated section (between the markers, markers excluded). */
export function renderControlsSection(cat: Catalog): string {
  const out: string[] = [];
  const types = Object.keys(cat.events) as EventType[];
  for (const [control, c] of Object.entries(cat.controls) as Array<[Control, Catalog["controls"][Control]]>) {
    out.push(`### ${control} — ${c.title.ja} / ${c.title.en}`, "", `Clauses: ${c.articles.join(", ")}`, "");
    out.push("| event type | 日本語 | English | clauses | severity | default status | 甲許可 clears it |");
    out.push("|---|---|---|---|---|---|---|");
    for (const type of types.filter((t) => controlOf(t) === control)) {
      const e = cat.events[type];
      out.push(`| \`${type}\` | ${cell(e.title.ja)} | ${cell(e.title.en)} | ${cell(e.articles.join(", "))} | ${e.severity} | ` +
        `\`${e.defaultStatus}\` (${STATUS_JA[e.defaultStatus]}) | ${e.clearable ? "yes" : "no"} |`);
    }
    out.push("");
  }
  return out.join("\n");
}

/** Replace the generated section of `doc` (which must hold both markers). */
export function withControlsSection(doc: string, cat: Catalog): string {
  const b = doc.indexOf(BEGIN_MARK);
  const e = doc.indexOf(END_MARK);
  if (b < 0 || e < b) throw new Error(`docs/controls.md: the markers ${BEGIN_MARK} … ${END_MARK} are missing`);
  return `${doc.slice(0, b + BEGIN_MARK.length)}\n\n${renderControlsSection(cat)}\n${doc.slice(e)}`;
}
