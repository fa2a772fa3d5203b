/**
 * macOS reading for the P2P collector: two `ps` calls per cycle for all processes; installed
 * software from the software collector's reader (application bundles, pkgutil receipts) plus
 * Homebrew formulae and casks (`brew list --versions`, which that reader does not cover).
 */
import { execText } from "../software/reader.js";
import { DarwinSoftwareReader } from "../software/darwin.js";
import { InstalledSoftware } from "./installed.js";
import type { ProcessInfo } from "./match.js";
import { parseBrewList, parseDarwinPs } from "./parse-darwin.js";
import { CommandP2pPlatform } from "./platform.js";

const out = (cmd: string, args: string[]) => execText(cmd, args, { timeoutMs: 120_000 });

export class DarwinP2pPlatform extends CommandP2pPlatform {
  readonly os = "darwin" as const;

  constructor(installedEveryMs = 300_000) {
    super(new InstalledSoftware({
      reader: new DarwinSoftwareReader(),
      maxAgeMs: installedEveryMs,
      extra: async () => parseBrewList(await out("brew", ["list", "--versions"])),
    }));
  }

  async listProcesses(): Promise<ProcessInfo[]> {
    const [list, args] = await Promise.all([
      out("ps", ["-axo", "pid=,ppid=,uid=,comm="]),
      out("ps", ["-axww", "-o", "pid,comm,args"]),
    ]);
    return parseDarwinPs(list, args);
  }
}
