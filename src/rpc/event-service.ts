// usage.v1.EventService (Tally's own): thin handlers over the EventService use cases.
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { webhookBody } from "../domain/account-event.js";
import { endpointSecretPrefix } from "../domain/event-endpoint.js";
import {
  Delivery_Status,
  DeliveryAttempt_Outcome,
  DeliveryAttemptSchema,
  DeliverySchema,
  Endpoint_Source,
  EndpointSchema,
  EventSchema,
  EventService as EventServiceDesc,
  type Endpoint,
} from "../gen/usage/v1/event_pb.js";
import type { EventService } from "../services/event-service.js";
import type { ListedAttempt, ListedDelivery, ListedEvent } from "../store/account-events.js";
import type { EndpointWithCounts, StoredEndpoint } from "../store/event-endpoints.js";
import { timestamp } from "./convert.js";

/** Characters of the key shown in secret_hint after "whsec_": enough to tell secrets apart. */
const secretHintLength = 4;

export function eventServiceImpl(events: EventService): ServiceImpl<typeof EventServiceDesc> {
  return {
    async addEndpoint(request) {
      const { endpoint, secret } = await events.addEndpoint(request);
      return { endpoint: endpointToWire({ ...endpoint, pendingDeliveries: 0, failedDeliveries: 0 }), secret };
    },

    async listEndpoints() {
      return { endpoints: (await events.listEndpoints()).map(endpointToWire) };
    },

    async removeEndpoint(request) {
      const { canceledDeliveries } = await events.removeEndpoint(request.endpointId);
      return { canceledDeliveries: BigInt(canceledDeliveries) };
    },

    async rotateEndpointSecret(request) {
      const rotated = await events.rotateSecret(request.endpointId);
      return { secret: rotated.secret, previousSecretExpireTime: timestamp(rotated.previousSecretExpiresAt) };
    },

    async listEvents(request) {
      const { events: page, nextPageToken } = await events.listEvents(request);
      return { events: page.map(eventToWire), nextPageToken };
    },

    async redeliverEvent(request) {
      return { redelivered: BigInt(await events.redeliver(request)) };
    },
  };
}

function endpointToWire(endpoint: StoredEndpoint & Pick<EndpointWithCounts, "pendingDeliveries" | "failedDeliveries">): Endpoint {
  return create(EndpointSchema, {
    id: endpoint.id,
    url: endpoint.url,
    description: endpoint.description,
    eventTypes: endpoint.eventTypes,
    source: endpoint.source === "config" ? Endpoint_Source.CONFIG : Endpoint_Source.API,
    createdTime: timestamp(endpoint.createdAt),
    secretHint: `${endpoint.secret.slice(0, endpointSecretPrefix.length + secretHintLength)}...`,
    previousSecretExpireTime: endpoint.previousSecretExpiresAt ? timestamp(endpoint.previousSecretExpiresAt) : undefined,
    pendingDeliveries: BigInt(endpoint.pendingDeliveries),
    failedDeliveries: BigInt(endpoint.failedDeliveries),
  });
}

const statusToWire: Record<ListedDelivery["status"], Delivery_Status> = {
  pending: Delivery_Status.PENDING,
  delivered: Delivery_Status.DELIVERED,
  failed: Delivery_Status.FAILED,
  canceled: Delivery_Status.CANCELED,
};

const outcomeToWire: Record<ListedAttempt["outcome"], DeliveryAttempt_Outcome> = {
  delivered: DeliveryAttempt_Outcome.DELIVERED,
  http_error: DeliveryAttempt_Outcome.HTTP_ERROR,
  timeout: DeliveryAttempt_Outcome.TIMEOUT,
  network_error: DeliveryAttempt_Outcome.NETWORK_ERROR,
};

function eventToWire(event: ListedEvent) {
  return create(EventSchema, {
    id: event.id,
    type: event.type,
    attributionId: event.attributionId,
    createdTime: timestamp(event.createdAt),
    payload: webhookBody(event),
    sequence: event.seq,
    deliveries: event.deliveries.map((delivery) =>
      create(DeliverySchema, {
        endpointId: delivery.endpointId,
        endpointUrl: delivery.endpointUrl,
        status: statusToWire[delivery.status],
        attemptCount: delivery.attempts,
        nextAttemptTime: delivery.status === "pending" ? timestamp(delivery.nextAttemptAt) : undefined,
        deliveredTime: delivery.deliveredAt ? timestamp(delivery.deliveredAt) : undefined,
        attempts: delivery.attemptLog.map((attempt) =>
          create(DeliveryAttemptSchema, {
            time: timestamp(attempt.attemptedAt),
            outcome: outcomeToWire[attempt.outcome],
            responseStatus: attempt.responseStatus ?? 0,
            latencyMs: BigInt(attempt.latencyMs),
            error: attempt.error ?? "",
          }),
        ),
      }),
    ),
  });
}
