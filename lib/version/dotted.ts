/**
 * Dotted versions as Windows (DisplayVersion, Appx `major.minor.build.revision`) and macOS
 * (CFBundleShortVersionString, pkg receipts) write them: segments split on `.`, `-`, `_`, `+` and
 * spaces; each segment is a leading number (compared numerically) and a suffix (compared as text,
 * case-insensitive; a segment with no suffix sorts before one with a suffix, so 1.0 < 1.0a). A
 * missing segment counts as 0, so 1.2 == 1.2.0 == 1.2.0.0.
 */

interface Segment {
  num: number;
  rest: string;
}

function segments(v: string): Segment[] {
  return v
    .trim()
    .split(/[.\-_+ ]+/)
    .filter((s) => s.length > 0)
    .map((s) => {
      const m = /^(\d*)(.*)$/.exec(s)!;
      return { num: m[1] ? Number(m[1]) : 0, rest: m[2]!.toLowerCase() };
    });
}

/** Compare two dotted versions: -1, 0 or 1. */
export function compareDotted(a: string, b: string): number {
  const sa = segments(a);
  const sb = segments(b);
  const n = Math.max(sa.length, sb.length);
  for (let k = 0; k < n; k++) {
    const x = sa[k] ?? { num: 0, rest: "" };
    const y = sb[k] ?? { num: 0, rest: "" };
    if (x.num !== y.num) return x.num > y.num ? 1 : -1;
    if (x.rest !== y.rest) {
      if (x.rest === "") return -1;
      if (y.rest === "") return 1;
      return x.rest < y.rest ? -1 : 1;
    }
  }
  return 0;
}
