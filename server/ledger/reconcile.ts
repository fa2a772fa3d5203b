/**
 * Reconciliation of the PC ledger (台帳) with the agents the server knows. Pure.
 *
 * Matching, in this order; each pass only considers entries and agents still unmatched, and each
 * agent matches at most one entry and each entry at most one agent:
 *   1. serial   — the ledger's 製造番号 equals the agent's serial (system serial, else baseboard
 *                 serial; trimmed, spaces collapsed, case-insensitive). The strongest key: it is
 *                 on the chassis label the ledger was written from.
 *   2. MAC      — the ledger's MACアドレス and the agent's physical NIC MACs share an address.
 *   3. hostname — the ledger's ホスト名 equals the agent's hostname, case-insensitive, comparing
 *                 only the first label ("PC-01.corp.local" = "pc-01"). The weakest key: anyone
 *                 can rename a PC.
 * When several agents could take the same entry in one pass, the most recently seen wins (a
 * reinstalled PC enrols as a new agent; the old record goes silent).
 *
 * Flags on an entry:
 *   no_agent — no agent matched: the registered PC is not reporting (never enrolled, or gone);
 *   unseen   — matched, but the agent was last seen more than `unseenDays` days before `now`
 *              (or never).
 * unregisteredAgents: agents that matched no entry — a PC not in the ledger (私用PCの疑い,
 * 個人情報取扱特記事項 第12 第8項), which the server reports as `asset.unregistered`. An unmatched
 * agent with the same pcId as a matched one is an earlier enrolment of that same PC (reinstall),
 * not an unregistered PC, and is left out.
 */
import { normalizeMac } from "../../lib/net/mac.js";
import { usableSerial } from "../../policies/asset-identity.js";
import type { LedgerEntry } from "../../policies/ledger.js";

export type LedgerFlag = "unseen" | "no_agent";

export interface AgentForLedger {
  id: string;
  hostname: string;
  /** ISO time or Date of the last message from the agent; null if never */
  lastSeen: string | Date | null;
  inventory?: { pcId: string; serial: string; macs: string[] };
}

export interface ReconciledEntry {
  entry: LedgerEntry;
  agentId?: string;
  /** how the agent was matched */
  matchedBy?: "serial" | "mac" | "hostname";
  flags: LedgerFlag[];
}

export interface Reconciliation {
  entries: ReconciledEntry[];
  unregisteredAgents: string[];
}

const DAY_MS = 86_400_000;

const shortHost = (h: string): string => h.trim().toLowerCase().split(".")[0] ?? "";
const serialKey = (s: string): string => usableSerial(s);
const macSet = (macs: readonly string[]): Set<string> =>
  new Set(macs.map((m) => normalizeMac(m)).filter((m): m is string => m !== undefined));

function seenAt(a: AgentForLedger): number {
  if (a.lastSeen === null) return -Infinity;
  const t = a.lastSeen instanceof Date ? a.lastSeen.getTime() : Date.parse(a.lastSeen);
  return Number.isFinite(t) ? t : -Infinity;
}

export function reconcile(
  ledger: readonly LedgerEntry[],
  agents: readonly AgentForLedger[],
  now: Date,
  unseenDays: number,
): Reconciliation {
  // most recently seen first, so it wins a contested entry
  const pool = [...agents].sort((a, b) => seenAt(b) - seenAt(a) || a.id.localeCompare(b.id));
  const matchOf = new Map<number, { agent: AgentForLedger; by: NonNullable<ReconciledEntry["matchedBy"]> }>();
  const taken = new Set<string>();

  const pass = (by: NonNullable<ReconciledEntry["matchedBy"]>, matches: (entry: LedgerEntry, agent: AgentForLedger) => boolean): void => {
    ledger.forEach((entry, idx) => {
      if (matchOf.has(idx)) return;
      const agent = pool.find((a) => !taken.has(a.id) && matches(entry, a));
      if (agent) {
        matchOf.set(idx, { agent, by });
        taken.add(agent.id);
      }
    });
  };

  pass("serial", (e, a) => {
    const s = serialKey(e.serial);
    return s !== "" && a.inventory !== undefined && serialKey(a.inventory.serial) === s;
  });
  pass("mac", (e, a) => {
    if (!a.inventory || e.macs.length === 0) return false;
    const theirs = macSet(a.inventory.macs);
    return [...macSet(e.macs)].some((m) => theirs.has(m));
  });
  pass("hostname", (e, a) => {
    const h = shortHost(e.hostname);
    return h !== "" && shortHost(a.hostname) === h;
  });

  const cutoff = now.getTime() - unseenDays * DAY_MS;
  const entries = ledger.map((entry, idx): ReconciledEntry => {
    const m = matchOf.get(idx);
    if (!m) return { entry, flags: ["no_agent"] };
    return { entry, agentId: m.agent.id, matchedBy: m.by, flags: seenAt(m.agent) < cutoff ? ["unseen"] : [] };
  });
  const registeredPcIds = new Set(pool.filter((a) => taken.has(a.id) && a.inventory?.pcId).map((a) => a.inventory!.pcId));
  const unregisteredAgents = agents
    .filter((a) => !taken.has(a.id) && !(a.inventory?.pcId && registeredPcIds.has(a.inventory.pcId)))
    .map((a) => a.id);
  return { entries, unregisteredAgents };
}
