/**
 * The collector registry: one line per collector. Adding a collector touches its folder, this
 * file and its tests.
 */
import type { CollectorFactory, SnapshotSource } from "../collector.js";

export const collectorFactories: Record<string, CollectorFactory> = {
};

export const snapshotSources: SnapshotSource[] = [];
