/**
 * The names of controls, event types, statuses and severities, and controlOf(), without zod:
 * schema.ts builds its enums from these and re-exports them; modules that need only the names
 * (policies/decide.ts, and so `kyoka snapshot`) import them from here.
 */
export const CONTROLS = ["software", "network", "media", "p2p", "asset", "agent"] as const;

export const EVENT_TYPES = [
  "software.installed", "software.updated", "software.removed", "software.inventory", "software.executed",
  "network.attached", "network.changed", "network.connection", "network.listening",
  "media.inserted", "media.removed", "media.copy_out", "media.scanned", "media.unencrypted",
  "p2p.installed", "p2p.present", "p2p.running", "p2p.traffic",
  "asset.snapshot", "asset.hardware_changed", "asset.unregistered",
  "agent.started", "agent.stopped", "agent.silent", "agent.degraded", "agent.selftest", "agent.check", "agent.delivery_failed",
] as const;

export const STATUSES = ["needs_approval", "approved", "violation", "info"] as const;

export const SEVERITIES = ["critical", "high", "medium", "low", "info"] as const;

/** The control an event type belongs to (`software.installed` → `software`). */
export function controlOf(type: (typeof EVENT_TYPES)[number]): (typeof CONTROLS)[number] {
  return type.slice(0, type.indexOf(".")) as (typeof CONTROLS)[number];
}
