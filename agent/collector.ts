/**
 * The collector contract. A collector is one folder under agent/collectors/<name>/ with its
 * parsing in plain functions (no I/O), its OS reading in linux.ts / win32.ts / darwin.ts, and one
 * entry in agent/collectors/index.ts.
 *
 * Constructors only assign; start() begins watching/polling, stop() ends it. A collector that
 * throws (from start, or by calling ctx.fail) is logged with its name and restarted with backoff
 * by the registry; it never takes the daemon down.
 */
import type { Logger } from "../lib/log.js";
import type { NewEvent } from "../policies/schema.js";
import type { Policy } from "../policies/policy.js";
import type { CheckResult } from "./evidence.js";

/** Last known state of one collector, persisted in the agent's state dir (atomic write). */
export interface StateStore {
  get<T>(key: string): T | undefined;
  /** persisted (write tmp, fsync, rename) before the promise resolves */
  set<T>(key: string, value: T): Promise<void>;
}

export interface CollectorContext {
  readonly log: Logger;
  /** this collector's own state: a restart reports only what changed while it was down */
  readonly state: StateStore;
  /** the agent's id once enrolled (for evidence), else "" */
  readonly agentId: string;
  /**
   * Queue events durably (appended and fsynced before the promise resolves). Events are kept in
   * the order given and share one fsync.
   */
  emit(...events: NewEvent[]): Promise<void>;
  /** the policy in force now (it can change at any time; read it each cycle) */
  policy(): Policy;
  /** called with the new policy when the server pushes one */
  onPolicy(listener: (policy: Policy) => void): () => void;
  /**
   * Report a failure from a timer or watcher callback (where a throw would be lost): the registry
   * logs it, stops the collector and restarts it with backoff.
   */
  fail(err: unknown): void;
  /**
   * This collector completed a full check of its control (evidence that the check ran, 点検の実施
   * 記録): recorded as agent.check once per day and after each start (agent/evidence.ts). Call it
   * only when the whole check succeeded; a partial or failed one is not evidence.
   */
  checked(result?: CheckResult): void;
}

export interface Collector {
  readonly name: string;
  start(ctx: CollectorContext): Promise<void>;
  stop(): Promise<void>;
}

/** A snapshot section for `kyoka snapshot --json`: one-shot, no server. */
export interface SnapshotSource {
  readonly name: string;
  snapshot(): Promise<unknown>;
}

export type CollectorFactory = () => Collector;
