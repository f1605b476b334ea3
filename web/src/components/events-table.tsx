// The account events of an attribution id, newest first, each with its deliveries to the
// endpoints (EventService.ListEvents): status, attempts, the last answer. Older ones on demand.
import { useState } from "preact/hooks";
import { eventClient } from "../api.js";
import { formatUtc } from "../format.js";
import { useRemote } from "../use-remote.js";
import { Delivery_Status, DeliveryAttempt_Outcome, type Delivery, type Event } from "../../../src/gen/usage/v1/event_pb.js";
import { ErrorBox } from "./error-box.js";
import { Loading } from "./loading.js";

const pageSize = 10;

const deliveryBadge: Record<Delivery_Status, { text: string; class: string }> = {
  [Delivery_Status.UNSPECIFIED]: { text: "Unknown", class: "badge--info" },
  [Delivery_Status.PENDING]: { text: "Pending", class: "badge--warn" },
  [Delivery_Status.DELIVERED]: { text: "Delivered", class: "badge--ok" },
  [Delivery_Status.FAILED]: { text: "Failed", class: "badge--danger" },
  [Delivery_Status.CANCELED]: { text: "Canceled", class: "badge--info" },
};

export function EventsTable({ attributionId, version }: { attributionId: string; version: number }) {
  const [tokens, setTokens] = useState<string[]>([""]);
  const pages = useRemote(
    (signal) => Promise.all(tokens.map((pageToken) => eventClient.listEvents({ attributionId, pageSize, pageToken }, { signal }))),
    [attributionId, version, tokens.length],
  );
  const events = pages.data?.flatMap((page) => page.events) ?? [];
  const next = pages.data?.[pages.data.length - 1]?.nextPageToken ?? "";
  return (
    <section class="card" aria-labelledby="events-title" aria-busy={pages.loading}>
      <h2 id="events-title">Account events and deliveries</h2>
      <ErrorBox message={pages.error} />
      {!pages.data && pages.loading && <Loading lines={3} />}
      {pages.data && events.length === 0 && <p class="empty">No account events yet.</p>}
      {events.length > 0 && (
        <div class="table-wrap">
          <table class="table" data-testid="events">
            <thead>
              <tr>
                <th scope="col">Time (UTC)</th>
                <th scope="col">Event</th>
                <th scope="col">Deliveries</th>
              </tr>
            </thead>
            <tbody>
              {events.map((event) => (
                <EventRow key={event.id} event={event} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      {next && (
        <button type="button" class="button button--quiet" disabled={pages.loading} onClick={() => setTokens((list) => [...list, next])}>
          Older events
        </button>
      )}
    </section>
  );
}

function EventRow({ event }: { event: Event }) {
  return (
    <tr>
      <td class="nowrap">{formatUtc(event.createdTime)}</td>
      <td class="nowrap">
        <code>{event.type}</code>
      </td>
      <td>
        {event.deliveries.length === 0 ? (
          <span class="muted">no endpoint wants it</span>
        ) : (
          <ul class="deliveries">
            {event.deliveries.map((delivery) => (
              <DeliveryItem key={delivery.endpointId} delivery={delivery} />
            ))}
          </ul>
        )}
      </td>
    </tr>
  );
}

function DeliveryItem({ delivery }: { delivery: Delivery }) {
  const badge = deliveryBadge[delivery.status];
  const last = delivery.attempts[delivery.attempts.length - 1];
  const answer = !last
    ? "not tried yet"
    : last.outcome === DeliveryAttempt_Outcome.TIMEOUT
      ? "timed out"
      : last.outcome === DeliveryAttempt_Outcome.NETWORK_ERROR
        ? "no connection"
        : `HTTP ${last.responseStatus}`;
  return (
    <li class="deliveries__item">
      <span class={`badge ${badge.class}`}>{badge.text}</span>
      <span class="mono deliveries__url">{delivery.endpointUrl}</span>
      <span class="muted nowrap">
        {delivery.attemptCount} {delivery.attemptCount === 1 ? "attempt" : "attempts"}, last: {answer}
        {last ? ` in ${last.latencyMs} ms` : ""}
      </span>
    </li>
  );
}
