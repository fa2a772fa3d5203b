/**
 * Enrollment: an agent trades an enrollment token for its own credential (`POST /api/enroll`).
 *
 * Tokens:
 *   - the bootstrap token, `<data>/enroll-token` (or `enrollToken` in the config): multi-use, no
 *     expiry, for `kyoka local` and first installs; rotate it by deleting the file and restarting;
 *   - tokens made by `kyoka enroll-token create` or `POST /api/enroll-tokens`: a number of uses
 *     (default 1) and an expiry (default 7 days), kept only as their sha256, shown once at creation,
 *     deleted (no longer usable) by `DELETE /api/enroll-tokens/:id`.
 * A revoked agent's PC (its hardware identity, pcId: sent at enrollment and in every
 * asset.snapshot) cannot enroll again until an admin allows it (`allowReenroll`): 403.
 * Failed enrollments count in the server's failed-authentication limiter (server/auth-limit.ts):
 * 429 with Retry-After after too many from one address, logged at a sampled rate.
 * Errors are the domain errors of server/errors.ts, each with a `code` for programs.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { z } from "zod";
import type { Logger } from "../lib/log.js";
import type { AuthFailureLimiter } from "./auth-limit.js";
import { AuthenticationError, ForbiddenError, InvalidInputError, NotFoundError } from "./errors.js";
import type { EnrollTokenRecord, EnrollTokenRefusal, Store } from "./store.js";
import { randomToken, secretEquals, sha256Hex } from "./tokens.js";

/** pcId as agent/collectors/asset/identity.ts makes it */
export const PcId = z.string().regex(/^pc-[0-9a-f]{32}$/, "a pcId: pc- and 32 hex digits");

/** POST /api/enroll */
export const EnrollBody = z.object({
  token: z.string().min(1).max(1000),
  hostname: z.string().min(1).max(255),
  os: z.string().max(255),
  version: z.string().max(100),
  pcId: PcId.optional(),
});
export type EnrollBody = z.infer<typeof EnrollBody>;

const IsoTime = z.iso.datetime({ offset: true });

/** POST /api/enroll-tokens */
export const EnrollTokenInput = z.strictObject({
  /** how many agents may enroll with it; null: any number (default 1) */
  uses: z.number().int().min(1).max(1_000_000).nullable().optional(),
  /** when it stops working; null: never (default 7 days from now) */
  expiresAt: IsoTime.nullable().optional(),
  name: z.string().min(1).max(200).optional(),
  /** the contractor organisation it is for (free text until organisations exist) */
  organisation: z.string().min(1).max(200).optional(),
});
export type EnrollTokenInput = z.infer<typeof EnrollTokenInput>;

export const DEFAULT_TOKEN_LIFETIME_MS = 7 * 24 * 3600_000;

/** What the API shows of a token (never the token or its hash). */
export interface EnrollTokenView extends EnrollTokenRecord {
  state: "active" | "expired" | "used_up" | "deleted";
}

export function tokenView(t: EnrollTokenRecord, now: Date): EnrollTokenView {
  const at = now.toISOString();
  const state = t.deletedAt ? "deleted" : t.expiresAt !== null && t.expiresAt <= at ? "expired"
    : t.maxUses !== null && t.uses >= t.maxUses ? "used_up" : "active";
  return { ...t, state };
}

const REFUSAL_TEXT: Record<EnrollTokenRefusal, (t: EnrollTokenRecord | undefined) => string> = {
  unknown: () => "wrong enrollment token",
  deleted: (t) => `enrollment token ${t?.id} was deleted`,
  expired: (t) => `enrollment token ${t?.id} expired at ${t?.expiresAt}`,
  used_up: (t) => `enrollment token ${t?.id} is used up (${t?.uses} of ${t?.maxUses} uses)`,
};

export interface EnrollmentDeps {
  store: Store;
  log: Logger;
  /** the bootstrap token (`<data>/enroll-token`); none: only stored tokens work */
  bootstrapToken?: string;
  /** the server's failed-authentication limiter; none (the CLI): no limit */
  authLimit?: AuthFailureLimiter;
  /**
   * organisations (server/people/): `check` turns a token's organisation (name or id) into the id of
   * a contractor organisation or throws; `assign` puts a new agent in its token's organisation
   * (null: the bootstrap token → the default organisation)
   */
  organisations?: { check(nameOrId: string): string; assign(agentId: string, organisationId: string | null): void };
  now?: () => Date;
}

export class Enrollment {
  private readonly now: () => Date;

  constructor(private readonly deps: EnrollmentDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /**
   * Enroll an agent: its new credential, or AuthenticationError (401: wrong, expired, used-up or
   * deleted token), ForbiddenError (403: a revoked PC), RateLimitedError (429: too many failures).
   */
  async enroll(body: EnrollBody, remote: string): Promise<{ agentId: string; secret: string }> {
    this.deps.authLimit?.check(remote);
    try {
      return await this.enrollChecked(body, remote);
    } catch (err) {
      if (err instanceof AuthenticationError || err instanceof ForbiddenError) {
        this.deps.authLimit?.failed(remote, err instanceof ForbiddenError ? "enrollment of a revoked PC" : "enrollment token", "/api/enroll");
        this.deps.log.debug({ remote, hostname: body.hostname, pcId: body.pcId, code: err.extra.code }, `enrollment refused: ${err.message}`);
      }
      throw err;
    }
  }

  private async enrollChecked(body: EnrollBody, remote: string): Promise<{ agentId: string; secret: string }> {
    const { store, log } = this.deps;
    const at = this.now().toISOString();
    const bootstrap = this.deps.bootstrapToken !== undefined && secretEquals(body.token, this.deps.bootstrapToken);
    const tokenHash = sha256Hex(body.token);
    if (!bootstrap) {
      // check before the PC block so a wrong token learns nothing about PCs; consume only after it
      const t = await store.findEnrollToken(tokenHash);
      const state = t ? tokenView(t, this.now()).state : "unknown";
      if (state !== "active") throw new AuthenticationError(REFUSAL_TEXT[state](t), { code: `token_${state}` });
    }
    if (body.pcId) {
      const block = await store.pcBlock(body.pcId);
      if (block) {
        throw new ForbiddenError(
          `this PC (${body.pcId}) belonged to agent ${block.agentId}, revoked at ${block.blockedAt}; it cannot enroll again until an administrator allows it: POST /api/agents/${block.agentId}/allow-reenroll`,
          { code: "pc_revoked" });
      }
    }
    let tokenId: string | null = null;
    let organisation: string | null = null;
    if (!bootstrap) {
      const used = await store.consumeEnrollToken(tokenHash, at);
      if (!used.ok) throw new AuthenticationError(REFUSAL_TEXT[used.reason](used.token), { code: `token_${used.reason}` });
      tokenId = used.token.id;
      organisation = used.token.organisation;
    }
    const agentId = randomUUID();
    const secret = randomBytes(32).toString("base64url");
    await store.createAgent({
      id: agentId, secretHash: sha256Hex(secret), hostname: body.hostname, os: body.os, version: body.version, enrolledAt: at,
      pcId: body.pcId ?? null, enrollTokenId: tokenId, remote,
    });
    // the agent belongs to its token's contractor organisation (the bootstrap token: the default one)
    this.deps.organisations?.assign(agentId, organisation);
    log.info({ agentId, hostname: body.hostname, os: body.os, pcId: body.pcId, enrollTokenId: tokenId ?? "bootstrap", remote }, "agent enrolled");
    return { agentId, secret };
  }

  /** Make a token: the token itself is returned once and only its sha256 is kept. */
  async createToken(input: EnrollTokenInput): Promise<EnrollTokenView & { token: string }> {
    const now = this.now();
    const expiresAt = input.expiresAt === null ? null
      : input.expiresAt === undefined ? new Date(now.getTime() + DEFAULT_TOKEN_LIFETIME_MS).toISOString()
        : new Date(input.expiresAt).toISOString();
    if (expiresAt !== null && expiresAt <= now.toISOString()) throw new InvalidInputError(`expiresAt ${expiresAt} is in the past`, { code: "bad_expiry" });
    const token = randomToken();
    const organisation = input.organisation === undefined ? null
      : this.deps.organisations ? this.deps.organisations.check(input.organisation) : input.organisation;
    const record: EnrollTokenRecord = {
      id: randomUUID(), name: input.name ?? null, organisation,
      maxUses: input.uses === undefined ? 1 : input.uses, uses: 0, expiresAt, createdAt: now.toISOString(), lastUsedAt: null, deletedAt: null,
    };
    await this.deps.store.createEnrollToken({ ...record, tokenHash: sha256Hex(token) });
    this.deps.log.info({ enrollTokenId: record.id, name: record.name, maxUses: record.maxUses, expiresAt }, "enrollment token created");
    return { ...tokenView(record, now), token };
  }

  async listTokens(includeDeleted = false): Promise<EnrollTokenView[]> {
    const now = this.now();
    return (await this.deps.store.listEnrollTokens(includeDeleted)).map((t) => tokenView(t, now));
  }

  async deleteToken(id: string): Promise<void> {
    if (!(await this.deps.store.deleteEnrollToken(id, this.now().toISOString()))) throw new NotFoundError(`no enrollment token ${id}`);
    this.deps.log.info({ enrollTokenId: id }, "enrollment token deleted: no longer usable");
  }

  /** After a revocation: keep the agent's PC out (its pcIds) until an admin allows it. */
  async revoked(agentId: string): Promise<string[]> {
    const pcIds = await this.deps.store.agentPcIds(agentId);
    if (pcIds.length) {
      await this.deps.store.blockPcs(agentId, pcIds, this.now().toISOString());
      this.deps.log.warn({ agentId, pcIds }, "revoked agent's PC kept out: it cannot enroll again until allowed (allow-reenroll)");
    }
    return pcIds;
  }

  /** Let a revoked agent's PC enroll again (the old credential stays revoked). */
  async allowReenroll(agentId: string): Promise<{ agentId: string; allowedPcIds: string[] }> {
    const agent = await this.deps.store.getAgent(agentId);
    if (!agent) throw new NotFoundError(`no agent ${agentId}`);
    const allowedPcIds = await this.deps.store.allowPcs(agentId, this.now().toISOString());
    this.deps.log.warn({ agentId, allowedPcIds }, "re-enrollment allowed for a revoked agent's PC");
    return { agentId, allowedPcIds };
  }
}

/** `7d`, `12h`, `30m`, `90s`, `2w` → milliseconds; undefined when not a duration. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+)\s*(s|m|h|d|w)$/i.exec(text.trim());
  if (!m) return undefined;
  const unit = { s: 1000, m: 60_000, h: 3600_000, d: 86_400_000, w: 7 * 86_400_000 }[m[2]!.toLowerCase() as "s" | "m" | "h" | "d" | "w"];
  const ms = Number(m[1]) * unit;
  return ms > 0 && Number.isSafeInteger(ms) ? ms : undefined;
}
