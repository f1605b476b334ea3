// Exporting usage of any size: ListUsage answers at most 300 days and 1000 entries per call, so an
// export walks consecutive windows of the range and every page of each, writing as it goes.
import type { Client } from "@connectrpc/connect";
import { timestampDate, timestampFromDate as toTimestamp } from "@bufbuild/protobuf/wkt";
import { listUsageRangeDaysMax, listUsagePageSizeMax } from "../domain/usage-query.js";
import { ListUsageRequest_Ordering, type UsageService, type Usage } from "../gen/usage/v1/usage_pb.js";

export const windowMsMax = listUsageRangeDaysMax * 24 * 60 * 60 * 1000;

export interface Window {
  readonly from: Date;
  readonly to: Date;
}

/** [from, to) cut into consecutive windows of at most `windowMs`, in the order of the listing. */
export function splitRange(from: Date, to: Date, windowMs: number, order: "asc" | "desc"): Window[] {
  const windows: Window[] = [];
  for (let start = from.getTime(); start < to.getTime(); start += windowMs) {
    windows.push({ from: new Date(start), to: new Date(Math.min(start + windowMs, to.getTime())) });
  }
  if (windows.length === 0) windows.push({ from, to });
  return order === "desc" ? windows.reverse() : windows;
}

export interface ExportQuery {
  readonly attributionId: string;
  readonly from: Date;
  readonly to: Date;
  readonly userId: string;
  readonly order: "asc" | "desc";
}

export interface ExportProgress {
  start(total: number): void;
  advance(count: number): void;
  stop(): void;
}

export interface ExportOutcome {
  readonly written: number;
  readonly expected: number;
  readonly creditsUsed: number;
}

/**
 * Writes every matching entry once, in order. Memory holds one page. Paging is by offset, so a ledger
 * that changes during the export can shift pages: entries seen twice are skipped (the listing is
 * ordered by time, then id), and a count that differs from the one announced is reported.
 */
export async function exportUsage(
  client: Client<typeof UsageService>,
  query: ExportQuery,
  writeEntry: (entry: Usage) => Promise<void>,
  progress: ExportProgress,
): Promise<ExportOutcome> {
  const order = query.order === "asc" ? ListUsageRequest_Ordering.ASCENDING : ListUsageRequest_Ordering.DESCENDING;
  const windows = splitRange(query.from, query.to, windowMsMax, query.order);
  const request = (window: Window, page: number, perPage: number) =>
    client.listUsage({
      attributionId: query.attributionId,
      from: toTimestamp(window.from),
      to: toTimestamp(window.to),
      userId: query.userId,
      order,
      pagination: { page: BigInt(page), perPage: BigInt(perPage) },
    });
  // First the totals, for the progress bar and the final check: one small call per window.
  let expected = 0;
  let creditsUsed = 0;
  for (const window of windows) {
    const first = await request(window, 1, 1);
    expected += Number(first.pagination?.total ?? 0n);
    creditsUsed += first.creditsUsed;
  }
  progress.start(expected);
  let written = 0;
  let last: Usage | undefined;
  for (const window of windows) {
    for (let page = 1; ; page++) {
      const response = await request(window, page, listUsagePageSizeMax);
      let fresh = 0;
      for (const entry of response.usageEntries) {
        if (last && !isAfter(entry, last, query.order)) continue;
        await writeEntry(entry);
        last = entry;
        fresh += 1;
      }
      written += fresh;
      progress.advance(fresh);
      if (page >= Number(response.pagination?.totalPages ?? 0n)) break;
    }
  }
  progress.stop();
  return { written, expected, creditsUsed };
}

/** Whether `entry` comes after `previous` in the listing's order (effective time, then id). */
function isAfter(entry: Usage, previous: Usage, order: "asc" | "desc"): boolean {
  const a = entry.effectiveTime ? timestampDate(entry.effectiveTime).getTime() : 0;
  const b = previous.effectiveTime ? timestampDate(previous.effectiveTime).getTime() : 0;
  const comparison = a !== b ? Math.sign(a - b) : entry.id < previous.id ? -1 : entry.id > previous.id ? 1 : 0;
  return order === "asc" ? comparison > 0 : comparison < 0;
}
