/**
 * The media ledger (媒体台帳) on the server: the removable media 乙 registered with 甲 (serial,
 * USB vendor / product id, label, 管理者, note), and what ingest makes of it.
 *
 * HTTP (admin token; server/routes/media.ts):
 *   GET    /api/media        the registered media, oldest first
 *   POST   /api/media        one record {serial, vendorId?, productId?, label?, owner, note?} → 201 the record
 *                            (409 when the serial is already registered)
 *   DELETE /api/media/:id    204 (404 when unknown)
 *
 * Ingest hook (observe, before decide): every `media.inserted` and `media.copy_out` gets
 *   - `registered`: the medium's serial is in the ledger (and, where the record names them, its
 *     vendor / product id are the same). An unregistered medium is a private or unknown medium
 *     (個人情報取扱特記事項 第12 第8項 私用物の持込禁止): the catalog's rules make its insertion needs_approval.
 *   - `serialConflict`: the same serial belongs to two different devices — seen (or registered)
 *     with another vendor/product id, or attached at the same time to another PC (or to another
 *     disk of the same PC). Serials of cheap sticks are often not unique and can be cloned, so a
 *     serial in conflict is at least needs_approval and no 甲許可 matched by serial clears it.
 *   - `conflictWith` (when in conflict): the other sightings, as evidence.
 * Both fields are always set by the server, so an agent cannot pre-fill them.
 *
 * Serials are compared trimmed and case-insensitively (Windows reports USB serials in lower case,
 * Linux as the device says); ids as 4 lower-case hex digits. A medium without a device serial is
 * reported by the agent with its filesystem UUID / volume serial number as `serial`
 * (`serialSource: "volume"`), which is what a ledger record then holds.
 *
 * Which media are attached where is kept in memory, rebuilt at start by replaying the stored
 * media.inserted / media.removed events (the newest REPLAY_LIMIT).
 */
import { randomUUID } from "node:crypto";
import { z } from "zod";
import type { Logger } from "../lib/log.js";
import type { Details, EventType } from "../policies/schema.js";
import type { MediaView } from "../policies/decide.js";
import { ConflictError } from "./errors.js";
import type { MediaRecord, Store } from "./store.js";

export type { MediaRecord } from "./store.js";

const UsbId = z.string().trim().regex(/^(0x)?[0-9a-fA-F]{1,4}$/, "4 hex digits, e.g. 0781")
  .transform((s) => s.replace(/^0x/i, "").toLowerCase().padStart(4, "0"));

/** POST /api/media: one registered medium. */
export const MediaRecordInput = z.strictObject({
  serial: z.string().trim().min(1).max(200),
  vendorId: UsbId.nullable().optional(),
  productId: UsbId.nullable().optional(),
  label: z.string().max(200).nullable().optional(),
  /** 管理者: who is responsible for the medium */
  owner: z.string().trim().min(1).max(200),
  note: z.string().max(2000).nullable().optional(),
});
export type MediaRecordInput = z.infer<typeof MediaRecordInput>;

export const REPLAY_LIMIT = 10_000;

/** What the server adds to a media.inserted / media.copy_out as evidence. */
export interface MediaEvidence {
  registered: boolean;
  serialConflict: boolean;
  mediumId?: string;
  conflictWith?: ConflictSighting[];
  registeredAs?: { vendorId: string | null; productId: string | null };
}

const EVIDENCE_KEYS = ["registered", "serialConflict", "mediumId", "conflictWith", "registeredAs"] as const;

/** The agent's details with the server's evidence; the agent's own values of those keys are dropped. */
export function withEvidence(details: Details, evidence: MediaEvidence | undefined): Details {
  if (!evidence) return details;
  const out: Details = { ...details };
  for (const k of EVIDENCE_KEYS) delete out[k];
  return Object.assign(out, evidence);
}

/** The serial as compared: trimmed, upper-case; null when absent or empty. */
export function serialKey(v: unknown): string | null {
  if (typeof v !== "string") return null;
  const s = v.trim().toUpperCase();
  return s === "" ? null : s;
}

function usbId(v: unknown): string | null {
  if (typeof v !== "string" || !/^(0x)?[0-9a-fA-F]{1,4}$/.test(v.trim())) return null;
  return v.trim().replace(/^0x/i, "").toLowerCase().padStart(4, "0");
}

/** "vid:pid" when both are known, else null (loop devices, non-USB disks: nothing to compare). */
function hardwareId(details: Details): string | null {
  const vid = usbId(details.vendorId);
  const pid = usbId(details.productId);
  return vid && pid ? `${vid}:${pid}` : null;
}

interface Attachment {
  agentId: string;
  device: string;
  /** the whole disk (partitions of one stick share it and their serial) */
  disk: string;
  hardwareId: string | null;
  since: string;
  conflict: boolean;
}

export interface ConflictSighting {
  agentId: string;
  device: string;
  vendorId: string | null;
  productId: string | null;
  since: string;
}

export interface MediaLedgerDeps {
  store: Store;
  log: Logger;
}


export class MediaLedger {
  private readonly log: Logger;
  /** serialKey → the registered record (serials are unique in the ledger) */
  private bySerial = new Map<string, MediaRecord>();
  /** serialKey → what is attached with that serial right now, per (agentId, device) */
  private readonly attached = new Map<string, Map<string, Attachment>>();
  /** serialKey → every vendor:product id the serial was seen with, and its latest sighting */
  private readonly hardwareIds = new Map<string, Map<string, ConflictSighting>>();

  constructor(private readonly deps: MediaLedgerDeps) {
    this.log = deps.log;
  }

  /** Load the ledger and rebuild the attachments from the stored events. */
  async load(): Promise<void> {
    this.setRecords(await this.deps.store.listRegisteredMedia());
    const events = await this.deps.store.queryEvents({ control: "media", limit: REPLAY_LIMIT });
    let replayed = 0;
    for (let i = events.length - 1; i >= 0; i--) {
      const e = events[i]!;
      if (e.type === "media.inserted" || e.type === "media.removed") {
        this.track(e.type, e.details, e.agentId, e.observedAt);
        replayed++;
      }
    }
    this.log.info({ registered: this.bySerial.size, replayed }, "media ledger (媒体台帳) loaded");
  }

  private setRecords(records: MediaRecord[]): void {
    this.bySerial = new Map(records.map((r) => [serialKey(r.serial)!, r]));
  }

  /** The registered record a medium's details match, if any. */
  lookup(details: Details): MediaRecord | undefined {
    const key = serialKey(details.serial);
    return key ? this.bySerial.get(key) : undefined;
  }

  /**
   * Ingest hook, before decide: follows the attachments (media.inserted / media.removed) and says
   * what the ledger knows of the medium of a media.inserted or media.copy_out — the `view` decide
   * reads (policies/decide.ts checks mediaRegistered / mediaUnregistered / serialConflict) and the
   * `evidence` stored with the event. Undefined for every other type.
   */
  observe(type: EventType, details: Details, agentId: string, at: string): { view: MediaView; evidence: MediaEvidence } | undefined {
    if (type !== "media.inserted" && type !== "media.copy_out" && type !== "media.removed") return undefined;
    const conflict = this.track(type, details, agentId, at);
    if (type === "media.removed") return undefined;
    const record = this.lookup(details);
    const hw = hardwareId(details);
    const recordHw = record?.vendorId && record.productId ? `${record.vendorId}:${record.productId}` : null;
    // the serial is registered, but for another device: not this medium
    const ledgerMismatch = !!(record && recordHw && hw && recordHw !== hw);
    const registered = !!record && !ledgerMismatch;
    const serialConflict = conflict.length > 0 || ledgerMismatch;
    const evidence: MediaEvidence = { registered, serialConflict };
    if (registered) evidence.mediumId = record.id;
    if (conflict.length > 0) evidence.conflictWith = conflict;
    if (ledgerMismatch) evidence.registeredAs = { vendorId: record.vendorId, productId: record.productId };
    if (serialConflict) {
      this.log.warn({ agentId, serial: details.serial, device: details.device, type, conflictWith: conflict, ledgerMismatch },
        "one serial on two different media (serial conflict); flagged for 甲's review");
    }
    return { view: { registered, serialConflict, mediumId: registered ? record.id : null }, evidence };
  }

  /**
   * The details as stored: the agent's, with the ledger's evidence (registered, serialConflict,
   * mediumId, conflictWith, registeredAs) set by the server — an agent cannot pre-fill them.
   */
  annotate(type: EventType, details: Details, agentId: string, at: string): Details {
    return withEvidence(details, this.observe(type, details, agentId, at)?.evidence);
  }

  /** Update the attachments; returns the other sightings the event's medium conflicts with. */
  private track(type: EventType, details: Details, agentId: string, at: string): ConflictSighting[] {
    const key = serialKey(details.serial);
    if (!key) return [];
    const device = typeof details.device === "string" ? details.device : "";
    const slot = `${agentId}\0${device}`;
    let here = this.attached.get(key);
    if (type === "media.removed") {
      here?.delete(slot);
      if (here && here.size === 0) this.attached.delete(key);
      return [];
    }
    const hw = hardwareId(details);
    const seenIds = this.hardwareIds.get(key) ?? new Map<string, ConflictSighting>();
    if (hw) {
      const [vendorId, productId] = hw.split(":");
      seenIds.set(hw, { agentId, device, vendorId: vendorId!, productId: productId!, since: at });
      this.hardwareIds.set(key, seenIds);
    }
    if (type === "media.copy_out") {
      // the copy-out inherits what was decided at insertion (plus any identity seen since)
      const a = here?.get(slot);
      if (a?.conflict || seenIds.size > 1) return this.others(here, slot, seenIds, hw);
      return [];
    }
    const disk = typeof details.disk === "string" && details.disk ? details.disk : device;
    here ??= new Map();
    this.attached.set(key, here);
    const others = [...here.entries()].filter(([s, a]) => s !== slot && (a.agentId !== agentId || a.disk !== disk));
    const conflict = others.length > 0 || seenIds.size > 1;
    here.set(slot, { agentId, device, disk, hardwareId: hw, since: at, conflict });
    if (conflict) for (const [, a] of others) a.conflict = true;
    return conflict ? this.others(here, slot, seenIds, hw) : [];
  }

  private others(here: Map<string, Attachment> | undefined, slot: string, seenIds: Map<string, ConflictSighting>, hw: string | null): ConflictSighting[] {
    const out: ConflictSighting[] = [];
    for (const [s, a] of here ?? []) {
      if (s === slot) continue;
      const [vendorId, productId] = a.hardwareId ? a.hardwareId.split(":") : [null, null];
      out.push({ agentId: a.agentId, device: a.device, vendorId: vendorId ?? null, productId: productId ?? null, since: a.since });
    }
    // seen earlier with another vendor/product id, not attached now
    for (const [id, sighting] of seenIds) {
      if (id === hw || out.some((o) => `${o.vendorId}:${o.productId}` === id)) continue;
      out.push(sighting);
    }
    return out;
  }

  // --- the ledger itself --------------------------------------------------------------------
  list(): MediaRecord[] {
    return [...this.bySerial.values()].sort((a, b) => a.registeredAt.localeCompare(b.registeredAt) || a.id.localeCompare(b.id));
  }

  async register(input: MediaRecordInput, at = new Date().toISOString()): Promise<MediaRecord> {
    const key = serialKey(input.serial)!;
    const existing = this.bySerial.get(key);
    if (existing) throw new ConflictError(`serial ${input.serial} is already registered (${existing.id}, 管理者 ${existing.owner})`, { id: existing.id });
    const record: MediaRecord = {
      id: randomUUID(),
      serial: input.serial,
      vendorId: input.vendorId ?? null,
      productId: input.productId ?? null,
      label: input.label ?? null,
      owner: input.owner,
      note: input.note ?? null,
      registeredAt: at,
    };
    await this.deps.store.registerMedium(record);
    this.bySerial.set(key, record);
    this.log.info({ mediumId: record.id, serial: record.serial, vendorId: record.vendorId, productId: record.productId, owner: record.owner },
      "medium registered in the media ledger (媒体台帳)");
    return record;
  }

  async remove(id: string): Promise<boolean> {
    if (!(await this.deps.store.deleteRegisteredMedium(id, new Date().toISOString()))) return false;
    for (const [k, r] of this.bySerial) if (r.id === id) this.bySerial.delete(k);
    this.log.info({ mediumId: id }, "medium removed from the media ledger (媒体台帳)");
    return true;
  }
}
