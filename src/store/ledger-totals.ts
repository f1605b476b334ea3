// What every ledger write keeps up in its own transaction: the balance row of each attribution id
// and the usage totals, daily and per user and month (domain/ledger-totals.ts). Single entries
// (credit notes, invoices, the Gitpod import) report the entries' before/after here; reconcile's page
// write moves them all by the same rules inside its one statement (store/instance-usage.ts). Nothing
// else changes these tables.
import { sql } from "drizzle-orm";
import { balanceDeltas, totalsDeltas, type DailyTotalsDelta, type EntryChange, type UserMonthlyTotalsDelta } from "../domain/ledger-totals.js";
import { addToBalances } from "./balances.js";
import type { Transaction } from "./transactions.js";

/**
 * Moves balances and totals by what `changes` did to the ledger. Returns the balance change per
 * attribution id. Locks daily totals rows first, then user monthly totals rows, then balance rows,
 * each in a fixed key order, as reconcile's page write does (balance rows last: they are the rows
 * concurrent writers share most), so no two writers of workspace-instance entries wait on each
 * other in a cycle.
 */
export async function moveLedgerTotals(tx: Transaction, changes: readonly EntryChange[], now: Date): Promise<Map<string, bigint>> {
  const deltas = balanceDeltas(changes);
  const totals = totalsDeltas(changes);
  await addToDailyTotals(tx, totals.daily);
  await addToUserMonthlyTotals(tx, totals.userMonthly);
  await addToBalances(tx, deltas, now);
  return deltas;
}

/** One statement, one JSON parameter; rows are locked in the order of `deltas` (WITH ORDINALITY). */
async function addToDailyTotals(tx: Transaction, deltas: readonly DailyTotalsDelta[]): Promise<void> {
  if (deltas.length === 0) return;
  const rows = deltas.map((delta) => [delta.attributionId, delta.day, delta.workspaceClass, delta.entries.toString(), delta.creditCents.toString()]);
  await tx.execute(sql`
    INSERT INTO usage_daily_totals (attribution_id, day, workspace_class, entries, credit_cents)
    SELECT x.value->>0, (x.value->>1)::date, x.value->>2, (x.value->>3)::int8, (x.value->>4)::int8
    FROM jsonb_array_elements(${JSON.stringify(rows)}::jsonb) WITH ORDINALITY AS x(value, position)
    ORDER BY x.position
    ON CONFLICT (attribution_id, day, workspace_class) DO UPDATE SET
      entries = usage_daily_totals.entries + excluded.entries,
      credit_cents = usage_daily_totals.credit_cents + excluded.credit_cents`);
}

/** As addToDailyTotals, for the rows of one user and month. */
async function addToUserMonthlyTotals(tx: Transaction, deltas: readonly UserMonthlyTotalsDelta[]): Promise<void> {
  if (deltas.length === 0) return;
  const rows = deltas.map((delta) => [delta.attributionId, delta.userId, delta.month, delta.entries.toString(), delta.creditCents.toString()]);
  await tx.execute(sql`
    INSERT INTO usage_user_monthly_totals (attribution_id, user_id, month, entries, credit_cents)
    SELECT x.value->>0, x.value->>1, (x.value->>2)::date, (x.value->>3)::int8, (x.value->>4)::int8
    FROM jsonb_array_elements(${JSON.stringify(rows)}::jsonb) WITH ORDINALITY AS x(value, position)
    ORDER BY x.position
    ON CONFLICT (attribution_id, user_id, month) DO UPDATE SET
      entries = usage_user_monthly_totals.entries + excluded.entries,
      credit_cents = usage_user_monthly_totals.credit_cents + excluded.credit_cents`);
}
