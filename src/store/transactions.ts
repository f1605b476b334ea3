// Transactions with retries on serialization failures and deadlocks.
import { withRetries, type Backoff } from "../retry.js";
import type { Database } from "./database.js";
import { isRetryable, toTallyError } from "./pg-error.js";

/** Attempts of one transaction before giving up with Aborted. */
export const transactionAttemptsMax = 5;
/** Short and spread: the conflicting transaction is usually done within milliseconds. */
const transactionBackoff: Backoff = { minMs: 2, maxMs: 50, factor: 2, jitter: true };

export type Transaction = Parameters<Parameters<Database["transaction"]>[0]>[0];

/**
 * Runs `work` in a transaction. Inside, every query must go through `tx`: on PGlite, a query on the
 * outer handle waits for the transaction to end, a deadlock. No network calls inside.
 */
export async function inTransaction<T>(db: Database, work: (tx: Transaction) => Promise<T>): Promise<T> {
  return retriedLikeATransaction(() => db.transaction(work));
}

/**
 * Runs `work` (a transaction, or one statement, which is atomic on its own) again after a
 * serialization failure or deadlock, as inTransaction does; errors come out as TallyError.
 */
export async function retriedLikeATransaction<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await withRetries(work, { attempts: transactionAttemptsMax, backoff: transactionBackoff, retryable: isRetryable });
  } catch (error) {
    throw toTallyError(error);
  }
}

/**
 * Runs read-only `work` on one snapshot (REPEATABLE READ, READ ONLY), so several statements see the
 * same ledger, e.g. a listing's totals and its page. Readers never conflict, so nothing is retried.
 */
export async function inReadSnapshot<T>(db: Database, work: (tx: Transaction) => Promise<T>): Promise<T> {
  try {
    return await db.transaction(work, { isolationLevel: "repeatable read", accessMode: "read only" });
  } catch (error) {
    throw toTallyError(error);
  }
}
