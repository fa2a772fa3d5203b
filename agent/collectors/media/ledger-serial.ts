/** The ledger serial of a medium, on its own: the executed collector's platforms use it without loading the media collector (ClamAV, copy-out, every OS's reader). */
import type { Medium } from "./types.js";

/**
 * The serial the server's media ledger (媒体台帳) and approvals (match.serial) compare: the
 * device's own serial (USB iSerial, disk serial), else the filesystem UUID / volume serial number
 * (loop images, card readers and sticks that report no serial). `serialSource` says which:
 * "device" or "volume" (a volume serial changes when the medium is reformatted).
 */
export function ledgerSerial(m: Medium): { serial: string | null; serialSource: "device" | "volume" | null } {
  if (m.serial) return { serial: m.serial, serialSource: "device" };
  if (m.uuid) return { serial: m.uuid, serialSource: "volume" };
  return { serial: null, serialSource: null };
}
