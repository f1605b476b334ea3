// The outbox of account events: writing events with their deliveries and the limit states (in the
// caller's transaction, one statement), and reading what the limit detection needs (one statement
// for a whole reconcile page).
import { sql } from "drizzle-orm";
import type { LimitLevel, LimitPosition } from "../domain/limit-threshold.js";
import type { Database } from "./database.js";
import { rowsOf } from "./raw-result.js";
import type { Transaction } from "./transactions.js";

export interface OutboxEvent {
  /** The webhook-id (a UUID). */
  readonly id: string;
  readonly attributionId: string;
  readonly type: string;
  readonly data: unknown;
}

export interface LimitStateWrite {
  readonly attributionId: string;
  readonly position: LimitPosition;
}

/** The event types some endpoint (not removed) subscribes to. */
export async function subscribedEventTypes(db: Database): Promise<Set<string>> {
  const result = await db.execute(sql`SELECT DISTINCT unnest(event_types) AS type FROM event_endpoints WHERE removed_at IS NULL`);
  return new Set(rowsOf<{ type: string }>(result).map((row) => row.type));
}

/**
 * In one statement: stores the limit positions, inserts the events in the given order (each only if
 * an endpoint subscribes to its type: the check is the database's, so a stale cache never sends an
 * event to nobody) and one pending delivery per subscribed endpoint. Returns the deliveries created.
 * The caller holds the balance-row lock of every attribution id involved, which orders `seq`.
 */
export async function writeOutbox(
  tx: Transaction,
  write: { readonly events: readonly OutboxEvent[]; readonly limitStates: readonly LimitStateWrite[] },
  now: Date,
): Promise<number> {
  if (write.events.length === 0 && write.limitStates.length === 0) return 0;
  const nowText = now.toISOString();
  const events = write.events.map((event, ord) => ({ ord, id: event.id, attribution_id: event.attributionId, type: event.type, data: event.data }));
  const states = [...write.limitStates]
    .sort((a, b) => (a.attributionId < b.attributionId ? -1 : a.attributionId > b.attributionId ? 1 : 0))
    .map((state) => ({
      attribution_id: state.attributionId,
      level: state.position.level,
      cycle_start: state.position.cycleStart?.toISOString() ?? null,
    }));
  const result = await tx.execute(sql`
    WITH states AS (
      INSERT INTO limit_states (attribution_id, level, cycle_start, updated_at)
      SELECT s.attribution_id, s.level, s.cycle_start, ${nowText}::timestamptz
      FROM jsonb_to_recordset(${JSON.stringify(states)}::jsonb) AS s(attribution_id text, level text, cycle_start timestamptz)
      ON CONFLICT (attribution_id) DO UPDATE SET
        level = excluded.level, cycle_start = excluded.cycle_start, updated_at = excluded.updated_at
      RETURNING 1
    ), events AS (
      INSERT INTO account_events (id, attribution_id, type, data, created_at)
      SELECT x.id, x.attribution_id, x.type, x.data, ${nowText}::timestamptz
      FROM jsonb_to_recordset(${JSON.stringify(events)}::jsonb) AS x(ord int, id uuid, attribution_id text, type text, data jsonb)
      WHERE EXISTS (SELECT 1 FROM event_endpoints e WHERE e.removed_at IS NULL AND x.type = ANY(e.event_types))
      ORDER BY x.ord
      RETURNING seq, attribution_id, type
    )
    INSERT INTO event_deliveries (event_seq, endpoint_id, attribution_id, status, attempts, next_attempt_at)
    SELECT events.seq, e.id, events.attribution_id, 'pending', 0, ${nowText}::timestamptz
    FROM events JOIN event_endpoints e ON e.removed_at IS NULL AND events.type = ANY(e.event_types)
    ORDER BY events.seq, e.id
    RETURNING 1`);
  return rowsOf(result).length;
}

/** What the limit detection needs of one attribution id, read in the transaction that changed it. */
export interface LimitSnapshot {
  readonly attributionId: string;
  readonly balanceCents: bigint;
  /** The current cost center's; undefined when it has none yet (the default limit applies). */
  readonly costCenter: { readonly spendingLimitCredits: number; readonly billingCycleStart: Date } | undefined;
  /** What was stored last; undefined when nothing was. */
  readonly stored: LimitPosition | undefined;
}

/** Balance, current cost center and stored limit position of each id: one statement for all. */
export async function readLimitSnapshots(tx: Transaction, attributionIds: readonly string[]): Promise<LimitSnapshot[]> {
  if (attributionIds.length === 0) return [];
  const result = await tx.execute(sql`
    SELECT x.attribution_id, coalesce(b.balance_cents, 0)::int8 AS balance_cents,
      cc.spending_limit_credits, cc.billing_cycle_start, ls.level, ls.cycle_start
    FROM jsonb_array_elements_text(${JSON.stringify(attributionIds)}::jsonb) AS x(attribution_id)
    LEFT JOIN balances b ON b.attribution_id = x.attribution_id
    LEFT JOIN LATERAL (
      SELECT c.spending_limit_credits, c.billing_cycle_start FROM cost_centers c
      WHERE c.attribution_id = x.attribution_id ORDER BY c.version DESC LIMIT 1
    ) cc ON true
    LEFT JOIN limit_states ls ON ls.attribution_id = x.attribution_id`);
  return rowsOf<{
    attribution_id: string;
    balance_cents: bigint | string | number;
    spending_limit_credits: number | null;
    billing_cycle_start: Date | string | null;
    level: LimitLevel | null;
    cycle_start: Date | string | null;
  }>(result).map((row) => ({
    attributionId: row.attribution_id,
    balanceCents: BigInt(row.balance_cents),
    costCenter:
      row.spending_limit_credits === null || row.billing_cycle_start === null
        ? undefined
        : { spendingLimitCredits: Number(row.spending_limit_credits), billingCycleStart: toDate(row.billing_cycle_start) },
    stored: row.level === null ? undefined : { level: row.level, cycleStart: row.cycle_start === null ? null : toDate(row.cycle_start) },
  }));
}

/** Raw statements return timestamptz as a Date (pg) or a string (PGlite without a parser for it). */
export function toDate(value: Date | string): Date {
  return value instanceof Date ? value : new Date(value);
}

export interface ListedAttempt {
  readonly attemptedAt: Date;
  readonly outcome: "delivered" | "http_error" | "timeout" | "network_error";
  readonly responseStatus: number | null;
  readonly latencyMs: number;
  readonly error: string | null;
}

export interface ListedDelivery {
  readonly id: bigint;
  readonly endpointId: string;
  readonly endpointUrl: string;
  readonly status: "pending" | "delivered" | "failed" | "canceled";
  readonly attempts: number;
  readonly nextAttemptAt: Date;
  readonly deliveredAt: Date | null;
  readonly attemptLog: ListedAttempt[];
}

export interface ListedEvent {
  readonly seq: bigint;
  readonly id: string;
  readonly attributionId: string;
  readonly type: string;
  readonly data: unknown;
  readonly createdAt: Date;
  readonly deliveries: ListedDelivery[];
}

/** Attempts listed per delivery: the newest ones (a delivery has at most deliveryAttemptsMax per redelivery). */
export const listedAttemptsPerDeliveryMax = 100;

/** Events newest first (by sequence), each with its deliveries (of one endpoint, if given) and their attempts. */
export async function listEvents(
  db: Database,
  query: { attributionId?: string | undefined; type?: string | undefined; endpointId?: string | undefined; beforeSeq?: bigint | undefined; limit: number },
): Promise<ListedEvent[]> {
  const conditions = [sql`true`];
  if (query.attributionId !== undefined) conditions.push(sql`ev.attribution_id = ${query.attributionId}`);
  if (query.type !== undefined) conditions.push(sql`ev.type = ${query.type}`);
  if (query.beforeSeq !== undefined) conditions.push(sql`ev.seq < ${query.beforeSeq.toString()}::int8`);
  if (query.endpointId !== undefined) {
    conditions.push(sql`EXISTS (SELECT 1 FROM event_deliveries d WHERE d.endpoint_id = ${query.endpointId} AND d.event_seq = ev.seq)`);
  }
  const events = rowsOf<{ seq: bigint | string | number; id: string; attribution_id: string; type: string; data: unknown; created_at: Date | string }>(
    await db.execute(sql`
      SELECT ev.seq, ev.id, ev.attribution_id, ev.type, ev.data, ev.created_at FROM account_events ev
      WHERE ${sql.join(conditions, sql` AND `)}
      ORDER BY ev.seq DESC LIMIT ${query.limit}`),
  );
  if (events.length === 0) return [];
  const seqs = events.map((row) => BigInt(row.seq).toString());
  const endpointFilter = query.endpointId === undefined ? sql`true` : sql`d.endpoint_id = ${query.endpointId}`;
  const deliveries = rowsOf<{
    id: bigint | string | number;
    event_seq: bigint | string | number;
    endpoint_id: string;
    url: string;
    status: ListedDelivery["status"];
    attempts: number;
    next_attempt_at: Date | string;
    delivered_at: Date | string | null;
  }>(
    await db.execute(sql`
      SELECT d.id, d.event_seq, d.endpoint_id, e.url, d.status, d.attempts, d.next_attempt_at, d.delivered_at
      FROM event_deliveries d JOIN event_endpoints e ON e.id = d.endpoint_id
      WHERE d.event_seq IN (SELECT value::int8 FROM jsonb_array_elements_text(${JSON.stringify(seqs)}::jsonb)) AND ${endpointFilter}
      ORDER BY d.event_seq, d.endpoint_id`),
  );
  const attemptsByDelivery = new Map<string, ListedAttempt[]>();
  if (deliveries.length > 0) {
    const ids = deliveries.map((row) => BigInt(row.id).toString());
    const attempts = rowsOf<{
      delivery_id: bigint | string | number;
      attempted_at: Date | string;
      outcome: ListedAttempt["outcome"];
      response_status: number | null;
      latency_ms: number;
      error: string | null;
    }>(
      await db.execute(sql`
        SELECT delivery_id, attempted_at, outcome, response_status, latency_ms, error FROM (
          SELECT a.*, row_number() OVER (PARTITION BY a.delivery_id ORDER BY a.id DESC) AS newest
          FROM event_delivery_attempts a
          WHERE a.delivery_id IN (SELECT value::int8 FROM jsonb_array_elements_text(${JSON.stringify(ids)}::jsonb))
        ) a WHERE a.newest <= ${listedAttemptsPerDeliveryMax}
        ORDER BY a.delivery_id, a.id`),
    );
    for (const row of attempts) {
      const key = BigInt(row.delivery_id).toString();
      const list = attemptsByDelivery.get(key) ?? [];
      list.push({
        attemptedAt: toDate(row.attempted_at),
        outcome: row.outcome,
        responseStatus: row.response_status === null ? null : Number(row.response_status),
        latencyMs: Number(row.latency_ms),
        error: row.error,
      });
      attemptsByDelivery.set(key, list);
    }
  }
  const deliveriesBySeq = new Map<string, ListedDelivery[]>();
  for (const row of deliveries) {
    const key = BigInt(row.event_seq).toString();
    const list = deliveriesBySeq.get(key) ?? [];
    list.push({
      id: BigInt(row.id),
      endpointId: row.endpoint_id,
      endpointUrl: row.url,
      status: row.status,
      attempts: Number(row.attempts),
      nextAttemptAt: toDate(row.next_attempt_at),
      deliveredAt: row.delivered_at === null ? null : toDate(row.delivered_at),
      attemptLog: attemptsByDelivery.get(BigInt(row.id).toString()) ?? [],
    });
    deliveriesBySeq.set(key, list);
  }
  return events.map((row) => ({
    seq: BigInt(row.seq),
    id: row.id,
    attributionId: row.attribution_id,
    type: row.type,
    data: typeof row.data === "string" ? JSON.parse(row.data) : row.data,
    createdAt: toDate(row.created_at),
    deliveries: deliveriesBySeq.get(BigInt(row.seq).toString()) ?? [],
  }));
}

/** The sequence number of the event with this id (a UUID); undefined when there is none. */
export async function findEventSeq(db: Database, eventId: string): Promise<bigint | undefined> {
  const result = await db.execute(sql`SELECT seq FROM account_events WHERE id = ${eventId}::uuid`);
  const row = rowsOf<{ seq: bigint | string | number }>(result)[0];
  return row ? BigInt(row.seq) : undefined;
}
