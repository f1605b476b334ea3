// Listings paged by token (`tally audit ls`, `tally events ls`): every page until the last or --limit,
// printed as one aligned table at the end or as JSON Lines as the pages arrive.
import { exitQuietlyOnClosedPipe, formatTable, write } from "./output.js";

/** Items asked for per list call. */
const pageSize = 1000;

export interface PagedListing<Item> {
  /** One list call: at most `pageSize` items after `pageToken` ("" for the first page). */
  readonly fetchPage: (pageSize: number, pageToken: string) => Promise<{ readonly items: readonly Item[]; readonly nextPageToken: string }>;
  /** At most this many items; 0 for all. */
  readonly limit: number;
  readonly json: boolean | undefined;
  readonly jsonView: (item: Item) => unknown;
  readonly header: readonly string[];
  readonly tableRow: (item: Item) => string[];
  /** Printed instead of a table without rows, e.g. "no events". */
  readonly emptyText: string;
}

export async function printPagedListing<Item>(listing: PagedListing<Item>): Promise<void> {
  const { limit } = listing;
  exitQuietlyOnClosedPipe();
  const rows: string[][] = [];
  let pageToken = "";
  let seen = 0;
  do {
    const wanted = limit === 0 ? pageSize : Math.min(pageSize, limit - seen);
    const page = await listing.fetchPage(wanted, pageToken);
    for (const item of page.items) {
      if (listing.json) await write(JSON.stringify(listing.jsonView(item)) + "\n");
      else rows.push(listing.tableRow(item));
    }
    seen += page.items.length;
    pageToken = page.nextPageToken;
  } while (pageToken !== "" && (limit === 0 || seen < limit));
  if (!listing.json) await write(rows.length === 0 ? `${listing.emptyText}\n` : formatTable(listing.header, rows));
}
