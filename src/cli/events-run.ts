// `tally events ls|redeliver`: the calls and the views (the definitions: events.ts).
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { Delivery_Status, DeliveryAttempt_Outcome, EventService, type Delivery, type Event } from "../gen/usage/v1/event_pb.js";
import { parseWholeNumber } from "./arguments.js";
import { clientFor } from "./client.js";
import type { EventsLsOptions } from "./events.js";
import { truncate, write } from "./output.js";
import { printPagedListing } from "./paged-listing.js";
import type { ServerOptions } from "./remote.js";

const statusNames: Record<Delivery_Status, string> = {
  [Delivery_Status.UNSPECIFIED]: "unknown",
  [Delivery_Status.PENDING]: "pending",
  [Delivery_Status.DELIVERED]: "delivered",
  [Delivery_Status.FAILED]: "failed",
  [Delivery_Status.CANCELED]: "canceled",
};

const outcomeNames: Record<DeliveryAttempt_Outcome, string> = {
  [DeliveryAttempt_Outcome.UNSPECIFIED]: "unknown",
  [DeliveryAttempt_Outcome.DELIVERED]: "delivered",
  [DeliveryAttempt_Outcome.HTTP_ERROR]: "http_error",
  [DeliveryAttempt_Outcome.TIMEOUT]: "timeout",
  [DeliveryAttempt_Outcome.NETWORK_ERROR]: "network_error",
};

export async function listEvents(options: EventsLsOptions): Promise<void> {
  const limit = parseWholeNumber(options.limit, "--limit", { min: 0, max: Number.MAX_SAFE_INTEGER });
  const client = clientFor(EventService, options);
  await printPagedListing({
    fetchPage: async (pageSize, pageToken) => {
      const page = await client.listEvents({
        attributionId: options.attribution ?? "",
        type: options.type ?? "",
        endpointId: options.endpoint ?? "",
        pageSize,
        pageToken,
      });
      return { items: page.events, nextPageToken: page.nextPageToken };
    },
    limit,
    json: options.json,
    jsonView,
    header: ["TIME", "EVENT ID", "TYPE", "ATTRIBUTION", "DELIVERIES"],
    tableRow,
    emptyText: "no events",
  });
}

export async function redeliverEvent(eventId: string, options: ServerOptions & { endpoint?: string }): Promise<void> {
  const { redelivered } = await clientFor(EventService, options).redeliverEvent({ eventId, endpointId: options.endpoint ?? "" });
  await write(
    redelivered === 0n
      ? `nothing scheduled: event ${eventId}'s deliveries are still pending (or its endpoints were removed)\n`
      : `scheduled ${redelivered} deliver${redelivered === 1n ? "y" : "ies"} of event ${eventId}\n`,
  );
}

const iso = (time: Timestamp | undefined) => (time ? timestampDate(time).toISOString() : null);

/** "delivered", or "pending after 3 attempts: HTTP 503", per endpoint. */
function deliverySummary(delivery: Delivery): string {
  const last = delivery.attempts.at(-1);
  const status = statusNames[delivery.status];
  if (delivery.status === Delivery_Status.DELIVERED) return status;
  const tries = `${delivery.attemptCount} attempt${delivery.attemptCount === 1 ? "" : "s"}`;
  return `${status} after ${tries}${last?.error ? `: ${truncate(last.error, 40)}` : ""}`;
}

function tableRow(event: Event): string[] {
  const deliveries =
    event.deliveries.length === 0
      ? "-"
      : event.deliveries.map((delivery) => (event.deliveries.length > 1 ? `${delivery.endpointId}: ` : "") + deliverySummary(delivery)).join("; ");
  return [iso(event.createdTime) ?? "", event.id, event.type, event.attributionId, deliveries];
}

function jsonView(event: Event) {
  return {
    id: event.id,
    sequence: String(event.sequence),
    type: event.type,
    attributionId: event.attributionId,
    createdTime: iso(event.createdTime),
    payload: JSON.parse(event.payload) as unknown,
    deliveries: event.deliveries.map((delivery) => ({
      endpointId: delivery.endpointId,
      endpointUrl: delivery.endpointUrl,
      status: statusNames[delivery.status],
      attemptCount: delivery.attemptCount,
      nextAttemptTime: iso(delivery.nextAttemptTime),
      deliveredTime: iso(delivery.deliveredTime),
      attempts: delivery.attempts.map((attempt) => ({
        time: iso(attempt.time),
        outcome: outcomeNames[attempt.outcome],
        responseStatus: attempt.responseStatus,
        latencyMs: Number(attempt.latencyMs),
        error: attempt.error,
      })),
    })),
  };
}
