// What each ledger write moves besides the ledger: the balance of each attribution id, and the
// daily totals of workspace-instance usage, kept so that ListUsage, the daily usage report and the
// CSV export cost what their page costs, not what the history holds.
//
// A total row is (attribution id, user scope, UTC day, workspace class) -> entries, credit cents.
// The user scope is "" for all users together and the entry's metadata user id for that user's row,
// so a listing filtered by user reads its own rows. Rows change in the same transaction as every
// ledger write (store/ledger-totals.ts), by the deltas computed here.
//
// A time range [from, to) then splits into whole UTC days, read from the totals, and at most two
// partial edge days, read from the ledger: either the part inside the range, or (when that is the
// longer part) the day's total minus the part outside. The work per request is bounded by the days
// of the range and by one day's entries, however long the history.
import type { EntryKind } from "./ledger-entry.js";

export const dayMs = 24 * 60 * 60 * 1000;

/** The user scope of the all-users rows. A user filter is a UUID, so it never equals this. */
export const allUsersScope = "";

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

export interface TotalsDelta {
  readonly attributionId: string;
  /** `allUsersScope`, or a user id. */
  readonly userScope: string;
  /** UTC day, YYYY-MM-DD. */
  readonly day: string;
  readonly workspaceClass: string;
  readonly entries: bigint;
  readonly creditCents: bigint;
}

export function utcDay(time: Date): string {
  return time.toISOString().slice(0, 10);
}

/** Midnight UTC of the day `time` falls in. */
export function dayStart(time: Date): Date {
  return new Date(Math.floor(time.getTime() / dayMs) * dayMs);
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
 * The changes of the daily totals that `changes` cause, one per key, sorted by key (the order in
 * which the store locks the rows), without keys whose change is zero. Only workspace-instance
 * entries are counted: they are what ListUsage and the daily usage report show.
 */
export function totalsDeltas(changes: Iterable<EntryChange>): TotalsDelta[] {
  const byKey = new Map<string, { key: Omit<TotalsDelta, "entries" | "creditCents">; entries: bigint; creditCents: bigint }>();
  const add = (entry: TotalsEntry | undefined, sign: 1n | -1n) => {
    if (!entry || entry.kind !== "workspaceinstance") return;
    const workspaceClass = entry.workspaceClass ?? "";
    const day = utcDay(entry.effectiveTime);
    for (const userScope of entry.userId ? [allUsersScope, entry.userId] : [allUsersScope]) {
      // NUL separates the parts: no part (text PostgreSQL stores) contains it.
      const id = `${entry.attributionId}\u0000${userScope}\u0000${day}\u0000${workspaceClass}`;
      let delta = byKey.get(id);
      if (!delta) {
        delta = { key: { attributionId: entry.attributionId, userScope, day, workspaceClass }, entries: 0n, creditCents: 0n };
        byKey.set(id, delta);
      }
      delta.entries += sign;
      delta.creditCents += sign * entry.creditCents;
    }
  };
  for (const change of changes) {
    add(change.before, -1n);
    add(change.after, 1n);
  }
  // A fixed order of the keys (code units); the store applies the deltas in it, so locks never cross.
  return [...byKey.entries()]
    .filter(([, delta]) => delta.entries !== 0n || delta.creditCents !== 0n)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, delta]) => ({ ...delta.key, entries: delta.entries, creditCents: delta.creditCents }));
}

/** A half-open interval of time [from, to). */
export interface Interval {
  readonly from: Date;
  readonly to: Date;
}

/**
 * How to total [from, to):
 * - `totalsDays`: the days [first, last] (YYYY-MM-DD, inclusive) whose stored totals are read, or
 *   undefined when none are: every whole day of the range, plus the edge days counted by complement;
 * - `add`: intervals whose ledger entries are added (edge parts inside the range);
 * - `subtract`: intervals whose ledger entries are subtracted (parts of a complement edge day that
 *   lie outside the range).
 * Every interval lies within one UTC day.
 */
export interface RangePlan {
  readonly totalsDays: { readonly first: string; readonly last: string } | undefined;
  readonly add: Interval[];
  readonly subtract: Interval[];
}

export function planRange(from: Date, to: Date): RangePlan {
  const add: Interval[] = [];
  const subtract: Interval[] = [];
  let first: Date | undefined;
  let last: Date | undefined;
  const useTotals = (day: Date) => {
    if (!first || day < first) first = day;
    if (!last || day > last) last = day;
  };
  if (from < to) {
    const firstDay = dayStart(from);
    const lastDay = dayStart(new Date(to.getTime() - 1));
    for (const day of firstDay.getTime() === lastDay.getTime() ? [firstDay] : [firstDay, lastDay]) {
      const end = new Date(day.getTime() + dayMs);
      const inside = { from: from > day ? from : day, to: to < end ? to : end };
      const insideMs = inside.to.getTime() - inside.from.getTime();
      if (insideMs === dayMs) {
        useTotals(day);
      } else if (insideMs <= dayMs / 2) {
        add.push(inside);
      } else {
        useTotals(day);
        if (inside.from > day) subtract.push({ from: day, to: inside.from });
        if (inside.to < end) subtract.push({ from: inside.to, to: end });
      }
    }
    // The days strictly between the edges are whole.
    if (lastDay.getTime() - firstDay.getTime() > dayMs) {
      useTotals(new Date(firstDay.getTime() + dayMs));
      useTotals(new Date(lastDay.getTime() - dayMs));
    }
  }
  return {
    totalsDays: first && last ? { first: utcDay(first), last: utcDay(last) } : undefined,
    add,
    subtract,
  };
}

/** The entries of one day within a range, as the per-day totals report them. */
export interface DayCount {
  /** YYYY-MM-DD. */
  readonly day: string;
  readonly entries: number;
}

/**
 * Where the entry at position `offset` (0-based) of a listing ordered by effective time lies: in
 * which day, and how many entries of the listing come before that day. Undefined when the listing
 * has no entry at `offset`. `days` may come in any order and may hold days without entries.
 */
export function locateOffset(
  days: readonly DayCount[],
  offset: number,
  order: "ascending" | "descending",
): { day: string; before: number } | undefined {
  const sorted = days.filter((day) => day.entries > 0).sort((a, b) => (a.day < b.day ? -1 : a.day > b.day ? 1 : 0));
  if (order === "descending") sorted.reverse();
  let before = 0;
  for (const day of sorted) {
    if (offset < before + day.entries) return { day: day.day, before };
    before += day.entries;
  }
  return undefined;
}
