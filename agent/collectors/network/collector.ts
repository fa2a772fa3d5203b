/**
 * The network collector (別記2 第8 新規接続・変更接続, 第9 乙所有機器の接続).
 *
 *  - Attachment: event-driven (the reader's change notices — rtnetlink on Linux, `ip monitor` as
 *    the fallback —, debounced, then a re-read of what they said changed) plus a reconciling
 *    poll every policy.network.pollSeconds that re-reads only when a cheap fingerprint changed
 *    (or once a minute, for SSID changes that touch no address or route) — while the change
 *    notices run, the poll takes no fingerprint at all (a notice comes for every link, address
 *    and route change: the fingerprint would only repeat it, at the cost of a getifaddrs dump and
 *    three procfs reads every poll) and re-reads only once a minute. The state is diffed
 *    against the last known one in ctx.state → network.attached / network.changed.
 *  - Connections and listeners (Linux): every pollSeconds the /proc socket tables of every
 *    network namespace → network.connection (one per process × remote × port per
 *    connectionWindowSeconds) and network.listening (once per process × port × protocol).
 *    Between polls, the host namespace's TCP ActiveOpens counter (/proc/net/snmp, one small
 *    procfs read) is looked at every socketWatchMs (250 ms): a new outbound connection moves it,
 *    and the connections are looked at once (within a CPU budget of their own) instead of at the
 *    next poll: where the socket source can (sock_diag), only our namespace's TCP ESTABLISHED,
 *    SYN_SENT and LISTEN rows, filtered in the kernel, and the rows already judged are skipped
 *    before they are decoded; else the full tables.
 *  - On Linux the socket tables are the agent's shared reader (agent/os/linux/sockets.ts): when
 *    the P2P collector has just read them and the counters have not moved since, this collector
 *    takes those rows instead of reading again.
 */
import type { Collector, CollectorContext } from "../../collector.js";
import type { NewEvent } from "../../../policies/schema.js";
import { parseNsLink, type SocketOwner } from "../../os/linux/sockets.js";
import { readlinkSync } from "node:fs";
import { HeldProcFile } from "../../os/linux/proc-read.js";
import {
  connectionEvent, connectionKey, destinationApproved, diffAttachment, listeningApproved, listeningEvent, listeningKey,
  listeningNeedsOwner, outboundConnections, toAttachmentMap, type AttachmentMap, type ScannedSocket,
} from "./evaluate.js";
import { defaultAttachmentReader, defaultSocketTables, type SocketTables } from "./platform.js";
import type { AttachmentReader } from "./types.js";

export const STATE_ATTACHMENT = "attachment";
export const STATE_CONNECTIONS = "connections";
export const STATE_LISTENING = "listening";

export interface NetworkCollectorOptions {
  attachment?: AttachmentReader;
  /** the socket source; null turns connection/listener monitoring off (default: Linux only) */
  sockets?: SocketTables | null;
  /** quiet time after a change notice before the re-read (default: what the reader's source asks for) */
  debounceMs?: number;
  /** a full attachment re-read at least this often even when the fingerprint is unchanged */
  fullReadMs?: number;
  /**
   * a full socket-table read at least this often even when the kernel's counters are unchanged
   * (default 60 s: the counters move with every TCP open and every socket made or closed, so the
   * full read only catches a UDP socket swapped for another between two looks; the P2P source's
   * period is the same, and one's read is given to the other — agent/os/linux/sockets.ts)
   */
  socketFullReadMs?: number;
  /**
   * CPU budget of the socket scan, as a fraction of one core (default 0.004; was 0.008 before
   * the quick connection look below took over the latency-bound part): after a read of
   * the tables that cost C ms of CPU (reading and parsing; owner lookups are rate-limited apart), the next one waits at least C / budget ms (never less than
   * the poll interval). Small tables cost ~1 ms, so this changes nothing there; with thousands
   * of sockets on a machine whose counters move every poll it stretches the interval instead of
   * spending several per cent of a core.
   */
  socketCpuBudget?: number;
  /** how often the TCP ActiveOpens counter is looked at between polls (default 250 ms; 0 = never) */
  socketWatchMs?: number;
  /**
   * CPU budget of the quick connection looks the ActiveOpens watch makes (default 0.008 of one
   * core), spaced as socketCpuBudget spaces the full reads. A look not allowed yet is made at a
   * later tick (the counter's move is not forgotten). A look costs ≈ 2 ms with 3,000 sockets on
   * the machine (the kernel walks its whole established-socket hash for each family), so on a
   * machine where connections are made all the time looks come ≈ 275 ms apart; together the two
   * budgets are 1.2 % of a core, what the network (0.8 %) and P2P (0.4 %) scans had before they
   * shared their reads.
   */
  connectionCpuBudget?: number;
  now?: () => number;
}

/**
 * TCP ActiveOpens from the bytes of /proc/net/snmp, without decoding the file: the column is
 * found in the `Tcp:` header line and its digits taken from the values line below it (the look
 * runs four times a second).
 */
export function tcpActiveOpensBytes(b: Buffer): string | undefined {
  const header = b.indexOf("Tcp:") === 0 ? 0 : (() => { const i = b.indexOf("\nTcp:"); return i < 0 ? -1 : i + 1; })();
  if (header < 0) return undefined;
  const headerEnd = b.indexOf(10, header);
  if (headerEnd < 0) return undefined;
  const at = b.indexOf(" ActiveOpens", header);
  if (at < 0 || at > headerEnd) return undefined;
  let column = 0;
  for (let i = header; i <= at; i++) if (b[i] === 32) column++;
  if (b.indexOf("Tcp:", headerEnd + 1) !== headerEnd + 1) return undefined;
  let i = headerEnd + 1;
  for (let spaces = 0; spaces < column; i++) {
    if (i >= b.length || b[i] === 10) return undefined;
    if (b[i] === 32) spaces++;
  }
  let end = i;
  while (end < b.length && b[end]! >= 48 && b[end]! <= 57) end++;
  return end > i ? b.toString("latin1", i, end) : undefined;
}

export class NetworkCollector implements Collector {
  readonly name = "network";
  private readonly opts: NetworkCollectorOptions;
  private ctx: CollectorContext | undefined;
  private reader: AttachmentReader | undefined;
  private sockets: SocketTables | null = null;
  private timer: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private stopWatch: (() => void) | undefined;
  private stopped = true;
  private lastFingerprint: string | undefined;
  private lastFullRead = 0;
  private attachRunning: Promise<void> | undefined;
  private attachAgain = false;
  private attachAgainNotified = false;
  /** the watch's source and its quiet time (see WatchSource) */
  private watchDebounceMs = 300;
  /** where change notices come from ("rtnetlink", "ip monitor", …), once known */
  watchSource: string | undefined;
  /** the change notices run (a source is known and has not failed since): the poll takes no fingerprint */
  private watchLive = false;
  private connections = new Map<string, number>();
  private listening = new Set<string>();
  private ownNetns: number | undefined;
  private lastSocketPolicy: unknown;
  /** when the last full socket read started (performance.now()) and the CPU it cost, ms */
  private lastSocketRead = -Infinity;
  private lastSocketCostMs = 0;
  /** owners were left pending (scan rate limit): read the tables again next cycle */
  private socketsPending = false;
  private watchTimer: NodeJS.Timeout | undefined;
  /** a look deferred by the connection budget, due when the budget allows it */
  private lookTimer: NodeJS.Timeout | undefined;
  private lastActiveOpens: string | undefined;
  private snmp: HeldProcFile | undefined;
  private socketRunning: Promise<void> | undefined;
  /** the last quick connection look (performance.now()) and its CPU, ms */
  private lastConnLook = -Infinity;
  private lastConnCostMs = 0;
  /** inodes of connections judged already (skipped by the quick look until the next full read) */
  private judged = new Set<number>();
  /** SYN_SENT sockets seen by the last quick look: a new one is looked at again at the next tick */
  private synSent = new Set<number>();
  private recheck = false;
  /**
   * socket cycles started by the ActiveOpens watch, and of those the quick looks at connections
   * only (benches and tests)
   */
  readonly stats = { watchTriggered: 0, connectionLooks: 0, fingerprints: 0 };

  constructor(opts: NetworkCollectorOptions = {}) {
    this.opts = opts;
  }

  private now(): number {
    return this.opts.now?.() ?? Date.now();
  }

  async start(ctx: CollectorContext): Promise<void> {
    this.ctx = ctx;
    this.stopped = false;
    this.reader = this.opts.attachment ?? defaultAttachmentReader();
    this.sockets = this.opts.sockets !== undefined ? this.opts.sockets : defaultSocketTables();
    if (!this.sockets) ctx.log.info("connection and listening-port monitoring is available on Linux and Windows only; watching attachment only");
    try {
      this.ownNetns = parseNsLink(readlinkSync("/proc/self/ns/net"));
    } catch {
      this.ownNetns = undefined;
    }
    this.connections = new Map(Object.entries(ctx.state.get<Record<string, number>>(STATE_CONNECTIONS) ?? {}));
    this.listening = new Set(ctx.state.get<string[]>(STATE_LISTENING) ?? []);

    await this.attachmentCycle(true);
    await this.socketCycle();
    if (this.reader.watch) {
      this.stopWatch = this.reader.watch(
        () => this.scheduleAttachment(),
        (err) => {
          // from now on the poll's fingerprint is the safety net again
          this.watchLive = false;
          ctx.log.warn({ err }, "network change monitor failed; the reconciling poll continues");
        },
        (source) => {
          this.watchSource = source.name;
          this.watchLive = true;
          this.watchDebounceMs = source.debounceMs;
          if (source.reason) ctx.log.info({ source: source.name, reason: source.reason }, "network change notices from the fallback source");
          else ctx.log.debug({ source: source.name }, "network change notices");
        },
      );
    }
    this.schedulePoll();
    this.startSocketWatch();
  }

  /** Look at the host's TCP ActiveOpens every socketWatchMs; a move runs the socket cycle now. */
  private startSocketWatch(): void {
    const every = this.opts.socketWatchMs ?? 250;
    if (!this.sockets || every <= 0 || process.platform !== "linux") return;
    // the file stays open: the look is a pread and a scan of its bytes (≈ 10 µs, was ≈ 40 with an
    // open, a decode and a split of the lines)
    const snmp = new HeldProcFile("/proc/net/snmp");
    this.snmp = snmp;
    const read = (): string | undefined => { try { return tcpActiveOpensBytes(snmp.read()); } catch { return undefined; } };
    this.lastActiveOpens = read();
    if (this.lastActiveOpens === undefined) return;
    const budget = this.opts.connectionCpuBudget ?? 0.008;
    const tick = (): void => {
      const now = read();
      if (now === this.lastActiveOpens && !this.recheck) return;
      if (this.socketRunning || this.stopped) return; // busy: the move is kept for the next tick
      const wait = this.lastConnLook + this.lastConnCostMs / budget - performance.now();
      if (wait > 0) {
        // the budget does not allow a look yet: one look as soon as it does (not a tick later)
        if (!this.lookTimer && wait < every) {
          this.lookTimer = setTimeout(() => { this.lookTimer = undefined; tick(); }, Math.ceil(wait));
          this.lookTimer.unref();
        }
        return;
      }
      this.lastActiveOpens = now;
      this.recheck = false;
      this.stats.watchTriggered++;
      void this.connectionCycle();
    };
    this.watchTimer = setInterval(tick, every);
    this.watchTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.watchTimer) clearInterval(this.watchTimer);
    this.watchTimer = undefined;
    this.snmp?.close();
    this.snmp = undefined;
    if (this.lookTimer) clearTimeout(this.lookTimer);
    this.lookTimer = undefined;
    if (this.timer) clearTimeout(this.timer);
    if (this.debounce) clearTimeout(this.debounce);
    this.stopWatch?.();
    this.stopWatch = undefined;
    await this.attachRunning;
  }

  private schedulePoll(): void {
    if (this.stopped) return;
    const seconds = this.ctx!.policy().network.pollSeconds;
    this.timer = setTimeout(() => {
      void this.poll().finally(() => this.schedulePoll());
    }, seconds * 1000);
  }

  private scheduleAttachment(): void {
    if (this.stopped) return;
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      void this.attachmentCycle(true, true);
    }, this.opts.debounceMs ?? this.watchDebounceMs);
  }

  /** One reconciling poll: attachment (if it may have changed) and sockets. */
  async poll(): Promise<void> {
    await this.attachmentCycle(false);
    await this.socketCycle();
  }

  /**
   * Re-read the attachment and raise events for what changed. Runs one at a time. `notified`: the
   * cycle follows change notices, so the reader may re-read only what they named.
   */
  async attachmentCycle(force: boolean, notified = false): Promise<void> {
    if (this.attachRunning) {
      if (force) {
        this.attachAgain = true;
        this.attachAgainNotified ||= notified;
      }
      return this.attachRunning;
    }
    this.attachRunning = (async () => {
      do {
        const again = force || this.attachAgain;
        const changedOnly = notified || this.attachAgainNotified;
        this.attachAgain = false;
        this.attachAgainNotified = false;
        force = false;
        notified = false;
        await this.readAttachment(again, changedOnly);
      } while (this.attachAgain && !this.stopped);
    })().finally(() => { this.attachRunning = undefined; });
    return this.attachRunning;
  }

  private async readAttachment(force: boolean, changedOnly = false): Promise<void> {
    const ctx = this.ctx!;
    const stale = this.now() - this.lastFullRead >= (this.opts.fullReadMs ?? 60_000);
    // change notices run: a change has been (or will be) announced; the poll only re-reads once a minute
    if (!force && !stale && this.watchLive) return;
    const fp = this.reader!.fingerprint ? (this.stats.fingerprints++, this.reader!.fingerprint()) : undefined;
    if (!force && !stale && fp !== undefined && fp === this.lastFingerprint) return;
    let states;
    try {
      states = changedOnly && this.reader!.readChanged ? await this.reader!.readChanged() : await this.reader!.read();
    } catch (err) {
      ctx.log.warn({ err }, "reading the network attachment failed; will retry at the next poll");
      return;
    }
    this.lastFingerprint = fp;
    this.lastFullRead = this.now();
    const prev = ctx.state.get<AttachmentMap>(STATE_ATTACHMENT) ?? {};
    const next = toAttachmentMap(states);
    const events = diffAttachment(prev, states, ctx.policy().network);
    if (events.length) await ctx.emit(...events);
    if (JSON.stringify(prev) !== JSON.stringify(next)) await ctx.state.set(STATE_ATTACHMENT, next);
    ctx.checked({ findings: events.length }); // a full read of the attachment: a completed check (evidence)
  }

  /** The ActiveOpens watch's look: connections only where the source can, else the full cycle. */
  private connectionCycle(): Promise<void> {
    if (!this.sockets?.readConnections || this.stopped) return this.socketCycle(true);
    if (this.socketRunning) return this.socketRunning;
    this.socketRunning = this.lookAtConnections().finally(() => { this.socketRunning = undefined; });
    return this.socketRunning;
  }

  private async lookAtConnections(): Promise<void> {
    const ctx = this.ctx!;
    const cpu0 = process.cpuUsage();
    const wall = performance.now();
    let rows: ScannedSocket[] | undefined;
    const net = ctx.policy().network;
    try {
      // approved destinations need no look: where the source can, the kernel leaves them out
      rows = this.sockets!.readConnections!(this.judged, net.approvedDestinations);
    } catch (err) {
      ctx.log.warn({ err }, "reading the connections failed; the next poll reads the socket tables");
      return;
    }
    if (!rows) return this.readSockets(true);
    this.stats.connectionLooks++;
    const cpu = process.cpuUsage(cpu0);
    this.lastConnLook = wall;
    this.lastConnCostMs = (cpu.user + cpu.system) / 1000;
    // a connection still being made (SYN_SENT) is looked at again once it may be established
    const syn = new Set(rows.filter((s) => s.state === "SYN_SENT").map((s) => s.inode));
    for (const i of syn) if (!this.synSent.has(i)) this.recheck = true;
    this.synSent = syn;
    const outbound = outboundConnections(rows);
    const candidates = outbound.filter((s) => !destinationApproved(net, s.remoteAddress, s.remotePort));
    const owners = candidates.length ? this.sockets!.owners.resolve(candidates.map((s) => s.inode)) : new Map<number, SocketOwner>();
    const pending = this.sockets!.owners.pending;
    for (const s of rows) if (s.state === "ESTABLISHED" && !pending.has(s.inode)) this.judged.add(s.inode);
    const { events, changed } = this.judgeConnections(candidates, owners, pending, this.now(), net.connectionWindowSeconds * 1000);
    if (events.length) await ctx.emit(...events);
    if (changed) await ctx.state.set(STATE_CONNECTIONS, Object.fromEntries(this.connections));
  }

  /** Connection events for the outbound candidates not seen within the window (updates this.connections). */
  private judgeConnections(
    outbound: ScannedSocket[], owners: Map<number, SocketOwner>, pending: ReadonlySet<number>, now: number, windowMs: number,
  ): { events: NewEvent[]; changed: boolean } {
    const events: NewEvent[] = [];
    let changed = false;
    for (const [k, at] of this.connections) if (now - at >= windowMs) { this.connections.delete(k); changed = true; }
    for (const s of outbound) {
      if (pending.has(s.inode)) continue;
      const owner = owners.get(s.inode);
      const key = connectionKey(owner, s);
      const last = this.connections.get(key);
      if (last !== undefined && now - last < windowMs) continue;
      this.connections.set(key, now);
      changed = true;
      events.push(connectionEvent(s, owner, this.ownNetns));
    }
    return { events, changed };
  }

  /** Read every namespace's sockets; raise connection and listening events (one cycle at a time). */
  /** `fromWatch`: the ActiveOpens watch asked (a move the budget defers is looked at again at the next tick) */
  async socketCycle(fromWatch = false): Promise<void> {
    if (!this.sockets || this.stopped) return;
    if (this.socketRunning) return this.socketRunning;
    this.socketRunning = this.readSockets(fromWatch).finally(() => { this.socketRunning = undefined; });
    return this.socketRunning;
  }

  private async readSockets(fromWatch = false): Promise<void> {
    if (!this.sockets || this.stopped) return;
    const ctx = this.ctx!;
    const net = ctx.policy().network;
    let all: ScannedSocket[] | undefined;
    const cpu0 = process.cpuUsage();
    const wall = performance.now();
    try {
      // a new policy re-evaluates everything; otherwise read the tables only when the kernel's
      // socket counters moved (or every socketFullReadMs), and no sooner than the CPU budget
      // allows after the last full read (the counters are then not even looked at: they are
      // compared with the last full read's the next time)
      const policyChanged = this.lastSocketPolicy !== net;
      this.lastSocketPolicy = net;
      if (!policyChanged && wall - this.lastSocketRead < this.lastSocketCostMs / (this.opts.socketCpuBudget ?? 0.004)) {
        // the watch consumed a move of ActiveOpens: keep it for the next tick, or a connection
        // made while the budget waits is seen only at the next poll (found on a busy CI run, where
        // a full /proc read of every namespace's tables cost enough to defer it for seconds)
        if (fromWatch) this.recheck = true;
        return;
      }
      all = policyChanged || this.socketsPending ? this.sockets.read() : this.sockets.readIfChanged(this.opts.socketFullReadMs ?? 60_000);
      if (!all) return;
    } catch (err) {
      ctx.log.warn({ err }, "reading the socket tables failed; will retry at the next poll");
      return;
    }
    this.lastSocketRead = wall;
    // the budget counts the table read itself (owner lookups have their own rate limit)
    const cpu = process.cpuUsage(cpu0);
    this.lastSocketCostMs = (cpu.user + cpu.system) / 1000;
    const now = this.now();
    const windowMs = net.connectionWindowSeconds * 1000;

    // candidates first (cheap), owners only for them (cached by inode)
    const outbound = outboundConnections(all).filter((s) => !destinationApproved(net, s.remoteAddress, s.remotePort));
    const listeners = all.filter((s) => (s.protocol === "tcp" ? s.state === "LISTEN" : s.state === "CLOSE" && s.remotePort === 0 && s.localPort !== 0));
    const listenCandidates = listeners.filter((s) => listeningNeedsOwner(net, s) || !listeningApproved(net, s, undefined));
    const owners: Map<number, SocketOwner> = outbound.length || listenCandidates.length
      ? this.sockets.owners.resolve([...outbound, ...listenCandidates].map((s) => s.inode))
      : new Map();

    // sockets whose owner lookup was deferred are judged next cycle, with their owner
    const pending = this.sockets.owners.pending;
    this.socketsPending = pending.size > 0;
    // what the quick connection look may skip from now on: the established rows judged here
    this.judged = new Set(all.filter((s) => s.state === "ESTABLISHED" && !pending.has(s.inode)).map((s) => s.inode));

    const judged = this.judgeConnections(outbound, owners, pending, now, windowMs);
    const events = judged.events;
    let connChanged = judged.changed;
    let listenChanged = false;
    for (const s of listenCandidates) {
      if (pending.has(s.inode)) continue;
      const owner = owners.get(s.inode);
      if (listeningApproved(net, s, owner)) continue;
      const key = listeningKey(owner, s);
      if (this.listening.has(key)) continue;
      this.listening.add(key);
      listenChanged = true;
      events.push(listeningEvent(s, owner, this.ownNetns));
    }
    if (events.length) await ctx.emit(...events);
    if (connChanged) await ctx.state.set(STATE_CONNECTIONS, Object.fromEntries(this.connections));
    if (listenChanged) await ctx.state.set(STATE_LISTENING, [...this.listening]);
  }
}
