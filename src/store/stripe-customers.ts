// Tally's record of Stripe customers: one per attribution id, found without calling Stripe.
import { eq, sql } from "drizzle-orm";
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
    .values({ selectionReason: null, ...customer, taxStateVersion: 0, holdPaymentIntentId: null, createdAt: now, updatedAt: now })
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

export async function setHoldPaymentIntent(db: Database, stripeCustomerId: string, paymentIntentId: string, now: Date): Promise<void> {
  await db
    .update(stripeCustomers)
    .set({ holdPaymentIntentId: paymentIntentId, updatedAt: now })
    .where(eq(stripeCustomers.stripeCustomerId, stripeCustomerId));
}
