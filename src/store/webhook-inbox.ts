// The Stripe webhook inbox: events stored before the 2xx, claimed one at a time with a lease
// (FOR UPDATE SKIP LOCKED, so replicas never work on the same event), then marked done or retried.
import { and, asc, count, eq, inArray, lte, min, sql } from "drizzle-orm";
import type { Database } from "./database.js";
import { stripeWebhookEvents } from "./schema.js";

/** Errors and reasons are stored up to this length (a Stripe error message is far shorter). */
export const inboxErrorLengthMax = 2000;

export type InboxStatus = "pending" | "processed" | "ignored" | "failed";

export interface InboxEvent {
  readonly eventId: string;
  readonly type: string;
  readonly objectId: string;
  readonly payload: Record<string, unknown>;
  readonly status: InboxStatus;
  readonly attempts: number;
  readonly nextAttemptAt: Date;
  readonly lastError: string | null;
  readonly receivedAt: Date;
  readonly processedAt: Date | null;
}

/** Stores an event once; false when its id was already stored (a redelivery). */
export async function insertInboxEvent(
  db: Database,
  event: { eventId: string; type: string; objectId: string; payload: Record<string, unknown>; status: "pending" | "ignored" },
  now: Date,
): Promise<boolean> {
  const inserted = await db
    .insert(stripeWebhookEvents)
    .values({
      ...event,
      attempts: 0,
      nextAttemptAt: now,
      lastError: null,
      receivedAt: now,
      processedAt: event.status === "ignored" ? now : null,
    })
    .onConflictDoNothing({ target: stripeWebhookEvents.eventId })
    .returning({ eventId: stripeWebhookEvents.eventId });
  return inserted.length > 0;
}

/**
 * Claims the oldest due pending event: counts the attempt and leases it until `leaseUntil` (if the
 * worker dies, the event becomes due again then). Returns undefined when nothing is due.
 */
export async function claimDueInboxEvent(db: Database, now: Date, leaseUntil: Date): Promise<InboxEvent | undefined> {
  const due = db
    .select({ eventId: stripeWebhookEvents.eventId })
    .from(stripeWebhookEvents)
    .where(and(eq(stripeWebhookEvents.status, "pending"), lte(stripeWebhookEvents.nextAttemptAt, now)))
    .orderBy(asc(stripeWebhookEvents.nextAttemptAt), asc(stripeWebhookEvents.eventId))
    .limit(1)
    .for("update", { skipLocked: true });
  const [row] = await db
    .update(stripeWebhookEvents)
    .set({ attempts: sql`${stripeWebhookEvents.attempts} + 1`, nextAttemptAt: leaseUntil })
    .where(and(inArray(stripeWebhookEvents.eventId, due), eq(stripeWebhookEvents.status, "pending")))
    .returning();
  return row;
}

/** Marks an event done; an ignored one keeps the reason it was ignored in `lastError`. */
export async function markInboxEventDone(
  db: Database,
  eventId: string,
  outcome: { status: "processed"; reason?: undefined } | { status: "ignored"; reason: string },
  now: Date,
): Promise<void> {
  await db
    .update(stripeWebhookEvents)
    .set({ status: outcome.status, processedAt: now, lastError: outcome.reason?.slice(0, inboxErrorLengthMax) ?? null })
    .where(eq(stripeWebhookEvents.eventId, eventId));
}

/** Records a failed attempt: due again at `nextAttemptAt`, or given up on (status failed). */
export async function markInboxEventFailed(
  db: Database,
  eventId: string,
  error: string,
  nextAttemptAt: Date,
  giveUp: boolean,
): Promise<void> {
  await db
    .update(stripeWebhookEvents)
    .set({ status: giveUp ? "failed" : "pending", nextAttemptAt, lastError: error })
    .where(eq(stripeWebhookEvents.eventId, eventId));
}

export async function getInboxEvent(db: Database, eventId: string): Promise<InboxEvent | undefined> {
  const [row] = await db.select().from(stripeWebhookEvents).where(eq(stripeWebhookEvents.eventId, eventId));
  return row;
}

export interface InboxBacklog {
  /** Events stored and not yet processed (including ones waiting for a retry). */
  readonly pending: number;
  /** Events given up on after too many attempts: they need an operator. */
  readonly failed: number;
  /** When the oldest of those was received; undefined when there are none. */
  readonly oldestReceivedAt: Date | undefined;
}

export async function inboxBacklog(db: Database): Promise<InboxBacklog> {
  const rows = await db
    .select({ status: stripeWebhookEvents.status, n: count(), oldest: min(stripeWebhookEvents.receivedAt) })
    .from(stripeWebhookEvents)
    .where(inArray(stripeWebhookEvents.status, ["pending", "failed"]))
    .groupBy(stripeWebhookEvents.status);
  const of = (status: InboxStatus) => Number(rows.find((row) => row.status === status)?.n ?? 0);
  const oldest = rows.flatMap((row) => (row.oldest ? [row.oldest] : [])).sort((a, b) => a.getTime() - b.getTime())[0];
  return { pending: of("pending"), failed: of("failed"), oldestReceivedAt: oldest };
}

/** Pending events due at `now` (not leased, not waiting for a retry). */
export async function countDueInboxEvents(db: Database, now: Date): Promise<number> {
  const [row] = await db
    .select({ n: count() })
    .from(stripeWebhookEvents)
    .where(and(eq(stripeWebhookEvents.status, "pending"), lte(stripeWebhookEvents.nextAttemptAt, now)));
  return Number(row?.n ?? 0);
}
