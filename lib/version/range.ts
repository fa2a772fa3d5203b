/**
 * Version ranges for approvals (甲許可 `match.version`). Syntax:
 *
 *   range       := alternative ( "||" alternative )*
 *   alternative := comparator ( WHITESPACE comparator )*     (all must hold)
 *   comparator  := op? version | wildcard | "*"
 *   op          := ">=" | ">" | "<=" | "<" | "=" | "==" | "!="
 *   wildcard    := prefix ".*"  (also ".x" / ".X")
 *
 * Examples: `>=1.2 <2`, `1.2.*`, `=1.2.3`, `1.2.3` (a bare version means equal), `<2 || >=3`,
 * `!=1.0.5`, `*` (any). `1.2.*` matches 1.2 itself and every version that continues 1.2 with a
 * separator (1.2.9, 1.2-3, 1.2~rc1, 1:1.2.4 when the range names no epoch), but not 1.20.
 * Comparisons use the comparator of the item's ecosystem (Debian, RPM, dotted: see index.ts).
 */
import type { Comparator } from "./index.js";

type Op = ">=" | ">" | "<=" | "<" | "=" | "!=";

type Term = { kind: "cmp"; op: Op; version: string } | { kind: "prefix"; prefix: string } | { kind: "any" };

export interface VersionRange {
  readonly source: string;
  readonly alternatives: Term[][];
}

export class RangeSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RangeSyntaxError";
  }
}

function parseTerm(token: string, range: string): Term {
  if (token === "*" || token === "x" || token === "X") return { kind: "any" };
  const m = /^(>=|<=|==|!=|>|<|=)?(.*)$/.exec(token)!;
  const op = (m[1] === "==" ? "=" : m[1] ?? "=") as Op;
  const version = m[2]!;
  if (!version) throw new RangeSyntaxError(`range "${range}": "${token}" has no version`);
  if (/[<>=!]/.test(version)) throw new RangeSyntaxError(`range "${range}": cannot read "${token}"`);
  const wild = /^(.+?)[.]([*xX])$/.exec(version);
  if (wild) {
    if (op !== "=") throw new RangeSyntaxError(`range "${range}": a wildcard (${token}) takes no operator`);
    return { kind: "prefix", prefix: wild[1]! };
  }
  if (version.includes("*")) throw new RangeSyntaxError(`range "${range}": "*" is allowed only as the last segment (e.g. 1.2.*)`);
  return { kind: "cmp", op, version };
}

/** Parse a range; throws RangeSyntaxError naming the part it cannot read. */
export function parseRange(text: string): VersionRange {
  const source = text.trim();
  if (!source) throw new RangeSyntaxError("empty version range");
  const alternatives = source.split("||").map((alt) => {
    // allow ">= 1.2" (operator and version separated by spaces)
    const tokens = alt.trim().replace(/(>=|<=|==|!=|>|<|=)\s+/g, "$1").split(/\s+/).filter(Boolean);
    if (tokens.length === 0) throw new RangeSyntaxError(`range "${source}": empty alternative around "||"`);
    return tokens.map((t) => parseTerm(t, source));
  });
  return { source, alternatives };
}

function prefixMatches(version: string, prefix: string): boolean {
  let v = version.trim();
  // the range names no epoch: compare without the item's epoch
  if (!prefix.includes(":")) v = v.replace(/^\d+:/, "");
  if (v.toLowerCase() === prefix.toLowerCase()) return true;
  if (!v.toLowerCase().startsWith(prefix.toLowerCase())) return false;
  return /[.\-+~:_^ ]/.test(v.charAt(prefix.length));
}

function termHolds(term: Term, version: string, compare: Comparator): boolean {
  switch (term.kind) {
    case "any":
      return true;
    case "prefix":
      return prefixMatches(version, term.prefix);
    case "cmp": {
      const c = compare(version, term.version);
      switch (term.op) {
        case ">=": return c >= 0;
        case ">": return c > 0;
        case "<=": return c <= 0;
        case "<": return c < 0;
        case "=": return c === 0;
        case "!=": return c !== 0;
      }
    }
  }
}

/** Does `version` lie in `range` (text or parsed) under `compare`? */
export function satisfies(version: string, range: string | VersionRange, compare: Comparator): boolean {
  const r = typeof range === "string" ? parseRange(range) : range;
  return r.alternatives.some((alt) => alt.every((t) => termHolds(t, version, compare)));
}
