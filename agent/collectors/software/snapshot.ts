/** `kyoka snapshot --json` section: the software inventory, read once. */
import type { SnapshotSource } from "../../collector.js";
import type { InventoryReader } from "./reader.js";

export class SoftwareSnapshotSource implements SnapshotSource {
  readonly name = "software";
  /** `reader` defaults to the OS's (platform.js, which loads every OS's reader: imported only then) */
  constructor(private readonly reader?: InventoryReader) {}

  async snapshot(): Promise<unknown> {
    const r = await (this.reader ?? (await import("./platform.js")).defaultSoftwareReader()).read();
    // one Collator: the same order as localeCompare, without its per-call set-up (≈ 20 ms for 800 items)
    const { compare } = new Intl.Collator();
    const items = [...r.items].sort((a, b) => compare(a.id, b.id));
    return {
      count: items.length,
      sources: r.read,
      failed: r.failed,
      skippedEntries: r.errors.length,
      items,
    };
  }
}
