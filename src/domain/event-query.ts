// EventService.ListEvents: validation and defaults of its query (newest first, keyset pages).
import { isAccountEventType, accountEventTypes, type AccountEventType } from "./account-event.js";
import { parseAttributionId } from "./attribution-id.js";
import { parseEndpointId } from "./event-endpoint.js";
import { invalidArgument } from "./tally-error.js";

export const eventPageSizeMax = 1000;
export const eventPageSizeDefault = 50;
/** Event sequence numbers are int8: a token beyond it was never returned. */
const eventSeqMax = 9_223_372_036_854_775_807n;

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
  if (!Number.isInteger(input.pageSize) || input.pageSize < 0 || input.pageSize > eventPageSizeMax) {
    throw invalidArgument(`page_size ${input.pageSize} must be between 0 and ${eventPageSizeMax}`);
  }
  let beforeSeq: bigint | undefined;
  if (input.pageToken !== "") {
    if (!/^[1-9][0-9]{0,18}$/.test(input.pageToken) || BigInt(input.pageToken) > eventSeqMax) {
      throw invalidArgument(`page_token ${JSON.stringify(input.pageToken)} is not a token this server returned`);
    }
    beforeSeq = BigInt(input.pageToken);
  }
  return {
    attributionId,
    type: input.type === "" ? undefined : input.type,
    endpointId,
    beforeSeq,
    pageSize: input.pageSize === 0 ? eventPageSizeDefault : input.pageSize,
  };
}
