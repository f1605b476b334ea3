// PostgreSQL errors -> TallyError, in one place. Each branch says why.
import { TallyError } from "../domain/tally-error.js";

interface PgLikeError {
  code?: string;
  message?: string;
  constraint?: string;
}

/** The SQLSTATE of an error from pg or PGlite, looking through Drizzle's wrapping. */
export function sqlState(error: unknown): string | undefined {
  for (let e: unknown = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as PgLikeError).code;
    if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) return code;
  }
  return undefined;
}

/** Serialization failures and deadlocks are safe to retry: the transaction rolled back whole. */
export function isRetryable(error: unknown): boolean {
  const state = sqlState(error);
  return state === "40001" || state === "40P01";
}

export function toTallyError(error: unknown): unknown {
  if (error instanceof TallyError) return error;
  const state = sqlState(error);
  const netCode = (error as NodeJS.ErrnoException | undefined)?.code;
  // The database is down or unreachable: the client may retry later.
  if (netCode === "ECONNREFUSED" || netCode === "ECONNRESET" || netCode === "ETIMEDOUT" || state?.startsWith("08")) {
    return new TallyError("Unavailable", "the database is unavailable, try again later", { cause: error });
  }
  // Too many connections or the server shutting down: also transient.
  if (state === "53300" || state === "57P01" || state === "57P03") {
    return new TallyError("Unavailable", "the database is busy or restarting, try again later", { cause: error });
  }
  // Text PostgreSQL cannot store (a NUL character, invalid UTF-8): the caller's bad input.
  if (state === "22021" || state === "22P05") {
    return new TallyError("InvalidArgument", "text contains characters that cannot be stored (such as NUL)", { cause: error });
  }
  // A retryable conflict that outlived our retries.
  if (state === "40001" || state === "40P01") {
    return new TallyError("Aborted", "the change conflicted with a concurrent one, try again", { cause: error });
  }
  // Statement timeout or cancel.
  if (state === "57014") {
    return new TallyError("Unavailable", "the database cancelled the query (timeout), try again later", { cause: error });
  }
  return error;
}
