/**
 * This OS's readers for the network collector: the attachment reader (linux.ts, win32.ts,
 * darwin.ts) and the socket tables (agent/os/linux/sockets.ts, agent/os/win32/sockets.ts).
 */
import { sharedSocketTables, type SocketOwner } from "../../os/linux/sockets.js";
import { Win32SocketTableReader } from "../../os/win32/sockets.js";
import { win32 } from "../../os/win32/ffi.js";
import type { ScannedSocket } from "./evaluate.js";
import { LinuxAttachmentReader } from "./linux.js";
import { Win32AttachmentReader } from "./win32.js";
import { DarwinAttachmentReader } from "./darwin.js";
import type { AttachmentReader } from "./types.js";
import type { NetworkPolicy } from "../../../policies/network-rules.js";

/** What the socket cycle reads: the Linux /proc tables or the Windows GetExtended*Table tables. */
export interface SocketTables {
  read(): ScannedSocket[];
  readIfChanged(maxAgeMs: number): ScannedSocket[] | undefined;
  /**
   * Connections and listeners only, quickly (Linux sock_diag: TCP ESTABLISHED / SYN_SENT / LISTEN
   * of our namespace, rows whose inode is in `skip` left out, and rows to an `approved`
   * destination left out where the source can filter them early); undefined = not possible now,
   * read the tables instead.
   */
  readConnections?(skip: ReadonlySet<number>, approved?: NetworkPolicy["approvedDestinations"]): ScannedSocket[] | undefined;
  readonly owners: { resolve(ids: Iterable<number>): Map<number, SocketOwner>; readonly pending: ReadonlySet<number> };
}

/** The socket source of this OS, or null where there is none (macOS; Windows without the FFI layer). */
export function defaultSocketTables(platform: NodeJS.Platform = process.platform): SocketTables | null {
  // the agent's one reader of the tables, shared with the P2P collector (each has its own owner cache)
  if (platform === "linux") return sharedSocketTables().view();
  if (platform === "win32") {
    try {
      win32();
      return new Win32SocketTableReader();
    } catch {
      return null;
    }
  }
  return null;
}

/** The attachment reader for this OS. */
export function defaultAttachmentReader(platform: NodeJS.Platform = process.platform): AttachmentReader {
  if (platform === "win32") return new Win32AttachmentReader();
  if (platform === "darwin") return new DarwinAttachmentReader();
  return new LinuxAttachmentReader();
}
