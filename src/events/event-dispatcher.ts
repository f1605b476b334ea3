// Delivers account events: runs on every replica, claims due deliveries with a lease (so each is in
// flight once, and a crashed replica's are picked up when the lease ends), POSTs each signed body,
// and records the attempt. Failures are retried with backoff; a delivery that keeps failing is given
// up after deliveryAttemptsMax attempts. The events of one attribution id reach an endpoint in order.
import { webhookBody } from "../domain/account-event.js";
import type { Clock } from "../domain/clock.js";
import { deliveryAttemptsMax, deliveryRetryDelayMs } from "../domain/event-endpoint.js";
import type { Logger } from "../logger.js";
import type { Database } from "../store/database.js";
import { systemClock } from "../system-clock.js";
import { WakeableLoop } from "../wakeable-loop.js";
import {
  claimDueDeliveries,
  countClaimableDeliveries,
  recordAttempt,
  type AttemptOutcome,
  type ClaimedDelivery,
} from "../store/event-deliveries.js";
import { webhookHeaders } from "./webhook-signature.js";

/** Deliveries in flight at once per replica; each is the head of a different queue. */
export const deliveryInFlightMax = 32;
/** How often a replica looks for due deliveries when nothing wakes it. */
export const deliveryPollIntervalMs = 1000;
/** Bytes of an error answer kept with the attempt. */
const errorBodyBytesMax = 200;

export interface EventDispatcherDeps {
  readonly db: Database;
  /** Decides when deliveries are due and stamps attempts; tests step it over the backoff. */
  readonly clock: Clock;
  /**
   * The webhook-timestamp of each attempt, which receivers compare with their own clock to refuse
   * replays: always the wall clock (default), even when `clock` is a simulated one.
   */
  readonly wallClock?: Clock;
  readonly logger: Logger;
  /** An attempt without an answer within this long is a timeout. */
  readonly timeoutMs: number;
  readonly pollIntervalMs?: number;
  /** Replaces global fetch (tests). */
  readonly fetch?: typeof fetch;
}

export interface AttemptResult {
  readonly outcome: AttemptOutcome;
  readonly responseStatus: number | null;
  readonly latencyMs: number;
  readonly error: string | null;
}

export class EventDispatcher {
  private readonly poller: WakeableLoop;
  /** Drains running (the loop's, and settle's in tests). */
  private busy = 0;

  constructor(private readonly deps: EventDispatcherDeps) {
    this.poller = new WakeableLoop({
      drain: () => this.drain(),
      pollIntervalMs: deps.pollIntervalMs ?? deliveryPollIntervalMs,
      logger: deps.logger,
      failureMessage: "the event dispatcher failed; trying again",
    });
  }

  /** A claim lasts this long: the timeout, the acknowledgement, and room for a slow event loop. */
  get leaseMs(): number {
    return 2 * this.deps.timeoutMs + 1000;
  }

  /**
   * Delivers until nothing is claimable: keeps up to deliveryInFlightMax deliveries in flight (each
   * the head of a different queue), claiming more as they finish, since a finished delivery may have
   * let the next event of its queue through. Returns how many attempts were made.
   */
  async drain(): Promise<number> {
    const inFlight = new Set<Promise<void>>();
    let attempted = 0;
    let exhausted = false;
    this.busy += 1;
    try {
      while (!this.poller.stopped) {
        if (!exhausted && inFlight.size < deliveryInFlightMax) {
          const now = this.deps.clock.now();
          const claimed = await claimDueDeliveries(this.deps.db, now, new Date(now.getTime() + this.leaseMs), deliveryInFlightMax - inFlight.size);
          exhausted = claimed.length === 0;
          for (const delivery of claimed) {
            const attempt: Promise<void> = this.deliver(delivery)
              .catch((error: unknown) => this.deps.logger.error({ err: error, eventId: delivery.eventId }, "recording a delivery attempt failed"))
              .finally(() => inFlight.delete(attempt));
            inFlight.add(attempt);
            attempted += 1;
          }
          if (!exhausted) continue;
        }
        if (inFlight.size === 0) break;
        await Promise.race(inFlight);
        exhausted = false;
      }
    } finally {
      await Promise.all(inFlight);
      this.busy -= 1;
    }
    return attempted;
  }

  private async deliver(delivery: ClaimedDelivery): Promise<void> {
    const attemptedAt = this.deps.clock.now();
    const result = await this.post(delivery, attemptedAt);
    const now = this.deps.clock.now();
    const next =
      result.outcome === "delivered"
        ? ({ status: "delivered" } as const)
        : delivery.attempt >= deliveryAttemptsMax
          ? ({ status: "failed" } as const)
          : ({ status: "pending", nextAttemptAt: new Date(now.getTime() + deliveryRetryDelayMs(delivery.attempt)) } as const);
    await recordAttempt(this.deps.db, delivery, { attemptedAt, ...result }, next, now);
    const log = { eventId: delivery.eventId, type: delivery.type, endpointId: delivery.endpointId, attempt: delivery.attempt, ...result };
    if (next.status === "failed") this.deps.logger.error(log, "event delivery failed too often: given up, redeliver it when the endpoint is fixed");
    else if (next.status === "pending") this.deps.logger.warn({ ...log, retryAt: next.nextAttemptAt }, "event delivery failed: will retry");
    else this.deps.logger.debug(log, "event delivered");
  }

  /** One HTTP attempt: the same webhook-id every time, a fresh timestamp and signatures. */
  private async post(delivery: ClaimedDelivery, attemptedAt: Date): Promise<AttemptResult> {
    const body = webhookBody(delivery);
    const secrets = [delivery.secret];
    if (delivery.previousSecret && delivery.previousSecretExpiresAt && delivery.previousSecretExpiresAt > attemptedAt) {
      secrets.push(delivery.previousSecret);
    }
    const headers = {
      "content-type": "application/json",
      "user-agent": "Tally-Webhooks/1",
      ...webhookHeaders(secrets, delivery.eventId, Math.floor((this.deps.wallClock ?? systemClock).now().getTime() / 1000), body),
    };
    const started = performance.now();
    const latency = () => Math.round(performance.now() - started);
    try {
      const response = await (this.deps.fetch ?? fetch)(delivery.url, {
        method: "POST",
        headers,
        body,
        redirect: "manual",
        signal: AbortSignal.timeout(this.deps.timeoutMs),
      });
      // The answer's body is read (to its end, or its start for an error) so the connection is reused.
      const text = await response.text();
      if (response.status >= 200 && response.status < 300) {
        return { outcome: "delivered", responseStatus: response.status, latencyMs: latency(), error: null };
      }
      const snippet = text.slice(0, errorBodyBytesMax).trim();
      return {
        outcome: "http_error",
        responseStatus: response.status,
        latencyMs: latency(),
        error: `HTTP ${response.status}${snippet ? `: ${snippet}` : ""}`,
      };
    } catch (error) {
      const name = (error as { name?: string }).name;
      if (name === "TimeoutError" || name === "AbortError") {
        return { outcome: "timeout", responseStatus: null, latencyMs: latency(), error: `no answer within ${this.deps.timeoutMs} ms` };
      }
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      const message = cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error));
      return { outcome: "network_error", responseStatus: null, latencyMs: latency(), error: message };
    }
  }

  /** Resolves once nothing is claimable at the clock's now and nothing is in flight (tests, shutdown). */
  async settle(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await this.drain();
      if (this.busy === 0 && (await countClaimableDeliveries(this.deps.db, this.deps.clock.now())) === 0) return;
      if (Date.now() > deadline) throw new Error(`event deliveries did not settle within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  wake(): void {
    this.poller.wake();
  }

  start(): void {
    this.poller.start();
  }

  /** Stops claiming; deliveries in flight finish (each within the timeout). */
  async stop(): Promise<void> {
    await this.poller.stop();
  }
}
