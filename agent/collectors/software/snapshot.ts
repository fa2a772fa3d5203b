/** `kyoka snapshot --json` section: the software inventory, read once. */
import type { SnapshotSource } from "../../collector.js";
import { defaultSoftwareReader } from "./platform.js";
import type { InventoryReader } from "./reader.js";

export class SoftwareSnapshotSource implements SnapshotSource {
  readonly name = "software";
  constructor(private readonly reader: InventoryReader = defaultSoftwareReader()) {}

  async snapshot(): Promise<unknown> {
    const r = await this.reader.read();
    const items = [...r.items].sort((a, b) => a.id.localeCompare(b.id));
    return {
      count: items.length,
      sources: r.read,
      failed: r.failed,
      skippedEntries: r.errors.length,
      items,
    };
  }
}
