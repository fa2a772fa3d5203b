/**
 * The collector registry: one line per collector. Adding a collector touches its folder, this
 * file and its tests.
 */
import type { CollectorFactory, SnapshotSource } from "../collector.js";
import { AssetCollector, assetSnapshotSource } from "./asset/index.js";
import { MediaCollector, mediaSnapshotSource } from "./media/index.js";
import { NetworkCollector, NetworkSnapshotSource } from "./network/index.js";
import { P2pCollector, P2pSnapshotSource } from "./p2p/index.js";
import { SoftwareCollector, SoftwareSnapshotSource } from "./software/index.js";

export const collectorFactories: Record<string, CollectorFactory> = {
  asset: () => new AssetCollector(),
  media: () => new MediaCollector(),
  network: () => new NetworkCollector(),
  p2p: () => new P2pCollector(),
  software: () => new SoftwareCollector(),
};

export const snapshotSources: SnapshotSource[] = [
  assetSnapshotSource,
  mediaSnapshotSource,
  new NetworkSnapshotSource(),
  new P2pSnapshotSource(),
  new SoftwareSnapshotSource(),
];
