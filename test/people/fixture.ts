/** A workflow on a real SQLite store in a temp folder, with organisations, users and agents. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { parsePolicyText, defaultPolicyText } from "../../policies/policy.js";
import type { Details, EventType, Status } from "../../policies/schema.js";
import { loadCatalog } from "../../policies/catalog.js";
import { decide } from "../../policies/decide.js";
import { ADMIN_TOKEN_PRINCIPAL, type Principal, type Role } from "../../server/people/permissions.js";
import { Workflow } from "../../server/people/workflow.js";
import { ServerState } from "../../server/state.js";
import { SqliteStore } from "../../server/store-sqlite.js";
import { catalogEntry } from "../../policies/catalog.js";
import { controlOf } from "../../policies/schema.js";

export interface Fixture {
  dir: string;
  store: SqliteStore;
  state: ServerState;
  wf: Workflow;
  admin: Principal;
  orgA: string;
  orgB: string;
  client: string;
  /** principals by role (desk/contractor of A; desk/contractor of B as deskB/contractorB) */
  users: Record<Role | "deskB" | "contractorB", Principal>;
  pushes: Array<string[] | undefined>;
  addAgent(org: string, hostname: string, tags?: string[]): Promise<string>;
  /** store an event decided like ingest does (server clock `now`) */
  ingest(agentId: string, type: EventType, details: Details, now?: Date): Promise<{ id: number; status: Status; approvalId: string | null }>;
  close(): Promise<void>;
}

let seq = 0;

export async function makeFixture(): Promise<Fixture> {
  const dir = mkdtempSync(join(tmpdir(), "kyoka-people-"));
  const store = new SqliteStore(dir, { synchronous: "NORMAL" });
  const text = defaultPolicyText();
  const state = new ServerState({ version: 1, policy: parsePolicyText(text), text });
  const pushes: Array<string[] | undefined> = [];
  const wf = new Workflow({
    db: store.handle, state, log: pino({ level: "silent" }), dataDir: dir, adminToken: "admin-secret",
    onApprovalsChanged: (ids) => pushes.push(ids),
  });
  state.agentOrganisation = (id) => wf.people.agentOrganisation(id);
  const admin = ADMIN_TOKEN_PRINCIPAL;
  const ctx = { remote: "127.0.0.1" };
  const orgA = wf.createOrganisation(admin, { name: "contractor-a", kind: "contractor" }, ctx).id;
  const orgB = wf.createOrganisation(admin, { name: "contractor-b", kind: "contractor" }, ctx).id;
  const client = wf.createOrganisation(admin, { name: "city", kind: "client" }, ctx).id;
  const mk = async (login: string, role: Role, organisation?: string): Promise<Principal> => {
    const u = await wf.createUser(admin, { login, password: "correct horse battery", role, ...(organisation ? { organisation } : {}) }, ctx);
    return { actor: u.login, role: u.role, organisationId: u.organisationId, userId: u.id, via: "token" };
  };
  const users = {
    admin: await mk("root", "admin", "city"),
    approver: await mk("kou", "approver", "city"),
    auditor: await mk("kansa", "auditor", "city"),
    desk: await mk("desk-a", "desk", "contractor-a"),
    contractor: await mk("staff-a", "contractor", "contractor-a"),
    deskB: await mk("desk-b", "desk", "contractor-b"),
    contractorB: await mk("staff-b", "contractor", "contractor-b"),
  };
  return {
    dir, store, state, wf, admin, orgA, orgB, client, users, pushes,
    async addAgent(org, hostname, tags = []) {
      const id = `agent-${hostname}`;
      await store.createAgent({ id, secretHash: "x", hostname, os: "linux", version: "0", enrolledAt: new Date().toISOString() });
      if (tags.length) await store.setAgentTags(id, tags);
      wf.people.setAgentOrganisation(id, org);
      return id;
    },
    async ingest(agentId, type, details, now = new Date()) {
      const tags = (await store.getAgent(agentId))!.tags;
      const r = decide({ type, details, agent: { id: agentId, tags, organisation: state.agentOrganisation(agentId) } },
        { catalog: loadCatalog(), policy: state.policy.policy, approvals: state.approvals, now });
      const [id] = await store.insertEvents([{ agentId, seq: ++seq, control: controlOf(type), type, articles: catalogEntry(type).articles, severity: r.severity,
        status: r.status, observedAt: now.toISOString(), receivedAt: now.toISOString(), details, approvalId: r.approvalId, reasons: r.reasons }]);
      return { id: id!, status: r.status, approvalId: r.approvalId };
    },
    async close() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
