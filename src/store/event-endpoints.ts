// Webhook endpoints: registered through the API or synced from the configuration at start. A removed
// endpoint keeps its row (removed_at), so the deliveries it had stay listed.
import { and, asc, eq, isNull, sql } from "drizzle-orm";
import type { Database } from "./database.js";
import { rowsOf } from "./raw-result.js";
import { eventEndpoints } from "./schema.js";
import type { Transaction } from "./transactions.js";

export type EndpointSource = "api" | "config";

export interface StoredEndpoint {
  readonly id: string;
  readonly url: string;
  readonly description: string;
  readonly eventTypes: string[];
  readonly source: EndpointSource;
  readonly secret: string;
  readonly previousSecret: string | null;
  readonly previousSecretExpiresAt: Date | null;
  readonly createdAt: Date;
  readonly removedAt: Date | null;
}

export interface EndpointWithCounts extends StoredEndpoint {
  readonly pendingDeliveries: number;
  readonly failedDeliveries: number;
}

export interface NewEndpoint {
  readonly id: string;
  readonly url: string;
  readonly description: string;
  readonly eventTypes: readonly string[];
  readonly source: EndpointSource;
  readonly secret: string;
}

export async function countActiveEndpoints(db: Database): Promise<number> {
  const [row] = await db.select({ n: sql<bigint>`count(*)::int8` }).from(eventEndpoints).where(isNull(eventEndpoints.removedAt));
  return Number(row?.n ?? 0n);
}

export async function insertEndpoint(db: Database, endpoint: NewEndpoint, now: Date): Promise<StoredEndpoint> {
  const [row] = await db
    .insert(eventEndpoints)
    .values({ ...endpoint, eventTypes: [...endpoint.eventTypes], createdAt: now, updatedAt: now })
    .returning();
  if (!row) throw new Error("inserting an endpoint returned no row");
  return row;
}

export async function getActiveEndpoint(db: Database, id: string): Promise<StoredEndpoint | undefined> {
  const [row] = await db
    .select()
    .from(eventEndpoints)
    .where(and(eq(eventEndpoints.id, id), isNull(eventEndpoints.removedAt)));
  return row;
}

/** Active endpoints, oldest first, with their pending and failed deliveries counted. */
export async function listActiveEndpoints(db: Database): Promise<EndpointWithCounts[]> {
  const rows = await db
    .select()
    .from(eventEndpoints)
    .where(isNull(eventEndpoints.removedAt))
    .orderBy(asc(eventEndpoints.createdAt), asc(eventEndpoints.id));
  if (rows.length === 0) return [];
  const counts = await db.execute(sql`
    SELECT endpoint_id,
      count(*) FILTER (WHERE status = 'pending')::int8 AS pending,
      count(*) FILTER (WHERE status = 'failed')::int8 AS failed
    FROM event_deliveries WHERE status IN ('pending', 'failed') GROUP BY endpoint_id`);
  const byId = new Map(
    rowsOf<{ endpoint_id: string; pending: bigint | number | string; failed: bigint | number | string }>(counts).map((row) => [
      row.endpoint_id,
      { pending: Number(row.pending), failed: Number(row.failed) },
    ]),
  );
  return rows.map((row) => ({
    ...row,
    pendingDeliveries: byId.get(row.id)?.pending ?? 0,
    failedDeliveries: byId.get(row.id)?.failed ?? 0,
  }));
}

/** Removes an endpoint and cancels its pending deliveries; undefined when there was no such active endpoint. */
export async function removeEndpoint(tx: Transaction, id: string, now: Date): Promise<{ canceledDeliveries: number } | undefined> {
  const removed = await tx
    .update(eventEndpoints)
    .set({ removedAt: now, updatedAt: now })
    .where(and(eq(eventEndpoints.id, id), isNull(eventEndpoints.removedAt)))
    .returning({ id: eventEndpoints.id });
  if (removed.length === 0) return undefined;
  const canceled = await tx.execute(sql`
    UPDATE event_deliveries SET status = 'canceled' WHERE endpoint_id = ${id} AND status = 'pending' RETURNING 1`);
  return { canceledDeliveries: rowsOf(canceled).length };
}

/** The new secret becomes current; the current one stays valid until `previousExpiresAt`. */
export async function rotateSecret(db: Database, id: string, secret: string, previousExpiresAt: Date, now: Date): Promise<boolean> {
  const rows = await db
    .update(eventEndpoints)
    .set({ secret, previousSecret: sql`${eventEndpoints.secret}`, previousSecretExpiresAt: previousExpiresAt, updatedAt: now })
    .where(and(eq(eventEndpoints.id, id), isNull(eventEndpoints.removedAt)))
    .returning({ id: eventEndpoints.id });
  return rows.length > 0;
}

/**
 * Makes the configured endpoints the active "config" endpoints: new ones are added, changed ones
 * updated (a changed secret keeps the old one valid like a rotation), ones no longer configured
 * removed. Endpoints added through the API are left alone.
 */
export async function syncConfigEndpoints(
  tx: Transaction,
  configured: ReadonlyArray<Omit<NewEndpoint, "source">>,
  previousSecretValidityMs: number,
  now: Date,
): Promise<void> {
  const existing = await tx.select().from(eventEndpoints).where(eq(eventEndpoints.source, "config"));
  const byId = new Map(existing.map((row) => [row.id, row]));
  const wanted = new Set(configured.map((endpoint) => endpoint.id));
  for (const row of existing) {
    if (!wanted.has(row.id) && row.removedAt === null) await removeEndpoint(tx, row.id, now);
  }
  for (const endpoint of configured) {
    const row = byId.get(endpoint.id);
    const values = { url: endpoint.url, description: endpoint.description, eventTypes: [...endpoint.eventTypes], updatedAt: now };
    if (!row) {
      await tx.insert(eventEndpoints).values({ ...values, id: endpoint.id, source: "config", secret: endpoint.secret, createdAt: now });
      continue;
    }
    const rotated =
      row.secret === endpoint.secret
        ? {}
        : { secret: endpoint.secret, previousSecret: row.secret, previousSecretExpiresAt: new Date(now.getTime() + previousSecretValidityMs) };
    await tx
      .update(eventEndpoints)
      .set({ ...values, ...rotated, removedAt: null })
      .where(eq(eventEndpoints.id, endpoint.id));
  }
}
