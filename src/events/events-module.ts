// Builds outbound account events for the server: the recorder the use cases write through, the
// dispatcher that delivers, and EventService for operators. The configured endpoints are synced at start.
import type { Clock } from "../domain/clock.js";
import type { DefaultSpendingLimits } from "../domain/cost-center.js";
import type { ConfiguredEndpoint } from "../domain/event-endpoint.js";
import { EventService as EventServiceDesc, file_usage_v1_event } from "../gen/usage/v1/event_pb.js";
import type { Logger } from "../logger.js";
import { eventServiceImpl } from "../rpc/event-service.js";
import { idempotentMutations } from "../rpc/idempotency.js";
import { hostedService, type HostedService } from "../server.js";
import { EventService } from "../services/event-service.js";
import type { Database } from "../store/database.js";
import { deliveryBacklog, type DeliveryBacklog } from "../store/event-deliveries.js";
import { EventDispatcher } from "./event-dispatcher.js";
import { EventRecorder } from "./event-recorder.js";
import { generateSecret } from "./webhook-signature.js";

export interface EventsConfig {
  readonly limitWarningPercent: number;
  readonly eventEndpoints: readonly ConfiguredEndpoint[];
  readonly eventDeliveryTimeoutMs: number;
  readonly defaultSpendingLimit: DefaultSpendingLimits;
}

export interface EventsModule {
  readonly recorder: EventRecorder;
  readonly dispatcher: EventDispatcher;
  readonly service: EventService;
  readonly hosted: HostedService;
  backlog(): Promise<DeliveryBacklog>;
  /** Syncs the configured endpoints and starts delivering. */
  start(): Promise<void>;
  close(): Promise<void>;
}

export function buildEvents(deps: { config: EventsConfig; db: Database; clock: Clock; logger: Logger; fetch?: typeof fetch }): EventsModule {
  const { config, db, clock, logger } = deps;
  const dispatcher = new EventDispatcher({ db, clock, logger, timeoutMs: config.eventDeliveryTimeoutMs, ...(deps.fetch ? { fetch: deps.fetch } : {}) });
  const recorder = new EventRecorder({
    warningPercent: config.limitWarningPercent,
    defaultSpendingLimit: config.defaultSpendingLimit,
    onCommitted: () => dispatcher.wake(),
  });
  const service = new EventService({
    db,
    clock,
    generateSecret,
    onEndpointsChanged: () => {
      recorder.forgetSubscriptions();
      dispatcher.wake();
    },
    onDeliveriesScheduled: () => dispatcher.wake(),
  });
  return {
    recorder,
    dispatcher,
    service,
    // An idempotency key makes a retried AddEndpoint (a second click, a lost answer) return the first
    // endpoint instead of registering another; the other mutations replay their first answer too.
    hosted: hostedService(EventServiceDesc, idempotentMutations(EventServiceDesc, eventServiceImpl(service), { db, clock }), file_usage_v1_event),
    backlog: () => deliveryBacklog(db),
    async start() {
      await service.syncConfigured(config.eventEndpoints);
      dispatcher.start();
    },
    close: () => dispatcher.stop(),
  };
}
