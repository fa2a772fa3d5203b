/**
 * The people/workflow domain throws the server's domain errors (server/errors.ts), mapped to HTTP
 * by the one error handler in server/http.ts: 400 bad input, 401, 403 (never turned into 404),
 * 404, 409. The names below are the workflow's words for them.
 */
export {
  AuthenticationError as UnauthenticatedError, ConflictError as ConflictingError, ForbiddenError, InvalidInputError as BadInputError,
  NotFoundError as MissingError,
} from "../errors.js";
