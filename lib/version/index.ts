/**
 * Version comparison per package ecosystem, and version ranges for approvals.
 * dpkg → Debian (dpkg's algorithm), rpm → rpmvercmp, everything else (Windows registry and Appx,
 * macOS bundles and receipts, snap, flatpak) → dotted.
 */
import { compareDebian } from "./debian.js";
import { compareDotted } from "./dotted.js";
import { compareRpm } from "./rpm.js";

/** -1, 0 or 1 */
export type Comparator = (a: string, b: string) => number;

export { compareDebian, parseDebianVersion, verrevcmp } from "./debian.js";
export { compareRpm, rpmvercmp, parseEvr } from "./rpm.js";
export { compareDotted } from "./dotted.js";
export { parseRange, satisfies, RangeSyntaxError, type VersionRange } from "./range.js";

/** The comparator for a software source (SoftwareItem.source); unknown sources use dotted. */
export function comparatorFor(source: string | undefined): Comparator {
  switch (source) {
    case "dpkg": return compareDebian;
    case "rpm": return compareRpm;
    default: return compareDotted;
  }
}
