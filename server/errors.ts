/**
 * Domain errors: what went wrong, in the domain's words. Domain code (ledgers, store, ingest)
 * throws these and knows nothing of HTTP; the one error handler in server/http.ts maps them to
 * status codes (InvalidInput 400, Authentication 401, NotFound 404, Conflict 409,
 * UnsupportedMediaType 415, RateLimited 429, NotImplemented 501) and
 * answers `{error, ...extra}`.
 */
export class DomainError extends Error {
  /** further fields of the error body, e.g. `{line}` or `{errors: [...]}` */
  readonly extra: Record<string, unknown>;
  constructor(message: string, extra: Record<string, unknown> = {}) {
    super(message);
    this.name = new.target.name;
    this.extra = extra;
  }
}

/** The input cannot be used (400): the message names the field or line. */
export class InvalidInputError extends DomainError {}

/** The thing asked for does not exist (404). */
export class NotFoundError extends DomainError {}

/** The request contradicts what is stored (409), e.g. a serial registered twice. */
export class ConflictError extends DomainError {}

/** The body is of a kind the operation does not take (415), e.g. JSON where a CSV file is expected. */
export class UnsupportedMediaTypeError extends DomainError {}

/** A credential is missing or wrong (401). */
export class AuthenticationError extends DomainError {}

/** The credential is known but may not do this (403), e.g. a revoked PC enrolling again. */
export class ForbiddenError extends DomainError {}

/** Too many failed authentications from one address (429); retry after the window. */
export class RateLimitedError extends DomainError {
  constructor(message: string, readonly retryAfterSeconds: number) {
    super(message);
  }
}

/** What was asked for cannot be produced on this server (501), e.g. a PDF report without Chromium. */
export class NotImplementedError extends DomainError {}
