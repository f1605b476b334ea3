// Writes account events to the outbox inside the transaction of the change that causes them, and
// detects spending-limit crossings for a set of attribution ids at once (a whole reconcile page:
// one read, and one write only when something crossed). When no endpoint subscribes, it costs
// nothing: which types anyone subscribes to is cached, and an event nobody wants is never written.
import { parseAttributionId } from "../domain/attribution-id.js";
import { limitEvent, limitEventTypes, type LimitCause, type NewAccountEvent } from "../domain/account-event.js";
import { defaultSpendingLimitFor, type DefaultSpendingLimits } from "../domain/cost-center.js";
import {
  initialLimitPosition,
  limitCrossing,
  limitLevel,
  positionChanged,
  type LimitPosition,
} from "../domain/limit-threshold.js";
import { readLimitSnapshots, subscribedEventTypes, writeOutbox, type LimitStateWrite, type OutboxEvent } from "../store/account-events.js";
import type { Transaction } from "../store/transactions.js";
import { uuidV7 } from "../store/uuid-v7.js";

/**
 * How long the set of subscribed event types is trusted. Only an endpoint added on another replica
 * waits for it: this replica forgets the set whenever it changes an endpoint itself.
 */
export const subscriptionsCacheMs = 1000;

export interface EventRecorderDeps {
  readonly warningPercent: number;
  readonly defaultSpendingLimit: DefaultSpendingLimits;
  /** Called after a commit that wrote events (the dispatcher wakes up). */
  readonly onCommitted?: () => void;
}

/** What changed in one transaction, as far as events are concerned. */
export interface RecordedChange {
  /** Events the change causes directly, in order. */
  readonly events?: readonly NewAccountEvent[];
  /** Attribution ids whose balance, limit or cycle may have moved: their limit level is checked. */
  readonly limitsOf?: Iterable<string>;
  readonly cause?: LimitCause;
}

export class EventRecorder {
  private subscriptions: { readonly types: ReadonlySet<string>; readonly readAtMs: number } | undefined;
  private recordedSinceNotify = false;

  constructor(private readonly deps: EventRecorderDeps) {}

  /**
   * In the caller's transaction, after the change (and after its balance-row locks): the direct
   * events, then the limit events of `limitsOf`. Returns the number of deliveries created.
   */
  async record(tx: Transaction, change: RecordedChange, now: Date): Promise<number> {
    const subscribed = await this.subscribedTypes(tx);
    if (subscribed.size === 0) return 0;
    const events: OutboxEvent[] = (change.events ?? [])
      .filter((event) => subscribed.has(event.type))
      .map((event) => ({ id: uuidV7(now), attributionId: event.attributionId, type: event.type, data: event.data }));
    const limitStates: LimitStateWrite[] = [];
    const ids = [...new Set(change.limitsOf ?? [])];
    if (ids.length > 0 && limitEventTypes.some((type) => subscribed.has(type))) {
      for (const crossing of await this.detectCrossings(tx, ids, change.cause ?? "usage")) {
        limitStates.push({ attributionId: crossing.attributionId, position: crossing.position });
        if (crossing.event && subscribed.has(crossing.event.type)) {
          events.push({ id: uuidV7(now), attributionId: crossing.attributionId, type: crossing.event.type, data: crossing.event.data });
        }
      }
    }
    const deliveries = await writeOutbox(tx, { events, limitStates }, now);
    if (deliveries > 0) this.recordedSinceNotify = true;
    return deliveries;
  }

  /**
   * Whether record() would certainly write nothing now: no endpoint subscribes to any type, as the
   * cached set says while it is fresh (the same set record() would use). A writer may then skip the
   * transaction it would only open for record().
   */
  nothingSubscribed(): boolean {
    const cached = this.subscriptions;
    return cached !== undefined && cached.types.size === 0 && performance.now() - cached.readAtMs < subscriptionsCacheMs;
  }

  /** After the transaction committed: wakes the dispatcher if anything was recorded. */
  committed(): void {
    if (!this.recordedSinceNotify) return;
    this.recordedSinceNotify = false;
    this.deps.onCommitted?.();
  }

  /** Endpoints changed on this replica: read the subscribed types afresh next time. */
  forgetSubscriptions(): void {
    this.subscriptions = undefined;
  }

  private async subscribedTypes(tx: Transaction): Promise<ReadonlySet<string>> {
    const nowMs = performance.now();
    if (this.subscriptions && nowMs - this.subscriptions.readAtMs < subscriptionsCacheMs) return this.subscriptions.types;
    // Through the transaction: on PGlite a query on the outer handle would wait for it to end.
    const types = await subscribedEventTypes(tx);
    this.subscriptions = { types, readAtMs: nowMs };
    return types;
  }

  /** The limit positions that changed, and the event each change fires (if any). */
  private async detectCrossings(
    tx: Transaction,
    attributionIds: readonly string[],
    cause: LimitCause,
  ): Promise<Array<{ attributionId: string; position: LimitPosition; event: NewAccountEvent | undefined }>> {
    const changes: Array<{ attributionId: string; position: LimitPosition; event: NewAccountEvent | undefined }> = [];
    for (const snapshot of await readLimitSnapshots(tx, attributionIds)) {
      const spendingLimitCredits =
        snapshot.costCenter?.spendingLimitCredits ??
        defaultSpendingLimitFor(parseAttributionId(snapshot.attributionId), this.deps.defaultSpendingLimit);
      const next: LimitPosition = {
        level: limitLevel(snapshot.balanceCents, spendingLimitCredits, this.deps.warningPercent),
        cycleStart: snapshot.costCenter?.billingCycleStart ?? null,
      };
      const previous = snapshot.stored ?? initialLimitPosition;
      if (!positionChanged(previous, next)) continue;
      const type = limitCrossing(previous, next);
      changes.push({
        attributionId: snapshot.attributionId,
        position: next,
        event:
          type &&
          limitEvent({
            type,
            attributionId: snapshot.attributionId,
            level: next.level,
            previousLevel: previous.level,
            balanceCents: snapshot.balanceCents,
            spendingLimitCredits,
            warningPercent: this.deps.warningPercent,
            billingCycleStart: next.cycleStart,
            cause,
          }),
      });
    }
    return changes;
  }
}
