// Webhook endpoints and the event log, for operators: register, list, remove endpoints and rotate
// their secrets; list events with their deliveries; deliver an event again.
import { randomUUID } from "node:crypto";
import { parseEventTypes } from "../domain/account-event.js";
import type { Clock } from "../domain/clock.js";
import {
  endpointsMax,
  type ConfiguredEndpoint,
  parseEndpointDescription,
  parseEndpointId,
  parseEndpointSecret,
  parseEndpointUrl,
  previousSecretValidityMs,
} from "../domain/event-endpoint.js";
import { parseEventPageQuery, type EventPageQuery } from "../domain/event-query.js";
import { failedPrecondition, invalidArgument, notFound, TallyError } from "../domain/tally-error.js";
import { explainNotUuid } from "../domain/uuid.js";
import { findEventSeq, listEvents, type ListedEvent } from "../store/account-events.js";
import type { Database } from "../store/database.js";
import { redeliver } from "../store/event-deliveries.js";
import {
  countActiveEndpoints,
  getActiveEndpoint,
  insertEndpoint,
  listActiveEndpoints,
  removeEndpoint,
  rotateSecret,
  syncConfigEndpoints,
  type EndpointWithCounts,
  type StoredEndpoint,
} from "../store/event-endpoints.js";
import { inTransaction } from "../store/transactions.js";

export interface EventServiceDeps {
  readonly db: Database;
  readonly clock: Clock;
  /** Endpoints changed: the recorder reads the subscribed types afresh, the dispatcher wakes up. */
  readonly onEndpointsChanged: () => void;
  /** Deliveries were scheduled again: the dispatcher wakes up. */
  readonly onDeliveriesScheduled: () => void;
  readonly generateSecret: () => string;
}

export class EventService {
  constructor(private readonly deps: EventServiceDeps) {}

  async addEndpoint(request: { url: string; eventTypes: readonly string[]; description: string; secret: string }): Promise<{
    endpoint: StoredEndpoint;
    secret: string;
  }> {
    const url = parseEndpointUrl(request.url);
    const eventTypes = parseEventTypes(request.eventTypes);
    const description = parseEndpointDescription(request.description);
    const secret = request.secret === "" ? this.deps.generateSecret() : parseEndpointSecret(request.secret);
    if ((await countActiveEndpoints(this.deps.db)) >= endpointsMax) {
      throw failedPrecondition(`there are already ${endpointsMax} endpoints, the most Tally delivers to; remove one first`);
    }
    const endpoint = await insertEndpoint(
      this.deps.db,
      { id: randomUUID(), url, description, eventTypes, source: "api", secret },
      this.deps.clock.now(),
    );
    this.deps.onEndpointsChanged();
    return { endpoint, secret };
  }

  listEndpoints(): Promise<EndpointWithCounts[]> {
    return listActiveEndpoints(this.deps.db);
  }

  async removeEndpoint(endpointIdText: string): Promise<{ canceledDeliveries: number }> {
    const endpoint = await this.requireApiEndpoint(endpointIdText, "removed");
    const removed = await inTransaction(this.deps.db, (tx) => removeEndpoint(tx, endpoint.id, this.deps.clock.now()));
    if (!removed) throw notFound(`endpoint ${endpoint.id} does not exist (or was removed)`);
    this.deps.onEndpointsChanged();
    return removed;
  }

  async rotateSecret(endpointIdText: string): Promise<{ secret: string; previousSecretExpiresAt: Date }> {
    const endpoint = await this.requireApiEndpoint(endpointIdText, "rotated");
    const now = this.deps.clock.now();
    const secret = this.deps.generateSecret();
    const previousSecretExpiresAt = new Date(now.getTime() + previousSecretValidityMs);
    if (!(await rotateSecret(this.deps.db, endpoint.id, secret, previousSecretExpiresAt, now))) {
      throw notFound(`endpoint ${endpoint.id} does not exist (or was removed)`);
    }
    return { secret, previousSecretExpiresAt };
  }

  async listEvents(input: { attributionId: string; type: string; endpointId: string; pageSize: number; pageToken: string }): Promise<{
    query: EventPageQuery;
    events: ListedEvent[];
    nextPageToken: string;
  }> {
    const query = parseEventPageQuery(input);
    // One more than asked: whether there is a next page, without counting.
    const rows = await listEvents(this.deps.db, { ...query, limit: query.pageSize + 1 });
    const events = rows.slice(0, query.pageSize);
    const nextPageToken = rows.length > query.pageSize ? events[events.length - 1]!.seq.toString() : "";
    return { query, events, nextPageToken };
  }

  async redeliver(request: { eventId: string; endpointId: string }): Promise<number> {
    const eventId = request.eventId.trim().toLowerCase();
    if (eventId === "") throw invalidArgument("event_id is required");
    const why = explainNotUuid(eventId);
    if (why) throw invalidArgument(`event_id ${JSON.stringify(request.eventId.slice(0, 100))} ${why}`);
    const endpointId = request.endpointId === "" ? undefined : parseEndpointId(request.endpointId);
    const seq = await findEventSeq(this.deps.db, eventId);
    if (seq === undefined) throw notFound(`event ${eventId} does not exist`);
    if (endpointId !== undefined && !(await getActiveEndpoint(this.deps.db, endpointId))) {
      throw notFound(`endpoint ${endpointId} does not exist (or was removed)`);
    }
    const scheduled = await redeliver(this.deps.db, seq, endpointId, this.deps.clock.now());
    this.deps.onDeliveriesScheduled();
    return scheduled;
  }

  /** At start: the configured endpoints become the active "config" endpoints. */
  async syncConfigured(endpoints: readonly ConfiguredEndpoint[]): Promise<void> {
    await inTransaction(this.deps.db, (tx) => syncConfigEndpoints(tx, endpoints, previousSecretValidityMs, this.deps.clock.now()));
    this.deps.onEndpointsChanged();
  }

  private async requireApiEndpoint(endpointIdText: string, action: string): Promise<StoredEndpoint> {
    const id = parseEndpointId(endpointIdText);
    const endpoint = await getActiveEndpoint(this.deps.db, id);
    if (!endpoint) throw notFound(`endpoint ${id} does not exist (or was removed)`);
    if (endpoint.source === "config") {
      throw new TallyError("FailedPrecondition", `endpoint ${id} comes from the configuration (eventEndpoints); it is ${action} there`);
    }
    return endpoint;
  }
}
