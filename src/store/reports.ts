// Read-only queries behind ReportService: cost-center history, credit notes and invoices, and usage
// summed per day and workspace class.
import { and, desc, eq, ne, sql } from "drizzle-orm";
import type { StoredCostCenter } from "../domain/cost-center.js";
import type { LedgerEntry } from "../domain/ledger-entry.js";
import type { PagedQuery, DailyUsageQuery } from "../domain/report-query.js";
import { pageOffset } from "../domain/usage-query.js";
import { toCostCenter } from "./cost-centers.js";
import type { Database } from "./database.js";
import { rangeTotals, toEntry } from "./ledger.js";
import { rowsOf } from "./raw-result.js";
import { costCenters, usage } from "./schema.js";

export interface Paged<T> {
  readonly items: T[];
  readonly total: number;
}

export async function listCostCenterVersions(db: Database, query: PagedQuery): Promise<Paged<StoredCostCenter>> {
  const where = eq(costCenters.attributionId, query.attributionId);
  const [summary] = await db.select({ total: sql<bigint>`count(*)::int8` }).from(costCenters).where(where);
  const rows = await db
    .select()
    .from(costCenters)
    .where(where)
    .orderBy(desc(costCenters.version))
    .limit(query.perPage)
    .offset(pageOffset(query));
  return {
    items: rows.map(toCostCenter),
    total: Number(summary?.total ?? 0n),
  };
}

/** Credit notes and invoices, newest first. `kind <> 'workspaceinstance'` matches usage_payments_idx. */
export async function listCreditNotesAndInvoices(db: Database, query: PagedQuery): Promise<Paged<LedgerEntry>> {
  const where = and(eq(usage.attributionId, query.attributionId), ne(usage.kind, "workspaceinstance"));
  const [summary] = await db.select({ total: sql<bigint>`count(*)::int8` }).from(usage).where(where);
  const rows = await db
    .select()
    .from(usage)
    .where(where)
    .orderBy(desc(usage.effectiveTime), desc(usage.id))
    .limit(query.perPage)
    .offset(pageOffset(query));
  return {
    items: rows.map(toEntry),
    total: Number(summary?.total ?? 0n),
  };
}

export interface DailyUsageRow {
  /** Midnight UTC. */
  readonly day: Date;
  /** "" when the entry's metadata names no workspace class. */
  readonly workspaceClass: string;
  readonly creditCents: bigint;
  readonly entries: number;
}

/**
 * Workspace-instance usage in [from, to) summed per UTC day and workspace class, ordered by day
 * and class; at most `rowsMax` rows (the caller asks for one more to detect overflow). Whole days
 * come from usage_daily_totals, partial edge days from the ledger (rangeTotals), like ListUsage's
 * totals, so the cost is set by the range's days, not by the history.
 */
export async function sumDailyUsage(db: Database, query: DailyUsageQuery, rowsMax: number): Promise<DailyUsageRow[]> {
  const parts = rangeTotals(query, { byClass: true });
  if (!parts) return [];
  // The day as text (not a date) so both drivers return the same thing whatever the session time zone.
  const result = await db.execute(sql`
    SELECT to_char(t.day, 'YYYY-MM-DD') AS day, t.workspace_class, sum(t.credit_cents)::int8 AS credit_cents,
      sum(t.entries)::int8 AS entries
    FROM (${parts}) AS t
    GROUP BY t.day, t.workspace_class
    HAVING sum(t.entries) <> 0
    ORDER BY t.day, t.workspace_class
    LIMIT ${rowsMax}`);
  return rowsOf<{ day: string; workspace_class: string; credit_cents: bigint | string | number; entries: bigint | string | number }>(
    result,
  ).map((row) => ({
    day: new Date(`${row.day}T00:00:00Z`),
    workspaceClass: row.workspace_class,
    creditCents: BigInt(row.credit_cents),
    entries: Number(row.entries),
  }));
}
