/**
 * Executed collector (別記2 第10): programs run from outside any installed package — portable
 * apps, binaries copied from a USB stick, downloads — reported once per (PC, SHA-256) as
 * software.executed. See collector.ts.
 */
export { ExecutedCollector, ByteBudget, STATE_KEY, type ExecutedCollectorOptions, type SeenProgram } from "./collector.js";
export { PathIndex, type Membership } from "./package-index.js";
export type { ExecutedPlatform, MediumLink, ProcessStart, ProcessStartSource, StartedProcess } from "./platform.js";
