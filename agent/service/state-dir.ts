/**
 * The agent's state folder and the secrets in it, per OS:
 *  - Linux/macOS: the folder is mode 0700, the credential 0600 (the agent runs as root);
 *  - Windows: mode bits mean nothing there — the folder gets a protected DACL for SYSTEM and
 *    Administrators only (agent/os/win32/security.ts), checked by reading it back, and the
 *    credential is encrypted with DPAPI (readable by the SYSTEM account only).
 */
import { mkdir } from "node:fs/promises";
import type { Logger } from "../../lib/log.js";
import { onlySystemAndAdmins, protectData, setDacl, unprotectData } from "../os/win32/security.js";

const restricted = new Set<string>();

/** Create the state folder (if needed) and restrict it (once per process). A failure to set the ACL is logged, not fatal. */
export async function prepareStateDir(dir: string, log?: Logger, platform: NodeJS.Platform = process.platform): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (platform !== "win32" || restricted.has(dir)) return;
  restricted.add(dir);
  try {
    const dacl = setDacl(dir);
    if (onlySystemAndAdmins(dacl)) log?.debug({ dir, dacl }, "state folder: access for SYSTEM and Administrators only");
    else log?.warn({ dir, dacl }, "state folder: the ACL read back grants more than SYSTEM and Administrators (the file system may not keep ACLs)");
  } catch (err) {
    log?.warn({ err, dir }, "state folder: could not set its ACL");
  }
}

/** The credential's text as stored: DPAPI-sealed on Windows ({"protected":"dpapi","data":base64}), as is elsewhere. */
export function sealSecret(text: string, platform: NodeJS.Platform = process.platform): string {
  if (platform !== "win32") return text;
  return JSON.stringify({ protected: "dpapi", data: protectData(Buffer.from(text, "utf8")).toString("base64") }) + "\n";
}

/** The inverse of sealSecret: a sealed file is decrypted, a plain one (older agent, other OS) is returned as is. */
export function unsealSecret(stored: string): string {
  let v: unknown;
  try {
    v = JSON.parse(stored);
  } catch {
    return stored;
  }
  if (v && typeof v === "object" && (v as { protected?: unknown }).protected === "dpapi") {
    const data = (v as { data?: unknown }).data;
    if (typeof data !== "string") throw new Error("sealed credential without data");
    return unprotectData(Buffer.from(data, "base64")).toString("utf8");
  }
  return stored;
}
