/** The network control (別記2 第8, 第9): collector, snapshot source, parsers and evaluation. */
export { NetworkCollector, type NetworkCollectorOptions } from "./collector.js";
export { defaultAttachmentReader, defaultSocketTables, type SocketTables } from "./platform.js";
export { NetworkSnapshotSource } from "./snapshot.js";
export { LinuxAttachmentReader } from "./linux.js";
export type { AttachmentReader, InterfaceState, InterfaceAddress, Route, WifiLink } from "./types.js";
