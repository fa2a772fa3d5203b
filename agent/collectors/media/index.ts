/**
 * Removable media (別記2 第2 持ち出し, 第3, 第11; 第12 第8項, 第10項(2)).
 * Registry entry: `media: () => new MediaCollector()`; snapshot: `mediaSnapshotSource`.
 */
import type { SnapshotSource } from "../../collector.js";
import { readerForPlatform } from "./readers.js";
import type { MediaReader } from "./types.js";

export { MediaCollector, type MediaCollectorOptions } from "./collector.js";
export { CopyOutWatcher } from "./copy-out.js";
export { HashPool } from "./hash.js";
export { scanMedium } from "./clamav.js";
export { readerForPlatform } from "./readers.js";
export type { CopiedFile, Medium, MediaReader, ScanOutcome } from "./types.js";

/**
 * `kyoka snapshot --json` section: media attached now. Uses the OS's own removable flag / bus
 * (no policy is loaded for a snapshot unless treatAsRemovable is given).
 */
export function createMediaSnapshotSource(opts: { reader?: MediaReader; treatAsRemovable?: string[] } = {}): SnapshotSource {
  return {
    name: "media",
    async snapshot() {
      const reader = opts.reader ?? readerForPlatform();
      const media = await reader.list({ treatAsRemovable: opts.treatAsRemovable ?? [] });
      return media.map(({ key: _key, ...m }) => m);
    },
  };
}

export const mediaSnapshotSource: SnapshotSource = createMediaSnapshotSource();
