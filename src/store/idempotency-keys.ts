// Idempotency keys: claiming a key for a request, recording its result, replaying it, pruning.
import { and, eq, inArray, isNull, lt, or, sql } from "drizzle-orm";
import { explainKeyConflict, type IdempotencyClaim, type StoredJson } from "../domain/idempotency-key.js";
import { TallyError } from "../domain/tally-error.js";
import type { Database } from "./database.js";
import { idempotencyKeys } from "./schema.js";
import type { Transaction } from "./transactions.js";

/** Rows deleted per statement when pruning. */
export const pruneBatchSizeMax = 5000;

export type ClaimOutcome = { readonly claimed: true } | { readonly claimed: false; readonly response: unknown };

/**
 * Claims the key for this request, or finds the result of its first use. In a transaction, the
 * insert takes the key's unique-index lock: a concurrent request with the same key waits for this
 * transaction and then replays its result (or claims the key itself if this one rolled back).
 * `leaseUntil` is set for calls that record their result outside this transaction (see claimKey).
 */
async function claimOrFind(tx: Transaction | Database, claim: IdempotencyClaim, now: Date, leaseUntil: Date | null): Promise<ClaimOutcome> {
  const inserted = await tx
    .insert(idempotencyKeys)
    .values({ key: claim.key, procedure: claim.procedure, requestHash: claim.requestHash, response: null, leaseUntil, createdAt: now })
    .onConflictDoNothing({ target: idempotencyKeys.key })
    .returning({ key: idempotencyKeys.key });
  if (inserted.length > 0) return { claimed: true };
  const [stored] = await tx.select().from(idempotencyKeys).where(eq(idempotencyKeys.key, claim.key));
  // Pruned between the insert and the read: a retry claims it afresh.
  if (!stored) throw new TallyError("Aborted", `idempotency key ${JSON.stringify(claim.key)} changed concurrently, try again`);
  const conflict = explainKeyConflict(claim, stored);
  if (conflict) throw new TallyError("AlreadyExists", conflict);
  if (stored.response === null) {
    // Only calls that run outside one transaction leave a row without a result (billing: Stripe first).
    if (stored.leaseUntil && stored.leaseUntil > now) {
      throw new TallyError("Aborted", `a request with idempotency key ${JSON.stringify(claim.key)} is still running; retry shortly to get its result`);
    }
    // Its call died before recording a result (the lease lapsed): take the key over and run again.
    const taken = await tx
      .update(idempotencyKeys)
      .set({ leaseUntil })
      .where(and(eq(idempotencyKeys.key, claim.key), isNull(idempotencyKeys.response), or(isNull(idempotencyKeys.leaseUntil), lt(idempotencyKeys.leaseUntil, now))))
      .returning({ key: idempotencyKeys.key });
    if (taken.length === 0) throw new TallyError("Aborted", `a request with idempotency key ${JSON.stringify(claim.key)} is still running; retry shortly to get its result`);
    return { claimed: true };
  }
  return { claimed: false, response: stored.response };
}

/** In the mutation's own transaction: claim the key (see claimOrFind). */
export function claimKeyInTransaction(tx: Transaction, claim: IdempotencyClaim, now: Date): Promise<ClaimOutcome> {
  return claimOrFind(tx, claim, now, null);
}

/**
 * For a call that cannot run in one transaction (Stripe first, then Tally's transactions): claims the
 * key on its own until `leaseUntil`. Concurrent requests with the key get ABORTED (retry: they then
 * replay the result); if this call dies, the key is taken over once the lease lapses.
 */
export function claimKey(db: Database, claim: IdempotencyClaim, now: Date, leaseUntil: Date): Promise<ClaimOutcome> {
  return claimOrFind(db, claim, now, leaseUntil);
}

/** Records the result of the call that claimed the key (in its transaction, where it has one). */
export async function recordResult(tx: Transaction | Database, key: string, response: StoredJson): Promise<void> {
  await tx.update(idempotencyKeys).set({ response, leaseUntil: null }).where(eq(idempotencyKeys.key, key));
}

/** A call that claimed the key with claimKey failed: frees the key, so a retry runs the call again. */
export async function releaseKey(db: Database, key: string): Promise<void> {
  await db.delete(idempotencyKeys).where(and(eq(idempotencyKeys.key, key), isNull(idempotencyKeys.response)));
}

/** Deletes keys created before `createdBefore`, in batches; returns how many. */
export async function pruneKeys(db: Database, createdBefore: Date): Promise<number> {
  let deleted = 0;
  for (;;) {
    const batch = db
      .select({ key: idempotencyKeys.key })
      .from(idempotencyKeys)
      .where(lt(idempotencyKeys.createdAt, createdBefore))
      .limit(pruneBatchSizeMax);
    const rows = await db.delete(idempotencyKeys).where(inArray(idempotencyKeys.key, batch)).returning({ key: idempotencyKeys.key });
    deleted += rows.length;
    if (rows.length < pruneBatchSizeMax) return deleted;
  }
}

/** How many keys are kept (for tests and operators). */
export async function countKeys(db: Database): Promise<number> {
  const [row] = await db.select({ n: sql<bigint>`count(*)::int8` }).from(idempotencyKeys);
  return Number(row?.n ?? 0n);
}
