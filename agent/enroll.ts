/**
 * Enrollment: trade the enrollment token for this agent's own credential, once.
 * `POST <http(s) base>/api/enroll` `{token, hostname, os, version, pcId}` → `{agentId, secret}`.
 * pcId is this PC's hardware identity (agent/collectors/asset/identity.ts): the server keeps a
 * revoked agent's PC out until an administrator allows it (403).
 * The credential is kept in `<stateDir>/credential.json` `{agentId, secret, server}` (mode 0600;
 * on Windows sealed with DPAPI — see service/state-dir.ts);
 * while it exists the agent never enrolls again.
 */
import { readFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { join } from "node:path";
import { z } from "zod";
import type { Logger } from "../lib/log.js";
import { writeFileAtomic } from "./state.js";
import { sealSecret, unsealSecret } from "./service/state-dir.js";

export const Credential = z.object({
  agentId: z.string().min(1),
  secret: z.string().min(1),
  server: z.string(),
});
export type Credential = z.infer<typeof Credential>;

const EnrollResponse = z.object({ agentId: z.string().min(1), secret: z.string().min(1) });

/** An enrollment failure. `transient` ones (server unreachable, 5xx) are worth retrying. */
export class EnrollError extends Error {
  constructor(message: string, readonly transient: boolean, readonly status?: number) {
    super(message);
    this.name = "EnrollError";
  }
}

export function credentialFile(stateDir: string): string {
  return join(stateDir, "credential.json");
}

/** `ws://h:p/x` → `http://h:p/x`, `wss://…` → `https://…` (http(s) given as is); no trailing slash. */
export function httpBaseUrl(server: string): string {
  const url = new URL(server);
  if (url.protocol === "ws:") url.protocol = "http:";
  else if (url.protocol === "wss:") url.protocol = "https:";
  else if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error(`server URL must be ws:// or wss://: ${server}`);
  url.search = "";
  url.hash = "";
  return url.toString().replace(/\/+$/, "");
}

/** The stored credential, or undefined when there is none. A corrupt file is an error (never silently re-enroll). */
export async function loadCredential(stateDir: string): Promise<Credential | undefined> {
  const file = credentialFile(stateDir);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new EnrollError(`cannot read ${file}: ${(err as Error).message}`, false);
  }
  try {
    return Credential.parse(JSON.parse(unsealSecret(text)));
  } catch {
    throw new EnrollError(`${file} is corrupt: delete it and enroll again with --enroll-token`, false);
  }
}

export async function saveCredential(stateDir: string, cred: Credential): Promise<void> {
  // Windows: DPAPI-sealed (mode bits mean nothing there); elsewhere mode 0600 in a 0700 folder
  await writeFileAtomic(credentialFile(stateDir), sealSecret(JSON.stringify(cred, null, 2) + "\n"), 0o600);
}

interface HttpResult {
  status: number;
  body: string;
}

/** POST a JSON body (node:http/https so a private CA can be given for https). */
export function postJson(url: string, body: unknown, opts: { ca?: string | Buffer; timeoutMs?: number; headers?: Record<string, string> } = {}): Promise<HttpResult> {
  const payload = Buffer.from(JSON.stringify(body));
  const u = new URL(url);
  const req = (u.protocol === "https:" ? httpsRequest : httpRequest)(u, {
    method: "POST",
    headers: { ...opts.headers, "content-type": "application/json", "content-length": String(payload.length), accept: "application/json" },
    ...(u.protocol === "https:" && opts.ca ? { ca: opts.ca } : {}),
    timeout: opts.timeoutMs ?? 15_000,
  });
  return new Promise<HttpResult>((resolve, reject) => {
    req.on("timeout", () => req.destroy(new Error(`no answer within ${opts.timeoutMs ?? 15_000} ms`)));
    req.on("error", reject);
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        size += c.length;
        if (size > 1024 * 1024) req.destroy(new Error("response too large"));
        else chunks.push(c);
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.end(payload);
  });
}

export interface EnrollOptions {
  server: string;
  token: string | undefined;
  stateDir: string;
  log: Logger;
  hostname: string;
  os: string;
  version: string;
  ca?: string | Buffer;
  /** this PC's hardware identity; undefined when it cannot be read (enrollment goes on without it) */
  pcId?: () => Promise<string | undefined>;
}

/**
 * The credential: the stored one if any (no enrollment), else a new one from the server, saved
 * before it is returned. Throws EnrollError with a message fit for the operator.
 */
export async function ensureCredential(opts: EnrollOptions): Promise<Credential> {
  const log = opts.log.child({ component: "enroll" });
  const existing = await loadCredential(opts.stateDir);
  if (existing) {
    if (existing.server !== opts.server) {
      log.warn({ enrolledWith: existing.server, server: opts.server }, "credential was issued by another server URL: using it anyway");
    }
    return existing;
  }
  if (!opts.token) {
    throw new EnrollError(`not enrolled: no credential in ${credentialFile(opts.stateDir)} and no enrollment token (--enroll-token-file, KYOKA_ENROLL_TOKEN or --enroll-token)`, false);
  }
  const url = `${httpBaseUrl(opts.server)}/api/enroll`;
  let pcId: string | undefined;
  try {
    pcId = await opts.pcId?.();
  } catch (err) {
    log.warn({ err: (err as Error).message }, "cannot read this PC's hardware identity: enrolling without it");
  }
  log.info({ url, hostname: opts.hostname, pcId }, "enrolling with the server");
  let res: HttpResult;
  try {
    res = await postJson(url, {
      token: opts.token, hostname: opts.hostname.slice(0, 255) || "unknown", os: opts.os.slice(0, 255), version: opts.version.slice(0, 100),
      ...(pcId ? { pcId } : {}),
    }, { ca: opts.ca });
  } catch (err) {
    throw new EnrollError(`cannot reach ${url} to enroll: ${(err as Error).message}`, true);
  }
  if (res.status === 401) {
    throw new EnrollError(`the server refused the enrollment token (HTTP 401${reason(res.body)}): check the token (--enroll-token-file, KYOKA_ENROLL_TOKEN or --enroll-token)`, false, res.status);
  }
  if (res.status === 403) {
    throw new EnrollError(`the server refused to enroll this PC (HTTP 403${reason(res.body)})`, false, res.status);
  }
  if (res.status === 429) {
    throw new EnrollError(`enrollment refused for now: too many failed enrollments from this address (HTTP 429${reason(res.body)}); retrying later`, true, res.status);
  }
  if (res.status >= 500) throw new EnrollError(`enrollment failed: server error HTTP ${res.status}${reason(res.body)}`, true, res.status);
  if (res.status < 200 || res.status >= 300) {
    throw new EnrollError(`enrollment refused: HTTP ${res.status}${reason(res.body)}`, false, res.status);
  }
  let parsed: z.infer<typeof EnrollResponse>;
  try {
    parsed = EnrollResponse.parse(JSON.parse(res.body));
  } catch {
    throw new EnrollError(`enrollment answer from ${url} is not {agentId, secret}`, false, res.status);
  }
  const cred: Credential = { agentId: parsed.agentId, secret: parsed.secret, server: opts.server };
  await saveCredential(opts.stateDir, cred);
  log.info({ agentId: cred.agentId, file: credentialFile(opts.stateDir) }, "enrolled: credential saved");
  return cred;
}

function reason(body: string): string {
  try {
    const j = JSON.parse(body) as { error?: unknown; message?: unknown };
    const msg = typeof j.error === "string" ? j.error : typeof j.message === "string" ? j.message : undefined;
    if (msg) return `: ${msg.slice(0, 500)}`;
  } catch {
    // not JSON
  }
  const t = body.trim().slice(0, 200);
  return t ? `: ${t}` : "";
}
