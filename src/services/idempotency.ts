// Running a mutation at most once per idempotency key, and replaying its first result to retries.
// Mutations that are one transaction record the key and result in that transaction: a commit the
// client never heard of (a crash, a lost connection) is found by the retry. Calls that cannot be one
// transaction (billing: Stripe first, then Tally) claim the key with a lease, carry it into Stripe's
// idempotency keys (a retry replays at Stripe too), and record the result when done.
import { AsyncLocalStorage } from "node:async_hooks";
import { createHash } from "node:crypto";
import type { Clock } from "../domain/clock.js";
import { resultFromJson, resultToJson, type IdempotencyClaim } from "../domain/idempotency-key.js";
import type { Database } from "../store/database.js";
import { claimKey, claimKeyInTransaction, recordResult, releaseKey } from "../store/idempotency-keys.js";
import { inTransaction, type Transaction } from "../store/transactions.js";

/** How long a billing call owns its key before a retry may take it over (Stripe calls are bounded well below). */
export const idempotencyLeaseMs = 5 * 60_000;

/**
 * `work` in one transaction; with a claim, at most once per key: a retry with the same key and
 * request gets the first result, with another request ALREADY_EXISTS.
 */
export async function idempotentTransaction<T>(
  db: Database,
  claim: IdempotencyClaim | undefined,
  now: Date,
  work: (tx: Transaction) => Promise<T>,
): Promise<T> {
  return inTransaction(db, async (tx) => {
    if (!claim) return work(tx);
    const claimed = await claimKeyInTransaction(tx, claim, now);
    if (!claimed.claimed) return resultFromJson<T>(claimed.response);
    const result = await work(tx);
    await recordResult(tx, claim.key, resultToJson(result));
    return result;
  });
}

const clientKeys = new AsyncLocalStorage<string>();

/**
 * `work`, which calls Stripe and runs its own transactions, at most once per key: the key is claimed
 * (a concurrent request with it gets ABORTED, and replays the result when it retries), the result is
 * recorded, and on failure the key is freed so that a retry runs again. Stripe idempotency keys made
 * during `work` include the client's key (see stripeIdempotencyKey).
 */
export async function idempotentCall<T>(db: Database, clock: Clock, claim: IdempotencyClaim | undefined, work: () => Promise<T>): Promise<T> {
  if (!claim) return work();
  const now = clock.now();
  const claimed = await claimKey(db, claim, now, new Date(now.getTime() + idempotencyLeaseMs));
  if (!claimed.claimed) return resultFromJson<T>(claimed.response);
  let result: T;
  try {
    result = await clientKeys.run(claim.key, work);
  } catch (error) {
    // Nothing to replay: a retry must run the call again (Stripe replays what it already did).
    await releaseKey(db, claim.key).catch(() => {});
    throw error;
  }
  await recordResult(db, claim.key, resultToJson(result));
  return result;
}

/**
 * Stripe's idempotency key for a call: Tally's own key, derived from what the call acts on, plus a
 * digest of the client's idempotency key when the call runs for a request that has one. A client's
 * retry then replays at Stripe (same key), while a new request (a new client key, e.g. after fixing
 * the email) is not refused by Stripe as a reuse of the old key with other parameters.
 */
export function stripeIdempotencyKey(tallyKey: string): string {
  const clientKey = clientKeys.getStore();
  if (clientKey === undefined) return tallyKey;
  return `${tallyKey}:req:${createHash("sha256").update(clientKey).digest("hex").slice(0, 32)}`;
}
