// Read-only queries behind ReportService: cost-center history, credit notes and invoices, and usage
// summed per day and workspace class.
import { and, asc, desc, eq, ne, sql } from "drizzle-orm";
import type { StoredCostCenter } from "../domain/cost-center.js";
import type { LedgerEntry } from "../domain/ledger-entry.js";
import type { PagedQuery, DailyUsageQuery } from "../domain/report-query.js";
import { pageOffset } from "../domain/usage-query.js";
import { toCostCenter } from "./cost-centers.js";
import type { Database } from "./database.js";
import { toEntry, workspaceUsageFilter } from "./ledger.js";
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
 * and class; at most `rowsMax` rows (the caller asks for one more to detect overflow). Uses the
 * usage_instance_time_idx range, like ListUsage.
 */
export async function sumDailyUsage(db: Database, query: DailyUsageQuery, rowsMax: number): Promise<DailyUsageRow[]> {
  // The day as text (not a timestamp) so both drivers return the same thing whatever the session
  // time zone; the bucket is the UTC calendar day.
  const day = sql<string>`to_char(${usage.effectiveTime} AT TIME ZONE 'UTC', 'YYYY-MM-DD')`;
  const workspaceClass = sql<string>`coalesce(${usage.metadata}->>'workspaceClass', '')`;
  const rows = await db
    .select({
      day,
      workspaceClass,
      creditCents: sql<bigint>`sum(${usage.creditCents})::int8`,
      entries: sql<bigint>`count(*)::int8`,
    })
    .from(usage)
    .where(workspaceUsageFilter(query))
    .groupBy(day, workspaceClass)
    .orderBy(asc(day), asc(workspaceClass))
    .limit(rowsMax);
  return rows.map((row) => ({
    day: new Date(`${row.day}T00:00:00Z`),
    workspaceClass: row.workspaceClass,
    creditCents: BigInt(row.creditCents),
    entries: Number(row.entries),
  }));
}
