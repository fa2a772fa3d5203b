/**
 * The P2P collector (別記2 第17, 第12 第9項): public surface. See collector.ts. The OS platforms
 * (linux.ts, win32.ts, darwin.ts) are not re-exported: the registry imports this file, and only
 * this OS's platform is loaded (platform.ts defaultP2pPlatform).
 */
export { P2pCollector, EVENT_DELAY_MS, FULL_LIST_MS, type P2pCollectorOptions, type ScanStats } from "./collector.js";
export { P2pSnapshotSource, SNAPSHOT_HASH_MAX_BYTES, SNAPSHOT_PRESENT_MAX_FILES } from "./snapshot.js";
export { defaultP2pPlatform, CommandP2pPlatform, type P2pPlatform, type OwnedSocket, type SocketQuery, type SocketSource } from "./platform.js";
export { parseWin32Processes, splitWindowsCommandLine } from "./parse-win32.js";
export { parseDarwinPs, parseBrewList } from "./parse-darwin.js";
export { matchInstalled, matchProcess, matchFile } from "./match.js";
export { terminateProcess, type TerminateResult } from "./terminate.js";
