/**
 * The endpoint daemon, wired in this one place: enrollment, the durable queue, the policy in
 * force, the collector supervisor and the transport. The constructor only assigns; start() and
 * stop() do the work. stop() is bounded to well under 5 s.
 */
import { readFile } from "node:fs/promises";
import { prepareStateDir } from "./service/state-dir.js";
import { arch, hostname as osHostname, release, type as osType } from "node:os";
import { join } from "node:path";
import type { CollectorFactory } from "./collector.js";
import { collectorFactories } from "./collectors/index.js";
import { ComplianceSchedule, type ComplianceScheduleOptions } from "./compliance-schedule.js";
import { pushedApprovals } from "./compliance.js";
import { EvidenceRecorder } from "./evidence.js";
import { EnrollError, ensureCredential, loadCredential, type Credential } from "./enroll.js";
import { LocalStatus } from "./local-status.js";
import { EventQueue, type QueueOptions } from "./queue.js";
import { PolicyStore, StateStores } from "./state.js";
import { Supervisor, type SupervisorOptions } from "./supervisor.js";
import { Transport, type TransportOptions } from "./transport.js";
import type { Logger } from "../lib/log.js";
import { kyokaVersion } from "../lib/build-info.js";
import { defaultPolicyText, parsePolicyText, type Policy } from "../policies/policy.js";
import type { AgentEvent, NewEvent } from "../policies/schema.js";

export interface AgentOptions {
  /** ws(s)://HOST:PORT */
  server: string;
  enrollToken?: string;
  stateDir: string;
  /** PEM file of the CA that signed the server's certificate (wss://) */
  caFile?: string;
  log: Logger;
  /** the policy used until the server pushes one (else the built-in default policy) */
  configPolicy?: Policy;
  /** the collectors to run (default: the registry, agent/collectors/index.ts) */
  collectors?: Record<string, CollectorFactory>;
  /** tuning, mainly for tests */
  queue?: Partial<Omit<QueueOptions, "stateDir" | "log">>;
  transport?: Partial<Omit<TransportOptions, "server" | "credential" | "queue" | "log" | "hello" | "onPolicy" | "onApprovals" | "ca">>;
  supervisor?: Partial<Pick<SupervisorOptions, "initialBackoffMs" | "maxBackoffMs" | "resetAfterMs" | "stopTimeoutMs" | "degradedIntervalMs">>;
  /** how long stop() waits for the server to acknowledge what is queued (default 2000 ms) */
  flushTimeoutMs?: number;
  /** the scheduled compliance snapshot (agent/compliance-schedule.ts); false: none (tests) */
  compliance?: false | Partial<Pick<ComplianceScheduleOptions, "startDelayMs" | "scheduler" | "snapshot" | "now">>;
  /** this PC's hardware identity sent at enrollment (default: read the inventory, readPcId) */
  pcId?: () => Promise<string | undefined>;
}

/** This PC's hardware identity (pcId), read once at enrollment from the hardware inventory. */
export async function readPcId(): Promise<string | undefined> {
  const { readSystemInformation } = await import("./collectors/asset/platform.js");
  const { normalize } = await import("./collectors/asset/normalize.js");
  const { pcId } = await import("./collectors/asset/identity.js");
  return pcId(normalize(await readSystemInformation()));
}

/** kyoka's version (package.json, or the one baked into a single executable). */
export function agentVersion(): string {
  return kyokaVersion();
}

export function osDescription(): string {
  return `${osType()} ${release()}`;
}

type AgentState = "new" | "starting" | "running" | "stopping" | "stopped";

export class Agent {
  private readonly log: Logger;
  private state: AgentState = "new";
  private credential: Credential | undefined;
  private queue: EventQueue | undefined;
  private policies: PolicyStore | undefined;
  private supervisor: Supervisor | undefined;
  private transport: Transport | undefined;
  private enrollTimer: NodeJS.Timeout | undefined;
  private ca: Buffer | undefined;
  private localStatus: LocalStatus | undefined;
  private compliance: ComplianceSchedule | undefined;

  constructor(private readonly opts: AgentOptions) {
    this.log = opts.log.child({ component: "agent" });
  }

  get agentId(): string {
    return this.credential?.agentId ?? "";
  }

  /** The policy in force (server's last push, else the config file's, else the default). */
  policy(): Policy {
    if (!this.policies) throw new Error("agent not started");
    return this.policies.policy();
  }

  policyVersion(): number | null {
    return this.policies?.version() ?? null;
  }

  /** Queue events durably (what collectors' ctx.emit does). */
  async emit(events: NewEvent[]): Promise<AgentEvent[]> {
    if (!this.queue) throw new Error("agent not started");
    return this.queue.append(events);
  }

  /** Queue, transport and collector status, for diagnostics and tests. */
  status(): { agentId: string; connected: boolean; queue: ReturnType<EventQueue["stats"]> | undefined; collectors: ReturnType<Supervisor["status"]> } {
    return {
      agentId: this.agentId,
      connected: this.transport?.connected ?? false,
      queue: this.queue?.stats(),
      collectors: this.supervisor?.status() ?? [],
    };
  }

  /**
   * Enroll if needed, open the queue, record agent.started, start the collectors and the link to
   * the server. Throws (with an operator-facing message) when it cannot enroll: no token, or the
   * token refused. When the server is unreachable for enrollment, collection starts anyway and
   * enrollment is retried in the background.
   */
  async start(): Promise<void> {
    if (this.state !== "new") throw new Error(`agent cannot start: it is ${this.state}`);
    this.state = "starting";
    const { opts } = this;
    try {
      await prepareStateDir(opts.stateDir, this.log);
      if (opts.caFile) {
        try {
          this.ca = await readFile(opts.caFile);
        } catch (err) {
          throw new Error(`--ca ${opts.caFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
        }
      }
      let enrollFailure: EnrollError | undefined;
      try {
        this.credential = await ensureCredential(this.enrollOptions());
      } catch (err) {
        if (!(err instanceof EnrollError) || !err.transient) throw err;
        enrollFailure = err;
      }

      const fallback = opts.configPolicy ?? parsePolicyText(defaultPolicyText());
      this.policies = new PolicyStore(opts.stateDir, fallback, opts.log.child({ component: "policy" }));
      await this.policies.load();

      this.queue = new EventQueue({ stateDir: opts.stateDir, log: opts.log.child({ component: "queue" }), ...opts.queue });
      await this.queue.open();
      await this.queue.append([{
        type: "agent.started",
        details: {
          version: agentVersion(), hostname: osHostname(), os: osDescription(), platform: process.platform, arch: arch(),
          policyVersion: this.policies.version(), pid: process.pid,
        },
      }]);

      const policies = this.policies;
      const queue = this.queue;
      const stores = new StateStores(opts.stateDir, opts.log.child({ component: "state" }));
      const evidence = new EvidenceRecorder({ emit: (events) => queue.append(events, { source: "evidence" }), log: opts.log, policyVersion: () => policies.version() });
      this.supervisor = new Supervisor({
        factories: opts.collectors ?? collectorFactories,
        log: opts.log,
        stores,
        agentId: () => this.agentId,
        emit: (events, source) => queue.append(events, source === undefined ? {} : { source }),
        evidence,
        policy: () => policies.policy(),
        onPolicy: (listener) => policies.onChange((p) => listener(p)),
        ...opts.supervisor,
      });
      await this.supervisor.start();

      this.localStatus = new LocalStatus(opts.stateDir, opts.server, {
        agentId: () => this.agentId,
        connected: () => this.transport?.connected ?? false,
        policyVersion: () => policies.version(),
        queue: () => {
          const q = queue.stats();
          return { pendingEvents: q.pendingEvents, ackedSeq: q.ackedSeq, lastSeq: q.lastSeq };
        },
      }, opts.log.child({ component: "approvals" }));
      this.localStatus.start();

      if (opts.compliance !== false) {
        const supervisor = this.supervisor;
        const localStatus = this.localStatus;
        this.compliance = new ComplianceSchedule({
          log: opts.log, state: await stores.forCollector("compliance"), evidence,
          policy: () => policies.policy(), policyVersion: () => policies.version(), onPolicy: (l) => policies.onChange((p) => l(p)),
          collectors: () => supervisor.status(), approvals: () => pushedApprovals(localStatus.snapshot().approvals), agentId: () => this.agentId,
          ...opts.compliance,
        });
        this.compliance.start();
      }

      if (this.credential) this.startTransport();
      else this.retryEnrollment(enrollFailure!, 1);
      this.state = "running";
      this.log.info({ agentId: this.agentId, server: opts.server, stateDir: opts.stateDir, policyVersion: policies.version() }, "agent started");
    } catch (err) {
      this.log.error({ err: (err as Error).message }, "agent failed to start");
      await this.teardown();
      this.state = "stopped";
      throw err;
    }
  }

  private enrollOptions(): Parameters<typeof ensureCredential>[0] {
    return {
      server: this.opts.server, token: this.opts.enrollToken, stateDir: this.opts.stateDir, log: this.opts.log,
      hostname: osHostname(), os: osDescription(), version: agentVersion(), ca: this.ca, pcId: this.opts.pcId ?? readPcId,
    };
  }

  private retryEnrollment(err: EnrollError, attempt: number): void {
    const delay = Math.min(60_000, 1000 * 2 ** Math.min(attempt, 6));
    this.log.warn({ err: err.message, retryInMs: delay }, "cannot enroll yet: collecting locally and retrying");
    this.enrollTimer = setTimeout(() => {
      this.enrollTimer = undefined;
      ensureCredential(this.enrollOptions()).then(
        (cred) => {
          if (this.state !== "running" && this.state !== "starting") return;
          this.credential = cred;
          this.startTransport();
        },
        (e: unknown) => {
          if (this.state !== "running" && this.state !== "starting") return;
          if (e instanceof EnrollError && e.transient) this.retryEnrollment(e, attempt + 1);
          else this.log.error({ err: (e as Error).message }, "enrollment refused: events stay queued locally; fix the token and restart the agent");
        },
      );
    }, delay);
  }

  private startTransport(): void {
    const policies = this.policies!;
    this.transport = new Transport({
      server: this.opts.server,
      credential: this.credential!,
      queue: this.queue!,
      log: this.opts.log,
      ca: this.ca,
      hello: () => ({ hostname: osHostname(), os: osDescription(), version: agentVersion(), policyVersion: policies.version() }),
      onPolicy: async (version, policy) => {
        if (version === policies.version()) return;
        await policies.set(version, policy);
        this.log.info({ policyVersion: version }, "new policy in force");
      },
      onApprovals: (msg) => this.localStatus?.received(msg),
      ...this.opts.transport,
    });
    this.transport.start();
  }

  /** Record agent.stopped, flush for ≤ 2 s, stop collectors, close the link and the queue. */
  async stop(reason = "stopped"): Promise<void> {
    if (this.state === "stopped" || this.state === "stopping" || this.state === "new") return;
    this.state = "stopping";
    const started = Date.now();
    if (this.enrollTimer) clearTimeout(this.enrollTimer);
    if (this.queue) {
      await this.queue.append([{ type: "agent.stopped", details: { reason } }]).catch((err: unknown) => {
        this.log.error({ err }, "could not queue agent.stopped");
      });
    }
    if (this.transport) {
      const flushed = await this.transport.flush(this.opts.flushTimeoutMs ?? 2000);
      if (!flushed) this.log.info({ pendingEvents: this.queue?.stats().pendingEvents }, "stopping with events still queued: they are sent on the next start");
    }
    await this.teardown();
    this.state = "stopped";
    this.log.info({ reason, tookMs: Date.now() - started }, "agent stopped");
  }

  private async teardown(): Promise<void> {
    if (this.enrollTimer) clearTimeout(this.enrollTimer);
    await this.compliance?.stop().catch((err: unknown) => this.log.error({ err }, "error while stopping the compliance snapshots"));
    await this.supervisor?.stop().catch((err: unknown) => this.log.error({ err }, "error while stopping collectors"));
    await this.transport?.stop("agent stopping", 800).catch((err: unknown) => this.log.error({ err }, "error while closing the connection"));
    await this.localStatus?.stop().catch((err: unknown) => this.log.error({ err }, "error while writing the status file"));
    await this.queue?.close().catch((err: unknown) => this.log.error({ err }, "error while closing the queue"));
  }
}

/** Build and start an agent; resolves once it runs (see Agent.start). */
export async function runAgent(opts: AgentOptions): Promise<Agent> {
  const agent = new Agent(opts);
  await agent.start();
  return agent;
}
