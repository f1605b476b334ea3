// AuditService: validation and defaults of a ListAuditEntries query (newest first, keyset pages).
import { parseAttributionId } from "./attribution-id.js";
import { parseKeysetPage } from "./keyset-page.js";

export const auditPageSizeMax = 1000;
export const auditPageSizeDefault = 50;

export interface AuditPageQuery {
  /** Undefined: every attribution id. */
  readonly attributionId: string | undefined;
  /** Entries with a smaller id than this (the previous page's last); undefined for the first page. */
  readonly beforeId: bigint | undefined;
  readonly pageSize: number;
}

/** page_size 0 means the default; page_token "" the first page, else the id a previous page ended at. */
export function parseAuditPageQuery(input: { attributionId: string; pageSize: number; pageToken: string }): AuditPageQuery {
  const attributionId = input.attributionId === "" ? undefined : parseAttributionId(input.attributionId).text;
  const page = parseKeysetPage(input, { pageSizeMax: auditPageSizeMax, pageSizeDefault: auditPageSizeDefault });
  return { attributionId, beforeId: page.beforeKey, pageSize: page.pageSize };
}
