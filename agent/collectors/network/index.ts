/** The network control (別記2 第8, 第9): collector, snapshot source, parsers and evaluation. */
export { NetworkCollector, defaultAttachmentReader, type NetworkCollectorOptions } from "./collector.js";
export { NetworkSnapshotSource } from "./snapshot.js";
export { LinuxAttachmentReader } from "./linux.js";
export type { AttachmentReader, InterfaceState, InterfaceAddress, Route, WifiLink } from "./types.js";
