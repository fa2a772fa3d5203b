/**
 * The people/workflow commands (issue 13):
 *  - `kyoka user add|passwd|disable` — on the server's data folder (the SQLite file; the server may
 *    be running: SQLite WAL allows it). Audited as actor `cli:<OS user>`.
 *  - `kyoka audit verify --data DIR` — walks the hash chain; exit 0 intact, 1 naming the first bad row.
 *  - `kyoka status` — the agent's view from its state folder: connection, queue, approvals in force
 *    for this PC until when, its requests.
 *  - `kyoka request <control> …` — a request (申請) as this PC: an HTTP call to the server named in
 *    the credential, authenticated with the PC's own credential (`<state-dir>/credential.json`),
 *    scope = this PC. (Not through the running agent's WebSocket: the credential is the same, and
 *    the answer — the request id — comes back at once.)
 */
import { existsSync, readFileSync } from "node:fs";
import { userInfo } from "node:os";
import { join, resolve } from "node:path";
import { InvalidInputError } from "../server/errors.js";
import { UsageError } from "./usage-error.js";

function readPassword(file: string | undefined): string {
  let text: string;
  if (file) {
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      throw new UsageError(`--password-file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  } else if (!process.stdin.isTTY) {
    text = readFileSync(0, "utf8");
  } else {
    throw new UsageError("--password-file F is required (or the password on standard input)");
  }
  const pw = text.replace(/\r?\n$/, "");
  if (!pw) throw new UsageError("the password is empty");
  return pw;
}

async function openWorkflow(data: string) {
  const dir = resolve(data);
  if (!existsSync(join(dir, "kyoka.db"))) throw new UsageError(`--data ${data}: no kyoka.db there (start the server once first)`);
  const [{ SqliteStore }, { Workflow }, { ServerState }, { parsePolicyText, defaultPolicyText }, { pino }] = await Promise.all([
    import("../server/store-sqlite.js"), import("../server/people/workflow.js"), import("../server/state.js"), import("../policies/policy.js"), import("pino"),
  ]);
  const store = new SqliteStore(dir);
  const text = defaultPolicyText();
  const state = new ServerState({ version: 0, policy: parsePolicyText(text), text });
  const adminToken = existsSync(join(dir, "admin-token")) ? readFileSync(join(dir, "admin-token"), "utf8").trim() : "";
  const wf = new Workflow({ db: store.handle, state, log: pino({ level: "silent" }), dataDir: dir, adminToken });
  let osUser = "unknown";
  try {
    osUser = userInfo().username;
  } catch { /* no passwd entry */ }
  const cliAdmin = { actor: `cli:${osUser}`, role: "admin" as const, organisationId: null, via: "admin-token" as const };
  return { wf, store, cliAdmin };
}

export async function runUserAdd(flags: { login?: string; role?: string; organisation?: string; passwordFile?: string; data: string }): Promise<void> {
  if (!flags.login) throw new UsageError("--login L is required");
  if (!flags.role) throw new UsageError("--role R is required (admin, approver, desk, contractor, auditor)");
  const password = readPassword(flags.passwordFile);
  const { wf, store, cliAdmin } = await openWorkflow(flags.data);
  try {
    const u = await wf.createUser(cliAdmin, { login: flags.login, password, role: flags.role, ...(flags.organisation ? { organisation: flags.organisation } : {}) }, { remote: "cli" });
    process.stdout.write(`user ${u.login} (${u.role}) added: ${u.id}\n`);
  } catch (err) {
    throw asUsage(err);
  } finally {
    await store.close();
  }
}

export async function runUserPasswd(flags: { login?: string; passwordFile?: string; data: string }): Promise<void> {
  if (!flags.login) throw new UsageError("--login L is required");
  const password = readPassword(flags.passwordFile);
  const { wf, store, cliAdmin } = await openWorkflow(flags.data);
  try {
    await wf.setPassword(cliAdmin, flags.login, password, { remote: "cli" });
    process.stdout.write(`password of ${flags.login} changed; its sessions ended\n`);
  } catch (err) {
    throw asUsage(err);
  } finally {
    await store.close();
  }
}

export async function runUserDisable(flags: { login?: string; data: string }): Promise<void> {
  if (!flags.login) throw new UsageError("--login L is required");
  const { wf, store, cliAdmin } = await openWorkflow(flags.data);
  try {
    wf.disableUser(cliAdmin, flags.login, { remote: "cli" });
    process.stdout.write(`user ${flags.login} disabled; its sessions and API tokens ended\n`);
  } catch (err) {
    throw asUsage(err);
  } finally {
    await store.close();
  }
}

/** Input errors of the domain (bad role, unknown organisation, …) are usage errors here: exit 2, one line. */
function asUsage(err: unknown): unknown {
  if (err instanceof InvalidInputError) return new UsageError(err.message);
  return err;
}

export async function runAuditVerify(flags: { data?: string; database?: string }): Promise<void> {
  let dir: string;
  if (flags.database) {
    const url = flags.database;
    if (/^postgres(ql)?:\/\//.test(url)) throw new UsageError("--database: PostgreSQL is not supported in this version (use --data DIR)");
    const path = url.replace(/^sqlite:(\/\/)?/, "");
    dir = resolve(path.endsWith(".db") ? join(path, "..") : path);
  } else if (flags.data) {
    dir = resolve(flags.data);
  } else {
    throw new UsageError("--data DIR or --database URL is required");
  }
  const dbFile = join(dir, "kyoka.db");
  if (!existsSync(dbFile)) throw new UsageError(`no kyoka.db in ${dir}`);
  const [{ default: Database }, { verifyAuditRows, readHeadFile, readAuditRows }] = await Promise.all([import("better-sqlite3"), import("../server/people/audit.js")]);
  const db = new Database(dbFile, { readonly: true, fileMustExist: true });
  try {
    const hasTable = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit'`).get();
    if (!hasTable) {
      process.stdout.write("no audit trail in this database yet (0 rows)\n");
      return;
    }
    const r = verifyAuditRows(readAuditRows(db), readHeadFile(dir));
    if (r.ok) {
      process.stdout.write(`audit trail intact: ${r.rows} rows${r.head ? `, head ${r.head.seq} ${r.head.hash}` : ""}\n`);
    } else {
      process.stdout.write(`AUDIT TRAIL BROKEN at row ${r.seq} (${r.problem}): ${r.message}\n`);
      process.exitCode = 1;
    }
  } finally {
    db.close();
  }
}

export async function runStatus(flags: { stateDir?: string; json?: boolean }): Promise<void> {
  const { defaultStateDir } = await import("./state-dir.js");
  const dir = resolve(flags.stateDir ?? defaultStateDir());
  const { STATUS_FILE } = await import("../agent/local-status.js");
  const file = join(dir, STATUS_FILE);
  if (!existsSync(file)) throw new UsageError(`no agent status in ${dir} (is the agent running with --state-dir ${dir}?)`);
  const s = JSON.parse(readFileSync(file, "utf8")) as import("../agent/local-status.js").AgentStatusFile;
  let alive = false;
  try {
    process.kill(s.pid, 0);
    alive = s.running;
  } catch { /* not running */ }
  const now = Date.now();
  const inForce = s.approvals.filter((a) => Date.parse(a.validUntil) > now);
  if (flags.json) {
    process.stdout.write(`${JSON.stringify({ ...s, agentRunning: alive, approvals: inForce }, null, 2)}\n`);
    return;
  }
  const out: string[] = [];
  out.push(`agent ${s.agentId || "(not enrolled)"} — ${alive ? "running 稼働中" : "not running 停止中"}, server ${s.server}: ${alive && s.connected ? "connected 接続中" : "not connected 未接続"}`);
  if (s.queue) out.push(`queue 送信待ち: ${s.queue.pendingEvents} events (last seq ${s.queue.lastSeq}, acknowledged ${s.queue.ackedSeq})`);
  out.push(`policy version ポリシー版: ${s.policyVersion ?? "-"}; status written ${s.updatedAt}`);
  out.push(`approvals in force for this PC 有効な甲許可 (${inForce.length})${s.approvalsReceivedAt ? `, received ${s.approvalsReceivedAt}` : ""}:`);
  for (const a of inForce) out.push(`  - ${a.control} ${Object.entries(a.match).map(([k, v]) => `${k}=${String(v)}`).join(" ")} until ${a.validUntil}${a.requestId ? ` (申請 ${a.requestId})` : ""}`);
  const pending = s.requests.filter((r) => r.status === "pending");
  out.push(`pending requests 審査中の申請 (${pending.length}):`);
  for (const r of pending) out.push(`  - ${r.id} ${r.control} ${Object.entries(r.match).map(([k, v]) => `${k}=${String(v)}`).join(" ")} until ${r.validUntil}: ${r.reason}`);
  const decided = s.requests.filter((r) => r.status !== "pending");
  if (decided.length) {
    out.push("recently decided 最近の決定:");
    for (const r of decided) out.push(`  - ${r.id} ${r.status === "approved" ? "approved 承認" : "denied 却下"}${r.decisionNote ? `: ${r.decisionNote}` : ""}`);
  }
  process.stdout.write(`${out.join("\n")}\n`);
}

const MATCH_FLAGS: Record<string, string[]> = {
  software: ["name", "version", "publisher", "action"],
  network: ["cidr", "ssid", "gatewayMac", "destination", "port", "process"],
  media: ["serial", "vendorId", "productId", "action"],
  asset: ["component"],
};

/** `--until 2026-12-31` (end of that day, local time) or a full ISO time. */
export function untilTime(text: string): string {
  const day = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  const t = day ? new Date(Number(day[1]), Number(day[2]) - 1, Number(day[3]) + 1).getTime() : Date.parse(text);
  if (Number.isNaN(t)) throw new UsageError(`--until ${text}: not a date (YYYY-MM-DD or an ISO time)`);
  return new Date(t).toISOString();
}

export async function runRequest(control: string, flags: Record<string, string | undefined> & { stateDir?: string; until?: string; reason?: string; ca?: string }): Promise<void> {
  const keys = MATCH_FLAGS[control];
  if (!keys) throw new UsageError(`request: unknown control ${control} (software, network, media, asset)`);
  if (!flags.until) throw new UsageError("--until DATE is required");
  if (!flags.reason) throw new UsageError("--reason TEXT is required");
  const match: Record<string, string | number> = {};
  for (const k of keys) {
    const v = flags[k];
    if (v !== undefined) match[k] = k === "port" ? Number(v) : v;
  }
  if (Object.keys(match).length === 0) throw new UsageError(`request ${control}: give at least one of ${keys.map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(", ")}`);
  const validUntil = untilTime(flags.until);
  const { defaultStateDir } = await import("./state-dir.js");
  const dir = resolve(flags.stateDir ?? defaultStateDir());
  const { loadCredential, httpBaseUrl, postJson } = await import("../agent/enroll.js");
  const cred = await loadCredential(dir);
  if (!cred) throw new UsageError(`no agent credential in ${dir} (enroll the agent first, or give --state-dir)`);
  const ca = flags.ca ? readFileSync(flags.ca) : undefined;
  const res = await postJson(`${httpBaseUrl(cred.server)}/api/requests`, { control, match, validUntil, reason: flags.reason }, {
    ca, headers: { authorization: `Bearer ${cred.agentId}:${cred.secret}` },
  });
  let body: { id?: string; status?: string; error?: string } = {};
  try {
    body = JSON.parse(res.body) as typeof body;
  } catch { /* not JSON */ }
  if (res.status !== 201) throw new Error(`the server refused the request (HTTP ${res.status}): ${body.error ?? res.body.slice(0, 300)}`);
  process.stdout.write(`申請 ${body.id} submitted (${body.status}): ${control} ${Object.entries(match).map(([k, v]) => `${k}=${v}`).join(" ")} until ${validUntil}\n`);
}
