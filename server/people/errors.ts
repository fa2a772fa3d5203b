/**
 * Errors of the people/workflow domain, each with the HTTP status the error handler answers.
 * (403 is never turned into 404: a route the role may not use says so.)
 */
export class WorkflowError extends Error {
  constructor(readonly status: 400 | 401 | 403 | 404 | 409, message: string, readonly extra: Record<string, unknown> = {}) {
    super(message);
    this.name = new.target.name;
  }
}
export class ForbiddenError extends WorkflowError {
  constructor(message: string) {
    super(403, message);
  }
}
export class UnauthenticatedError extends WorkflowError {
  constructor(message: string) {
    super(401, message);
  }
}
export class BadInputError extends WorkflowError {
  constructor(message: string) {
    super(400, message);
  }
}
export class MissingError extends WorkflowError {
  constructor(message: string) {
    super(404, message);
  }
}
export class ConflictingError extends WorkflowError {
  constructor(message: string) {
    super(409, message);
  }
}
