/** Picks the media reader for this OS; elsewhere an empty reader (the collector soft-fails to nothing). */
import type { Logger } from "../../../lib/log.js";
import { DarwinMediaReader } from "./darwin.js";
import { LinuxMediaReader } from "./linux.js";
import type { MediaReader } from "./types.js";
import { Win32MediaReader } from "./win32.js";

export function readerForPlatform(log?: Logger, platform: NodeJS.Platform = process.platform): MediaReader {
  if (platform === "linux") return new LinuxMediaReader(log);
  if (platform === "win32") return new Win32MediaReader(log);
  if (platform === "darwin") return new DarwinMediaReader(log);
  log?.warn({ platform }, "removable media are not observed on this OS");
  return { list: async () => [] };
}
