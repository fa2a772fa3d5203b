/**
 * Removable media (別記2 第2 持ち出し, 第3, 第11; 第12 第8項, 第10項(2)).
 * Registry entry: `media: () => new MediaCollector()`; snapshot: `mediaSnapshotSource`.
 */
export { MediaCollector, type MediaCollectorOptions } from "./collector.js";
export { CopyOutWatcher } from "./copy-out.js";
export { HashPool } from "./hash.js";
export { scanMedium } from "./clamav.js";
export { readerForPlatform } from "./platform.js";
export { createMediaSnapshotSource, mediaSnapshotSource } from "./snapshot.js";
export type { CopiedFile, Medium, MediaReader, ScanOutcome } from "./types.js";
