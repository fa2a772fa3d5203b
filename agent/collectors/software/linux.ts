/**
 * Linux reading: /var/lib/dpkg/status, and `rpm`, `snap`, `flatpak` when installed (execFile with
 * a timeout; a missing tool is not an error). Watch targets: the package database folders (dpkg
 * replaces `status` by rename, so its folder is watched and filtered by name).
 */
import { readFile } from "node:fs/promises";
import { FLATPAK_COLUMNS, parseDpkgStatus, parseFlatpakList, parseRpmQa, parseSnapList, RPM_QUERYFORMAT } from "./parse-linux.js";
import { execText, ReadAccumulator, type Exec, type InventoryRead, type InventoryReader, type WatchTarget } from "./reader.js";

export interface LinuxReaderOptions {
  dpkgStatusPath?: string;
  exec?: Exec;
  timeoutMs?: number;
}

export class LinuxSoftwareReader implements InventoryReader {
  private readonly statusPath: string;
  private readonly exec: Exec;
  private readonly timeoutMs: number;

  constructor(opts: LinuxReaderOptions = {}) {
    this.statusPath = opts.dpkgStatusPath ?? "/var/lib/dpkg/status";
    this.exec = opts.exec ?? execText;
    this.timeoutMs = opts.timeoutMs ?? 60_000;
  }

  async read(): Promise<InventoryRead> {
    const acc = new ReadAccumulator();
    const t = { timeoutMs: this.timeoutMs };
    // printf-style escapes in the query format are expanded by rpm itself
    const rpmFormat = RPM_QUERYFORMAT.replace(/\\t/g, "\t").replace(/\\n/g, "\n");
    await Promise.all([
      acc.source("dpkg", async () => {
        let text: string;
        try {
          text = await readFile(this.statusPath, "utf8");
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined; // not a dpkg system
          throw err;
        }
        return parseDpkgStatus(text);
      }),
      acc.source("rpm", async () => parseRpmQa(await this.exec("rpm", ["-qa", "--queryformat", rpmFormat], t))),
      acc.source("snap", async () => parseSnapList(await this.exec("snap", ["list", "--unicode=never", "--color=never"], t))),
      acc.source("flatpak", async () => parseFlatpakList(await this.exec("flatpak", ["list", `--columns=${FLATPAK_COLUMNS}`], t))),
    ]);
    return acc.result;
  }

  watchTargets(): WatchTarget[] {
    return [
      { dir: "/var/lib/dpkg", match: (n) => n === "status" },
      { dir: "/var/lib/rpm", match: (n) => /^(rpmdb\.sqlite|Packages|Packages\.db)$/.test(n) },
      { dir: "/var/lib/snapd", match: (n) => n === "state.json" },
      { dir: "/var/lib/flatpak/app" },
      { dir: "/var/lib/flatpak/runtime" },
    ];
  }
}
