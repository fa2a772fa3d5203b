/** The asset collector (別記2 第7): public surface. See collector.ts. */
export {
  AssetCollector, STATE_KEY, snapshotEvent, changeEvent, nodeCronScheduler,
  type AssetCollectorOptions, type AssetState, type ScheduledJob, type Scheduler,
} from "./collector.js";
export { assetSnapshotSource } from "./snapshot.js";
export { readSystemInformation, type RawReader } from "./platform.js";
export { Inventory, normalize } from "./inventory.js";
export { diffInventory, type Change } from "./diff.js";
export { pcId, pcIdentity, assetKeys } from "./identity.js";
