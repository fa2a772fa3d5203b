/**
 * Password hashing with scrypt from node:crypto (memory-hard, no native dependency).
 *
 * Parameters: N = 2^15, r = 8, p = 1 → 128·N·r = 32 MiB of memory and ≈ 50–100 ms of one core per
 * hash here; a 16-byte random salt, a 32-byte key. The stored form names its parameters
 * (`scrypt$N$r$p$salt$key`, base64url), so they can be raised later and old hashes still verify.
 * Verification compares in constant time.
 */
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from "node:crypto";

export const SCRYPT = { N: 2 ** 15, r: 8, p: 1, keyLength: 32, saltBytes: 16 } as const;
const MAXMEM = 256 * 1024 * 1024;

function scrypt(password: string, salt: Buffer, keyLength: number, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCb(password.normalize("NFC"), salt, keyLength, { ...opts, maxmem: MAXMEM }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SCRYPT.saltBytes);
  const key = await scrypt(password, salt, SCRYPT.keyLength, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p });
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString("base64url")}$${key.toString("base64url")}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") return false;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (![N, r, p].every((n) => Number.isSafeInteger(n) && n > 0)) return false;
  const salt = Buffer.from(parts[4]!, "base64url");
  const want = Buffer.from(parts[5]!, "base64url");
  if (want.length === 0) return false;
  const got = await scrypt(password, salt, want.length, { N, r, p });
  return timingSafeEqual(got, want);
}

/** Passwords shorter than this are refused (on creation and change). */
export const MIN_PASSWORD_LENGTH = 10;
