// Versioned cost centers: the highest version of an attribution id is current.
import { and, desc, eq, lte, sql } from "drizzle-orm";
import type { BillingStrategy, StoredCostCenter } from "../domain/cost-center.js";
import type { CostCenter } from "../domain/cost-center.js";
import type { Database } from "./database.js";
import { costCenters } from "./schema.js";
import type { Transaction } from "./transactions.js";

export async function getCurrentCostCenter(db: Database, attributionId: string): Promise<StoredCostCenter | undefined> {
  const [row] = await db
    .select()
    .from(costCenters)
    .where(eq(costCenters.attributionId, attributionId))
    .orderBy(desc(costCenters.version))
    .limit(1);
  return row ? toCostCenter(row) : undefined;
}

/** The spending limit of the newest version billed OTHER, if any. */
export async function lastOtherSpendingLimit(db: Database, attributionId: string): Promise<number | undefined> {
  const [row] = await db
    .select({ spendingLimitCredits: costCenters.spendingLimitCredits })
    .from(costCenters)
    .where(and(eq(costCenters.attributionId, attributionId), eq(costCenters.billingStrategy, "other")))
    .orderBy(desc(costCenters.version))
    .limit(1);
  return row?.spendingLimitCredits;
}

/** Inserts the next version. The caller holds the attribution lock, so `version` is free. */
export async function insertCostCenterVersion(
  tx: Transaction,
  costCenter: CostCenter,
  version: number,
  now: Date,
): Promise<StoredCostCenter> {
  const [row] = await tx
    .insert(costCenters)
    .values({ ...costCenter, version, createdAt: now })
    .returning();
  if (!row) throw new Error("insert returned no row");
  return toCostCenter(row);
}

/**
 * Inserts many versions in one statement (the Gitpod import). Without the attribution lock: a version
 * someone else inserted first makes the statement fail on the primary key, and nothing is written.
 */
export async function insertCostCenterVersions(
  tx: Transaction,
  versions: readonly { costCenter: CostCenter; version: number; createdAt: Date }[],
): Promise<void> {
  if (versions.length === 0) return;
  await tx.insert(costCenters).values(versions.map(({ costCenter, version, createdAt }) => ({ ...costCenter, version, createdAt })));
}

export async function listCostCenterHistory(db: Database, attributionId: string): Promise<StoredCostCenter[]> {
  const rows = await db
    .select()
    .from(costCenters)
    .where(eq(costCenters.attributionId, attributionId))
    .orderBy(desc(costCenters.version));
  return rows.map(toCostCenter);
}

/** The row is its attribution id's current version: no newer version exists. */
const isCurrentVersion = sql`NOT EXISTS (SELECT 1 FROM cost_centers newer
  WHERE newer.attribution_id = ${costCenters.attributionId} AND newer.version > ${costCenters.version})`;

/**
 * Attribution ids whose current cost center has `strategy` (and, with `dueBy`, a next billing time
 * at or before it), after `afterId`, in id order: one page of at most `limit`.
 */
export async function listCurrentAttributionIds(
  db: Database,
  query: { strategy: BillingStrategy; dueBy?: Date; afterId: string; limit: number },
): Promise<string[]> {
  const rows = await db
    .select({ attributionId: costCenters.attributionId })
    .from(costCenters)
    .where(
      and(
        eq(costCenters.billingStrategy, query.strategy),
        query.dueBy ? lte(costCenters.nextBillingTime, query.dueBy) : undefined,
        sql`${costCenters.attributionId} > ${query.afterId}`,
        isCurrentVersion,
      ),
    )
    .orderBy(costCenters.attributionId)
    .limit(query.limit);
  return rows.map((row) => row.attributionId);
}

export function toCostCenter(row: typeof costCenters.$inferSelect): StoredCostCenter {
  return {
    attributionId: row.attributionId,
    version: row.version,
    spendingLimitCredits: row.spendingLimitCredits,
    billingStrategy: row.billingStrategy,
    billingCycleStart: row.billingCycleStart,
    nextBillingTime: row.nextBillingTime,
    createdAt: row.createdAt,
  };
}
