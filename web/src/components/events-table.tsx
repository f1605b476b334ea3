// Account events newest first (EventService.ListEvents), of one attribution id or to one endpoint,
// each with its deliveries: status, every attempt (outcome, response code, latency, time) and a
// Redeliver button (RedeliverEvent). Older ones on demand.
import { useEffect, useState } from "preact/hooks";
import { actionKey, describeError, eventClient } from "../api.js";
import { formatUtc, formatUtcSeconds } from "../format.js";
import { useRemote } from "../use-remote.js";
import { Delivery_Status, DeliveryAttempt_Outcome, type Delivery, type DeliveryAttempt, type Event } from "../../../src/gen/usage/v1/event_pb.js";
import { ErrorBox } from "./error-box.js";
import { Loading } from "./loading.js";

const pageSize = 10;
/** After a redelivery the table reloads this often while a delivery it shows is pending… */
const pendingPollMs = 1000;
/** …at most this many times (a receiver that keeps failing backs off for minutes). */
const pendingPollsMax = 20;

const deliveryBadge: Record<Delivery_Status, { text: string; class: string }> = {
  [Delivery_Status.UNSPECIFIED]: { text: "Unknown", class: "badge--info" },
  [Delivery_Status.PENDING]: { text: "Pending", class: "badge--warn" },
  [Delivery_Status.DELIVERED]: { text: "Delivered", class: "badge--ok" },
  [Delivery_Status.FAILED]: { text: "Failed", class: "badge--danger" },
  [Delivery_Status.CANCELED]: { text: "Canceled", class: "badge--info" },
};

export interface EventsTableProps {
  /** Only this attribution id's events… */
  readonly attributionId?: string;
  /** …or only those to this endpoint, with only its deliveries. */
  readonly endpointId?: string;
  /** Changes when the events may have changed. */
  readonly version: number;
  readonly title?: string;
  /** Says what the table shows when there is nothing. */
  readonly emptyText?: string;
}

export function EventsTable({ attributionId = "", endpointId = "", version, title = "Account events and deliveries", emptyText = "No account events yet." }: EventsTableProps) {
  const [tokens, setTokens] = useState<string[]>([""]);
  const [pollsLeft, setPollsLeft] = useState(0);
  const pages = useRemote(
    (signal) => Promise.all(tokens.map((pageToken) => eventClient.listEvents({ attributionId, endpointId, pageSize, pageToken }, { signal }))),
    [attributionId, endpointId, version, tokens.length],
  );
  const events = pages.data?.flatMap((page) => page.events) ?? [];
  const next = pages.data?.[pages.data.length - 1]?.nextPageToken ?? "";
  const anyPending = events.some((event) => event.deliveries.some((delivery) => delivery.status === Delivery_Status.PENDING));
  // A redelivery is worked by the server a moment later: follow it until nothing shown is pending.
  useEffect(() => {
    // `reload` marks the table loading at once, so the data from before the click (the delivery Failed
    // or Delivered) is never taken for the end of the redelivery.
    if (pollsLeft <= 0 || pages.loading) return;
    if (!anyPending) {
      setPollsLeft(0);
      return;
    }
    const timer = setTimeout(() => {
      setPollsLeft((left) => left - 1);
      pages.reload();
    }, pendingPollMs);
    return () => clearTimeout(timer);
  }, [pollsLeft, pages.loading, anyPending]);
  const redelivered = () => {
    setPollsLeft(pendingPollsMax);
    pages.reload();
  };
  const headingId = `events-title${endpointId ? "-endpoint" : ""}`;
  return (
    <section class="card" aria-labelledby={headingId} aria-busy={pages.loading}>
      <div class="card__header">
        <h2 id={headingId}>{title}</h2>
        <button type="button" class="button button--small button--quiet" disabled={pages.loading} onClick={pages.reload}>
          {pages.loading && pages.data ? "Refreshing…" : "Refresh"}
        </button>
      </div>
      <ErrorBox message={pages.error} />
      {!pages.data && pages.loading && <Loading lines={3} label="Loading the events…" />}
      {pages.data && events.length === 0 && <p class="empty">{emptyText}</p>}
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
                <EventRow key={event.id} event={event} showAttribution={attributionId === ""} onRedelivered={redelivered} />
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

function EventRow({ event, showAttribution, onRedelivered }: { event: Event; showAttribution: boolean; onRedelivered: () => void }) {
  return (
    <tr data-event-id={event.id}>
      <td class="nowrap">{formatUtc(event.createdTime)}</td>
      <td class="nowrap">
        <code>{event.type}</code>
        {showAttribution && (
          <>
            <br />
            <a class="mono muted" href={`/attributions/${encodeURIComponent(event.attributionId)}`}>
              {event.attributionId}
            </a>
          </>
        )}
      </td>
      <td>
        {event.deliveries.length === 0 ? (
          <span class="muted">no endpoint wants it</span>
        ) : (
          <ul class="deliveries">
            {event.deliveries.map((delivery) => (
              <DeliveryItem key={delivery.endpointId} eventId={event.id} delivery={delivery} onRedelivered={onRedelivered} />
            ))}
          </ul>
        )}
      </td>
    </tr>
  );
}

function answerOf(attempt: DeliveryAttempt): string {
  switch (attempt.outcome) {
    case DeliveryAttempt_Outcome.TIMEOUT:
      return "timed out";
    case DeliveryAttempt_Outcome.NETWORK_ERROR:
      return "no connection";
    default:
      return `HTTP ${attempt.responseStatus}`;
  }
}

function DeliveryItem({ eventId, delivery, onRedelivered }: { eventId: string; delivery: Delivery; onRedelivered: () => void }) {
  const [key] = useState(actionKey);
  const [status, setStatus] = useState<{ kind: "idle" | "busy" | "done" | "failed"; message?: string }>({ kind: "idle" });
  const badge = deliveryBadge[delivery.status];
  const last = delivery.attempts[delivery.attempts.length - 1];
  const redeliver = async () => {
    setStatus({ kind: "busy" });
    try {
      const request = { eventId, endpointId: delivery.endpointId };
      const answer = await eventClient.redeliverEvent(request, key.options(request));
      key.done();
      setStatus({ kind: "done", message: answer.redelivered > 0n ? "Redelivery scheduled." : "Nothing redelivered: the delivery is pending already." });
      onRedelivered();
    } catch (error) {
      setStatus({ kind: "failed", message: describeError(error) });
    }
  };
  return (
    <li class="deliveries__item" data-endpoint-id={delivery.endpointId}>
      <div class="deliveries__line">
        <span class={`badge ${badge.class}`}>{badge.text}</span>
        <span class="mono deliveries__url">{delivery.endpointUrl}</span>
        {delivery.status === Delivery_Status.PENDING && delivery.nextAttemptTime && (
          <span class="muted nowrap">next attempt {formatUtcSeconds(delivery.nextAttemptTime)}</span>
        )}
        {/* Pending deliveries are retried by the server already; canceled ones went to a removed endpoint. */}
        {(delivery.status === Delivery_Status.DELIVERED || delivery.status === Delivery_Status.FAILED) && (
          <button type="button" class="button button--small" disabled={status.kind === "busy"} onClick={() => void redeliver()}>
            {status.kind === "busy" ? "Redelivering…" : "Redeliver"}
          </button>
        )}
        <span class={`form-status form-status--${status.kind}`} role="status" aria-live="polite">
          {status.message ?? ""}
        </span>
      </div>
      {delivery.attempts.length === 0 ? (
        <span class="muted">not tried yet</span>
      ) : (
        <details class="attempts">
          <summary>
            {delivery.attempts.length} {delivery.attempts.length === 1 ? "attempt" : "attempts"}, last: {last ? `${answerOf(last)} in ${last.latencyMs} ms` : "none"}
          </summary>
          <table class="table attempts__table" data-testid="attempts">
            <thead>
              <tr>
                <th scope="col">Time (UTC)</th>
                <th scope="col">Result</th>
                <th scope="col" class="num">Latency</th>
                <th scope="col">Error</th>
              </tr>
            </thead>
            <tbody>
              {delivery.attempts.map((attempt, index) => (
                <tr key={index}>
                  <td>{formatUtcSeconds(attempt.time)}</td>
                  <td>
                    <span class={`badge ${attempt.outcome === DeliveryAttempt_Outcome.DELIVERED ? "badge--ok" : "badge--danger"}`}>{answerOf(attempt)}</span>
                  </td>
                  <td class="num">{attempt.latencyMs.toLocaleString("en-US")} ms</td>
                  <td class="muted">{attempt.error}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </details>
      )}
    </li>
  );
}
