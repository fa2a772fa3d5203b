/** `kyoka snapshot --json` section "media": without the collector, copy-out watcher or ClamAV modules. */
import type { SnapshotSource } from "../../collector.js";
import { readerForPlatform } from "./readers.js";
import type { MediaReader } from "./types.js";

/**
 * Media attached now. Uses the OS's own removable flag / bus (no policy is loaded for a snapshot
 * unless treatAsRemovable is given).
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
