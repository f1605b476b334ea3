// What each ledger write moves besides the ledger: the balance of each attribution id, and the
// totals of workspace-instance usage, kept so that ListUsage, the daily usage report and the CSV
// export cost what their page costs, not what the history holds. Two kinds of totals rows:
// - daily: (attribution id, UTC day, workspace class) -> entries, credit cents, for all users;
// - user monthly: (attribution id, user id, UTC month) -> entries, credit cents, for the entries
//   whose metadata names a user, so a listing filtered by user reads its own rows. Per month, not
//   per day: a user has a few entries a day, so per-day rows were about one per entry, and writing
//   them cost a reconcile more than the entry itself (bench:scale, README "Reconcile at 1M").
// Rows change in the same transaction as every ledger write (store/ledger-totals.ts), by the deltas
// computed here.
//
// A time range [from, to) then splits into whole periods (UTC days, or UTC months for one user),
// read from the totals, and at most two partial edge periods, read from the ledger: either the part
// inside the range, or (when that is the longer part) the period's total minus the part outside.
// The work per request is bounded by the periods of the range and by one period's entries (a day of
// the attribution id's, a month of one user's), however long the history.
import type { EntryKind } from "./ledger-entry.js";

export const dayMs = 24 * 60 * 60 * 1000;

/** The totals a range is split by: days (all users' rows) or months (one user's rows). */
export type TotalsPeriod = "day" | "month";

/** Days for all users, months for one user: the periods the stored totals have for `userId`. */
export function totalsPeriodOf(userId: string | undefined): TotalsPeriod {
  return userId === undefined ? "day" : "month";
}

/** What of an entry the totals depend on; `workspaceClass` and `userId` as metadata->>'...' reads them. */
export interface TotalsEntry {
  readonly attributionId: string;
  readonly kind: EntryKind;
  readonly creditCents: bigint;
  readonly effectiveTime: Date;
  readonly workspaceClass: string | null;
  readonly userId: string | null;
}

/** An entry written (after), removed (before) or rewritten (both), as a ledger write reports it. */
export interface EntryChange {
  readonly before?: TotalsEntry | undefined;
  readonly after?: TotalsEntry | undefined;
}

export interface DailyTotalsDelta {
  readonly attributionId: string;
  /** UTC day, YYYY-MM-DD. */
  readonly day: string;
  readonly workspaceClass: string;
  readonly entries: bigint;
  readonly creditCents: bigint;
}

export interface UserMonthlyTotalsDelta {
  readonly attributionId: string;
  readonly userId: string;
  /** First day of the UTC month, YYYY-MM-DD. */
  readonly month: string;
  readonly entries: bigint;
  readonly creditCents: bigint;
}

export interface TotalsDeltas {
  readonly daily: DailyTotalsDelta[];
  readonly userMonthly: UserMonthlyTotalsDelta[];
}

export function utcDay(time: Date): string {
  return time.toISOString().slice(0, 10);
}

/** Midnight UTC of the day `time` falls in. */
export function dayStart(time: Date): Date {
  return new Date(Math.floor(time.getTime() / dayMs) * dayMs);
}

/** The start of the period `time` falls in: midnight UTC of its day, or of its month's first day. */
export function periodStart(time: Date, period: TotalsPeriod): Date {
  if (period === "day") return dayStart(time);
  return new Date(Date.UTC(time.getUTCFullYear(), time.getUTCMonth(), 1));
}

/** The start of the period `count` periods after (or before, when negative) the one starting at `start`. */
export function shiftPeriod(start: Date, period: TotalsPeriod, count: number): Date {
  if (period === "day") return new Date(start.getTime() + count * dayMs);
  return new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + count, 1));
}

/**
 * Balance changes per attribution id: +credits of what was written, -credits of what it replaced
 * (a draft that moves to another attribution id moves its credits with it).
 */
export function balanceDeltas(changes: Iterable<EntryChange>): Map<string, bigint> {
  const deltas = new Map<string, bigint>();
  const add = (attributionId: string, cents: bigint) => deltas.set(attributionId, (deltas.get(attributionId) ?? 0n) + cents);
  for (const { before, after } of changes) {
    if (before) add(before.attributionId, -before.creditCents);
    if (after) add(after.attributionId, after.creditCents);
  }
  return deltas;
}

/**
 * The changes of the totals that `changes` cause, one per key, each kind sorted by key (the order
 * in which the store locks the rows), without keys whose change is zero. Only workspace-instance
 * entries are counted: they are what ListUsage and the daily usage report show.
 */
export function totalsDeltas(changes: Iterable<EntryChange>): TotalsDeltas {
  const daily = new Map<string, { key: Omit<DailyTotalsDelta, "entries" | "creditCents">; entries: bigint; creditCents: bigint }>();
  const userMonthly = new Map<string, { key: Omit<UserMonthlyTotalsDelta, "entries" | "creditCents">; entries: bigint; creditCents: bigint }>();
  const move = <K>(rows: Map<string, { key: K; entries: bigint; creditCents: bigint }>, id: string, key: K, sign: bigint, cents: bigint) => {
    let row = rows.get(id);
    if (!row) {
      row = { key, entries: 0n, creditCents: 0n };
      rows.set(id, row);
    }
    row.entries += sign;
    row.creditCents += sign * cents;
  };
  const add = (entry: TotalsEntry | undefined, sign: 1n | -1n) => {
    if (!entry || entry.kind !== "workspaceinstance") return;
    const workspaceClass = entry.workspaceClass ?? "";
    const day = utcDay(entry.effectiveTime);
    // NUL separates the parts: no part (text PostgreSQL stores) contains it.
    move(daily, `${entry.attributionId}\u0000${day}\u0000${workspaceClass}`, { attributionId: entry.attributionId, day, workspaceClass }, sign, entry.creditCents);
    if (entry.userId) {
      const month = utcDay(periodStart(entry.effectiveTime, "month"));
      const key = { attributionId: entry.attributionId, userId: entry.userId, month };
      move(userMonthly, `${entry.attributionId}\u0000${entry.userId}\u0000${month}`, key, sign, entry.creditCents);
    }
  };
  for (const change of changes) {
    add(change.before, -1n);
    add(change.after, 1n);
  }
  // A fixed order of the keys (code units); the store applies the deltas in it, so locks never cross.
  const sorted = <K>(rows: Map<string, { key: K; entries: bigint; creditCents: bigint }>) =>
    [...rows.entries()]
      .filter(([, row]) => row.entries !== 0n || row.creditCents !== 0n)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, row]) => ({ ...row.key, entries: row.entries, creditCents: row.creditCents }));
  return { daily: sorted(daily), userMonthly: sorted(userMonthly) };
}

/** A half-open interval of time [from, to). */
export interface Interval {
  readonly from: Date;
  readonly to: Date;
}

/**
 * How to total [from, to) by `period` (days or months, UTC):
 * - `totalsPeriods`: the periods [first, last] (YYYY-MM-DD of their start, inclusive) whose stored
 *   totals are read, or undefined when none are: every whole period of the range, plus the edge
 *   periods counted by complement;
 * - `add`: intervals whose ledger entries are added (edge parts inside the range);
 * - `subtract`: intervals whose ledger entries are subtracted (parts of a complement edge period
 *   that lie outside the range).
 * Every interval lies within one period.
 */
export interface RangePlan {
  readonly totalsPeriods: { readonly first: string; readonly last: string } | undefined;
  readonly add: Interval[];
  readonly subtract: Interval[];
}

export function planRange(from: Date, to: Date, period: TotalsPeriod = "day"): RangePlan {
  const add: Interval[] = [];
  const subtract: Interval[] = [];
  let first: Date | undefined;
  let last: Date | undefined;
  const useTotals = (start: Date) => {
    if (!first || start < first) first = start;
    if (!last || start > last) last = start;
  };
  if (from < to) {
    const firstStart = periodStart(from, period);
    const lastStart = periodStart(new Date(to.getTime() - 1), period);
    for (const start of firstStart.getTime() === lastStart.getTime() ? [firstStart] : [firstStart, lastStart]) {
      const end = shiftPeriod(start, period, 1);
      const periodMs = end.getTime() - start.getTime();
      const inside = { from: from > start ? from : start, to: to < end ? to : end };
      const insideMs = inside.to.getTime() - inside.from.getTime();
      if (insideMs === periodMs) {
        useTotals(start);
      } else if (insideMs <= periodMs / 2) {
        add.push(inside);
      } else {
        useTotals(start);
        if (inside.from > start) subtract.push({ from: start, to: inside.from });
        if (inside.to < end) subtract.push({ from: inside.to, to: end });
      }
    }
    // The periods strictly between the edges are whole.
    const afterFirst = shiftPeriod(firstStart, period, 1);
    if (afterFirst < lastStart) {
      useTotals(afterFirst);
      useTotals(shiftPeriod(lastStart, period, -1));
    }
  }
  return {
    totalsPeriods: first && last ? { first: utcDay(first), last: utcDay(last) } : undefined,
    add,
    subtract,
  };
}

/** The entries of one period (day or month) within a range, as the per-period totals report them. */
export interface PeriodCount {
  /** YYYY-MM-DD of the period's start. */
  readonly period: string;
  readonly entries: number;
}

/**
 * Where the page of `count` entries at position `offset` (0-based) of a listing ordered by effective
 * time lies: the periods holding its entries, in listing order (the first holds the entry at
 * `offset`, the last the page's last entry or the listing's last), and how many entries of the
 * listing come before the first. Undefined when the listing has no entry at `offset`. `periods` may
 * come in any order and may hold empty periods, which are never named.
 */
export function locatePage(
  periods: readonly PeriodCount[],
  offset: number,
  count: number,
  order: "ascending" | "descending",
): { periods: string[]; before: number } | undefined {
  const sorted = periods.filter((p) => p.entries > 0).sort((a, b) => (a.period < b.period ? -1 : a.period > b.period ? 1 : 0));
  if (order === "descending") sorted.reverse();
  const end = offset + Math.max(1, count);
  let before = 0;
  let seen = 0;
  const held: string[] = [];
  for (const p of sorted) {
    if (held.length === 0 && offset >= seen + p.entries) {
      seen += p.entries;
      before = seen;
      continue;
    }
    held.push(p.period);
    seen += p.entries;
    if (seen >= end) break;
  }
  return held.length === 0 ? undefined : { periods: held, before };
}

/** The UTC months (YYYY-MM-01) that [from, to) overlaps, in order; none for an empty range. */
export function monthsOverlapping(from: Date, to: Date): string[] {
  const months: string[] = [];
  if (from >= to) return months;
  for (let start = periodStart(from, "month"); start < to; start = shiftPeriod(start, "month", 1)) months.push(utcDay(start));
  return months;
}
