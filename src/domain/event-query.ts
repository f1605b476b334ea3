// EventService.ListEvents: validation and defaults of its query (newest first, keyset pages).
import { isAccountEventType, accountEventTypes, type AccountEventType } from "./account-event.js";
import { parseAttributionId } from "./attribution-id.js";
import { parseEndpointId } from "./event-endpoint.js";
import { parseKeysetPage } from "./keyset-page.js";
import { invalidArgument } from "./tally-error.js";

export const eventPageSizeMax = 1000;
export const eventPageSizeDefault = 50;

export interface EventPageQuery {
  readonly attributionId: string | undefined;
  readonly type: AccountEventType | undefined;
  readonly endpointId: string | undefined;
  /** Events with a smaller sequence number (the previous page's last); undefined for the first page. */
  readonly beforeSeq: bigint | undefined;
  readonly pageSize: number;
}

export function parseEventPageQuery(input: {
  attributionId: string;
  type: string;
  endpointId: string;
  pageSize: number;
  pageToken: string;
}): EventPageQuery {
  const attributionId = input.attributionId === "" ? undefined : parseAttributionId(input.attributionId).text;
  if (input.type !== "" && !isAccountEventType(input.type)) {
    throw invalidArgument(`type ${JSON.stringify(input.type)} is not an event type; expected one of ${accountEventTypes.join(", ")}`);
  }
  const endpointId = input.endpointId === "" ? undefined : parseEndpointId(input.endpointId);
  const page = parseKeysetPage(input, { pageSizeMax: eventPageSizeMax, pageSizeDefault: eventPageSizeDefault });
  return {
    attributionId,
    type: input.type === "" ? undefined : input.type,
    endpointId,
    beforeSeq: page.beforeKey,
    pageSize: page.pageSize,
  };
}
