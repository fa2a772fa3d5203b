/** `kyoka snapshot --json` section "media": without the collector, copy-out watcher or ClamAV modules. */
import type { SnapshotSource } from "../../collector.js";
import type { MediaReader } from "./types.js";

/**
 * Media attached now. Uses the OS's own removable flag / bus (no policy is loaded for a snapshot
 * unless treatAsRemovable is given).
 */
export function createMediaSnapshotSource(opts: { reader?: MediaReader; treatAsRemovable?: string[] } = {}): SnapshotSource {
  return {
    name: "media",
    async snapshot() {
      // platform.js loads every OS's reader: imported only when none is given
      const reader = opts.reader ?? (await import("./platform.js")).readerForPlatform();
      const media = await reader.list({ treatAsRemovable: opts.treatAsRemovable ?? [] });
      // a snapshot is one look: the encryption read at insertion (Windows: BitLocker) is read here once
      const out = [];
      for (const { key: _key, ...m } of media) {
        const enc = await reader.encryptionOf?.({ key: _key, ...m }).catch(() => null);
        out.push(enc ? { ...m, encrypted: enc.encrypted, encryption: enc.encryption, bitlocker: enc.bitlocker } : m);
      }
      return out;
    },
  };
}

export const mediaSnapshotSource: SnapshotSource = createMediaSnapshotSource();
