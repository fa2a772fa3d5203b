/** The software collector (別記2 第10): public surface. */
export { SoftwareCollector, currentInventory, STATE_KEY, type SoftwareCollectorOptions } from "./collector.js";
export { SoftwareSnapshotSource } from "./snapshot.js";
export { defaultSoftwareReader } from "./platform.js";
export { LinuxSoftwareReader } from "./linux.js";
export { Win32SoftwareReader } from "./win32.js";
export { DarwinSoftwareReader } from "./darwin.js";
export type { InventoryRead, InventoryReader, WatchTarget, SourceFailure } from "./reader.js";
export { parseDpkgStatus, parseRpmQa, parseSnapList, parseFlatpakList, RPM_QUERYFORMAT, FLATPAK_COLUMNS } from "./parse-linux.js";
export { parseRegQuery, parseUninstallJson, parseAppxJson, locateUninstallKey, publisherFromDn } from "./parse-win32.js";
export { parseInfoPlist, parsePkgutilPkgs, parsePkgutilInfo } from "./parse-darwin.js";
export { parsePlistXml, PlistError, type PlistValue } from "../../../lib/plist.js";
export { diffInventory, changeToEvent, inventoryEvent, detailsOf, INVENTORY_MAX_BYTES, type Change, type StoredInventory } from "./diff.js";
export type { SoftwareItem, SoftwareSource, ParseResult, ParseError } from "./types.js";
