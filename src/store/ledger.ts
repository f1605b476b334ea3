// The usage ledger: inserting entries (with their balance change) and querying them.
import { and, asc, desc, eq, gte, lt, sql, type SQL } from "drizzle-orm";
import { deltasByAttribution, type LedgerEntry } from "../domain/ledger-entry.js";
import { pageOffset, type UsageQuery } from "../domain/usage-query.js";
import { addToBalances } from "./balances.js";
import type { Database } from "./database.js";
import { usage } from "./schema.js";
import type { Transaction } from "./transactions.js";

/**
 * Inserts entries whose source key is new and moves the balances by exactly the inserted amounts,
 * in the caller's transaction. Entries whose key exists are left alone (a replay is a result, not an
 * error). Returns the source keys that were inserted.
 */
export async function insertEntries(tx: Transaction, entries: readonly LedgerEntry[], now: Date): Promise<Set<string>> {
  if (entries.length === 0) return new Set();
  const inserted = await tx
    .insert(usage)
    .values(entries.map((entry) => ({ ...entry, createdAt: now, updatedAt: now })))
    .onConflictDoNothing({ target: usage.sourceKey })
    .returning({ sourceKey: usage.sourceKey, attributionId: usage.attributionId, creditCents: usage.creditCents });
  await addToBalances(tx, deltasByAttribution(inserted), now);
  return new Set(inserted.map((row) => row.sourceKey));
}

export interface UsagePage {
  readonly entries: LedgerEntry[];
  readonly total: number;
  readonly creditCentsSum: bigint;
}

/** Workspace-instance entries of one attribution id in [from, to), of one user if given (usage_instance_time_idx). */
export function workspaceUsageFilter(query: Pick<UsageQuery, "attributionId" | "from" | "to" | "userId">): SQL {
  const conditions = [
    eq(usage.attributionId, query.attributionId),
    eq(usage.kind, "workspaceinstance"),
    gte(usage.effectiveTime, query.from),
    lt(usage.effectiveTime, query.to),
  ];
  if (query.userId !== undefined) conditions.push(sql`${usage.metadata}->>'userId' = ${query.userId}`);
  return and(...conditions)!;
}

/** One page of workspace-instance entries, plus count and sum over all matching entries. */
export async function listUsage(db: Database, query: UsageQuery): Promise<UsagePage> {
  const where = workspaceUsageFilter(query);
  const direction = query.order === "ascending" ? asc : desc;
  const [summary] = await db
    .select({ total: sql<bigint>`count(*)::int8`, creditCentsSum: sql<bigint>`coalesce(sum(${usage.creditCents}), 0)::int8` })
    .from(usage)
    .where(where);
  const rows = await db
    .select()
    .from(usage)
    .where(where)
    .orderBy(direction(usage.effectiveTime), direction(usage.id))
    .limit(query.perPage)
    .offset(pageOffset(query));
  return {
    entries: rows.map(toEntry),
    total: Number(summary?.total ?? 0n),
    creditCentsSum: BigInt(summary?.creditCentsSum ?? 0n),
  };
}

/** Entries of any kind for an attribution id, newest first; for operators (CLI, dashboard). */
export async function listEntries(db: Database, attributionId: string, limit: number): Promise<LedgerEntry[]> {
  const rows = await db
    .select()
    .from(usage)
    .where(eq(usage.attributionId, attributionId))
    .orderBy(desc(usage.effectiveTime), desc(usage.id))
    .limit(limit);
  return rows.map(toEntry);
}

/** SUM(ledger) of one attribution id: the slow truth the balance row is checked against. */
export async function sumLedgerCents(db: Database, attributionId: string): Promise<bigint> {
  const [row] = await db
    .select({ sum: sql<bigint>`coalesce(sum(${usage.creditCents}), 0)::int8` })
    .from(usage)
    .where(eq(usage.attributionId, attributionId));
  return BigInt(row?.sum ?? 0n);
}

export function toEntry(row: typeof usage.$inferSelect): LedgerEntry {
  return {
    id: row.id,
    attributionId: row.attributionId,
    sourceKey: row.sourceKey,
    kind: row.kind,
    description: row.description,
    creditCents: row.creditCents,
    effectiveTime: row.effectiveTime,
    workspaceInstanceId: row.workspaceInstanceId,
    draft: row.draft,
    metadata: row.metadata,
  };
}
