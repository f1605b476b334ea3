// Works off the Stripe webhook inbox: claims one due event at a time (with a lease, so replicas and
// a crashed worker never lose or double-process one), acts on it, and marks it processed. A failure
// is retried with exponential backoff; after too many attempts the event is marked failed for an
// operator. Acting twice is harmless anyway: every action is idempotent.
import type { Clock } from "../domain/clock.js";
import { InvoiceWithoutLinesError } from "../domain/stripe-billing.js";
import type { Logger } from "../logger.js";
import { WakeableLoop } from "../wakeable-loop.js";
import { backoffDelayMs, type Backoff } from "../retry.js";
import { DuplicateCustomerError, ForeignCustomerError, StripeObjectMissingError, type BillingService } from "../services/billing-service.js";
import type { Database } from "../store/database.js";
import {
  claimDueInboxEvent,
  countDueInboxEvents,
  inboxErrorLengthMax,
  markInboxEventFailed,
  markInboxEventDone,
  type InboxEvent,
} from "../store/webhook-inbox.js";

/** A claimed event is someone's for this long; if its worker dies, it is due again afterwards. */
export const inboxLeaseMs = 5 * 60_000;
/** Attempts before an event is given up on (about a day of retries with the backoff below). */
export const inboxAttemptsMax = 30;
export const inboxRetryDelayMsMin = 5_000;
export const inboxRetryDelayMsMax = 60 * 60_000;
/** How often the worker looks for due retries when nothing wakes it. */
export const inboxPollIntervalMs = 5_000;
/** Events processed per drain before the worker yields to its timer again. */
export const inboxDrainBatchMax = 1000;

const inboxBackoff: Backoff = { minMs: inboxRetryDelayMsMin, maxMs: inboxRetryDelayMsMax, factor: 2 };

/**
 * 5 s, 10 s, 20 s, ... capped at 1 h: the shared backoff, kept as a time in the inbox row (retries
 * outlive the process and are shared by replicas), so not an in-process retry loop.
 */
export function inboxRetryDelayMs(attempts: number): number {
  return backoffDelayMs(attempts, inboxBackoff);
}

/**
 * What handling an event came to. `{ ignored: reason }`: the event turned out not to concern Tally;
 * it is recorded as ignored with the reason, not retried.
 */
export type WebhookEventOutcome = "processed" | { readonly ignored: string };
export type WebhookEventHandler = (event: InboxEvent) => Promise<WebhookEventOutcome | void>;

/** What each handled Stripe event type does; each action re-reads Stripe, so order does not matter. */
export function billingWebhookHandler(billing: BillingService): WebhookEventHandler {
  return async (event) => {
    try {
      switch (event.type) {
        case "invoice.finalized":
          await billing.finalizeInvoice(event.objectId);
          return "processed";
        case "customer.subscription.deleted":
          await billing.cancelSubscription(event.objectId);
          return "processed";
        case "charge.dispute.created":
          await billing.onChargeDispute(event.objectId);
          return "processed";
        case "customer.updated":
          await billing.updateCustomerSubscriptionsTaxState(event.objectId);
          return "processed";
        default:
          throw new Error(`no handler for Stripe event type ${event.type}`);
      }
    } catch (error) {
      // Customers of something else sharing the Stripe account, duplicates of the customer that
      // bills an attribution id, invoices that bill nothing, and
      // objects Stripe does not have (404): no retry can change that, so they are recorded as
      // ignored, with the reason, rather than retried for a day.
      if (
        error instanceof ForeignCustomerError ||
        error instanceof DuplicateCustomerError ||
        error instanceof InvoiceWithoutLinesError ||
        error instanceof StripeObjectMissingError
      ) {
        return { ignored: error.message };
      }
      throw error;
    }
  };
}

export interface InboxWorkerDeps {
  readonly db: Database;
  /** Decides when events are due; tests pass their own to step over backoffs. */
  readonly clock: Clock;
  readonly logger: Logger;
  readonly handle: WebhookEventHandler;
  readonly pollIntervalMs?: number;
}

export type ProcessOutcome = "processed" | "retry" | "failed" | "idle";

export class InboxWorker {
  private readonly poller: WakeableLoop;
  /** Set by `stop`: a drain in progress finishes its current event and returns. */
  private closing = false;
  private inFlight = 0;

  constructor(private readonly deps: InboxWorkerDeps) {
    this.poller = new WakeableLoop({
      drain: () => this.drain(),
      pollIntervalMs: deps.pollIntervalMs ?? inboxPollIntervalMs,
      logger: deps.logger,
      failureMessage: "the webhook inbox worker failed; trying again",
    });
  }

  /** Claims and handles one due event. */
  async processNext(): Promise<ProcessOutcome> {
    const now = this.deps.clock.now();
    // Counted from before the claim, so `settle` never sees a claimed event as neither due nor in flight.
    this.inFlight += 1;
    try {
      const event = await claimDueInboxEvent(this.deps.db, now, new Date(now.getTime() + inboxLeaseMs));
      return event ? await this.process(event) : "idle";
    } finally {
      this.inFlight -= 1;
    }
  }

  private async process(event: InboxEvent): Promise<ProcessOutcome> {
    try {
      const outcome = (await this.deps.handle(event)) ?? "processed";
      const done = outcome === "processed" ? { status: "processed" as const } : { status: "ignored" as const, reason: outcome.ignored };
      await markInboxEventDone(this.deps.db, event.eventId, done, this.deps.clock.now());
      this.deps.logger.info(
        { eventId: event.eventId, type: event.type, attempts: event.attempts, outcome: done.status, reason: done.reason },
        "stripe event done",
      );
      return "processed";
    } catch (error) {
      const giveUp = event.attempts >= inboxAttemptsMax;
      const retryAt = new Date(this.deps.clock.now().getTime() + inboxRetryDelayMs(event.attempts));
      const message = error instanceof Error ? error.message : String(error);
      await markInboxEventFailed(this.deps.db, event.eventId, message.slice(0, inboxErrorLengthMax), retryAt, giveUp);
      const log = { eventId: event.eventId, type: event.type, attempts: event.attempts, err: error };
      if (giveUp) this.deps.logger.error(log, "stripe event failed too often: given up, needs an operator");
      else this.deps.logger.warn({ ...log, retryAt }, "stripe event failed: will retry");
      return giveUp ? "failed" : "retry";
    }
  }

  /** Handles due events until none is left (or a batch is done); returns how many were handled. */
  async drain(): Promise<number> {
    let handled = 0;
    while (!this.closing && handled < inboxDrainBatchMax && (await this.processNext()) !== "idle") handled += 1;
    return handled;
  }

  /** Resolves once nothing is due and nothing is being processed (for tests and shutdown). */
  async settle(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await this.drain();
      if (this.inFlight === 0 && (await countDueInboxEvents(this.deps.db, this.deps.clock.now())) === 0) return;
      if (Date.now() > deadline) throw new Error(`the webhook inbox did not settle within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  wake(): void {
    this.poller.wake();
  }

  start(): void {
    if (!this.poller.stopped) return;
    this.closing = false;
    this.poller.start();
  }

  async stop(): Promise<void> {
    this.closing = true;
    await this.poller.stop();
  }
}
