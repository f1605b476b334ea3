// The balance row of each attribution id: read in O(1), changed only with ledger entries.
import { eq, sql } from "drizzle-orm";
import type { Database } from "./database.js";
import { balances } from "./schema.js";
import type { Transaction } from "./transactions.js";

const selectBalance = (db: Database) =>
  db
    .select({ balanceCents: balances.balanceCents })
    .from(balances)
    .where(eq(balances.attributionId, sql.placeholder("attributionId")))
    .prepare("tally_select_balance");

const preparedByDb = new WeakMap<Database, ReturnType<typeof selectBalance>>();

/** The balance in credit cents; 0 for an attribution id never seen. One indexed row read. */
export async function getBalanceCents(db: Database, attributionId: string): Promise<bigint> {
  let prepared = preparedByDb.get(db);
  if (!prepared) {
    prepared = selectBalance(db);
    preparedByDb.set(db, prepared);
  }
  const [row] = await prepared.execute({ attributionId });
  return row?.balanceCents ?? 0n;
}

/**
 * Locks the attribution id's balance row for the rest of the transaction, creating it at 0 if new,
 * and returns the balance. All mutations of one attribution id take this lock first, which
 * serialises them (cost-center versions, resets, ledger entries) without advisory locks.
 *
 * One statement: the no-op DO UPDATE locks an existing row like SELECT ... FOR UPDATE (it names the
 * key column, so the lock is the exclusive kind), waits for a concurrent holder and then returns the
 * balance it committed. `updated_at` is left alone: only a balance change moves it.
 */
export async function lockAttribution(tx: Transaction, attributionId: string, now: Date): Promise<bigint> {
  const [row] = await tx
    .insert(balances)
    .values({ attributionId, balanceCents: 0n, updatedAt: now })
    .onConflictDoUpdate({ target: balances.attributionId, set: { attributionId: sql`excluded.attribution_id` } })
    .returning({ balanceCents: balances.balanceCents });
  if (!row) throw new Error(`locking the balance row of ${attributionId} returned no row`);
  return row.balanceCents;
}

/**
 * Adds `deltaCents` to each attribution id's balance, in a stable order so transactions never
 * deadlock. One statement with one JSON parameter however many ids (a reconcile page moves hundreds).
 */
export async function addToBalances(tx: Transaction, deltas: ReadonlyMap<string, bigint>, now: Date): Promise<void> {
  const rows = [...deltas.entries()]
    .filter(([, delta]) => delta !== 0n)
    .map(([attributionId, delta]) => ({ attribution_id: attributionId, delta: delta.toString() }));
  if (rows.length === 0) return;
  await tx.execute(sql`
    INSERT INTO balances (attribution_id, balance_cents, updated_at)
    SELECT x.attribution_id, x.delta, ${now.toISOString()}::timestamptz
    FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS x(attribution_id text, delta int8)
    ORDER BY x.attribution_id
    ON CONFLICT (attribution_id) DO UPDATE SET
      balance_cents = balances.balance_cents + excluded.balance_cents,
      updated_at = excluded.updated_at`);
}
