/**
 * RPM version comparison: `rpmvercmp` of rpm 4.x (rpmio/rpmvercmp.c), with `~` (sorts before
 * anything, even the end) and `^` (sorts after the end but before anything else), and EVR
 * comparison `[epoch:]version[-release]` as rpm's `rpmverCmp` (a missing epoch is 0; the release is
 * compared only when both sides have one).
 */

const isDigit = (c: string): boolean => c >= "0" && c <= "9";
const isAlpha = (c: string): boolean => (c >= "a" && c <= "z") || (c >= "A" && c <= "Z");
const isAlnum = (c: string): boolean => isDigit(c) || isAlpha(c);

/** rpmvercmp: -1, 0 or 1. */
export function rpmvercmp(a: string, b: string): number {
  if (a === b) return 0;
  let i = 0;
  let j = 0;
  const at = (s: string, k: number): string => (k < s.length ? s[k]! : "");
  while (i < a.length || j < b.length) {
    while (i < a.length && !isAlnum(a[i]!) && a[i] !== "~" && a[i] !== "^") i++;
    while (j < b.length && !isAlnum(b[j]!) && b[j] !== "~" && b[j] !== "^") j++;
    const ca = at(a, i);
    const cb = at(b, j);
    if (ca === "~" || cb === "~") {
      if (ca !== "~") return 1;
      if (cb !== "~") return -1;
      i++;
      j++;
      continue;
    }
    if (ca === "^" || cb === "^") {
      if (ca === "") return -1;
      if (cb === "") return 1;
      if (ca !== "^") return 1;
      if (cb !== "^") return -1;
      i++;
      j++;
      continue;
    }
    if (!(ca && cb)) break;
    const numeric = isDigit(ca);
    const test = numeric ? isDigit : isAlpha;
    let ei = i;
    let ej = j;
    while (ei < a.length && test(a[ei]!)) ei++;
    while (ej < b.length && test(b[ej]!)) ej++;
    // a numeric segment is newer than an alphabetic one
    if (ej === j) return numeric ? 1 : -1;
    let sa = a.slice(i, ei);
    let sb = b.slice(j, ej);
    if (numeric) {
      sa = sa.replace(/^0+/, "");
      sb = sb.replace(/^0+/, "");
      if (sa.length !== sb.length) return sa.length > sb.length ? 1 : -1;
    }
    if (sa !== sb) return sa < sb ? -1 : 1;
    i = ei;
    j = ej;
  }
  const enda = i >= a.length;
  const endb = j >= b.length;
  if (enda && endb) return 0;
  return enda ? -1 : 1;
}

export interface RpmEvr {
  epoch: number;
  version: string;
  release?: string;
}

/** Parse `[epoch:]version[-release]` (`(none):` as written by `%{EPOCH}` counts as no epoch). */
export function parseEvr(text: string): RpmEvr {
  let s = text.trim();
  let epoch = 0;
  const colon = s.indexOf(":");
  if (colon >= 0) {
    const e = s.slice(0, colon);
    epoch = /^\d+$/.test(e) ? Number(e) : 0;
    s = s.slice(colon + 1);
  }
  const hyphen = s.lastIndexOf("-");
  if (hyphen >= 0) return { epoch, version: s.slice(0, hyphen), release: s.slice(hyphen + 1) };
  return { epoch, version: s };
}

/** Compare two RPM EVR strings: -1, 0 or 1. */
export function compareRpm(a: string, b: string): number {
  const ea = parseEvr(a);
  const eb = parseEvr(b);
  if (ea.epoch !== eb.epoch) return ea.epoch > eb.epoch ? 1 : -1;
  const v = rpmvercmp(ea.version, eb.version);
  if (v) return v;
  if (ea.release !== undefined && eb.release !== undefined) return rpmvercmp(ea.release, eb.release);
  return 0;
}
