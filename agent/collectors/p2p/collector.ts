/**
 * P2P collector (ファイル交換ソフトの検知 — 個人情報取扱特記事項 第12 第9項, 別記2 第17).
 *
 * Every policy.p2p.scanSeconds it looks from four angles and emits an event the first time it
 * sees each thing:
 *   p2p.installed — an installed package matching a family's package globs (once per package)
 *   p2p.present   — a P2P executable in presentPaths, by name or by hash/contents (once per file version)
 *   p2p.running   — a process identified by name, path, hash or contents (once per (pid, exe))
 *   p2p.traffic   — a socket on a well-known P2P port, or a listening socket of an identified client
 * With policy.p2p.response = terminate, an identified process is killed (SIGTERM, then SIGKILL
 * after a grace period) and the running event records `response: terminated | terminate_failed`
 * (terminate.ts). The `kyoka snapshot` section and its hash cache are in snapshot.ts.
 *
 * Where the OS reports process events (Linux: the kernel's proc connector, agent/os/process-events.ts)
 * a process that starts a program is looked at within EVENT_DELAY_MS of its exec — only it: its
 * executable is hashed once per (dev, inode, size, mtime, ctime) — and the cycle every scanSeconds
 * no longer lists every process: it re-reads only the pids that started, exec'd or exited, and
 * lists everything only every FULL_LIST_MS (the safety net) or when events were lost. Without
 * events (no root, a container, another OS) every cycle lists every process, as before.
 */
import type { Collector, CollectorContext } from "../../collector.js";
import type { Logger } from "../../../lib/log.js";
import type { NewEvent } from "../../../policies/schema.js";
import { ExecutableHasher, type HashedExecutable } from "./hash.js";
import { type Finding, type InstalledItem, type ProcessInfo, matchFile, matchInstalled, matchProcess, portProtocols } from "./match.js";
import { isConnected, isListening, type SocketEntry } from "../../os/linux/sockets.js";
import { defaultP2pPlatform, type OwnedSocket, type P2pPlatform } from "./platform.js";
import { expandPaths, homeDirs, PresentWalker } from "./present.js";
import type { Signatures } from "./compile.js";
import type { ProcessEvents } from "../../os/process-events.js";

import { terminateProcess } from "./terminate.js";

export interface P2pCollectorOptions {
  platform?: P2pPlatform;
  signatures?: Signatures;
  /** SIGTERM → SIGKILL grace (default 3 s) */
  terminateGraceMs?: number;
  /** rest between two full passes over presentPaths (default 10 min) */
  presentRestMs?: number;
  /** home folders for ~ in presentPaths (default /home/* and /root, /Users/*, C:\Users\*) */
  homeDirs?: () => Promise<string[]>;
  /** executables larger than this are not hashed/scanned for markers (default 512 MiB) */
  hashMaxBytes?: number;
  /** walk presentPaths with synchronous fs calls in 5 ms slices (default true; false: through the thread pool — see PresentWalker) */
  syncPresentWalk?: boolean;
  /** hashes known from an earlier run, for the markers whose fingerprint is given (the snapshot's persistent cache) */
  hashSeed?: (markersKey: string) => Iterable<readonly [string, HashedExecutable]>;
  /**
   * Process events (default: the agent's shared source where the platform can update its list
   * from them); null: none — every cycle lists every process.
   */
  processEvents?: ProcessEvents | null;
}

/** after a process exec event, the scan starts this much later (events of a burst share it) */
export const EVENT_DELAY_MS = 50;
/** with process events, every process is still listed this often (the safety net) */
export const FULL_LIST_MS = 30_000;

export interface ScanStats {
  processes: number;
  newProcesses: number;
  hashed: number;
  presentFiles: number;
  events: number;
}

/** executables read at once ahead of the process checks */
const HASH_PREFETCH = 4;

const STATE_KEYS = { running: "running", installed: "installed", present: "present", traffic: "traffic" } as const;

/**
 * The agent is never a P2P client: a single executable (installers/) carries this catalog's
 * signatures — markers, protocol traits — in its own bytes, so it would match itself (seen under
 * Wine: kyoka.exe reported as qBittorrent, with "traffic" on its own server connection).
 */
function notSelf(list: ProcessInfo[]): ProcessInfo[] {
  return list.filter((p) => p.pid !== process.pid);
}

export class P2pCollector implements Collector {
  readonly name = "p2p";
  private ctx?: CollectorContext;
  private log?: Logger;
  private timer?: NodeJS.Timeout;
  private stopped = true;
  private running?: Promise<unknown>;
  /** the presentPaths walk running in the background (see scanOnce) */
  private presentRun?: Promise<void>;
  private platform?: P2pPlatform;
  private sigs?: Signatures;
  private hasher?: ExecutableHasher;
  private walker?: PresentWalker;
  /** processes already evaluated: key (pid:start:exe:name) → the finding, or null when innocent */
  private evaluated = new Map<string, Finding | null>();
  /** what was already reported (persisted, so a restart reports only what is new) */
  private reported: Record<keyof typeof STATE_KEYS, Set<string>> = {
    running: new Set(), installed: new Set(), present: new Set(), traffic: new Set(),
  };
  /** (path) → size:mtime of executables already hashed by the present walk */
  private presentSeen = new Map<string, string>();
  /** process events, once started (see the file comment) */
  private events?: ProcessEvents;
  private offEvents: (() => void)[] = [];
  private changedPids = new Set<number>();
  private gonePids = new Set<number>();
  private needFullList = true;
  private lastFullList = -Infinity;
  /** the process list and the identified processes of the last cycle */
  private procs: ProcessInfo[] = [];
  private lastIdentified = new Map<number, Finding>();
  /** a cycle is running; `again`: an event came meanwhile, run the next one soon */
  private scanning = false;
  private again = false;
  /** when the pending timer fires, and when the next full cycle is due (performance.now()) */
  private timerDue = Infinity;
  private nextFull = -Infinity;
  /** cycles run, and how each got its process list (benches and tests) */
  readonly stats = { cycles: 0, fullLists: 0, updates: 0, unchanged: 0 };

  constructor(private readonly opts: P2pCollectorOptions = {}) {}

  /** The executables identified so far and the markers fingerprint they are valid for (undefined before start). */
  hashesUsed(): { markersKey: string; entries: [string, HashedExecutable][] } | undefined {
    return this.hasher && { markersKey: this.hasher.markersKey(), entries: this.hasher.used() };
  }

  async start(ctx: CollectorContext): Promise<void> {
    this.ctx = ctx;
    this.log = ctx.log;
    this.platform = this.opts.platform ?? await defaultP2pPlatform();
    this.sigs = this.opts.signatures ?? (await import("./signatures.js")).loadSignatures();
    this.hasher = new ExecutableHasher(this.sigs.markers.map((m) => m.bytes), undefined, this.opts.hashMaxBytes);
    if (this.opts.hashSeed) this.hasher.seed(this.opts.hashSeed(this.hasher.markersKey()));
    this.walker = new PresentWalker(this.opts.presentRestMs ?? 600_000, Date.now, this.opts.syncPresentWalk ?? true);
    for (const k of Object.keys(STATE_KEYS) as (keyof typeof STATE_KEYS)[]) {
      this.reported[k] = new Set(ctx.state.get<string[]>(`p2p.${k}`) ?? []);
    }
    this.stopped = false;
    this.nextFull = -Infinity;
    await this.startEvents();
    this.schedule(0);
    this.log.info({ families: this.sigs.families.length, os: this.platform.os, processEvents: this.events?.mode ?? "none" }, "p2p collector started");
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const off of this.offEvents) off();
    this.offEvents = [];
    const events = this.events;
    this.events = undefined;
    await events?.stop();
    await this.running?.catch(() => undefined);
    await this.presentRun;
    // the platform is the collector's own only when it made it (a test may share one across collectors)
    if (!this.opts.platform) this.platform?.close?.();
  }

  /** Subscribe to process events where the platform can use them; polling stays the fallback. */
  private async startEvents(): Promise<void> {
    if (this.opts.processEvents === null || !this.platform?.updateProcesses) return;
    const ev = this.opts.processEvents ?? (await import("../../os/process-events.js")).processEvents(this.ctx!.log);
    this.changedPids.clear();
    this.gonePids.clear();
    this.needFullList = true;
    this.offEvents = [
      ev.onExec((pid) => { this.changedPids.add(pid); this.kick(); }),
      ev.onFork((pid) => { this.changedPids.add(pid); }),
      ev.onExit((pid) => { this.gonePids.add(pid); this.changedPids.delete(pid); }),
      ev.onResync(() => { this.needFullList = true; this.kick(); }),
    ];
    try {
      await ev.start();
      this.events = ev;
    } catch (err) {
      for (const off of this.offEvents) off();
      this.offEvents = [];
      this.log!.warn({ err }, "p2p: no process events; every cycle lists every process");
    }
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerDue = performance.now() + ms;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerDue = Infinity;
      this.scanning = true;
      // a cycle brought forward by an exec event only looks at processes; the full one keeps its period
      const periodic = performance.now() >= this.nextFull;
      if (periodic) this.nextFull = performance.now() + this.ctx!.policy().p2p.scanSeconds * 1000;
      this.running = this.scanOnce({ present: "background", processesOnly: !periodic }).then(
        () => {
          this.scanning = false;
          const again = this.again;
          this.again = false;
          this.schedule(again ? EVENT_DELAY_MS : Math.max(0, this.nextFull - performance.now()));
        },
        (err: unknown) => { this.scanning = false; this.ctx!.fail(err); },
      );
    }, ms);
    this.timer.unref?.();
  }

  /** A process exec'd: scan soon (once per burst of events). */
  private kick(): void {
    if (this.stopped || !this.ctx) return;
    if (this.scanning) { this.again = true; return; }
    if (this.timerDue - performance.now() > EVENT_DELAY_MS) this.schedule(EVENT_DELAY_MS);
  }

  /** The processes now: all of them, or the last list updated by the events since. */
  private async processes(platform: P2pPlatform): Promise<ProcessInfo[]> {
    const full = !this.events || this.needFullList || performance.now() - this.lastFullList >= FULL_LIST_MS;
    this.stats.cycles++;
    if (full) {
      this.stats.fullLists++;
      this.needFullList = false;
      this.changedPids.clear();
      this.gonePids.clear();
      this.lastFullList = performance.now();
      return notSelf(await platform.listProcesses());
    }
    if (this.changedPids.size === 0 && this.gonePids.size === 0) { this.stats.unchanged++; return this.procs; }
    this.stats.updates++;
    const changed = [...this.changedPids], gone = [...this.gonePids];
    this.changedPids.clear();
    this.gonePids.clear();
    return notSelf(await platform.updateProcesses!(changed, gone));
  }

  /**
   * One scan cycle over all four angles (also used by tests and `kyoka snapshot`). The walk of
   * presentPaths can take long (a first pass hashes every executable under the homes): on the
   * timer it runs in the background (`present: "background"`, at most one walk at a time), so
   * it never delays seeing a client start; by default the call waits for it.
   */
  async scanOnce(opts: { present?: "wait" | "background"; processesOnly?: boolean } = {}): Promise<ScanStats> {
    const ctx = this.ctx, platform = this.platform, sigs = this.sigs;
    if (!ctx || !platform || !sigs) throw new Error("p2p collector: scanOnce before start");
    const policy = ctx.policy().p2p;
    const hashedBefore = this.hasher!.hashed;
    const events: NewEvent[] = [];
    const changed = new Set<keyof typeof STATE_KEYS>();

    // an exec event's cycle looks at the new processes only; the rest waits for the period
    if (opts.processesOnly) {
      const procs = await this.processes(platform);
      let found = 0;
      if (procs !== this.procs) {
        const { identified, newProcesses } = await this.checkRunning(procs, policy.response, events, changed);
        this.procs = procs;
        this.lastIdentified = identified;
        found = newProcesses;
      }
      if (events.length) await ctx.emit(...events);
      for (const k of changed) await ctx.state.set(`p2p.${k}`, [...this.reported[k]]);
      return { processes: procs.length, newProcesses: found, hashed: this.hasher!.hashed - hashedBefore, presentFiles: 0, events: events.length };
    }

    // installed
    let checkedAll = true;
    try {
      const items = await platform.installed();
      if (items) this.checkInstalled(items, events, changed);
    } catch (err) {
      checkedAll = false;
      this.log!.warn({ err }, "p2p: reading installed software failed; the other checks go on");
    }

    // running (an unchanged list needs no second look)
    const procs = await this.processes(platform);
    const { identified, newProcesses } = procs === this.procs && this.events
      ? { identified: this.lastIdentified, newProcesses: 0 }
      : await this.checkRunning(procs, policy.response, events, changed);
    this.procs = procs;
    this.lastIdentified = identified;

    // traffic
    if (platform.sockets) {
      try {
        await this.checkTraffic(procs, identified, events, changed);
      } catch (err) {
        checkedAll = false;
        this.log!.warn({ err }, "p2p: reading sockets failed; the other checks go on");
      }
    }

    if (events.length) await ctx.emit(...events);
    for (const k of changed) await ctx.state.set(`p2p.${k}`, [...this.reported[k]]);
    // installed, running and traffic were looked at: a completed check (evidence)
    if (checkedAll) ctx.checked({ findings: events.length });

    // present on disk
    let presentFiles = 0;
    if (opts.present === "background") {
      this.presentRun ??= this.presentStep(policy.presentPaths, policy.presentMaxFiles)
        .then(() => undefined, (err: unknown) => this.ctx!.fail(err))
        .finally(() => { this.presentRun = undefined; });
    } else {
      await this.presentRun;
      const r = await this.presentStep(policy.presentPaths, policy.presentMaxFiles);
      presentFiles = r.files;
      events.push(...r.events);
    }
    return { processes: procs.length, newProcesses, hashed: this.hasher!.hashed - hashedBefore, presentFiles, events: events.length };
  }

  /** One step of the presentPaths walk, its events emitted and its state saved. */
  private async presentStep(paths: string[], maxFiles: number): Promise<{ files: number; events: NewEvent[] }> {
    const events: NewEvent[] = [];
    const changed = new Set<keyof typeof STATE_KEYS>();
    let files = 0;
    try {
      files = await this.checkPresent(paths, maxFiles, events, changed);
    } catch (err) {
      this.log!.warn({ err }, "p2p: walking presentPaths failed; the other checks go on");
    }
    if (events.length) await this.ctx!.emit(...events);
    for (const k of changed) await this.ctx!.state.set(`p2p.${k}`, [...this.reported[k]]);
    return { files, events };
  }

  private checkInstalled(items: InstalledItem[], events: NewEvent[], changed: Set<keyof typeof STATE_KEYS>): void {
    const now = new Set<string>();
    for (const f of matchInstalled(items, this.sigs!)) {
      const key = `${f.source}:${f.name}`;
      now.add(key);
      if (this.reported.installed.has(key)) continue;
      this.reported.installed.add(key);
      changed.add("installed");
      events.push({ type: "p2p.installed", details: details(f) });
      this.log!.warn({ family: f.family, name: f.name, version: f.version }, "p2p software installed");
    }
    // removed packages: forget them, so a reinstall is reported again
    for (const key of this.reported.installed) if (!now.has(key)) { this.reported.installed.delete(key); changed.add("installed"); }
  }

  private async checkRunning(procs: ProcessInfo[], response: "alert" | "terminate", events: NewEvent[], changed: Set<keyof typeof STATE_KEYS>): Promise<{ identified: Map<number, Finding>; newProcesses: number }> {
    const identified = new Map<number, Finding>();
    const alive = new Set<string>();
    const evaluatedNow = new Map<string, Finding | null>();
    let newProcesses = 0;
    // read the new processes' executables a few at a time ahead of the loop below (which takes
    // them from the hasher's cache in order): reading one after the other left the disk idle
    // while hashing, and the CPU idle while reading
    const toHash = procs
      .filter((p) => !this.evaluated.has(`${p.pid}:${p.startTime ?? ""}:${p.exe ?? ""}:${p.name}`))
      .map((p) => this.platform!.executableOf(p))
      .filter((e): e is string => e !== undefined);
    const prefetch = (async () => {
      for (let i = 0; i < toHash.length; i += HASH_PREFETCH) await Promise.all(toHash.slice(i, i + HASH_PREFETCH).map((e) => this.hasher!.identify(e)));
    })();
    for (const p of procs) {
      const key = `${p.pid}:${p.startTime ?? ""}:${p.exe ?? ""}:${p.name}`;
      let finding = this.evaluated.get(key);
      if (finding === undefined) {
        newProcesses++;
        const exePath = this.platform!.executableOf(p);
        const exe = exePath ? await this.hasher!.identify(exePath) : undefined;
        // It exec'd meanwhile (e.g. `ip netns exec` becoming the client): look again next cycle.
        if (exePath && this.platform!.executableChanged?.(p)) continue;
        finding = matchProcess(p, this.platform!.os, this.sigs!, exe) ?? null;
      }
      evaluatedNow.set(key, finding);
      if (!finding) continue;
      identified.set(p.pid, finding);
      const runKey = `${p.pid}:${p.startTime ?? ""}:${p.exe ?? ""}`;
      alive.add(runKey);
      if (this.reported.running.has(runKey)) continue;
      this.reported.running.add(runKey);
      changed.add("running");
      const d: Record<string, unknown> = details(finding);
      if (response === "terminate" && finding.confidence !== "low") {
        const result = await terminateProcess(p.pid, p.startTime, (pid, st) => this.platform!.isAlive(pid, st), this.opts.terminateGraceMs ?? 3000);
        Object.assign(d, result);
        this.log!.warn({ pid: p.pid, family: finding.family, ...result }, "p2p process terminated per policy");
      } else {
        this.log!.warn({ pid: p.pid, family: finding.family, confidence: finding.confidence }, "p2p software running");
      }
      events.push({ type: "p2p.running", details: d });
    }
    await prefetch;
    this.evaluated = evaluatedNow;
    // stopped processes: forget them (nothing is emitted)
    for (const key of this.reported.running) if (!alive.has(key)) { this.reported.running.delete(key); changed.add("running"); }
    return { identified, newProcesses };
  }

  private async checkTraffic(procs: ProcessInfo[], identified: Map<number, Finding>, events: NewEvent[], changed: Set<keyof typeof STATE_KEYS>): Promise<void> {
    const sigs = this.sigs!;
    const onP2pPort = (s: SocketEntry): number | undefined => {
      const kind = socketKind(s);
      if (kind === "listen" || kind === "unconnected") {
        return portProtocols(sigs, s.localPort, s.protocol).length ? s.localPort : undefined;
      }
      if (kind === "established" || kind === "connecting") {
        return portProtocols(sigs, s.remotePort, s.protocol).length ? s.remotePort : undefined;
      }
      return undefined;
    };
    const sockets = (await this.platform!.sockets!.read({
      processes: procs,
      want: (s) => onP2pPort(s) !== undefined,
      allOf: new Set(identified.keys()),
    })).filter((s) => s.pid !== process.pid);
    const byPid = new Map<string, { pid?: number; netns: number; socks: OwnedSocket[] }>();
    for (const s of sockets) {
      const k = `${s.netns}:${s.pid ?? "?"}`;
      const g = byPid.get(k) ?? { ...(s.pid !== undefined ? { pid: s.pid } : {}), netns: s.netns, socks: [] };
      g.socks.push(s);
      byPid.set(k, g);
    }
    const procByPid = new Map(procs.map((p) => [p.pid, p]));
    const alive = new Set<string>();
    for (const g of byPid.values()) {
      const proc = g.pid !== undefined ? procByPid.get(g.pid) : undefined;
      const known = g.pid !== undefined ? identified.get(g.pid) : undefined;
      const fresh: { s: OwnedSocket; port: number; p2p: boolean }[] = [];
      for (const s of g.socks) {
        const p2pPort = onP2pPort(s);
        const port = p2pPort ?? s.localPort;
        const kind = socketKind(s);
        const key = `${g.netns}:${g.pid ?? "?"}:${proc?.startTime ?? ""}:${s.protocol}:${kind === "listen" || kind === "unconnected" ? "local" : "remote"}:${port}`;
        alive.add(key);
        if (this.reported.traffic.has(key)) continue;
        this.reported.traffic.add(key);
        changed.add("traffic");
        fresh.push({ s, port, p2p: p2pPort !== undefined });
      }
      if (fresh.length === 0) continue;
      const evidence: string[] = [];
      const protocols = new Set<string>();
      for (const { s, port, p2p } of fresh) {
        const protos = portProtocols(sigs, port, s.protocol);
        for (const pr of protos) protocols.add(pr.protocol);
        const kind = socketKind(s);
        const where = kind === "listen" || kind === "unconnected"
          ? `${s.protocol} ${kind === "listen" ? "listening on" : "bound to"} ${s.localAddress}:${s.localPort}`
          : `${s.protocol} ${kind ?? s.state.toLowerCase()} to ${s.remoteAddress}:${s.remotePort}`;
        evidence.push(p2p
          ? `${where} (well-known ${protos.map((x) => sigs.protocolTitles[x.protocol] ?? x.protocol).join("/")} port${protos.flatMap((x) => x.families).length ? `: ${[...new Set(protos.flatMap((x) => x.families.map((f) => f.family)))].join(", ")}` : ""})`
          : `${where} (socket of an identified client)`);
      }
      const anyP2pPort = fresh.some((f) => f.p2p);
      let family: string, familyId: string, confidence: Finding["confidence"];
      if (known) {
        family = known.family; familyId = known.familyId;
        confidence = known.confidence === "low" ? (anyP2pPort ? "medium" : "low") : "high";
        evidence.unshift(`process identified as ${known.family} (${known.confidence})`);
      } else {
        const proto = [...protocols][0] ?? "bittorrent";
        const portFamilies = [...new Set(fresh.flatMap((f) => portProtocols(sigs, f.port, f.s.protocol).flatMap((x) => x.families)))];
        family = portFamilies.length === 1 ? portFamilies[0]!.family : `${sigs.protocolTitles[proto] ?? proto} (by port)`;
        familyId = portFamilies.length === 1 ? portFamilies[0]!.id : proto;
        confidence = "low";
        evidence.push("only the port matches: the process is not a known P2P client");
      }
      const d: Record<string, unknown> = {
        family, familyId, name: proc?.name ?? "(unknown)", evidence, confidence,
        ports: [...new Set(fresh.map((f) => f.port))].sort((a, b) => a - b),
        sockets: fresh.map(({ s }) => ({ transport: s.protocol, state: socketKind(s) ?? s.state.toLowerCase(), localAddress: s.localAddress, localPort: s.localPort, remoteAddress: s.remoteAddress, remotePort: s.remotePort })),
        netns: String(g.netns),
        ...(g.pid !== undefined ? { pid: g.pid } : {}),
        ...(proc?.exe ? { path: proc.exe } : {}),
        ...(known?.sha256 ? { sha256: known.sha256 } : {}),
        ...(proc?.cmdline.length ? { cmdline: proc.cmdline.join(" ").slice(0, 2000) } : {}),
      };
      events.push({ type: "p2p.traffic", details: d });
      this.log!.warn({ pid: g.pid, family, ports: d.ports, confidence }, "p2p traffic");
    }
    for (const key of this.reported.traffic) if (!alive.has(key)) { this.reported.traffic.delete(key); changed.add("traffic"); }
  }

  private async checkPresent(paths: string[], maxFiles: number, events: NewEvent[], changed: Set<keyof typeof STATE_KEYS>): Promise<number> {
    if (this.walker!.resting()) return 0; // between two passes (10 min): not even the homes are listed
    const homes = await (this.opts.homeDirs ?? (() => homeDirs()))();
    const roots = expandPaths(paths, homes);
    const { files } = await this.walker!.step(roots, maxFiles);
    const os = this.platform!.os;
    for (const f of files) {
      if (f.path === process.execPath) continue; // the agent itself (see notSelf)
      const version = `${f.size}:${Math.trunc(f.mtimeMs)}`;
      const reportKey = `${f.path}:${version}`;
      if (this.reported.present.has(reportKey)) continue;
      let finding = matchFile(f.path, os, this.sigs!);
      // Hash executables (any execute bit, or a Windows/mac binary name) not hashed in this version yet.
      const candidate = f.executable || /\.(exe|appimage|bin|app)$/i.test(f.path);
      if (candidate && f.size >= 1024 && f.size <= 512 * 1024 * 1024 && this.presentSeen.get(f.path) !== version) {
        this.presentSeen.set(f.path, version);
        const exe = await this.hasher!.identify(f.path);
        if (exe && exe.kind !== "other" && exe.kind !== "script") finding = matchFile(f.path, os, this.sigs!, exe) ?? finding;
        else if (exe && finding) finding = { ...finding, sha256: exe.sha256 };
      }
      if (!finding) continue;
      this.reported.present.add(reportKey);
      changed.add("present");
      events.push({ type: "p2p.present", details: { ...details(finding), size: f.size, mtime: new Date(f.mtimeMs).toISOString() } });
      this.log!.warn({ path: f.path, family: finding.family }, "p2p executable present");
    }
    if (this.walker!.hugeDirs.length) this.log!.debug({ dirs: this.walker!.hugeDirs }, "p2p: skipped huge folders");
    return files.length;
  }
}

/** What a socket is doing, in the words of the traffic event; undefined for closing ones. */
function socketKind(s: SocketEntry): "listen" | "unconnected" | "established" | "connecting" | undefined {
  if (isListening(s)) return s.protocol === "tcp" ? "listen" : "unconnected";
  if (isConnected(s)) return "established";
  if (s.protocol === "tcp" && (s.state === "SYN_SENT" || s.state === "SYN_RECV")) return "connecting";
  return undefined;
}

function details(f: Finding): Record<string, unknown> {
  const d: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(f)) if (v !== undefined) d[k] = v;
  return d;
}
