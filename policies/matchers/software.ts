/**
 * Approval matching for software events (甲許可 for 別記2 第10):
 * `match = {name, version?, publisher?, action?}` plus optional `source`, `scope`, `arch` globs.
 * - name, publisher: globs (* and ?, case-insensitive) on details.name / details.publisher
 *   (a publisher in the approval requires the event to have one);
 * - version: a range (lib/version/range.ts: `>=1.2 <2`, `1.2.*`, `=1.2.3`, `<2 || >=3`) compared
 *   with the comparator of details.source (dpkg → Debian, rpm → RPM, others → dotted); for a
 *   removal it is the removed version. An unreadable range matches nothing;
 * - action: install / update / remove, from the event type.
 * software.executed (a program run from outside any package) has its own keys: executed.ts.
 */
import { comparatorFor, parseRange, satisfies } from "../../lib/version/index.js";
import type { Details, EventType } from "../schema.js";
import { matchExecuted } from "./executed.js";
import { actionOf, globMatch, type MatchSpec } from "./index.js";

export function matchSoftware(match: MatchSpec, details: Details, type: EventType): boolean {
  if (type === "software.executed") return matchExecuted(match, details);
  for (const [key, want] of Object.entries(match)) {
    switch (key) {
      case "action":
        if (String(want).toLowerCase() !== actionOf(type)) return false;
        break;
      case "version": {
        const version = details.version;
        if (typeof version !== "string" || !version) return false;
        let ok: boolean;
        try {
          ok = satisfies(version, parseRange(String(want)), comparatorFor(typeof details.source === "string" ? details.source : undefined));
        } catch {
          return false;
        }
        if (!ok) return false;
        break;
      }
      default: {
        const have = details[key];
        if (typeof want === "string" ? !globMatch(want, have) : have !== want) return false;
      }
    }
  }
  return true;
}
