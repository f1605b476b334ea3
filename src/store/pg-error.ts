// PostgreSQL errors -> TallyError, in one place. Each branch says why.
import { TallyError } from "../domain/tally-error.js";

interface PgLikeError {
  code?: string;
  message?: string;
  constraint?: string;
}

/** The errors an error was caused by, outermost first (Drizzle wraps the driver's error in `cause`). */
function causeChain(error: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e: unknown = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) chain.push(e);
  return chain;
}

/** The SQLSTATE of an error from pg or PGlite, looking through Drizzle's wrapping. */
export function sqlState(error: unknown): string | undefined {
  for (const e of causeChain(error)) {
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

/** Socket errors (Node's codes) that mean the database cannot be reached or the connection broke. */
const unreachableNetCodes = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

/**
 * pg reports a lost or unusable connection, and its own timeouts, by message only (no code). Each
 * means the database could not be asked or could not answer: nothing the caller sent was wrong.
 */
const pgConnectionMessages: ReadonlyArray<readonly [message: string, meaning: string]> = [
  ["Connection terminated unexpectedly", "the database connection was lost"],
  ["Connection terminated", "the database connection was closed"],
  ["Client has encountered a connection error and is not queryable", "the database connection was lost"],
  ["Client was closed and is not queryable", "the database connection was closed"],
  ["Cannot use a pool after calling end on the pool", "the server is shutting down"],
  ["timeout exceeded when trying to connect", "no database connection became free in time"],
  ["Connection terminated due to connection timeout", "the database did not accept a connection in time"],
  ["Query read timeout", "the database did not answer in time"],
];

/** Why the database could not be used, when `error` says it is unreachable, lost or too slow. */
export function unavailableReason(error: unknown): string | undefined {
  for (const e of causeChain(error)) {
    const netCode = (e as NodeJS.ErrnoException).code;
    if (typeof netCode === "string" && unreachableNetCodes.has(netCode)) return `the database cannot be reached (${netCode})`;
    const message = (e as PgLikeError).message;
    const known = pgConnectionMessages.find(([text]) => message === text);
    if (known) return known[1];
  }
  const state = sqlState(error);
  // Class 08: connection exceptions (the server refused or dropped the connection).
  if (state?.startsWith("08")) return "the database connection failed";
  // Too many connections; the server shutting down, crashed or starting; our session was ended by an
  // operator (57P01 also covers pg_terminate_backend).
  if (state === "53300") return "the database has too many connections";
  if (state === "57P01" || state === "57P02" || state === "57P03") return "the database is restarting or ended the session";
  // The session sat idle inside a transaction past idle_in_transaction_session_timeout: PostgreSQL
  // ended it and rolled the transaction back.
  if (state === "25P03") return "the database ended an idle transaction";
  // statement_timeout (or a cancel): the statement was rolled back.
  if (state === "57014") return "the database cancelled the query (timeout)";
  return undefined;
}

export function toTallyError(error: unknown): unknown {
  // Tally's own error, possibly wrapped by Drizzle (e.g. the embedded database's operation deadline).
  const own = causeChain(error).find((e) => e instanceof TallyError);
  if (own) return own;
  // The database is down, unreachable, lost the connection or timed out: the client may retry later
  // (a change whose outcome is unknown is safe to retry with the same idempotency key).
  const unavailable = unavailableReason(error);
  if (unavailable) return new TallyError("Unavailable", `${unavailable}, try again later`, { cause: error });
  const state = sqlState(error);
  // Text PostgreSQL cannot store (a NUL character, invalid UTF-8): the caller's bad input.
  if (state === "22021" || state === "22P05") {
    return new TallyError("InvalidArgument", "text contains characters that cannot be stored (such as NUL)", { cause: error });
  }
  // A retryable conflict that outlived our retries.
  if (state === "40001" || state === "40P01") {
    return new TallyError("Aborted", "the change conflicted with a concurrent one, try again", { cause: error });
  }
  return error;
}
