/**
 * The aggregation server, built and wired in this one place: store, tokens, policy, group-commit
 * ingest, agent WebSocket, live stream and HTTP API, all on ONE port (http or https; the
 * WebSockets are upgrades of the same server).
 */
import { existsSync, readFileSync } from "node:fs";
import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { Logger } from "../lib/log.js";
import { defaultPolicyText, parsePolicyText } from "../policies/policy.js";
import { AgentGateway } from "./agents-ws.js";
import { AssetLedger } from "./assets.js";
import { AuthFailureLimiter, type AuthFailureLimiterOptions } from "./auth-limit.js";
import { Enrollment } from "./enrollment.js";
import { buildApi } from "./http.js";
import { Ingest } from "./ingest.js";
import { ConnectionGate, resolveLimits, type ConnectionLimits } from "./limits.js";
import { MediaLedger } from "./media-ledger.js";
import { ServerMetrics } from "./metrics.js";
import { ServerState, type PolicyInForce } from "./state.js";
import type { Store } from "./store.js";
import { SqliteStore } from "./store-sqlite.js";
import { LiveStream } from "./stream.js";
import { ensureTokens } from "./tokens.js";
import { routeUpgrades } from "./upgrade.js";
import { Workflow } from "./people/workflow.js";
import { can } from "./people/permissions.js";
import { NotificationsConfig, type NotificationsConfigInput } from "./notify/config.js";
import { Notifier, type NotifierDeps } from "./notify/notifier.js";
import { recordServerEvent, SERVER_AGENT_ID, serverEventRow } from "./server-events.js";
import { join } from "node:path";
import { postWebhook } from "./delivery/webhook.js";
import { Reports } from "./reports/service.js";
import { ReportScheduler, ReportsConfig, type DeliveryFailure, type PostReport } from "./reports/schedule.js";
import { checkEvidenceSource } from "./reports/model.js";
import type { Scheduler } from "../lib/cron.js";

export interface ServerOptions {
  port: number;
  host: string;
  dataDir: string;
  /** PEM text (or a path to a PEM file) of the certificate and key: https + wss */
  tls?: { cert: string | Buffer; key: string | Buffer };
  log: Logger;
  /** when given, used instead of `<data>/admin-token` (which is then not written) */
  adminToken?: string;
  /** when given, used instead of `<data>/enroll-token` */
  enrollToken?: string;
  /** overrides the policy's heartbeatSeconds (tests use small values) */
  heartbeatSeconds?: number;
  /** another store (PostgreSQL later); default SQLite `<data>/kyoka.db` */
  store?: Store;
  /** SQLite synchronous mode; default FULL (an ack means the events are on disk) */
  sqliteSynchronous?: "FULL" | "NORMAL";
  /** the node server's limits; defaults in HTTP_LIMITS */
  http?: Partial<HttpLimits>;
  /** failed authentications per address before 429 (server/auth-limit.ts) */
  authLimit?: AuthFailureLimiterOptions;
  /** failed logins per (login, address) before 429 (default 5 in 5 minutes; server/people/workflow.ts) */
  loginLimit?: AuthFailureLimiterOptions;
  /** WebSocket connection caps, hello deadline, ping interval (server/limits.ts) */
  limits?: Partial<ConnectionLimits>;
  /** alert notifications: SMTP and the rules (server/notify/config.ts); none: no notification */
  notifications?: NotificationsConfigInput;
  /** tests: the notifier's digest timers and retry waits */
  notifyClocks?: Pick<NotifierDeps, "clock" | "deliveryClock">;
  /** scheduled compliance reports and their delivery (server/reports/schedule.ts); default: the daily, weekly and monthly schedules */
  reports?: ReportsConfig;
  /** another scheduler for the report schedules (tests: fake timers run node-cron's own) */
  reportScheduler?: Scheduler;
  /** another webhook POST for report delivery (tests) */
  reportPost?: PostReport;
}

/** Limits of the node HTTP server (every agent's WebSocket is a connection too). */
export interface HttpLimits {
  /** the whole request head must arrive within this (slowloris) */
  headersTimeoutMs: number;
  /** the whole request, body included, must arrive within this */
  requestTimeoutMs: number;
  /** an idle keep-alive connection is closed after this */
  keepAliveTimeoutMs: number;
  /** how often the timeouts above are checked */
  checkIntervalMs: number;
  /** connections at once, WebSockets included; more are closed at accept */
  maxConnections: number;
}

export const HTTP_LIMITS: HttpLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
  keepAliveTimeoutMs: 5_000,
  checkIntervalMs: 1_000,
  maxConnections: 20_000,
};

export interface RunningServer {
  url: string;
  port: number;
  adminToken: string;
  enrollToken: string;
  /** the router's table as Fastify prints it (tests compare it with /api and the OpenAPI document) */
  printRoutes(): string;
  /** resolves when no notification waits to be sent (tests; digests waiting for their window excepted) */
  notificationsDrained(): Promise<void>;
  close(): Promise<void>;
}

function pem(value: string | Buffer): string | Buffer {
  if (typeof value === "string" && !value.includes("-----BEGIN") && existsSync(value)) return readFileSync(value);
  return value;
}

async function loadPolicy(store: Store, log: Logger): Promise<PolicyInForce> {
  const latest = await store.latestPolicy();
  if (latest) {
    try {
      return { version: latest.version, policy: parsePolicyText(latest.text), text: latest.text };
    } catch (err) {
      // Cannot happen for versions this server stored; refuse to guess.
      throw new Error(`stored policy version ${latest.version} no longer parses: ${(err as Error).message}`);
    }
  }
  const text = defaultPolicyText();
  const policy = parsePolicyText(text);
  const version = await store.insertPolicy(text, new Date().toISOString());
  log.info({ version }, "first start: stored the default policy as version 1");
  return { version, policy, text };
}

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const log = opts.log.child({ component: "server" });
  const connLimits = resolveLimits(opts.limits);
  const tokens = ensureTokens(opts.dataDir, log, { adminToken: opts.adminToken, enrollToken: opts.enrollToken });
  const sqlite = opts.store ? undefined : new SqliteStore(opts.dataDir, { synchronous: opts.sqliteSynchronous });
  const store: Store = opts.store ?? sqlite!;
  try {
    await store.resetOnline();
    const state = new ServerState(await loadPolicy(store, log), opts.heartbeatSeconds);
    state.approvals = (await store.listApprovals(false)).map(({ deletedAt: _deleted, ...a }) => a);

    // people, organisations, requests (申請) and the audit trail live in the same SQLite file
    if (!sqlite) throw new Error("the people/workflow tables need the embedded SQLite store in this version");
    const workflow = new Workflow({
      db: sqlite.handle, state, log: opts.log.child({ component: "server:workflow" }), dataDir: opts.dataDir, adminToken: tokens.adminToken, loginLimit: opts.loginLimit,
      onApprovalsChanged: (ids) => gateway.pushApprovals(ids),
      onEventsChanged: (events) => { if (stream.hasClients) stream.broadcastEvents(events); },
    });
    state.agentOrganisation = (id) => workflow.people.agentOrganisation(id);

    const metrics = new ServerMetrics();
    const httpLog = opts.log.child({ component: "server:http" });
    // failed authentications per address: admin token, enrollment, agent credential, stream token
    const authLimit = new AuthFailureLimiter(httpLog, opts.authLimit);
    const stream = new LiveStream(tokens.adminToken, opts.log.child({ component: "server:stream" }), connLimits, authLimit);
    stream.access = {
      principal: (token) => workflow.principalFromBearer(token),
      sessionPrincipal: (id) => workflow.principalFromSession(id),
      mayListen: (p) => can(p, "stream.read"),
      seesAgent: (p, agentId) => workflow.agentVisible(p, agentId),
    };
    const writer = sqlite ? (rows: Parameters<SqliteStore["insertEventsSync"]>[0]) => sqlite.insertEventsSync(rows)
      : (rows: Parameters<Store["insertEvents"]>[0]) => store.insertEvents(rows);
    // the PC ledger (台帳); its server-made asset.unregistered events go through the same group commit
    const assets = new AssetLedger({
      store, state, log: opts.log.child({ component: "server:assets" }),
      submit: (rows) => new Promise<void>((resolve, reject) => ingest.submit(rows, (err) => (err ? reject(err) : resolve()))),
      liveStatus: (id) => gateway.liveStatus(id),
    });
    // alert notifications (メール通知): matched after each commit, sent in the background (server/notify/)
    const notifyLog = opts.log.child({ component: "server:notify" });
    const notifier = new Notifier({
      config: NotificationsConfig.parse(opts.notifications ?? {}), log: notifyLog, ...opts.notifyClocks,
      organisationOf: (agentId) => {
        const id = workflow.people.agentOrganisation(agentId);
        const org = id ? workflow.people.findOrganisation(id) : undefined;
        return org && { id: org.id, name: org.name };
      },
      hostnameOf: async (agentId) => (await store.getAgent(agentId))?.hostname,
      onOutcome: (channel, result) => metrics.notifications.inc({ channel, result }),
      // a channel that failed after its retries: an event the desk sees (on the PC when it concerns one)
      onFailure: (f) => {
        const details = {
          channel: f.channel, target: f.target.slice(0, 1000), rule: f.rule, attempts: f.attempts, error: f.error.slice(0, 1000),
          eventIds: f.eventIds.slice(0, 200), total: f.total,
        };
        const agentId = f.agentIds.length === 1 ? f.agentIds[0]! : SERVER_AGENT_ID;
        recordServerEvent(ingest, serverEventRow(state, "agent.delivery_failed", details, agentId))
          .catch((err: unknown) => notifyLog.error({ err, rule: f.rule }, "the notification failure could not be recorded"));
      },
    });
    const ingest = new Ingest(writer, {
      log: opts.log.child({ component: "server:ingest" }),
      onCommit: ({ rows, ids, inserted, seconds }) => {
        metrics.ingestBatchSeconds.observe(seconds);
        metrics.ingestBatchEvents.observe(rows.length);
        metrics.eventsIngested.inc(inserted);
        if (inserted < rows.length) metrics.eventsDuplicate.inc(rows.length - inserted);
        // the stored events are built only when someone listens or a notification rule exists
        const stored = stream.hasClients || notifier.active ? AgentGateway.storedEvents(rows, ids) : undefined;
        if (stream.hasClients) stream.broadcastEvents(stored!);
        assets.onCommitted(rows, ids);
        if (notifier.active) notifier.onCommitted(stored!);
      },
    });
    // the media ledger (媒体台帳): its view of each media event goes to decide, its evidence into the stored details
    const media = new MediaLedger({ store, log: opts.log.child({ component: "server:media" }) });
    await media.load();
    const gateway = new AgentGateway({
      store, ingest, state, stream, metrics, media, limits: connLimits, authLimit, log: opts.log.child({ component: "server:agents" }),
      approvalsFor: (id) => workflow.agentView(id),
    });
    const limits: HttpLimits = { ...HTTP_LIMITS, ...opts.http };
    const serverOptions = {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      connectionsCheckingInterval: limits.checkIntervalMs,
    };
    const server: Server = opts.tls
      ? createHttpsServer({ ...serverOptions, cert: pem(opts.tls.cert), key: pem(opts.tls.key) })
      : createHttpServer(serverOptions);
    server.keepAliveTimeout = limits.keepAliveTimeoutMs;
    server.maxConnections = limits.maxConnections;
    server.on("drop", (data?: { remoteAddress?: string }) => log.warn({ remote: data?.remoteAddress, maxConnections: limits.maxConnections },
      "connection refused: the server holds its maximum of connections"));
    const enrollment = new Enrollment({
      store, bootstrapToken: tokens.enrollToken, authLimit, log: opts.log.child({ component: "server:enrollment" }),
      organisations: { check: (o) => workflow.enrollOrganisation(o), assign: (id, org) => workflow.assignEnrolledAgent(id, org) },
    });
    // compliance reports: on demand (routes/reports.ts) and scheduled, delivered to a folder and a webhook
    const reportsLog = opts.log.child({ component: "server:reports" });
    const reports = new Reports({ db: sqlite.handle, dbPath: sqlite.path, workflow, log: reportsLog, evidence: checkEvidenceSource });
    const reportsConfig = ReportsConfig.parse(opts.reports ?? {});
    const reportScheduler = new ReportScheduler({
      reports, config: reportsConfig, folder: reportsConfig.folder ?? join(opts.dataDir, "reports"), log: reportsLog,
      scheduler: opts.reportScheduler,
      post: opts.reportPost ?? ((req, signal) => {
        const hook = reportsConfig.webhook!;
        return postWebhook(req, {
          timeoutMs: hook.timeoutMs, signal,
          retry: { ...(hook.attempts ? { attempts: hook.attempts } : {}), ...(hook.baseDelayMs !== undefined ? { baseDelayMs: hook.baseDelayMs } : {}),
            ...(hook.maxDelayMs !== undefined ? { maxDelayMs: hook.maxDelayMs } : {}) },
        });
      }),
      onFailure: (f) => recordDeliveryFailure(f),
    });
    /** a delivery that finally failed: a server-made agent.delivery_failed event, through the same group commit */
    const recordDeliveryFailure = (f: DeliveryFailure): Promise<void> => recordServerEvent(ingest, serverEventRow(state, "agent.delivery_failed", {
      channel: f.channel, target: f.target, reportId: f.report.id, schedule: f.schedule, attempts: f.attempts, error: f.error.slice(0, 1000),
    }));
    const app = await buildApi({ store, state, gateway, tokens, metrics, assets, media, authLimit, enrollment, workflow, reports, log: httpLog }, server);

    // The WebSockets are upgrades of the same server, outside Fastify: /agent and /api/stream, behind
    // the connection caps, each authenticated before any 101 (server/upgrade.ts).
    routeUpgrades({
      server, gate: new ConnectionGate(connLimits), log: opts.log.child({ component: "server:upgrade" }),
      endpoints: { "/agent": gateway, "/api/stream": stream },
    });
    server.on("clientError", (err, socket) => {
      log.debug({ err: err.message }, "bad HTTP request");
      if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
    });

    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(opts.port, opts.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    server.on("error", (err) => log.error({ err }, "server error"));
    gateway.schedule();
    reportScheduler.start();

    const port = (server.address() as AddressInfo).port;
    const hostForUrl = opts.host.includes(":") ? `[${opts.host}]` : opts.host;
    const url = `${opts.tls ? "https" : "http"}://${hostForUrl}:${port}`;
    log.info({ url, dataDir: opts.dataDir, policyVersion: state.policy.version, heartbeatSeconds: state.heartbeatSeconds() },
      `kyoka server listening on ${url} (agents: ${opts.tls ? "wss" : "ws"}://${hostForUrl}:${port}/agent)`);

    let closing: Promise<void> | undefined;
    const close = (): Promise<void> => {
      closing ??= (async () => {
        gateway.close();
        stream.close();
        await reportScheduler.stop();
        const httpClosed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        // give the closing handshakes a moment, then cut what is left
        const cut = setTimeout(() => {
          gateway.terminateAll();
          server.closeAllConnections();
        }, 1000);
        await notifier.close(); // what is still being sent is recorded as failed, through the ingest
        await ingest.close();
        await httpClosed;
        clearTimeout(cut);
        await app.close();
        await store.close();
        log.info("kyoka server stopped");
      })();
      return closing;
    };
    return {
      url, port, adminToken: tokens.adminToken, enrollToken: tokens.enrollToken, close,
      printRoutes: () => app.printRoutes({ commonPrefix: false }),
      notificationsDrained: () => notifier.drained(),
    };
  } catch (err) {
    await store.close();
    throw err;
  }
}
