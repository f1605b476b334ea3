// Read-only queries behind ReportService: cost-center history, credit notes and invoices, usage
// summed per day and workspace class, and the team list.
import { and, desc, eq, ne, sql } from "drizzle-orm";
import type { StoredCostCenter } from "../domain/cost-center.js";
import type { LedgerEntry } from "../domain/ledger-entry.js";
import type { PagedQuery, DailyUsageQuery, AccountListQuery, AccountSortField } from "../domain/report-query.js";
import type { BillingStrategy, DefaultSpendingLimits } from "../domain/cost-center.js";
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

export interface AccountRow {
  readonly attributionId: string;
  readonly balanceCents: bigint;
  readonly spendingLimitCredits: number;
  readonly billingStrategy: BillingStrategy;
  readonly hasCostCenter: boolean;
  readonly blocked: boolean;
  readonly lastActivity: Date;
}

/** Columns of balances: a page of them is cut before anything is joined. */
const balanceSortColumn: Partial<Record<AccountSortField, string>> = {
  attributionId: "attribution_id",
  balance: "balance_cents",
  lastActivity: "updated_at",
};

/** `%text%` for LIKE, with LIKE's own characters taken literally. */
function containsPattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * The team list: one row per attribution id Tally knows. Every write locks the attribution's balance
 * row first (store/balances.ts), so `balances` (one row per attribution id, never the ledger) holds
 * them all, with the balance and the time it last changed. Sorted by a column of balances (id,
 * balance, last activity), the page is cut from balances first and only its rows look up their
 * current cost center (cost_centers_pkey) and active blocks (blocked_attributions_active_idx); by
 * spending limit or status, every matching row is looked up before the sort. The search is a
 * case-insensitive substring of the attribution id.
 */
export async function listAccounts(
  db: Database,
  query: AccountListQuery,
  options: { defaults: DefaultSpendingLimits; warningPercent: number },
): Promise<Paged<AccountRow>> {
  const where = query.search === "" ? sql`TRUE` : sql`b.attribution_id ILIKE ${containsPattern(query.search)}`;
  const direction = sql.raw(query.descending ? "DESC" : "ASC");
  const offset = pageOffset(query);
  const balanceColumn = balanceSortColumn[query.sortField];
  const joined = (from: ReturnType<typeof sql>) => sql`
    SELECT b.attribution_id, b.balance_cents, b.updated_at,
      (extract(epoch FROM b.updated_at) * 1000)::int8 AS updated_ms,
      coalesce(cc.spending_limit_credits,
        CASE WHEN b.attribution_id LIKE 'team:%' THEN ${options.defaults.forTeams}::int ELSE ${options.defaults.forUsers}::int END
      ) AS spending_limit_credits,
      coalesce(cc.billing_strategy, 'other') AS billing_strategy,
      cc.spending_limit_credits IS NOT NULL AS has_cost_center,
      EXISTS (SELECT 1 FROM blocked_attributions ba WHERE ba.attribution_id = b.attribution_id AND ba.unblocked_at IS NULL) AS blocked
    FROM ${from} AS b
    LEFT JOIN LATERAL (
      SELECT c.spending_limit_credits, c.billing_strategy FROM cost_centers c
      WHERE c.attribution_id = b.attribution_id ORDER BY c.version DESC LIMIT 1
    ) AS cc ON TRUE`;
  let statement;
  if (balanceColumn) {
    const column = sql.raw(`b.${balanceColumn}`);
    const tie = balanceColumn === "attribution_id" ? sql`` : sql`, b.attribution_id`;
    const page = sql`(SELECT b.attribution_id, b.balance_cents, b.updated_at FROM balances b WHERE ${where}
      ORDER BY ${column} ${direction}${tie} LIMIT ${query.perPage} OFFSET ${offset})`;
    statement = sql`${joined(page)} ORDER BY ${column} ${direction}${tie}`;
  } else {
    const limitCents = sql`t.spending_limit_credits::numeric * 100`;
    const key =
      query.sortField === "spendingLimit"
        ? sql`t.spending_limit_credits`
        : sql`CASE WHEN t.blocked THEN 3 WHEN t.balance_cents >= ${limitCents} THEN 2
            WHEN t.balance_cents::numeric * 100 > ${limitCents} * ${options.warningPercent}::int THEN 1 ELSE 0 END`;
    statement = sql`SELECT t.* FROM (${joined(sql`(SELECT * FROM balances b WHERE ${where})`)}) AS t
      ORDER BY ${key} ${direction}, t.attribution_id LIMIT ${query.perPage} OFFSET ${offset}`;
  }
  const [rows, counted] = await Promise.all([
    db.execute(statement),
    db.execute(sql`SELECT count(*)::int8 AS total FROM balances b WHERE ${where}`),
  ]);
  const summary = rowsOf<{ total: bigint | string | number }>(counted)[0];
  type Raw = {
    attribution_id: string;
    balance_cents: bigint | string | number;
    updated_ms: bigint | string | number;
    spending_limit_credits: number | string;
    billing_strategy: BillingStrategy;
    has_cost_center: boolean;
    blocked: boolean;
  };
  return {
    items: rowsOf<Raw>(rows).map((row) => ({
      attributionId: row.attribution_id,
      balanceCents: BigInt(row.balance_cents),
      spendingLimitCredits: Number(row.spending_limit_credits),
      billingStrategy: row.billing_strategy,
      hasCostCenter: row.has_cost_center,
      blocked: row.blocked,
      lastActivity: new Date(Number(row.updated_ms)),
    })),
    total: Number(summary?.total ?? 0n),
  };
}
