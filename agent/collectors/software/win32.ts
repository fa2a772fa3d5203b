/**
 * Windows reading: `reg query <Uninstall key> /s` for the 64-bit and 32-bit (WOW6432Node) machine
 * keys and for every loaded user hive under HKU (per-user installs), and
 * `Get-AppxPackage -AllUsers` as JSON for MSIX/Appx. reg.exe runs under `chcp 65001` so names in
 * Japanese arrive as UTF-8. The registry cannot be watched with file events: the collector's
 * reconciling rescan finds the changes.
 */
import { parseAppxJson, parseRegQuery } from "./parse-win32.js";
import { execText, mapLimit, ReadAccumulator, type Exec, type InventoryRead, type InventoryReader, type WatchTarget } from "./reader.js";
import type { ParseError, SoftwareItem } from "./types.js";

const UNINSTALL = "Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall";
const UNINSTALL_32 = "Software\\WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall";

export const APPX_COMMAND =
  "[Console]::OutputEncoding=[Text.Encoding]::UTF8; " +
  "Get-AppxPackage -AllUsers | Select-Object Name,Version,Publisher,Architecture,PackageFullName,PackageFamilyName," +
  "IsFramework,IsResourcePackage,NonRemovable,SignatureKind,PackageUserInformation | ConvertTo-Json -Depth 3";

export class Win32SoftwareReader implements InventoryReader {
  constructor(private readonly exec: Exec = execText, private readonly timeoutMs = 60_000) {}

  /** reg query through cmd with the UTF-8 code page; exit 1 (key absent) is an empty result. */
  private reg(args: string[]): Promise<string> {
    const line = `chcp 65001 >nul & reg.exe ${args.map((a) => (a.startsWith("/") ? a : `"${a}"`)).join(" ")}`;
    return this.exec("cmd.exe", ["/d", "/s", "/c", `"${line}"`], { timeoutMs: this.timeoutMs, okExitCodes: [1], verbatim: true });
  }

  async read(): Promise<InventoryRead> {
    const acc = new ReadAccumulator();
    await Promise.all([
      acc.source("registry", async () => {
        const keys = [`HKLM\\${UNINSTALL}`, `HKLM\\${UNINSTALL_32}`];
        const hku = await this.reg(["query", "HKU"]);
        for (const line of hku.split(/\r?\n/)) {
          const m = /^HKEY_USERS\\(S-[\d-]+)\s*$/.exec(line.trim());
          if (m) keys.push(`HKU\\${m[1]}\\${UNINSTALL}`, `HKU\\${m[1]}\\${UNINSTALL_32}`);
        }
        const outs = await mapLimit(keys, 4, (k) => this.reg(["query", k, "/s"]));
        const items: SoftwareItem[] = [];
        const errors: ParseError[] = [];
        outs.forEach((text, i) => {
          const r = parseRegQuery(text);
          items.push(...r.items);
          errors.push(...r.errors.map((e) => ({ ...e, message: `${keys[i]}: ${e.message}` })));
        });
        return { items, errors };
      }),
      acc.source("appx", async () =>
        parseAppxJson(await this.exec("powershell.exe", ["-NoProfile", "-NonInteractive", "-Command", APPX_COMMAND], { timeoutMs: this.timeoutMs }))),
    ]);
    return acc.result;
  }

  watchTargets(): WatchTarget[] {
    return [];
  }
}
