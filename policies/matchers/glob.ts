/**
 * Globs with `*` (any run, also empty) and `?` (one character), anchored at both ends and
 * case-insensitive, WITHOUT regular expressions: a glob from a policy, an approval or a signature
 * file is matched by the two-pointer wildcard algorithm, which backtracks only to the last `*` seen.
 * Each text position is visited at most once per pattern position, so a match costs at most
 * |text| × |glob| steps — and usually ~|text| — whatever the input (no catastrophic backtracking:
 * `*a*b*c*` against 6 KB of `a`s, or a 120 KB name against `*bit*torrent*client*`, take
 * microseconds to milliseconds; bench/glob.ts measures it).
 *
 * Total: a value that is not a string never matches (it is never converted with String(), which
 * can throw on `{"toString": 1}`), and a text longer than MATCH_MAX_CHARS never matches. The
 * details schemas (policies/details.ts) already bound every matched field far below that.
 */

/** Longest text a glob is matched against; longer never matches. */
export const MATCH_MAX_CHARS = 128 * 1024;
/** Longest glob compiled; a longer glob matches nothing. */
export const GLOB_MAX_CHARS = 4096;

export interface Glob {
  /** the glob as written */
  readonly source: string;
  /** whether `text` (any value) matches; never throws */
  test(text: unknown): boolean;
}

/** Two-pointer wildcard match of lower-cased `p` against lower-cased `s`. */
function wildcard(p: string, s: string): boolean {
  const n = s.length;
  const m = p.length;
  let i = 0; // in s
  let j = 0; // in p
  let star = -1; // position in p of the last * seen
  let mark = 0; // position in s where that * started matching
  while (i < n) {
    if (j < m) {
      const c = p.charCodeAt(j);
      if (c === 42 /* * */) {
        star = j++;
        mark = i;
        continue;
      }
      if (c === 63 /* ? */ || c === s.charCodeAt(i)) {
        i++;
        j++;
        continue;
      }
    }
    if (star < 0) return false;
    // backtrack to the last star only: it absorbs one more character
    j = star + 1;
    i = ++mark;
  }
  while (j < m && p.charCodeAt(j) === 42) j++;
  return j === m;
}

/** Compile a glob once; `test` lower-cases the text and runs the two-pointer match. */
export function compileGlob(glob: string): Glob {
  const source = glob;
  if (typeof glob !== "string" || glob.length > GLOB_MAX_CHARS) return { source: String(source), test: () => false };
  // collapse runs of * (same language, fewer steps)
  const p = glob.toLowerCase().replace(/\*{2,}/g, "*");
  const hasWild = p.includes("*") || p.includes("?");
  return {
    source,
    test(text: unknown): boolean {
      if (typeof text !== "string" || text.length > MATCH_MAX_CHARS) return false;
      const s = text.toLowerCase();
      return hasWild ? wildcard(p, s) : s === p;
    },
  };
}

// Compiled globs of policies and approvals, reused across events (bounded: cleared when full).
const cache = new Map<string, Glob>();
const CACHE_MAX = 4096;

/** Does `value` match `glob`? False for a non-string value or a non-string glob. */
export function globMatch(glob: unknown, value: unknown): boolean {
  if (typeof glob !== "string" || typeof value !== "string") return false;
  let g = cache.get(glob);
  if (!g) {
    if (cache.size >= CACHE_MAX) cache.clear();
    g = compileGlob(glob);
    cache.set(glob, g);
  }
  return g.test(value);
}
