// The page asked of a newest-first keyset listing (audit entries, events): its size, and the key the
// previous page ended at, which the server hands out as the page token.
import { invalidArgument } from "./tally-error.js";

/** Keys are int8: a token beyond it was never returned and would fail in the database. */
const keyMax = 9_223_372_036_854_775_807n;

export interface KeysetPage {
  /** Items with a smaller key than this (the previous page's last); undefined for the first page. */
  readonly beforeKey: bigint | undefined;
  readonly pageSize: number;
}

/** page_size 0 means `pageSizeDefault`; page_token "" the first page, else the key a previous page ended at. */
export function parseKeysetPage(
  input: { pageSize: number; pageToken: string },
  limits: { pageSizeMax: number; pageSizeDefault: number },
): KeysetPage {
  if (!Number.isInteger(input.pageSize) || input.pageSize < 0 || input.pageSize > limits.pageSizeMax) {
    throw invalidArgument(`page_size ${input.pageSize} must be between 0 and ${limits.pageSizeMax}`);
  }
  let beforeKey: bigint | undefined;
  if (input.pageToken !== "") {
    if (!/^[1-9][0-9]{0,18}$/.test(input.pageToken) || BigInt(input.pageToken) > keyMax) {
      throw invalidArgument(`page_token ${JSON.stringify(input.pageToken)} is not a token this server returned`);
    }
    beforeKey = BigInt(input.pageToken);
  }
  return { beforeKey, pageSize: input.pageSize === 0 ? limits.pageSizeDefault : input.pageSize };
}
