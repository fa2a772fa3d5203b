/**
 * The collector registry: one line per collector. Adding a collector touches its folder, this
 * file, snapshot-sources.ts (its `kyoka snapshot` section) and its tests.
 */
import type { CollectorFactory } from "../collector.js";
import { AssetCollector } from "./asset/index.js";
import { ExecutedCollector } from "./executed/index.js";
import { MediaCollector } from "./media/index.js";
import { NetworkCollector } from "./network/index.js";
import { P2pCollector } from "./p2p/index.js";
import { SoftwareCollector } from "./software/index.js";

export const collectorFactories: Record<string, CollectorFactory> = {
  asset: () => new AssetCollector(),
  executed: () => new ExecutedCollector(),
  media: () => new MediaCollector(),
  network: () => new NetworkCollector(),
  p2p: () => new P2pCollector(),
  software: () => new SoftwareCollector(),
};
