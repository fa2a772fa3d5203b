/**
 * The PC ledger (台帳, 個人情報取扱特記事項 第12 第7項・第8項) on the server: stored in the store's
 * `ledger` table, imported and exported as CSV (server/ledger/csv.ts), reconciled with the live
 * inventory (the newest `asset.snapshot` of each agent, server/ledger/reconcile.ts), and the
 * server-made `asset.unregistered` event for a PC that is not in it.
 *
 * HTTP (admin token; server/routes/assets.ts):
 *   GET  /api/assets                      the ledger joined with the live inventory + unregistered agents
 *   POST /api/assets/import[?mode=upsert] body: the CSV bytes (UTF-8 ± BOM, UTF-16 with BOM, Shift_JIS)
 *   GET  /api/assets/export               UTF-8 with BOM CSV, Japanese headers
 *
 * Import REPLACES the ledger by default: the file is the whole 台帳 (export → edit in Excel →
 * import), so an entry deleted from the file leaves the ledger. `?mode=upsert` instead merges by
 * 資産番号 (rows of the file replace the entries with the same 資産番号; the others stay). Bad rows
 * are reported by line and the good ones are saved; a file in which not one row is good (wrong
 * file, no 資産番号 column) is refused with 400 and the ledger is left as it was.
 *
 * asset.unregistered: after every committed `asset.snapshot` and after every import, the ledger
 * is reconciled with all agents (not revoked). An agent that matches no entry and has sent a
 * snapshot gets one `asset.unregistered` event (status from the catalog: needs_approval) — once
 * while it stays unregistered: a new one only after the previous one was resolved "registered".
 * When the agent matches an entry, its open event is resolved automatically (resolution
 * "registered", note naming the 資産番号). Reconciliations run one at a time; requests that come in
 * during one are folded into a single follow-up run.
 */
import type { Logger } from "../lib/log.js";
import { assetKeys } from "../policies/asset-identity.js";
import { Inventory } from "../policies/inventory.js";
import type { LedgerEntry } from "../policies/ledger.js";
import type { StoredEvent } from "../policies/schema.js";
import { loadCatalog } from "../policies/catalog.js";
import { decide } from "../policies/decide.js";
import { InvalidInputError } from "./errors.js";
import { exportLedgerCsv, parseLedgerCsv, type LedgerIssue } from "./ledger/csv.js";
import { reconcile, type AgentForLedger, type LedgerFlag, type Reconciliation } from "./ledger/reconcile.js";
import type { ServerState } from "./state.js";
import type { AgentRecord, EventRow, Store } from "./store.js";

/** What the ledger needs from an agent's newest asset.snapshot. */
export interface LiveInventory {
  pcId: string;
  /** 製造番号 as the ledger compares it (system serial, else baseboard serial; "" if a placeholder) */
  serial: string;
  /** physical NIC MACs, lower-case colon form */
  macs: string[];
  hostname: string;
  /** observedAt of the snapshot */
  snapshotAt: string;
}

export interface AssetLedgerDeps {
  store: Store;
  state: ServerState;
  /** store server-made events (group commit); resolves after the commit */
  submit: (rows: EventRow[]) => Promise<void>;
  /** fresher online/lastSeen of a connected agent than the store has */
  liveStatus?: (agentId: string) => { online: boolean; lastSeen: string } | undefined;
  log: Logger;
}

export type ImportMode = "replace" | "upsert";

export interface ImportResult {
  imported: number;
  mode: ImportMode;
  encoding: string;
  errors: LedgerIssue[];
  warnings: LedgerIssue[];
  /** entries in the ledger after the import */
  ledgerSize: number;
}

export interface AgentAssetView {
  id: string;
  hostname: string;
  online: boolean;
  lastSeen: string | null;
  /** from the newest asset.snapshot; null when the agent never sent one */
  inventory: LiveInventory | null;
}

export interface AssetsView {
  generatedAt: string;
  unseenDays: number;
  entries: Array<LedgerEntry & { flags: LedgerFlag[]; matchedBy: "serial" | "mac" | "hostname" | null; agent: AgentAssetView | null }>;
  /** agents whose PC is not in the ledger (私用PCの疑い), with their open asset.unregistered event */
  unregisteredAgents: Array<AgentAssetView & { eventId: number | null }>;
}

/** The keys of an asset.snapshot's details; undefined when it has no usable inventory. */
export function liveInventoryOf(details: Record<string, unknown>, observedAt: string): LiveInventory | undefined {
  const parsed = Inventory.safeParse(details.inventory);
  if (parsed.success) {
    const keys = assetKeys(parsed.data);
    return { ...keys, hostname: parsed.data.os.hostname, snapshotAt: observedAt };
  }
  const pcId = typeof details.pcId === "string" ? details.pcId : "";
  const hostname = typeof details.hostname === "string" ? details.hostname : "";
  if (!pcId) return undefined; // not the asset collector's snapshot: nothing to reconcile or to show
  return { pcId, serial: "", macs: [], hostname, snapshotAt: observedAt };
}

export class AssetLedger {
  private readonly log: Logger;
  /** agentId → newest snapshot's keys; loaded from the store on first use, then kept from commits */
  private inventory: Map<string, LiveInventory> | undefined;
  private loading: Promise<Map<string, LiveInventory>> | undefined;
  private running: Promise<void> | undefined;
  private again = false;

  constructor(private readonly deps: AssetLedgerDeps) {
    this.log = deps.log;
  }

  /** Ingest hook (after every commit): new asset.snapshot rows refresh the inventory and trigger a reconciliation. */
  onCommitted(rows: readonly EventRow[], ids: ReadonlyArray<number | null>): void {
    let snapshots = 0;
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!;
      if (r.type !== "asset.snapshot" || ids[i] === null || ids[i] === undefined) continue;
      snapshots++;
      const inv = liveInventoryOf(r.details, r.observedAt);
      if (inv && this.inventory) {
        const old = this.inventory.get(r.agentId);
        if (!old || old.snapshotAt <= inv.snapshotAt) this.inventory.set(r.agentId, inv);
      }
    }
    if (snapshots > 0) this.requestSync("asset.snapshot");
  }

  /** Reconcile soon (coalesced); errors are logged. */
  requestSync(reason: string): void {
    this.sync(reason).catch((err: unknown) => this.log.error({ err, reason }, "ledger reconciliation failed; retried on the next snapshot or import"));
  }

  /**
   * Reconcile now, one run at a time: a call during a run makes exactly one more run after it
   * (every caller's promise resolves when a run that started after its call has finished).
   */
  sync(reason: string): Promise<void> {
    if (this.running) {
      this.again = true; // the running loop goes round once more, after this call
      return this.running;
    }
    const run = (async () => {
      try {
        do {
          this.again = false;
          await this.reconcileAndReport(reason);
        } while (this.again);
      } finally {
        this.running = undefined;
      }
    })();
    this.running = run;
    return run;
  }

  async importCsv(body: Buffer, mode: ImportMode): Promise<ImportResult> {
    const parsed = parseLedgerCsv(body);
    if (parsed.rows.length === 0 && parsed.errors.length > 0) {
      this.log.warn({ errors: parsed.errors.length, encoding: parsed.encoding }, "ledger import refused: no good row; the ledger is unchanged");
      throw new InvalidInputError("no row of the file could be imported; the ledger is unchanged", {
        imported: 0, errors: parsed.errors, warnings: parsed.warnings,
      });
    }
    await this.deps.store.saveLedger(parsed.rows, mode, new Date().toISOString());
    const ledgerSize = (await this.deps.store.listLedger()).length;
    this.log.info({ imported: parsed.rows.length, mode, encoding: parsed.encoding, errors: parsed.errors.length, ledgerSize },
      "ledger (台帳) imported");
    await this.sync("import");
    return { imported: parsed.rows.length, mode, encoding: parsed.encoding, errors: parsed.errors, warnings: parsed.warnings, ledgerSize };
  }

  async exportCsv(): Promise<Buffer> {
    return exportLedgerCsv(await this.deps.store.listLedger());
  }

  async view(now = new Date()): Promise<AssetsView> {
    const { rec, agents, inventory } = await this.reconciled(now);
    const open = await this.lastUnregistered();
    const byId = new Map(agents.map((a) => [a.id, a]));
    const agentView = (id: string): AgentAssetView => {
      const a = byId.get(id)!;
      const live = this.deps.liveStatus?.(id);
      return { id, hostname: a.hostname, online: live ? live.online : a.online, lastSeen: live ? live.lastSeen : a.lastSeen, inventory: inventory.get(id) ?? null };
    };
    return {
      generatedAt: now.toISOString(),
      unseenDays: this.deps.state.policy.policy.asset.unseenDays,
      entries: rec.entries.map((e) => ({
        ...e.entry, flags: e.flags, matchedBy: e.matchedBy ?? null, agent: e.agentId ? agentView(e.agentId) : null,
      })),
      unregisteredAgents: rec.unregisteredAgents.map((id) => {
        const ev = open.get(id);
        return { ...agentView(id), eventId: ev && !ev.resolution ? ev.id : null };
      }),
    };
  }

  // -------------------------------------------------------------------------------------------

  private async inventories(): Promise<Map<string, LiveInventory>> {
    if (this.inventory) return this.inventory;
    this.loading ??= (async () => {
      const map = new Map<string, LiveInventory>();
      for (const e of await this.deps.store.latestEventPerAgent("asset.snapshot")) {
        const inv = liveInventoryOf(e.details, e.observedAt);
        if (inv) map.set(e.agentId, inv);
      }
      this.inventory = map;
      return map;
    })().finally(() => { this.loading = undefined; });
    return this.loading;
  }

  /** newest asset.unregistered event of each agent */
  private async lastUnregistered(): Promise<Map<string, StoredEvent>> {
    return new Map((await this.deps.store.latestEventPerAgent("asset.unregistered")).map((e) => [e.agentId, e]));
  }

  private async reconciled(now: Date): Promise<{ rec: Reconciliation; agents: AgentRecord[]; inventory: Map<string, LiveInventory> }> {
    const [ledger, all, inventory] = await Promise.all([this.deps.store.listLedger(), this.deps.store.listAgents(), this.inventories()]);
    const agents = all.filter((a) => a.revokedAt === null);
    const forLedger: AgentForLedger[] = agents.map((a) => {
      const inv = inventory.get(a.id);
      return {
        id: a.id,
        // the hostname the PC reported in its snapshot is fresher than the one it enrolled with
        hostname: inv?.hostname || a.hostname,
        lastSeen: this.deps.liveStatus?.(a.id)?.lastSeen ?? a.lastSeen,
        ...(inv ? { inventory: { pcId: inv.pcId, serial: inv.serial, macs: inv.macs } } : {}),
      };
    });
    return { rec: reconcile(ledger, forLedger, now, this.deps.state.policy.policy.asset.unseenDays), agents, inventory };
  }

  private async reconcileAndReport(reason: string): Promise<void> {
    const now = new Date();
    const { rec, agents, inventory } = await this.reconciled(now);
    const last = await this.lastUnregistered();
    const unregistered = new Set(rec.unregisteredAgents);
    const { store, state } = this.deps;
    const agentById = new Map(agents.map((a) => [a.id, a]));

    // Registered now: resolve the open event.
    const entryOf = new Map(rec.entries.filter((e) => e.agentId).map((e) => [e.agentId!, e]));
    for (const [agentId, ev] of last) {
      if (ev.resolution || unregistered.has(agentId)) continue;
      if (!agentById.has(agentId)) continue; // revoked: left for the desk
      const match = entryOf.get(agentId);
      const note = match
        ? `台帳に登録されました: 資産番号 ${match.entry.assetNo}（${match.matchedBy} で照合） / registered in the ledger as asset ${match.entry.assetNo} (matched by ${match.matchedBy})`
        : "台帳に登録済みの同じPC（同一 pcId）の再登録エージェント / an earlier enrolment of a PC that is in the ledger";
      await store.resolveEvent(ev.id, "registered", note, now.toISOString());
      this.log.info({ agentId, eventId: ev.id, assetNo: match?.entry.assetNo ?? null, reason }, "asset.unregistered resolved: the PC is in the ledger");
    }

    // Not in the ledger: one asset.unregistered per agent while it stays so.
    const rows: EventRow[] = [];
    for (const agentId of rec.unregisteredAgents) {
      const inv = inventory.get(agentId);
      if (!inv) continue; // no snapshot yet: nothing to show the desk
      const prev = last.get(agentId);
      if (prev && prev.resolution !== "registered") continue; // open, or dismissed by the desk
      const agent = agentById.get(agentId)!;
      const details = {
        pcId: inv.pcId, hostname: inv.hostname || agent.hostname, serial: inv.serial, macs: inv.macs, snapshotAt: inv.snapshotAt,
        ledgerSize: rec.entries.length,
        reason: "台帳に未登録のPC（私用PCの疑い） / this PC is not in the ledger (possible private PC)",
      };
      const r = decide({ type: "asset.unregistered", details, agent: { id: agentId, tags: agent.tags } },
        { catalog: loadCatalog(), policy: state.policy.policy, approvals: state.approvals, now });
      rows.push({
        agentId, seq: null, control: r.control, type: "asset.unregistered", articles: r.articles, severity: r.severity, status: r.status,
        observedAt: now.toISOString(), receivedAt: now.toISOString(), details, approvalId: r.approvalId, reasons: r.reasons,
      });
      this.log.warn({ agentId, hostname: details.hostname, pcId: inv.pcId, status: r.status, reason }, "asset.unregistered: the PC is not in the ledger (台帳)");
    }
    if (rows.length) await this.deps.submit(rows);
  }
}

