/**
 * Debian version comparison: the exact algorithm of dpkg (lib/dpkg/version.c, `dpkg_version_compare`
 * and `verrevcmp`). A version is `[epoch:]upstream[-revision]`; the epoch is compared as a number,
 * upstream and revision with verrevcmp: alternating non-digit runs (compared character by character,
 * `~` before everything, even the end of the string; letters before other characters) and digit
 * runs (compared as numbers).
 */

export interface DebianVersion {
  epoch: number;
  upstream: string;
  revision: string;
}

/** Split a Debian version as dpkg's parseversion does (epoch before the first `:`, revision after the last `-`). */
export function parseDebianVersion(text: string): DebianVersion {
  const s = text.trim();
  let epoch = 0;
  let rest = s;
  const colon = s.indexOf(":");
  if (colon >= 0) {
    const e = s.slice(0, colon);
    epoch = /^\d+$/.test(e) ? Number(e) : 0;
    rest = s.slice(colon + 1);
  }
  const hyphen = rest.lastIndexOf("-");
  if (hyphen >= 0) return { epoch, upstream: rest.slice(0, hyphen), revision: rest.slice(hyphen + 1) };
  return { epoch, upstream: rest, revision: "" };
}

const isDigit = (c: string): boolean => c >= "0" && c <= "9";
const isAlpha = (c: string): boolean => (c >= "a" && c <= "z") || (c >= "A" && c <= "Z");

/** dpkg's `order()`: digits and the end 0, letters their code, `~` -1, anything else code + 256. */
function order(c: string): number {
  if (c === "") return 0;
  if (isDigit(c)) return 0;
  if (isAlpha(c)) return c.charCodeAt(0);
  if (c === "~") return -1;
  return c.charCodeAt(0) + 256;
}

/** dpkg's `verrevcmp`: negative, 0 or positive. */
export function verrevcmp(a: string, b: string): number {
  let i = 0;
  let j = 0;
  const at = (s: string, k: number): string => (k < s.length ? s[k]! : "");
  while (i < a.length || j < b.length) {
    let firstDiff = 0;
    while ((i < a.length && !isDigit(a[i]!)) || (j < b.length && !isDigit(b[j]!))) {
      const ac = order(at(a, i));
      const bc = order(at(b, j));
      if (ac !== bc) return ac - bc;
      i++;
      j++;
    }
    while (at(a, i) === "0") i++;
    while (at(b, j) === "0") j++;
    while (isDigit(at(a, i)) && isDigit(at(b, j))) {
      if (!firstDiff) firstDiff = a.charCodeAt(i) - b.charCodeAt(j);
      i++;
      j++;
    }
    if (isDigit(at(a, i))) return 1;
    if (isDigit(at(b, j))) return -1;
    if (firstDiff) return firstDiff;
  }
  return 0;
}

/** Compare two Debian versions: -1, 0 or 1 (as `dpkg --compare-versions a lt|eq|gt b`). */
export function compareDebian(a: string, b: string): number {
  const va = parseDebianVersion(a);
  const vb = parseDebianVersion(b);
  if (va.epoch !== vb.epoch) return va.epoch > vb.epoch ? 1 : -1;
  const u = verrevcmp(va.upstream, vb.upstream);
  if (u) return Math.sign(u);
  return Math.sign(verrevcmp(va.revision, vb.revision));
}
