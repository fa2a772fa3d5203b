/** The reader for the OS this agent runs on. */
import { DarwinSoftwareReader } from "./darwin.js";
import { LinuxSoftwareReader } from "./linux.js";
import type { InventoryRead, InventoryReader } from "./reader.js";
import { Win32SoftwareReader } from "./win32.js";

class UnsupportedReader implements InventoryReader {
  async read(): Promise<InventoryRead> {
    return { items: [], failed: [{ source: process.platform, message: `software inventory is not supported on ${process.platform}` }], read: [], errors: [], keep: [] };
  }
  watchTargets() {
    return [];
  }
}

export function defaultSoftwareReader(platform: NodeJS.Platform = process.platform): InventoryReader {
  switch (platform) {
    case "linux": return new LinuxSoftwareReader();
    case "win32": return new Win32SoftwareReader();
    case "darwin": return new DarwinSoftwareReader();
    default: return new UnsupportedReader();
  }
}
