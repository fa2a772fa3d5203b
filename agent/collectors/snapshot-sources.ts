/**
 * `kyoka snapshot`: each collector's SnapshotSource, loaded on demand (dynamic import of only the
 * snapshot modules: no collector runtime, scheduler, copy-out watcher or ClamAV code), and one
 * software read shared by the "software" section and p2p's installed check (both parse the same
 * package databases). The registry of running collectors stays in index.ts.
 */
import type { SnapshotSource } from "../collector.js";
import type { InventoryRead, InventoryReader } from "./software/reader.js";

export interface SnapshotSourceLoader {
  name: string;
  load(): Promise<SnapshotSource>;
}

/** A reader whose read() runs once; every caller gets the same result. */
export function readOnce(reader: InventoryReader): InventoryReader {
  let result: Promise<InventoryRead> | undefined;
  return { read: () => (result ??= reader.read()), watchTargets: () => reader.watchTargets() };
}

export interface SnapshotOptions {
  /** the agent's state folder (sections that report what the agent recorded: executed's run counts) */
  stateDir?: string;
}

/** The sources of one snapshot, in report order. Call once per snapshot (the software read is shared within it). */
export function snapshotSourceLoaders(opts: SnapshotOptions = {}): SnapshotSourceLoader[] {
  let software: Promise<InventoryReader> | undefined;
  // on Linux the Linux readers are imported directly: the platform dispatchers import every OS's
  // reader and parsers (≈ 20 modules this command would compile for nothing)
  const linux = process.platform === "linux";
  const sharedSoftware = () => (software ??= linux
    ? import("./software/linux.js").then((m) => readOnce(new m.LinuxSoftwareReader()))
    : import("./software/platform.js").then((m) => readOnce(m.defaultSoftwareReader())));
  return [
    { name: "hardware", load: async () => (await import("./asset/snapshot.js")).assetSnapshotSource },
    {
      name: "media",
      load: async () => {
        if (!linux) return (await import("./media/snapshot.js")).mediaSnapshotSource;
        const [{ createMediaSnapshotSource }, { LinuxMediaReader }] = await Promise.all([import("./media/snapshot.js"), import("./media/linux.js")]);
        return createMediaSnapshotSource({ reader: new LinuxMediaReader() });
      },
    },
    { name: "network", load: async () => new (await import("./network/snapshot.js")).NetworkSnapshotSource() },
    {
      name: "p2p",
      load: async () => {
        const { P2pSnapshotSource } = await import("./p2p/snapshot.js");
        if (process.platform !== "linux") return new P2pSnapshotSource();
        const [{ LinuxP2pPlatform }, reader] = await Promise.all([import("./p2p/linux.js"), sharedSoftware()]);
        return new P2pSnapshotSource({ platform: new LinuxP2pPlatform({ software: reader }) });
      },
    },
    { name: "software", load: async () => new (await import("./software/snapshot.js")).SoftwareSnapshotSource(await sharedSoftware()) },
    { name: "executed", load: async () => new (await import("./executed/snapshot.js")).ExecutedSnapshotSource({ ...(opts.stateDir ? { stateDir: opts.stateDir } : {}) }) },
  ];
}

/** The snapshot document: every section, the sources that failed, how long each took. */
export interface SnapshotDocument {
  takenAt: string;
  errors: Array<{ source: string; message: string }>;
  durationMs?: number;
  /** per source: how long it took (wall, ms; the sources run concurrently) */
  sourceDurationMs?: Record<string, number>;
  [section: string]: unknown;
}

/**
 * Take one snapshot from every source (or only `sections`; concurrently; each source's modules imported on demand and
 * counted in its duration). A source that fails is listed in `errors`; the others are kept.
 */
export async function takeSnapshot(sections?: ReadonlySet<string>, opts: SnapshotOptions = {}): Promise<SnapshotDocument> {
  const started = Date.now();
  const doc: SnapshotDocument = { takenAt: new Date().toISOString(), errors: [] };
  const sourceDurationMs: Record<string, number> = {};
  const sources = snapshotSourceLoaders(opts).filter((s) => !sections || sections.has(s.name));
  const results = await Promise.allSettled(sources.map(async (s) => {
    const t0 = performance.now();
    try {
      return [s.name, await (await s.load()).snapshot()] as const;
    } finally {
      sourceDurationMs[s.name] = Math.round(performance.now() - t0);
    }
  }));
  results.forEach((r, i) => {
    if (r.status === "fulfilled") doc[r.value[0]] = r.value[1];
    else doc.errors.push({ source: sources[i]!.name, message: String(r.reason instanceof Error ? r.reason.message : r.reason) });
  });
  doc.durationMs = Date.now() - started;
  doc.sourceDurationMs = sourceDurationMs;
  return doc;
}
