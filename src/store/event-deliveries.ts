// Deliveries of account events: claimed with a lease (FOR UPDATE SKIP LOCKED, like the Stripe inbox,
// so every replica can work them off and each delivery is in flight at most once), only at the head
// of their (endpoint, attribution id) queue, so each team's events arrive in order.
import { sql } from "drizzle-orm";
import type { Database } from "./database.js";
import { rowsOf, affectedRows } from "./raw-result.js";
import { toDate } from "./account-events.js";

export type DeliveryStatus = "pending" | "delivered" | "failed" | "canceled";
export type AttemptOutcome = "delivered" | "http_error" | "timeout" | "network_error";

/** Errors stored with an attempt are cut to this length. */
export const attemptErrorLengthMax = 500;

export interface ClaimedDelivery {
  readonly deliveryId: bigint;
  /** This attempt's number since the delivery was created or redelivered (1 = first). */
  readonly attempt: number;
  readonly eventId: string;
  readonly eventSeq: bigint;
  readonly type: string;
  readonly attributionId: string;
  readonly data: unknown;
  readonly createdAt: Date;
  readonly endpointId: string;
  readonly url: string;
  readonly secret: string;
  readonly previousSecret: string | null;
  readonly previousSecretExpiresAt: Date | null;
}

/**
 * Claims up to `limit` due pending deliveries, each the oldest pending one of its endpoint and
 * attribution id: counts the attempt and leases it until `leaseUntil` (if the worker dies, it is due
 * again then). A delivery backing off after a failure keeps the later ones of its queue waiting.
 */
export async function claimDueDeliveries(db: Database, now: Date, leaseUntil: Date, limit: number): Promise<ClaimedDelivery[]> {
  const nowText = now.toISOString();
  const result = await db.execute(sql`
    WITH due AS (
      SELECT d.id FROM event_deliveries d
      WHERE d.status = 'pending' AND d.next_attempt_at <= ${nowText}::timestamptz
        AND NOT EXISTS (
          SELECT 1 FROM event_deliveries earlier
          WHERE earlier.status = 'pending' AND earlier.endpoint_id = d.endpoint_id
            AND earlier.attribution_id = d.attribution_id AND earlier.event_seq < d.event_seq)
      ORDER BY d.next_attempt_at, d.event_seq
      LIMIT ${limit}
      FOR UPDATE SKIP LOCKED
    ), claimed AS (
      UPDATE event_deliveries d SET attempts = d.attempts + 1, next_attempt_at = ${leaseUntil.toISOString()}::timestamptz
      FROM due WHERE d.id = due.id AND d.status = 'pending'
      RETURNING d.id, d.attempts, d.event_seq, d.endpoint_id
    )
    SELECT c.id AS delivery_id, c.attempts, ev.id AS event_id, ev.seq, ev.type, ev.attribution_id, ev.data, ev.created_at,
      e.id AS endpoint_id, e.url, e.secret, e.previous_secret, e.previous_secret_expires_at
    FROM claimed c
    JOIN account_events ev ON ev.seq = c.event_seq
    JOIN event_endpoints e ON e.id = c.endpoint_id
    ORDER BY ev.seq`);
  return rowsOf<{
    delivery_id: bigint | string | number;
    attempts: number;
    event_id: string;
    seq: bigint | string | number;
    type: string;
    attribution_id: string;
    data: unknown;
    created_at: Date | string;
    endpoint_id: string;
    url: string;
    secret: string;
    previous_secret: string | null;
    previous_secret_expires_at: Date | string | null;
  }>(result).map((row) => ({
    deliveryId: BigInt(row.delivery_id),
    attempt: Number(row.attempts),
    eventId: row.event_id,
    eventSeq: BigInt(row.seq),
    type: row.type,
    attributionId: row.attribution_id,
    data: typeof row.data === "string" ? JSON.parse(row.data) : row.data,
    createdAt: toDate(row.created_at),
    endpointId: row.endpoint_id,
    url: row.url,
    secret: row.secret,
    previousSecret: row.previous_secret,
    previousSecretExpiresAt: row.previous_secret_expires_at === null ? null : toDate(row.previous_secret_expires_at),
  }));
}

export interface AttemptRecord {
  readonly attemptedAt: Date;
  readonly outcome: AttemptOutcome;
  readonly responseStatus: number | null;
  readonly latencyMs: number;
  readonly error: string | null;
}

/**
 * Records an attempt and what follows from it, in one statement: delivered; due again at
 * `nextAttemptAt`; or given up (failed). A failure changes the delivery only while it is still this
 * attempt's (its lease did not run out and nobody claimed it since); a success always counts.
 */
export async function recordAttempt(
  db: Database,
  delivery: { readonly deliveryId: bigint; readonly attempt: number },
  attempt: AttemptRecord,
  next: { readonly status: "delivered" } | { readonly status: "pending"; readonly nextAttemptAt: Date } | { readonly status: "failed" },
  now: Date,
): Promise<void> {
  const nextAttemptAt = next.status === "pending" ? next.nextAttemptAt : now;
  const fenced = next.status === "delivered" ? sql`true` : sql`d.attempts = ${delivery.attempt}`;
  await db.execute(sql`
    WITH attempt AS (
      INSERT INTO event_delivery_attempts (delivery_id, attempted_at, outcome, response_status, latency_ms, error)
      VALUES (${delivery.deliveryId.toString()}::int8, ${attempt.attemptedAt.toISOString()}::timestamptz, ${attempt.outcome},
        ${attempt.responseStatus}::int4, ${Math.round(attempt.latencyMs)}::int4, ${attempt.error?.slice(0, attemptErrorLengthMax) ?? null})
      RETURNING 1
    )
    UPDATE event_deliveries d SET
      status = ${next.status},
      next_attempt_at = ${nextAttemptAt.toISOString()}::timestamptz,
      delivered_at = ${next.status === "delivered" ? now.toISOString() : null}::timestamptz
    WHERE d.id = ${delivery.deliveryId.toString()}::int8 AND d.status = 'pending' AND ${fenced}`);
}

/** Pending deliveries due at `now` and not blocked behind an earlier one (for tests and shutdown). */
export async function countClaimableDeliveries(db: Database, now: Date): Promise<number> {
  const result = await db.execute(sql`
    SELECT count(*)::int8 AS n FROM event_deliveries d
    WHERE d.status = 'pending' AND d.next_attempt_at <= ${now.toISOString()}::timestamptz
      AND NOT EXISTS (
        SELECT 1 FROM event_deliveries earlier
        WHERE earlier.status = 'pending' AND earlier.endpoint_id = d.endpoint_id
          AND earlier.attribution_id = d.attribution_id AND earlier.event_seq < d.event_seq)`);
  return Number(rowsOf<{ n: bigint | string | number }>(result)[0]?.n ?? 0);
}

export interface DeliveryBacklog {
  readonly pending: number;
  readonly failed: number;
  /** When the oldest pending delivery's event was created; undefined when none is pending. */
  readonly oldestPendingAt: Date | undefined;
}

export async function deliveryBacklog(db: Database): Promise<DeliveryBacklog> {
  const result = await db.execute(sql`
    SELECT
      count(*) FILTER (WHERE d.status = 'pending')::int8 AS pending,
      count(*) FILTER (WHERE d.status = 'failed')::int8 AS failed,
      min(ev.created_at) FILTER (WHERE d.status = 'pending') AS oldest
    FROM event_deliveries d JOIN account_events ev ON ev.seq = d.event_seq
    WHERE d.status IN ('pending', 'failed')`);
  const row = rowsOf<{ pending: bigint | string | number; failed: bigint | string | number; oldest: Date | string | null }>(result)[0];
  return {
    pending: Number(row?.pending ?? 0),
    failed: Number(row?.failed ?? 0),
    oldestPendingAt: row?.oldest ? toDate(row.oldest) : undefined,
  };
}

/**
 * Schedules an event's deliveries again, now: to one endpoint (creating the delivery if the event
 * never went there), or to every endpoint it went to. Removed endpoints get nothing, and a delivery
 * still pending is left as it is (it may be in flight). Returns how many were scheduled.
 */
export async function redeliver(db: Database, eventSeq: bigint, endpointId: string | undefined, now: Date): Promise<number> {
  const nowText = now.toISOString();
  if (endpointId !== undefined) {
    const result = await db.execute(sql`
      INSERT INTO event_deliveries (event_seq, endpoint_id, attribution_id, status, attempts, next_attempt_at)
      SELECT ev.seq, e.id, ev.attribution_id, 'pending', 0, ${nowText}::timestamptz
      FROM account_events ev JOIN event_endpoints e ON e.id = ${endpointId} AND e.removed_at IS NULL
      WHERE ev.seq = ${eventSeq.toString()}::int8
      ON CONFLICT (event_seq, endpoint_id) DO UPDATE SET
        status = 'pending', attempts = 0, next_attempt_at = excluded.next_attempt_at, delivered_at = NULL
      WHERE event_deliveries.status <> 'pending'`);
    return affectedRows(result);
  }
  const result = await db.execute(sql`
    UPDATE event_deliveries d SET status = 'pending', attempts = 0, next_attempt_at = ${nowText}::timestamptz, delivered_at = NULL
    FROM event_endpoints e
    WHERE d.event_seq = ${eventSeq.toString()}::int8 AND e.id = d.endpoint_id AND e.removed_at IS NULL AND d.status <> 'pending'`);
  return affectedRows(result);
}
