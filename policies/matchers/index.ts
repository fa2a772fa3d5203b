/**
 * Approval matching: does an approval's `match` cover an event's details? One matcher per control
 * (software: name glob, version range, publisher, action; network: CIDR, SSID, gateway MAC; …),
 * with a generic one (each key equals the detail of the same name, strings as globs) as fallback.
 */
import type { Control, Details, EventType } from "../schema.js";
import { globMatch } from "./glob.js";
import { matchNetwork } from "./network.js";
import { matchSoftware } from "./software.js";

export { compileGlob, globMatch, type Glob } from "./glob.js";

export type MatchSpec = Record<string, string | number | boolean>;
export type Matcher = (match: MatchSpec, details: Details, type: EventType) => boolean;

/** The action an event type stands for (software.installed → install), used by `match.action`. */
export function actionOf(type: EventType): string {
  const verb = type.slice(type.indexOf(".") + 1);
  return ({ installed: "install", updated: "update", removed: "remove", copy_out: "copy_out", inserted: "insert" } as Record<string, string>)[verb] ?? verb;
}

export const genericMatcher: Matcher = (match, details, type) => {
  for (const [key, want] of Object.entries(match)) {
    if (key === "action") {
      if (String(want) !== actionOf(type)) return false;
      continue;
    }
    const have = details[key];
    if (typeof want === "string" ? !globMatch(want, have) : have !== want) return false;
  }
  return true;
};

/** One line per control that needs more than the generic matcher (its file beside this one). */
const matchers: Partial<Record<Control, Matcher>> = {
  network: matchNetwork,
  software: matchSoftware,
};

export function matcherFor(control: Control): Matcher {
  return matchers[control] ?? genericMatcher;
}
