/**
 * Inventory diff: the last known inventory (kept in the collector's state) against what the
 * package databases say now → software.installed / updated / removed events; and the first-run
 * software.inventory event (one event with the list, bounded in size, not one event per package).
 */
import type { NewEvent } from "../../../policies/schema.js";
import { comparatorFor } from "../../../lib/version/index.js";
import type { InventoryRead } from "./reader.js";
import type { SoftwareItem } from "./types.js";

/** What the collector persists: every row by id, and which sources it came from. */
export interface StoredInventory {
  v: 1;
  items: Record<string, SoftwareItem>;
}

export type ChangeKind = "installed" | "updated" | "removed";

export interface Change {
  kind: ChangeKind;
  item: SoftwareItem;
  /** updated only: the row before */
  before?: SoftwareItem;
}

export function toRecord(items: SoftwareItem[]): Record<string, SoftwareItem> {
  const out: Record<string, SoftwareItem> = {};
  for (const it of items) out[it.id] = it;
  return out;
}

/**
 * Changes from `before` to `after`, ordered removed → updated → installed, each by id.
 * An update is a version change of the same id (a downgrade is an update too).
 */
export function diffInventory(before: Record<string, SoftwareItem>, after: Record<string, SoftwareItem>): Change[] {
  const removed: Change[] = [];
  const updated: Change[] = [];
  const installed: Change[] = [];
  for (const id of Object.keys(before).sort()) {
    if (!(id in after)) removed.push({ kind: "removed", item: before[id]! });
  }
  for (const id of Object.keys(after).sort()) {
    const now = after[id]!;
    const was = before[id];
    if (!was) installed.push({ kind: "installed", item: now });
    else if (was.version !== now.version) updated.push({ kind: "updated", item: now, before: was });
  }
  return [...removed, ...updated, ...installed];
}

/** Event details for a software row (SPEC.md: name, version, previousVersion, publisher, source). */
export function detailsOf(item: SoftwareItem, previousVersion?: string): Record<string, unknown> {
  const d: Record<string, unknown> = { name: item.name, version: item.version };
  if (previousVersion !== undefined) d.previousVersion = previousVersion;
  if (item.publisher) d.publisher = item.publisher;
  d.source = item.source;
  if (item.arch) d.arch = item.arch;
  if (item.scope) d.scope = item.scope;
  if (item.state) d.state = item.state;
  d.id = item.id;
  return d;
}

export function changeToEvent(change: Change, observedAt?: string): NewEvent {
  const details = detailsOf(change.item, change.kind === "updated" ? change.before!.version : undefined);
  if (change.kind === "updated") {
    // a downgrade is reported as an update; say which way it went
    const cmp = comparatorFor(change.item.source)(change.item.version, change.before!.version);
    if (cmp < 0) details.downgrade = true;
  }
  const ev: NewEvent = { type: `software.${change.kind}`, details };
  if (observedAt) ev.observedAt = observedAt;
  return ev;
}

/** Largest inventory event (its JSON), well under the 1 MiB frame limit. */
export const INVENTORY_MAX_BYTES = 512 * 1024;

/**
 * The first-run event: the count and the list (name, version, source, and arch/scope when set),
 * cut to fit under maxBytes with `truncated: true` when it does not.
 */
export function inventoryEvent(items: SoftwareItem[], failedSources: string[] = [], maxBytes = INVENTORY_MAX_BYTES): NewEvent {
  const sorted = [...items].sort((a, b) => (a.source + a.name).localeCompare(b.source + b.name));
  const list = sorted.map((it) => {
    const row: Record<string, string> = { name: it.name, version: it.version, source: it.source };
    if (it.arch) row.arch = it.arch;
    if (it.scope) row.scope = it.scope;
    return row;
  });
  const bySource: Record<string, number> = {};
  for (const it of items) bySource[it.source] = (bySource[it.source] ?? 0) + 1;
  const base: Record<string, unknown> = { count: items.length, bySource, failedSources };
  const overhead = Buffer.byteLength(JSON.stringify({ ...base, items: [], truncated: false }));
  let used = overhead;
  let n = 0;
  for (; n < list.length; n++) {
    const add = Buffer.byteLength(JSON.stringify(list[n])) + 1;
    if (used + add > maxBytes) break;
    used += add;
  }
  return {
    type: "software.inventory",
    details: { ...base, items: list.slice(0, n), truncated: n < list.length },
  };
}

/** What is installed now: the rows read, plus the last known rows of sources/ids that could not be read. */
export function currentInventory(read: InventoryRead, last: Record<string, SoftwareItem> | undefined): Record<string, SoftwareItem> {
  const now = toRecord(read.items);
  if (!last) return now;
  const failed = new Set(read.failed.map((f) => f.source));
  const keep = new Set(read.keep);
  const keepScopes = new Set(read.keepScopes ?? []);
  for (const [id, it] of Object.entries(last)) {
    if (!(id in now) && (failed.has(it.source) || keep.has(id) || (it.scope !== undefined && keepScopes.has(it.scope)))) now[id] = it;
  }
  return now;
}
