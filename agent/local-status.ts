/**
 * What the agent tells its user locally (issue 13): the approvals (甲許可) in force for this PC and
 * its requests (申請), as pushed by the server, and the agent's own state — written to
 * `<stateDir>/status.json` (atomically, on every push, and at the 5 s look only when something in it
 * changed: an idle agent does not write to the disk) for `kyoka status` to read,
 * and a log line for every approval that arrives, ends or is withdrawn and every request decided.
 * The server stays the authority: it decides each event by its own clock; this is information.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Logger } from "../lib/log.js";
import type { ServerApprovals } from "../policies/schema.js";
import { writeFileAtomic } from "./state.js";

export const STATUS_FILE = "status.json";

export interface AgentStatusFile {
  pid: number;
  agentId: string;
  server: string;
  running: boolean;
  connected: boolean;
  /** when this status was written: on a change, never just because time passed */
  updatedAt: string;
  policyVersion: number | null;
  queue: { pendingEvents: number; ackedSeq: number; lastSeq: number } | null;
  /** when the server last sent approvals (its clock), and when they arrived (ours) */
  approvalsServerTime: string | null;
  approvalsReceivedAt: string | null;
  approvals: ServerApprovals["approvals"];
  requests: ServerApprovals["requests"];
}

export interface StatusSource {
  agentId: () => string;
  connected: () => boolean;
  policyVersion: () => number | null;
  queue: () => { pendingEvents: number; ackedSeq: number; lastSeq: number } | null;
}

function describeMatch(m: Record<string, unknown>): string {
  return Object.entries(m).map(([k, v]) => `${k}=${String(v)}`).join(" ");
}

export class LocalStatus {
  private approvals: ServerApprovals["approvals"] = [];
  private requests: ServerApprovals["requests"] = [];
  private serverTime: string | null = null;
  private receivedAt: string | null = null;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private running = false;
  /** what was last written, without its time (the timer writes only when this differs) */
  private lastWritten: string | undefined;
  /** files written (tests) */
  writes = 0;

  constructor(private readonly stateDir: string, private readonly server: string, private readonly source: StatusSource, private readonly log: Logger) {}

  get file(): string {
    return join(this.stateDir, STATUS_FILE);
  }

  start(intervalMs = 5000): void {
    this.running = true;
    this.write();
    this.timer = setInterval(() => this.write(true), intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.running = false;
    this.write();
    await this.writing;
  }

  /** The server pushed the approvals in force and the requests of this PC. */
  received(msg: ServerApprovals): void {
    const now = new Date();
    const before = new Map(this.approvals.map((a) => [a.id, a]));
    for (const a of msg.approvals) {
      if (!before.has(a.id)) {
        this.log.info({ approvalId: a.id, control: a.control, match: a.match, validUntil: a.validUntil, requestId: a.requestId, serverTime: msg.serverTime },
          `甲許可 in force for this PC: ${a.control} ${describeMatch(a.match)} until ${a.validUntil} / 許可されました（${a.validUntil} まで）`);
      }
      before.delete(a.id);
    }
    for (const a of before.values()) {
      const ended = Date.parse(a.validUntil) <= Date.parse(msg.serverTime);
      this.log.info({ approvalId: a.id, control: a.control, match: a.match }, ended
        ? `甲許可 ended: ${a.control} ${describeMatch(a.match)} (valid until ${a.validUntil}) / 許可の期限が切れました`
        : `甲許可 withdrawn: ${a.control} ${describeMatch(a.match)} / 許可が取り消されました`);
    }
    const prevStatus = new Map(this.requests.map((r) => [r.id, r.status]));
    for (const r of msg.requests) {
      const was = prevStatus.get(r.id);
      if (r.status !== "pending" && was !== r.status && (was !== undefined || this.receivedAt !== null)) {
        this.log.info({ requestId: r.id, status: r.status, note: r.decisionNote }, r.status === "approved"
          ? `申請 ${r.id} approved / 承認されました: ${r.control} ${describeMatch(r.match)}`
          : `申請 ${r.id} denied / 却下されました: ${r.control} ${describeMatch(r.match)}${r.decisionNote ? ` — ${r.decisionNote}` : ""}`);
      }
    }
    this.approvals = msg.approvals;
    this.requests = msg.requests;
    this.serverTime = msg.serverTime;
    this.receivedAt = now.toISOString();
    this.log.info({ approvals: msg.approvals.length, requests: msg.requests.length, serverTime: msg.serverTime }, "approvals received");
    this.write();
  }

  snapshot(): AgentStatusFile {
    return {
      pid: process.pid, agentId: this.source.agentId(), server: this.server, running: this.running, connected: this.source.connected(),
      updatedAt: new Date().toISOString(), policyVersion: this.source.policyVersion(), queue: this.source.queue(),
      approvalsServerTime: this.serverTime, approvalsReceivedAt: this.receivedAt, approvals: this.approvals, requests: this.requests,
    };
  }

  private write(onlyIfChanged = false): void {
    const snap = this.snapshot();
    const key = JSON.stringify({ ...snap, updatedAt: undefined });
    if (onlyIfChanged && key === this.lastWritten) return;
    this.lastWritten = key;
    this.writes++;
    const text = `${JSON.stringify(snap, null, 2)}\n`;
    // never re-create a state folder that is gone: an uninstall's purge removes it while the
    // stopping agent may still write its last status (found by the MSI uninstall test)
    this.writing = this.writing.then(() => (existsSync(dirname(this.file)) ? writeFileAtomic(this.file, text, 0o644) : undefined)).catch((err: unknown) => {
      this.log.warn({ err: (err as Error).message, file: this.file }, "cannot write the status file");
    });
  }
}
