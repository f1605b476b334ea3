// Tally's record of Stripe customers: one per attribution id, found without calling Stripe.
import { asc, eq, gt, isNotNull, sql } from "drizzle-orm";
import type { Database } from "./database.js";
import { stripeCustomers } from "./schema.js";

export interface StoredStripeCustomer {
  readonly stripeCustomerId: string;
  readonly attributionId: string;
  readonly currency: string;
  readonly invalidBillingAddress: boolean;
  readonly taxStateVersion: number;
  readonly holdPaymentIntentId: string | null;
  /** Why this one of several Stripe customers with the attribution id's metadata; null when it was the only one. */
  readonly selectionReason: string | null;
  /** The live subscription `tally stripe sync` found for it; null for subscriptions Tally created. */
  readonly syncedSubscriptionId: string | null;
  /** A live subscription on a usage price without a billing meter (unbilled until migrated), and that price. */
  readonly legacySubscriptionId: string | null;
  readonly legacyUsagePriceId: string | null;
  readonly createdAt: Date;
}

export async function getStripeCustomerByAttributionId(db: Database, attributionId: string): Promise<StoredStripeCustomer | undefined> {
  const [row] = await db.select().from(stripeCustomers).where(eq(stripeCustomers.attributionId, attributionId));
  return row;
}

export async function getStripeCustomerById(db: Database, stripeCustomerId: string): Promise<StoredStripeCustomer | undefined> {
  const [row] = await db.select().from(stripeCustomers).where(eq(stripeCustomers.stripeCustomerId, stripeCustomerId));
  return row;
}

/**
 * Stores a customer unless the attribution id (or the customer id) already has one; returns the
 * stored row, which is the earlier one when two callers raced.
 */
export async function insertStripeCustomer(
  db: Database,
  customer: { stripeCustomerId: string; attributionId: string; currency: string; invalidBillingAddress: boolean; selectionReason?: string | null },
  now: Date,
): Promise<StoredStripeCustomer> {
  await db
    .insert(stripeCustomers)
    .values({ selectionReason: null, syncedSubscriptionId: null, legacySubscriptionId: null, legacyUsagePriceId: null, ...customer, taxStateVersion: 0, holdPaymentIntentId: null, createdAt: now, updatedAt: now })
    .onConflictDoNothing();
  const stored = await getStripeCustomerByAttributionId(db, customer.attributionId);
  if (!stored) throw new Error(`stripe customer of ${customer.attributionId} vanished after insert`);
  return stored;
}

/** Sets the billing-address validity; bumps the tax-state version when it changed. Returns the row. */
export async function setInvalidBillingAddress(
  db: Database,
  stripeCustomerId: string,
  invalid: boolean,
  now: Date,
): Promise<StoredStripeCustomer | undefined> {
  const [row] = await db
    .update(stripeCustomers)
    .set({
      invalidBillingAddress: invalid,
      taxStateVersion: sql`${stripeCustomers.taxStateVersion} + CASE WHEN ${stripeCustomers.invalidBillingAddress} = ${invalid} THEN 0 ELSE 1 END`,
      updatedAt: now,
    })
    .where(eq(stripeCustomers.stripeCustomerId, stripeCustomerId))
    .returning();
  return row;
}

/**
 * Makes `customer` the attribution id's customer (a sync found that another one, without a live
 * subscription, was stored); the previous row's hold is dropped. Returns the row.
 */
export async function replaceStripeCustomer(
  db: Database,
  customer: { stripeCustomerId: string; attributionId: string; currency: string; invalidBillingAddress: boolean; selectionReason: string | null },
  now: Date,
): Promise<StoredStripeCustomer> {
  const [row] = await db
    .update(stripeCustomers)
    .set({ ...customer, taxStateVersion: sql`${stripeCustomers.taxStateVersion} + 1`, holdPaymentIntentId: null, syncedSubscriptionId: null, updatedAt: now })
    .where(eq(stripeCustomers.attributionId, customer.attributionId))
    .returning();
  return row ?? insertStripeCustomer(db, customer, now);
}

export async function setSyncedSubscription(db: Database, stripeCustomerId: string, subscriptionId: string, now: Date): Promise<void> {
  await db
    .update(stripeCustomers)
    .set({ syncedSubscriptionId: subscriptionId, updatedAt: now })
    .where(eq(stripeCustomers.stripeCustomerId, stripeCustomerId));
}

/** Flags (or, with undefined, clears) a live subscription whose usage price has no billing meter. */
export async function setLegacySubscription(
  db: Database,
  stripeCustomerId: string,
  legacy: { subscriptionId: string; priceId: string } | undefined,
  now: Date,
): Promise<void> {
  await db
    .update(stripeCustomers)
    .set({ legacySubscriptionId: legacy?.subscriptionId ?? null, legacyUsagePriceId: legacy?.priceId ?? null, updatedAt: now })
    .where(eq(stripeCustomers.stripeCustomerId, stripeCustomerId));
}

/** One page of stored customers in attribution id order, after `afterAttributionId` (`tally stripe migrate-prices`). */
export async function listStripeCustomers(db: Database, afterAttributionId: string, limit: number): Promise<StoredStripeCustomer[]> {
  return db.select().from(stripeCustomers).where(gt(stripeCustomers.attributionId, afterAttributionId)).orderBy(asc(stripeCustomers.attributionId)).limit(limit);
}

/** Customers flagged with a legacy-priced subscription (for /metrics). */
export async function countLegacySubscriptions(db: Database): Promise<number> {
  const [row] = await db.select({ count: sql<number>`count(*)::int` }).from(stripeCustomers).where(isNotNull(stripeCustomers.legacySubscriptionId));
  return Number(row?.count ?? 0);
}

export async function setHoldPaymentIntent(db: Database, stripeCustomerId: string, paymentIntentId: string, now: Date): Promise<void> {
  await db
    .update(stripeCustomers)
    .set({ holdPaymentIntentId: paymentIntentId, updatedAt: now })
    .where(eq(stripeCustomers.stripeCustomerId, stripeCustomerId));
}
