/**
 * The admin API token and the enrollment token: `<data>/admin-token` and `<data>/enroll-token`
 * (mode 0600), made on first start unless given, reused on later starts.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "../lib/log.js";

export interface Tokens {
  adminToken: string;
  enrollToken: string;
}

export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString("base64url");
}

function fileToken(dataDir: string, name: string, given: string | undefined, log: Logger): string {
  const path = join(dataDir, name);
  if (given !== undefined && given !== "") {
    log.info({ token: name }, `${name}: using the token from the configuration (${path} not written)`);
    return given;
  }
  if (existsSync(path)) {
    const text = readFileSync(path, "utf8").trim();
    if (text) {
      log.info({ path }, `${name}: reusing ${path}`);
      return text;
    }
  }
  const token = randomToken();
  writeFileSync(path, `${token}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
  log.info({ path }, `${name}: wrote a new token to ${path} (mode 0600)`);
  return token;
}

export function ensureTokens(dataDir: string, log: Logger, given: Partial<Tokens> = {}): Tokens {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  return {
    adminToken: fileToken(dataDir, "admin-token", given.adminToken, log),
    enrollToken: fileToken(dataDir, "enroll-token", given.enrollToken, log),
  };
}

export function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** Constant-time comparison of two secrets (hashing first equalizes the lengths). */
export function secretEquals(a: string, b: string): boolean {
  return timingSafeEqual(createHash("sha256").update(a).digest(), createHash("sha256").update(b).digest());
}

/** `Authorization: Bearer <token>` → token, else undefined. */
export function bearer(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+(.+)$/i.exec(header.trim());
  return m ? m[1]!.trim() : undefined;
}
