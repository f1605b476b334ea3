// AuditService: validation and defaults of a ListAuditEntries query (newest first, keyset pages).
import { parseAttributionId } from "./attribution-id.js";
import { invalidArgument } from "./tally-error.js";

export const auditPageSizeMax = 1000;
export const auditPageSizeDefault = 50;
/** Audit row ids are int8: a token beyond it was never returned and would fail in the database. */
const auditIdMax = 9_223_372_036_854_775_807n;

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
  if (input.pageSize < 0 || input.pageSize > auditPageSizeMax) {
    throw invalidArgument(`page_size ${input.pageSize} must be between 0 and ${auditPageSizeMax}`);
  }
  let beforeId: bigint | undefined;
  if (input.pageToken !== "") {
    if (!/^[1-9][0-9]{0,18}$/.test(input.pageToken) || BigInt(input.pageToken) > auditIdMax) {
      throw invalidArgument(`page_token ${JSON.stringify(input.pageToken)} is not a token this server returned`);
    }
    beforeId = BigInt(input.pageToken);
  }
  return { attributionId, beforeId, pageSize: input.pageSize === 0 ? auditPageSizeDefault : input.pageSize };
}
