// Applies a reconciliation plan to the ledger in the caller's transaction: new entries, draft updates
// and the balance change, each a single batched statement.
//
// Correctness does not depend on what the plan saw still being true: inserts skip source keys that
// exist (one entry per instance, even with two replicas at once), and a draft is updated only if it
// still holds what the plan expected. The balance moves by exactly what was written, computed from
// the rows the statements report back.
//
// Lock order (so concurrent reconciles and cost-center changes do not deadlock): draft rows in id
// order, then new source keys sorted, then balance rows and daily totals rows, each sorted
// (moveLedgerTotals).
// The drafts are updated in the order of a sorted subquery, which the planner follows with a nested
// loop over the primary key. Should it ever choose another plan, the worst case is a deadlock that
// PostgreSQL detects and inTransaction retries; an explicit SELECT ... FOR UPDATE first would make
// the order certain, but it writes every draft twice (a lock is a tuple change), halving the speed of
// the ledger job's steady state.
import assert from "node:assert/strict";
import { sql } from "drizzle-orm";
import type { EntryChange, TotalsEntry } from "../domain/ledger-totals.js";
import { instanceUsageDescription, type DraftUpdate, type InstanceUsage } from "../domain/reconciliation.js";
import { moveLedgerTotals } from "./ledger-totals.js";
import { rowsOf } from "./raw-result.js";
import { uuidV7 } from "./uuid-v7.js";
import type { Transaction } from "./transactions.js";

export interface AppliedUsage {
  readonly inserted: number;
  readonly updated: number;
  /** Of the entries inserted or updated, those written final (not draft). */
  readonly finalized: number;
  /** The balance change per attribution id this transaction made. */
  readonly deltas: ReadonlyMap<string, bigint>;
}

/** A written entry's change of the totals, and whether it is final now. */
type WrittenEntry = EntryChange & { readonly final: boolean };

export async function applyInstanceUsage(
  tx: Transaction,
  plan: { readonly inserts: readonly InstanceUsage[]; readonly updates: readonly DraftUpdate[] },
  now: Date,
): Promise<AppliedUsage> {
  const updated = await updateDrafts(tx, plan.updates, now);
  const inserted = await insertUsage(tx, plan.inserts, now);
  const deltas = await moveLedgerTotals(tx, [...updated, ...inserted], now);
  const finalized = [...updated, ...inserted].filter((change) => change.final).length;
  return { inserted: inserted.length, updated: updated.length, finalized, deltas };
}

/** The columns of a written entry that its totals depend on (TotalsEntry), as RETURNING lists them. */
const returnedTotals = sql.raw(`attribution_id, credit_cents, effective_time,
  metadata ->> 'workspaceClass' AS workspace_class, metadata ->> 'userId' AS user_id, draft`);

interface ReturnedTotals {
  attribution_id: string;
  credit_cents: bigint | string | number;
  effective_time: Date | string;
  workspace_class: string | null;
  user_id: string | null;
  draft: boolean;
}

function toTotalsEntry(row: ReturnedTotals): TotalsEntry {
  return {
    attributionId: row.attribution_id,
    kind: "workspaceinstance",
    creditCents: BigInt(row.credit_cents),
    effectiveTime: row.effective_time instanceof Date ? row.effective_time : new Date(row.effective_time),
    workspaceClass: row.workspace_class,
    userId: row.user_id,
  };
}

async function insertUsage(
  tx: Transaction,
  inserts: readonly InstanceUsage[],
  now: Date,
): Promise<WrittenEntry[]> {
  if (inserts.length === 0) return [];
  const rows = inserts.map((usage) => ({
    id: uuidV7(now),
    source_key: usage.sourceKey,
    attribution_id: usage.attributionId,
    workspace_instance_id: usage.workspaceInstanceId,
    credit_cents: usage.creditCents.toString(),
    effective_time: usage.effectiveTime.toISOString(),
    draft: usage.draft,
    metadata: usage.metadata,
  }));
  const nowText = now.toISOString();
  const result = await tx.execute(sql`
    INSERT INTO usage (id, attribution_id, source_key, kind, description, credit_cents, effective_time,
      workspace_instance_id, draft, metadata, created_at, updated_at)
    SELECT x.id, x.attribution_id, x.source_key, 'workspaceinstance', ${instanceUsageDescription},
      x.credit_cents, x.effective_time, x.workspace_instance_id, x.draft, x.metadata,
      ${nowText}::timestamptz, ${nowText}::timestamptz
    FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS x(
      id uuid, source_key text, attribution_id text, workspace_instance_id uuid, credit_cents int8,
      effective_time timestamptz, draft boolean, metadata jsonb)
    ORDER BY x.source_key
    ON CONFLICT (source_key) DO NOTHING
    RETURNING ${returnedTotals}`);
  const written = rowsOf<ReturnedTotals>(result).map((row) => ({ after: toTotalsEntry(row), final: !row.draft }));
  assert(written.length <= inserts.length, "inserted more usage entries than planned");
  return written;
}

async function updateDrafts(tx: Transaction, updates: readonly DraftUpdate[], now: Date): Promise<WrittenEntry[]> {
  if (updates.length === 0) return [];
  const rows = updates.map((update) => ({
    id: update.entryId,
    expected_attribution_id: update.expected.attributionId,
    expected_credit_cents: update.expected.creditCents.toString(),
    expected_effective_time: update.expected.effectiveTime.toISOString(),
    expected_workspace_class: update.expected.workspaceClass,
    expected_user_id: update.expected.userId,
    attribution_id: update.next.attributionId,
    credit_cents: update.next.creditCents.toString(),
    effective_time: update.next.effectiveTime.toISOString(),
    draft: update.next.draft,
    metadata: update.next.metadata,
  }));
  const result = await tx.execute(sql`
    UPDATE usage AS u SET
      attribution_id = x.attribution_id, credit_cents = x.credit_cents, effective_time = x.effective_time,
      draft = x.draft, metadata = x.metadata, updated_at = ${now.toISOString()}::timestamptz
    FROM (
      SELECT * FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS r(
        id uuid, expected_attribution_id text, expected_credit_cents int8, expected_effective_time timestamptz,
        expected_workspace_class text, expected_user_id text, attribution_id text, credit_cents int8,
        effective_time timestamptz, draft boolean, metadata jsonb)
      ORDER BY r.id
    ) AS x
    -- "draft IS NOT FALSE" (draft is NOT NULL, so: draft) on purpose: a plain "draft" lets the planner
    -- scan and sort every draft through the partial drafts index when statistics say there are none.
    WHERE u.id = x.id AND u.draft IS NOT FALSE
      AND u.attribution_id = x.expected_attribution_id AND u.credit_cents = x.expected_credit_cents
      AND u.effective_time = x.expected_effective_time
      AND (u.metadata ->> 'workspaceClass') IS NOT DISTINCT FROM x.expected_workspace_class
      AND (u.metadata ->> 'userId') IS NOT DISTINCT FROM x.expected_user_id
    RETURNING u.attribution_id, u.credit_cents, u.effective_time, u.metadata ->> 'workspaceClass' AS workspace_class,
      u.metadata ->> 'userId' AS user_id, u.draft, x.id AS entry_id`);
  const rowsOut = rowsOf<ReturnedTotals & { entry_id: string }>(result);
  assert(rowsOut.length <= updates.length, "updated more drafts than planned");
  const expectedById = new Map(updates.map((update) => [update.entryId, update.expected]));
  return rowsOut.map((row) => {
    const expected = expectedById.get(row.entry_id);
    assert(expected, `updated draft ${row.entry_id} that was not planned`);
    return { before: { kind: "workspaceinstance", ...expected }, after: toTotalsEntry(row), final: !row.draft };
  });
}
