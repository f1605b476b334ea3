// ListUsage: validation and normalisation of the query, and paging arithmetic.
import { parseAttributionId, parseOptionalUserId } from "./attribution-id.js";
import { invalidArgument } from "./tally-error.js";
import { listUsagePageSizeMax, listUsageRangeDaysMax } from "./limits.js";
import { storableTime } from "./time-range.js";

export { listUsagePageSizeMax, listUsageRangeDaysMax };
export const listUsagePageSizeDefault = 50;
const dayMs = 24 * 60 * 60 * 1000;

export type UsageOrder = "descending" | "ascending";

export interface UsageQuery {
  readonly attributionId: string;
  /** Inclusive. */
  readonly from: Date;
  /** Exclusive. */
  readonly to: Date;
  readonly order: UsageOrder;
  readonly userId: string | undefined;
  readonly perPage: number;
  /** 1-based. */
  readonly page: number;
}

export interface UsageQueryInput {
  readonly attributionId: string;
  readonly from: Date | undefined;
  readonly to: Date | undefined;
  readonly order: UsageOrder;
  readonly userId: string;
  readonly perPage: bigint;
  readonly page: bigint;
}

export function parseUsageQuery(input: UsageQueryInput, now: Date): UsageQuery {
  const attribution = parseAttributionId(input.attributionId);
  const userId = parseOptionalUserId(input.userId);
  const to = input.to ?? now;
  const from = input.from ?? storableTime(new Date(to.getTime() - listUsageRangeDaysMax * dayMs), "from", `unset: ${listUsageRangeDaysMax} days before to`);
  if (from > to) {
    throw invalidArgument(`from ${from.toISOString()} must not be after to ${to.toISOString()}`);
  }
  if (to.getTime() - from.getTime() > listUsageRangeDaysMax * dayMs) {
    throw invalidArgument(
      `time range ${from.toISOString()} .. ${to.toISOString()} is longer than ${listUsageRangeDaysMax} days`,
    );
  }
  if (input.perPage < 0n || input.perPage > BigInt(listUsagePageSizeMax)) {
    throw invalidArgument(`pagination.per_page ${input.perPage} must be between 0 and ${listUsagePageSizeMax}`);
  }
  if (input.page < 0n) throw invalidArgument(`pagination.page ${input.page} must not be negative`);
  // Pages beyond 2^31 cannot hold entries at 1000 per page before the offset overflows Postgres.
  if (input.page > 2_000_000_000n) throw invalidArgument(`pagination.page ${input.page} must be at most 2000000000`);
  const perPage = input.perPage === 0n ? listUsagePageSizeDefault : Number(input.perPage);
  const page = input.page === 0n ? 1 : Number(input.page);
  return { attributionId: attribution.text, from, to, order: input.order, userId, perPage, page };
}

export function totalPages(total: number, perPage: number): number {
  return Math.ceil(total / perPage);
}

export function pageOffset(query: Pick<UsageQuery, "page" | "perPage">): number {
  return (query.page - 1) * query.perPage;
}
