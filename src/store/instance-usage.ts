// Applies a reconciliation plan to the ledger in the caller's transaction: new entries, draft updates,
// and what they move (balances and usage totals), all in ONE statement with one array parameter per
// column (unnest): a reconcile page costs one round trip, and the entries never travel back to Tally.
//
// Correctness does not depend on what the plan saw still being true: inserts skip instances that
// have an entry (usage_instance_key_idx: one entry per instance, even with two replicas at once),
// and a draft is updated only if it still holds what the plan expected. The balances and totals move by exactly what was written:
// they are summed (int8, exact) from the rows the INSERT and UPDATE return, in the same statement,
// by the rules of domain/ledger-totals.ts (balanceDeltas, totalsDeltas), which
// test/ledger-property.test.ts and test/list-usage-oracle.test.ts check against the ledger.
//
// Lock order (so concurrent reconciles and cost-center changes do not deadlock): draft rows in id
// order, then new entries by instance id, then daily totals rows, then user monthly totals rows
// (each sorted by key in code-point order, as totalsDeltas sorts them), then balance rows last
// (sorted as addToBalances sorts them); the statement's final SELECT reads its sub-statements in
// that order.
// Balance rows last: nearly every page moves most teams' balances, so two pages written at once
// queue on those rows, and only for the end of the statement and the commit. moveLedgerTotals (the
// Gitpod import's entries) takes the same order; writers that lock a balance row first (credit
// notes, cost centers) hold no totals rows. The drafts are updated in the order of a sorted
// subquery, which the planner follows with a nested loop over the primary key. Should it ever choose
// another plan, the worst case is a deadlock that PostgreSQL detects and inTransaction retries; an
// explicit SELECT ... FOR UPDATE first would make the order certain, but it writes every draft twice
// (a lock is a tuple change), halving the speed of the ledger job's steady state.
import assert from "node:assert/strict";
import { sql } from "drizzle-orm";
import { instanceUsageDescription, type DraftUpdate, type InstanceUsage } from "../domain/reconciliation.js";
import { epochMsArray, epochMsTime } from "./epoch-time.js";
import { boolArray, plainArray, textArray } from "./pg-arrays.js";
import { rowsOf } from "./raw-result.js";
import { instanceKeyedIn } from "./schema.js";
import { uuidV7 } from "./uuid-v7.js";
import type { Database } from "./database.js";
import type { Transaction } from "./transactions.js";

export interface AppliedUsage {
  readonly inserted: number;
  readonly updated: number;
  /** Of the entries inserted or updated, those written final (not draft). */
  readonly finalized: number;
  /** The balance change per attribution id this transaction made (ids whose balance moved). */
  readonly deltas: ReadonlyMap<string, bigint>;
}

interface AppliedRow {
  inserted: bigint | string | number;
  updated: bigint | string | number;
  finalized: bigint | string | number;
  // Not read: selecting each data-modifying CTE's count is what orders their execution (the lock
  // order above); a CTE nobody reads still runs, but last, after the balances.
  balances: bigint | string | number;
  totals: bigint | string | number;
  user_totals: bigint | string | number;
  /** [[attribution id, delta as text], ...] or null. */
  moved: Array<[string, string]> | string | null;
}

/**
 * In the caller's transaction, or on its own: it is one statement, atomic by itself, so a caller
 * with nothing else to write in the same transaction spares the BEGIN and COMMIT round trips.
 */
export async function applyInstanceUsage(
  tx: Transaction | Database,
  plan: { readonly inserts: readonly InstanceUsage[]; readonly updates: readonly DraftUpdate[] },
  now: Date,
): Promise<AppliedUsage> {
  const { inserts, updates } = plan;
  if (inserts.length === 0 && updates.length === 0) return { inserted: 0, updated: 0, finalized: 0, deltas: new Map() };
  const nowText = now.toISOString();
  // One array literal per column (pg-arrays.ts); the metadata documents as one JSON array.
  const plain = <T>(items: readonly T[], pick: (item: T) => string | null) => plainArray(items.map(pick));
  const text = <T>(items: readonly T[], pick: (item: T) => string | null) => textArray(items.map(pick));
  const bools = <T>(items: readonly T[], pick: (item: T) => boolean) => boolArray(items.map(pick));
  const jsonArray = <T>(items: readonly T[], pick: (item: T) => unknown) =>
    sql`ARRAY(SELECT m.value FROM jsonb_array_elements(${JSON.stringify(items.map(pick))}::jsonb) WITH ORDINALITY AS m(value, n) ORDER BY m.n)`;
  const result = await tx.execute(sql`
    WITH planned_updates AS (
      SELECT r.id, r.expected_attribution_id, r.expected_credit_cents, ${epochMsTime(sql`r.expected_effective_ms`)} AS expected_effective_time,
        r.expected_workspace_class, r.expected_user_id, r.attribution_id, r.credit_cents, ${epochMsTime(sql`r.effective_ms`)} AS effective_time,
        r.draft, r.metadata
      FROM unnest(
        ${plain(updates, (u) => u.entryId)}::uuid[],
        ${text(updates, (u) => u.expected.attributionId)}::text[],
        ${plain(updates, (u) => u.expected.creditCents.toString())}::int8[],
        ${epochMsArray(updates.map((u) => u.expected.effectiveTime))}::float8[],
        ${text(updates, (u) => u.expected.workspaceClass)}::text[],
        ${text(updates, (u) => u.expected.userId)}::text[],
        ${text(updates, (u) => u.next.attributionId)}::text[],
        ${plain(updates, (u) => u.next.creditCents.toString())}::int8[],
        ${epochMsArray(updates.map((u) => u.next.effectiveTime))}::float8[],
        ${bools(updates, (u) => u.next.draft)}::bool[],
        ${jsonArray(updates, (u) => u.next.metadata)}
      ) AS r(id, expected_attribution_id, expected_credit_cents, expected_effective_ms, expected_workspace_class,
        expected_user_id, attribution_id, credit_cents, effective_ms, draft, metadata)
      ORDER BY r.id
    ), updated AS (
      UPDATE usage AS u SET
        attribution_id = x.attribution_id, credit_cents = x.credit_cents, effective_time = x.effective_time,
        draft = x.draft, metadata = x.metadata, updated_at = ${nowText}::timestamptz
      FROM planned_updates AS x
      -- "draft IS NOT FALSE" (draft is NOT NULL, so: draft) on purpose: a plain "draft" lets the planner
      -- scan and sort every draft through the partial drafts index when statistics say there are none.
      WHERE u.id = x.id AND u.draft IS NOT FALSE
        AND u.attribution_id = x.expected_attribution_id AND u.credit_cents = x.expected_credit_cents
        AND u.effective_time = x.expected_effective_time
        AND (u.metadata ->> 'workspaceClass') IS NOT DISTINCT FROM x.expected_workspace_class
        AND (u.metadata ->> 'userId') IS NOT DISTINCT FROM x.expected_user_id
      RETURNING u.attribution_id, u.credit_cents, u.effective_time, u.metadata ->> 'workspaceClass' AS workspace_class,
        u.metadata ->> 'userId' AS user_id, u.draft, x.expected_attribution_id, x.expected_credit_cents, x.expected_effective_time,
        x.expected_workspace_class, x.expected_user_id
    ), inserted AS (
      INSERT INTO usage (id, attribution_id, source_key, kind, description, credit_cents, effective_time,
        workspace_instance_id, draft, metadata, created_at, updated_at)
      SELECT x.id, x.attribution_id, x.source_key, 'workspaceinstance', ${instanceUsageDescription},
        x.credit_cents, ${epochMsTime(sql`x.effective_ms`)}, x.workspace_instance_id, x.draft, x.metadata,
        ${nowText}::timestamptz, ${nowText}::timestamptz
      FROM unnest(
        ${plain(inserts, () => uuidV7(now))}::uuid[],
        ${text(inserts, (i) => i.sourceKey)}::text[],
        ${text(inserts, (i) => i.attributionId)}::text[],
        ${plain(inserts, (i) => i.workspaceInstanceId)}::uuid[],
        ${plain(inserts, (i) => i.creditCents.toString())}::int8[],
        ${epochMsArray(inserts.map((i) => i.effectiveTime))}::float8[],
        ${bools(inserts, (i) => i.draft)}::bool[],
        ${jsonArray(inserts, (i) => i.metadata)}
      ) AS x(id, source_key, attribution_id, workspace_instance_id, credit_cents, effective_ms, draft, metadata)
      ORDER BY x.workspace_instance_id
      ON CONFLICT (workspace_instance_id) WHERE ${instanceKeyedIn()} DO NOTHING
      RETURNING attribution_id, credit_cents, effective_time, metadata ->> 'workspaceClass' AS workspace_class,
        metadata ->> 'userId' AS user_id, draft
    ), changes AS (
      -- What was written (+1 entry, +credits) and what a rewritten draft held before (-1, -credits).
      SELECT expected_attribution_id AS attribution_id, -expected_credit_cents AS credit_cents, -1 AS entries,
        expected_effective_time AS effective_time, expected_workspace_class AS workspace_class, expected_user_id AS user_id
      FROM updated
      UNION ALL
      SELECT attribution_id, credit_cents, 1, effective_time, workspace_class, user_id FROM updated
      UNION ALL
      SELECT attribution_id, credit_cents, 1, effective_time, workspace_class, user_id FROM inserted
    ), moved AS (
      SELECT attribution_id, sum(credit_cents)::int8 AS delta FROM changes GROUP BY attribution_id HAVING sum(credit_cents) <> 0
    ), balances_moved AS (
      INSERT INTO balances (attribution_id, balance_cents, updated_at)
      SELECT attribution_id, delta, ${nowText}::timestamptz FROM moved
      ORDER BY attribution_id
      ON CONFLICT (attribution_id) DO UPDATE SET
        balance_cents = balances.balance_cents + excluded.balance_cents,
        updated_at = excluded.updated_at
      RETURNING 1
    ), totals_moved AS (
      -- Per (attribution id, UTC day, workspace class), for all users, as totalsDeltas keys them.
      INSERT INTO usage_daily_totals (attribution_id, day, workspace_class, entries, credit_cents)
      SELECT k.attribution_id, k.day, k.workspace_class, sum(k.entries)::int8, sum(k.credit_cents)::int8
      FROM (
        SELECT c.attribution_id, (c.effective_time AT TIME ZONE 'UTC')::date AS day,
          coalesce(c.workspace_class, '') AS workspace_class, c.entries, c.credit_cents
        FROM changes c
      ) AS k
      GROUP BY k.attribution_id, k.day, k.workspace_class
      HAVING sum(k.entries) <> 0 OR sum(k.credit_cents) <> 0
      ORDER BY k.attribution_id COLLATE "C", k.day, k.workspace_class COLLATE "C"
      ON CONFLICT (attribution_id, day, workspace_class) DO UPDATE SET
        entries = usage_daily_totals.entries + excluded.entries,
        credit_cents = usage_daily_totals.credit_cents + excluded.credit_cents
      RETURNING 1
    ), user_totals_moved AS (
      -- Per (attribution id, user id, UTC month) for entries that name a user, as totalsDeltas keys them.
      INSERT INTO usage_user_monthly_totals (attribution_id, user_id, month, entries, credit_cents)
      SELECT k.attribution_id, k.user_id, k.month, sum(k.entries)::int8, sum(k.credit_cents)::int8
      FROM (
        SELECT c.attribution_id, c.user_id, date_trunc('month', c.effective_time AT TIME ZONE 'UTC')::date AS month,
          c.entries, c.credit_cents
        FROM changes c
        WHERE c.user_id <> ''
      ) AS k
      GROUP BY k.attribution_id, k.user_id, k.month
      HAVING sum(k.entries) <> 0 OR sum(k.credit_cents) <> 0
      ORDER BY k.attribution_id COLLATE "C", k.user_id COLLATE "C", k.month
      ON CONFLICT (attribution_id, user_id, month) DO UPDATE SET
        entries = usage_user_monthly_totals.entries + excluded.entries,
        credit_cents = usage_user_monthly_totals.credit_cents + excluded.credit_cents
      RETURNING 1
    )
    SELECT (SELECT count(*) FROM updated)::int8 AS updated,
      (SELECT count(*) FROM inserted)::int8 AS inserted,
      ((SELECT count(*) FROM updated WHERE NOT draft) + (SELECT count(*) FROM inserted WHERE NOT draft))::int8 AS finalized,
      (SELECT count(*) FROM totals_moved)::int8 AS totals,
      (SELECT count(*) FROM user_totals_moved)::int8 AS user_totals,
      (SELECT count(*) FROM balances_moved)::int8 AS balances,
      (SELECT json_agg(json_build_array(attribution_id, delta::text)) FROM moved) AS moved`);
  const [row] = rowsOf<AppliedRow>(result);
  assert(row, "the reconcile write returned no row");
  const inserted = Number(row.inserted);
  const updated = Number(row.updated);
  assert(inserted <= inserts.length, "inserted more usage entries than planned");
  assert(updated <= updates.length, "updated more drafts than planned");
  const moved = typeof row.moved === "string" ? (JSON.parse(row.moved) as Array<[string, string]>) : (row.moved ?? []);
  return { inserted, updated, finalized: Number(row.finalized), deltas: new Map(moved.map(([attributionId, delta]) => [attributionId, BigInt(delta)])) };
}
