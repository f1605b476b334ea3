// The usage ledger: inserting entries (with their balance change) and querying them.
import assert from "node:assert/strict";
import { and, asc, desc, eq, gte, lt, ne, sql, type SQL } from "drizzle-orm";
import { unionAll } from "drizzle-orm/pg-core";
import type { LedgerEntry } from "../domain/ledger-entry.js";
import { locatePage, monthsOverlapping, periodStart, planRange, shiftPeriod, totalsPeriodOf, utcDay, type Interval, type TotalsPeriod } from "../domain/ledger-totals.js";
import { pageOffset, type UsageQuery } from "../domain/usage-query.js";
import type { Database } from "./database.js";
import { moveLedgerTotals } from "./ledger-totals.js";
import { rowsOf } from "./raw-result.js";
import { listingMonth, usage, userListingKey } from "./schema.js";
import { inReadSnapshot, type Transaction } from "./transactions.js";

/** What an entry's totals depend on (domain/ledger-totals.ts TotalsEntry), as RETURNING columns. */
const totalsColumns = {
  attributionId: usage.attributionId,
  kind: usage.kind,
  creditCents: usage.creditCents,
  effectiveTime: usage.effectiveTime,
  workspaceClass: sql<string | null>`${usage.metadata} ->> 'workspaceClass'`,
  userId: sql<string | null>`${usage.metadata} ->> 'userId'`,
};

/**
 * Inserts entries whose source key is new and moves the balances and totals by exactly the
 * inserted amounts, in the caller's transaction. Entries whose key exists are left alone (a replay
 * is a result, not an error). Returns the source keys that were inserted.
 */
export async function insertEntries(tx: Transaction, entries: readonly LedgerEntry[], now: Date): Promise<Set<string>> {
  if (entries.length === 0) return new Set();
  const inserted = await tx
    .insert(usage)
    .values(entries.map((entry) => ({ ...entry, createdAt: now, updatedAt: now })))
    // No target: an entry is unique by its source key or, for an instance's own entry, by its
    // instance id (usage_instance_key_idx), and a conflict on either leaves it out.
    .onConflictDoNothing()
    .returning({ sourceKey: usage.sourceKey, ...totalsColumns });
  await moveLedgerTotals(tx, inserted.map((row) => ({ after: row })), now);
  return new Set(inserted.map((row) => row.sourceKey));
}

export interface UsagePage {
  readonly entries: LedgerEntry[];
  readonly total: number;
  readonly creditCentsSum: bigint;
}

/**
 * Workspace-instance entries of one attribution id in [from, to), of one user if given; the
 * conditions usage_instance_listing_idx and usage_instance_user_listing_idx are made for. One user's
 * range must lie in one UTC month (userMonths splits a longer one): the latter index's keys are the
 * month, the hashed ids and the time, and a query that names one month and both ids is planned on it
 * and walks it in time order, statistics or not. The ids themselves decide (the hash may collide).
 */
export function workspaceUsageFilter(query: UsageFilter): SQL {
  const conditions = [
    eq(usage.attributionId, query.attributionId),
    eq(usage.kind, "workspaceinstance"),
    gte(usage.effectiveTime, query.from),
    lt(usage.effectiveTime, query.to),
  ];
  if (query.userId !== undefined) {
    const month = periodStart(query.from, "month");
    assert(query.from >= query.to || query.to <= shiftPeriod(month, "month", 1), "one user's entries are read a month at a time");
    conditions.push(
      sql`${listingMonth(usage.effectiveTime)} = ${utcDay(month)}::timestamp`,
      sql`${userListingKey(usage.attributionId, sql`(${usage.metadata} ->> 'userId')`)} = ${userListingKey(sql`${query.attributionId}::text`, sql`${query.userId}::text`)}`,
      sql`(${usage.metadata} ->> 'userId') = ${query.userId}`,
    );
  }
  return and(...conditions)!;
}

/** [from, to) cut at UTC month starts, in order: the ranges workspaceUsageFilter takes for one user. */
function userMonths(range: Interval): Interval[] {
  return monthsOverlapping(range.from, range.to).map((month) => {
    const start = new Date(`${month}T00:00:00.000Z`);
    const end = shiftPeriod(start, "month", 1);
    return { from: start > range.from ? start : range.from, to: end < range.to ? end : range.to };
  });
}

/**
 * One page of workspace-instance entries, plus count and sum over all matching entries, on one
 * snapshot. The totals come per period (UTC day; UTC month when filtered by user) from the stored
 * totals plus the range's partial edge periods (rangeParts); they also tell which periods the page
 * spans (locatePage). The page is read in index order (usage_instance_listing_idx, or the user one
 * a month at a time) over those periods only, so OFFSET skips at most the first one's earlier
 * entries (a day of the attribution id's, a month of the user's): the cost is set by the page and
 * the range's periods, not by the history.
 */
export async function listUsage(db: Database, query: UsageQuery): Promise<UsagePage> {
  return inReadSnapshot(db, async (tx) => {
    const period = totalsPeriodOf(query.userId);
    const periods = await periodCounts(tx, query, period);
    const total = periods.reduce((sum, p) => sum + p.entries, 0);
    const creditCentsSum = periods.reduce((sum, p) => sum + p.creditCents, 0n);
    const offset = pageOffset(query);
    const page = locatePage(periods, offset, query.perPage, query.order);
    if (!page) return { entries: [], total, creditCentsSum };
    const direction = query.order === "ascending" ? asc : desc;
    const read = (range: Interval, limit: number, skip: number) =>
      tx
        .select(entryColumns)
        .from(usage)
        .where(workspaceUsageFilter({ ...query, ...range }))
        .orderBy(direction(usage.effectiveTime), direction(usage.id))
        .limit(limit)
        .offset(skip);
    const inRange = (start: Date, end: Date): Interval => ({ from: start > query.from ? start : query.from, to: end < query.to ? end : query.to });
    const periodRange = (start: string) => {
      const begin = new Date(`${start}T00:00:00.000Z`);
      return inRange(begin, shiftPeriod(begin, period, 1));
    };
    let rows: Awaited<ReturnType<typeof read>>;
    if (period === "day") {
      // All users: one walk of the listing index over the page's days.
      const [first, last] = [periodRange(page.periods[0]!), periodRange(page.periods.at(-1)!)];
      const range = query.order === "ascending" ? inRange(first.from, last.to) : inRange(last.from, first.to);
      rows = await read(range, query.perPage, offset - page.before);
    } else {
      // One user: a walk of the user listing index per month of the page, merged in listing order
      // (the months do not overlap, so the merge drains one walk after the other).
      const [first, second, ...rest] = page.periods.map((month, i) => read(periodRange(month), query.perPage, i === 0 ? offset - page.before : 0));
      rows = await (second
        ? unionAll(first!, second, ...rest)
            .orderBy(direction(usage.effectiveTime), direction(usage.id))
            .limit(query.perPage)
        : first!);
    }
    return { entries: rows.map(toEntry), total, creditCentsSum };
  });
}

interface PeriodTotal {
  /** YYYY-MM-DD of the period's start (UTC). */
  readonly period: string;
  readonly entries: number;
  readonly creditCents: bigint;
}

/**
 * Entries and credits per period of the listing's range (days, or months for one user), periods
 * with entries only, as one text value: on PGlite, each row sent back cost about as much CPU as the
 * database's work for it, and a long history has a row per day of the range (up to 300). The stored
 * totals are read in index order (no sort); each edge interval is one count and sum. Tally adds the
 * parts of a period (a complement edge shares its period with the stored totals) and drops periods
 * whose entries sum to 0.
 */
async function periodCounts(db: Database, query: UsageFilter, period: TotalsPeriod): Promise<PeriodTotal[]> {
  const parts = rangeParts(
    query,
    period,
    (periods) => {
      if (period === "day") {
        return sql`
      SELECT d.day, sum(d.entries) AS entries, sum(d.credit_cents) AS credit_cents
      FROM usage_daily_totals d
      WHERE d.attribution_id = ${query.attributionId} AND d.day >= ${periods.first}::date AND d.day <= ${periods.last}::date
      GROUP BY d.day`;
      }
      // Months are kept per user only (totalsPeriodOf).
      assert(query.userId !== undefined, "monthly totals are read for one user");
      return sql`
      SELECT m.month AS day, m.entries, m.credit_cents
      FROM usage_user_monthly_totals m
      WHERE m.attribution_id = ${query.attributionId} AND m.user_id = ${query.userId}
        AND m.month >= ${periods.first}::date AND m.month <= ${periods.last}::date`;
    },
    (interval, sign) => sql`
      SELECT ${utcDay(periodStart(interval.from, period))}::date AS day, ${sign}::int8 * count(*) AS entries, ${sign}::int8 * coalesce(sum(${usage.creditCents}), 0) AS credit_cents
      FROM ${usage}
      WHERE ${workspaceUsageFilter({ ...query, ...interval })}`,
  );
  if (parts.length === 0) return [];
  const [row] = rowsOf<{ days: string | null }>(
    await db.execute(sql`
      SELECT string_agg(to_char(t.day, 'YYYY-MM-DD') || ' ' || t.entries || ' ' || t.credit_cents, ',') AS days
      FROM (${sql.join(parts, sql` UNION ALL `)}) AS t`),
  );
  const byPeriod = new Map<string, { entries: bigint; creditCents: bigint }>();
  for (const part of row?.days ? row.days.split(",") : []) {
    const [start, entries, creditCents] = part.split(" ") as [string, string, string];
    const sums = byPeriod.get(start) ?? { entries: 0n, creditCents: 0n };
    sums.entries += BigInt(entries);
    sums.creditCents += BigInt(creditCents);
    byPeriod.set(start, sums);
  }
  return [...byPeriod]
    .filter(([, sums]) => sums.entries !== 0n)
    .map(([start, sums]) => ({ period: start, entries: Number(sums.entries), creditCents: sums.creditCents }));
}

export type UsageFilter = Pick<UsageQuery, "attributionId" | "from" | "to" | "userId">;

/**
 * Rows (day, workspace_class, entries, credit_cents) whose sums per day (and class) are the
 * workspace-instance usage of `query`'s range. For all users: the stored daily totals of the days
 * planRange names, plus (+1) or minus (-1) the ledger entries of its edge intervals. For one user,
 * whose totals are kept per month, not per day: that user's entries of the range, read from the
 * ledger (usage_instance_user_listing_idx, a month at a time), bounded by what the user did in the range. Undefined
 * for an empty range. Without `byClass`, workspace_class is '' throughout.
 */
export function rangeTotals(query: UsageFilter, options: { byClass: boolean }): SQL | undefined {
  const workspaceClass = options.byClass ? sql`coalesce(${usage.metadata} ->> 'workspaceClass', '')` : sql`''`;
  if (query.userId !== undefined) {
    const months = userMonths(query).map(
      (month) => sql`
      SELECT (${usage.effectiveTime} AT TIME ZONE 'UTC')::date AS day, ${workspaceClass} AS workspace_class,
        1::int8 AS entries, ${usage.creditCents} AS credit_cents
      FROM ${usage}
      WHERE ${workspaceUsageFilter({ ...query, ...month })}`,
    );
    return months.length === 0 ? undefined : sql.join(months, sql` UNION ALL `);
  }
  const parts = rangeParts(
    query,
    "day",
    (days) => sql`
      SELECT d.day, ${options.byClass ? sql`d.workspace_class` : sql`''`} AS workspace_class, d.entries, d.credit_cents
      FROM usage_daily_totals d
      WHERE d.attribution_id = ${query.attributionId} AND d.day >= ${days.first}::date AND d.day <= ${days.last}::date`,
    (interval, sign) => sql`
      SELECT ${utcDay(interval.from)}::date AS day, ${workspaceClass} AS workspace_class,
        ${sign}::int8 AS entries, ${sign}::int8 * ${usage.creditCents} AS credit_cents
      FROM ${usage}
      WHERE ${workspaceUsageFilter({ ...query, ...interval })}`,
  );
  return parts.length === 0 ? undefined : sql.join(parts, sql` UNION ALL `);
}

/**
 * The parts of a range's usage (planRange by `period`): a read of the stored totals of its whole
 * periods, and one read of the ledger per edge interval, added (+1) or subtracted (-1).
 */
function rangeParts(
  query: UsageFilter,
  period: TotalsPeriod,
  totals: (periods: { first: string; last: string }) => SQL,
  edge: (interval: Interval, sign: 1 | -1) => SQL,
): SQL[] {
  const plan = planRange(query.from, query.to, period);
  return [
    ...(plan.totalsPeriods ? [totals(plan.totalsPeriods)] : []),
    ...plan.add.map((interval) => edge(interval, 1)),
    ...plan.subtract.map((interval) => edge(interval, -1)),
  ];
}

/**
 * Entries of any kind for an attribution id, newest first; for operators (CLI, dashboard). No one
 * index holds every kind in order, so the newest `limit` of each partial index (instances, and
 * credit notes and invoices) are read in index order and merged.
 */
export async function listEntries(db: Database, attributionId: string, limit: number): Promise<LedgerEntry[]> {
  const newest = (kind: SQL) =>
    db
      .select()
      .from(usage)
      .where(and(eq(usage.attributionId, attributionId), kind))
      .orderBy(desc(usage.effectiveTime), desc(usage.id))
      .limit(limit);
  const [instances, payments] = await Promise.all([
    newest(eq(usage.kind, "workspaceinstance")),
    newest(ne(usage.kind, "workspaceinstance")),
  ]);
  return [...instances, ...payments]
    .sort((a, b) => b.effectiveTime.getTime() - a.effectiveTime.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
    .slice(0, limit)
    .map(toEntry);
}

/** SUM(ledger) of one attribution id: the slow truth the balance row is checked against. */
export async function sumLedgerCents(db: Database, attributionId: string): Promise<bigint> {
  const [row] = await db
    .select({ sum: sql<bigint>`coalesce(sum(${usage.creditCents}), 0)::int8` })
    .from(usage)
    .where(eq(usage.attributionId, attributionId));
  return BigInt(row?.sum ?? 0n);
}

/**
 * The columns a LedgerEntry is made of (toEntry), for reads that return many entries: not the
 * created_at and updated_at timestamps, whose output costs CPU on PGlite for nothing.
 */
export const entryColumns = {
  id: usage.id,
  attributionId: usage.attributionId,
  sourceKey: usage.sourceKey,
  kind: usage.kind,
  description: usage.description,
  creditCents: usage.creditCents,
  effectiveTime: usage.effectiveTime,
  workspaceInstanceId: usage.workspaceInstanceId,
  draft: usage.draft,
  metadata: usage.metadata,
};

export function toEntry(row: Omit<typeof usage.$inferSelect, "createdAt" | "updatedAt">): LedgerEntry {
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
