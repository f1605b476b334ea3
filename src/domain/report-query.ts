// ReportService: validation and defaults of its queries (pages, daily usage, the team list).
import { attributionIdLengthMax, parseAttributionId, parseOptionalUserId } from "./attribution-id.js";
import type { LimitLevel } from "./limit-threshold.js";
import { invalidArgument } from "./tally-error.js";
import { listUsagePageSizeDefault, listUsagePageSizeMax, listUsageRangeDaysMax } from "./usage-query.js";
import { storableTime } from "./time-range.js";

const dayMs = 24 * 60 * 60 * 1000;
/** Daily usage without `from` covers this many days before `to`. */
export const dailyUsageRangeDaysDefault = 30;
/** The same bound as ListUsage: daily usage is a view of what ListUsage lists. */
export const dailyUsageRangeDaysMax = listUsageRangeDaysMax;
/**
 * Rows (day x workspace class) ListDailyUsage may return; 300 days of 30 classes fit. More means the
 * metadata holds an unreasonable number of classes, and the caller must narrow the range.
 */
export const dailyUsageRowsMax = 10_000;
/** Pages beyond this cannot hold entries at 1000 per page before the offset overflows Postgres. */
const pageMax = 2_000_000_000n;

export interface Page {
  readonly perPage: number;
  /** 1-based. */
  readonly page: number;
}

export interface PagedQuery extends Page {
  readonly attributionId: string;
}

export interface DailyUsageQuery {
  readonly attributionId: string;
  /** Inclusive. */
  readonly from: Date;
  /** Exclusive. */
  readonly to: Date;
  readonly userId: string | undefined;
}

/** per_page 0 means the default, page 0 or 1 the first page (as ListUsage). */
export function parsePage(perPage: bigint, page: bigint): Page {
  if (perPage < 0n || perPage > BigInt(listUsagePageSizeMax)) {
    throw invalidArgument(`pagination.per_page ${perPage} must be between 0 and ${listUsagePageSizeMax}`);
  }
  if (page < 0n) throw invalidArgument(`pagination.page ${page} must not be negative`);
  if (page > pageMax) throw invalidArgument(`pagination.page ${page} must be at most ${pageMax}`);
  return { perPage: perPage === 0n ? listUsagePageSizeDefault : Number(perPage), page: page === 0n ? 1 : Number(page) };
}

export function parsePagedQuery(input: { attributionId: string; perPage: bigint; page: bigint }): PagedQuery {
  const attribution = parseAttributionId(input.attributionId);
  return { attributionId: attribution.text, ...parsePage(input.perPage, input.page) };
}

export function parseDailyUsageQuery(
  input: { attributionId: string; from: Date | undefined; to: Date | undefined; userId: string },
  now: Date,
): DailyUsageQuery {
  const attribution = parseAttributionId(input.attributionId);
  const userId = parseOptionalUserId(input.userId);
  const to = input.to ?? now;
  const from = input.from ?? storableTime(new Date(to.getTime() - dailyUsageRangeDaysDefault * dayMs), "from", `unset: ${dailyUsageRangeDaysDefault} days before to`);
  if (from > to) throw invalidArgument(`from ${from.toISOString()} must not be after to ${to.toISOString()}`);
  if (to.getTime() - from.getTime() > dailyUsageRangeDaysMax * dayMs) {
    throw invalidArgument(`time range ${from.toISOString()} .. ${to.toISOString()} is longer than ${dailyUsageRangeDaysMax} days`);
  }
  return { attributionId: attribution.text, from, to, userId };
}

// --- the team list (ListAccounts) ---

export type AccountSortField = "attributionId" | "balance" | "spendingLimit" | "status" | "lastActivity";
export type AccountStatus = "ok" | "warning" | "reached" | "blocked";
/** Longer searches cannot match: an attribution id is at most this long. */
export const accountSearchLengthMax = attributionIdLengthMax;

export interface AccountListQuery extends Page {
  /** Lower-cased; "" for all. */
  readonly search: string;
  readonly sortField: AccountSortField;
  readonly descending: boolean;
}

export function parseAccountListQuery(input: {
  search: string;
  sortField: AccountSortField;
  descending: boolean;
  perPage: bigint;
  page: bigint;
}): AccountListQuery {
  const search = input.search.trim().toLowerCase();
  if (search.length > accountSearchLengthMax) {
    throw invalidArgument(`search is ${search.length} characters long; an attribution id has at most ${accountSearchLengthMax}`);
  }
  return { search, sortField: input.sortField, descending: input.descending, ...parsePage(input.perPage, input.page) };
}

/** ok < warning < reached < blocked: a block wins whatever the balance. */
export function accountStatus(blocked: boolean, level: LimitLevel): AccountStatus {
  return blocked ? "blocked" : level;
}
