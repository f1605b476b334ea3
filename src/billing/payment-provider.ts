// The port to the payment provider: only the Stripe calls Tally makes, in Tally's words. The Stripe
// adapter (stripe-payment-provider.ts) implements it over the official SDK; tests use the emulator
// through that adapter, or an in-memory fake for cheap property runs.
//
// Reads return `undefined` for objects that do not exist (or were deleted). Every mutating call takes
// a deterministic idempotency key chosen by the caller, so a retried use case never acts twice; the
// adapter adds a digest of the request's parameters to it (requestKey), so a changed request is a new one.

/** What Stripe says about collecting tax automatically for a customer (`customer.tax.automatic_tax`). */
export type AutomaticTaxStatus = "supported" | "not_collecting" | "unrecognized_location" | "failed";

export interface ProviderCustomer {
  readonly id: string;
  /** metadata.attributionId; undefined when the customer was not created by Tally. */
  readonly attributionId: string | undefined;
  /** metadata.preferredCurrency, upper case (EUR, USD); undefined when absent. */
  readonly preferredCurrency: string | undefined;
  readonly billingCreatorUserId: string | undefined;
  readonly automaticTax: AutomaticTaxStatus;
  readonly created: Date;
}

export interface NewCustomer {
  readonly attributionId: string;
  readonly name: string;
  readonly email: string;
  /** EUR or USD. */
  readonly preferredCurrency: string;
  readonly billingCreatorUserId: string | undefined;
}

export type PaymentIntentStatus =
  | "requires_payment_method"
  | "requires_confirmation"
  | "requires_action"
  | "processing"
  | "requires_capture"
  | "canceled"
  | "succeeded";

export interface ProviderPaymentIntent {
  readonly id: string;
  readonly status: PaymentIntentStatus;
  readonly customerId: string | undefined;
  readonly paymentMethodId: string | undefined;
  readonly clientSecret: string;
}

export interface NewHoldPaymentIntent {
  readonly customerId: string;
  /** Lower-case ISO currency, as Stripe wants it. */
  readonly currency: string;
  /** In the currency's minor unit: 100 = 1.00. */
  readonly amountMinor: number;
  readonly attributionId: string;
}

export type SubscriptionStatus =
  | "incomplete"
  | "incomplete_expired"
  | "trialing"
  | "active"
  | "past_due"
  | "canceled"
  | "unpaid"
  | "paused";

export interface ProviderSubscription {
  readonly id: string;
  readonly customerId: string;
  readonly status: SubscriptionStatus;
  readonly automaticTax: boolean;
  readonly priceIds: readonly string[];
  /** The subscription items' ids, in the order of priceIds. */
  readonly itemIds: readonly string[];
  readonly metadata: Readonly<Record<string, string>>;
}

export interface NewSubscription {
  readonly customerId: string;
  readonly priceId: string;
  readonly automaticTax: boolean;
  readonly metadata: Readonly<Record<string, string>>;
}

export interface ProviderPrice {
  readonly id: string;
  /** Lower-case ISO currency. */
  readonly currency: string;
  /** Price per unit in the minor unit, as a decimal string ("3.6" = 0.036 EUR); undefined for tiered prices. */
  readonly unitAmountDecimal: string | undefined;
  readonly interval: string | undefined;
  readonly nickname: string | undefined;
  readonly productName: string | undefined;
  /** The billing meter of a metered price. */
  readonly meterId: string | undefined;
}

export interface ProviderInvoiceLine {
  /** Whole units; null when Stripe only has a decimal quantity. */
  readonly quantity: number | null;
  readonly quantityDecimal: string | null;
  readonly periodEnd: Date;
}

export type InvoiceStatus = "draft" | "open" | "paid" | "uncollectible" | "void";

export interface ProviderInvoice {
  readonly id: string;
  readonly number: string | undefined;
  readonly customerId: string;
  readonly subscriptionId: string | undefined;
  readonly status: InvoiceStatus;
  /** Why Stripe made it: `subscription_create` (the first invoice, at creation), `subscription_cycle`, `manual`, ... */
  readonly billingReason: string | undefined;
  readonly created: Date;
  /** status_transitions.finalized_at; undefined while a draft. */
  readonly finalizedAt: Date | undefined;
  /** The end of the billed usage period: the latest line period end, else the invoice's period end. */
  readonly periodEnd: Date;
  readonly lines: readonly ProviderInvoiceLine[];
}

export interface ProviderDispute {
  readonly id: string;
  readonly chargeId: string | undefined;
  readonly customerId: string | undefined;
  readonly reason: string;
}

export interface UsageReport {
  readonly customerId: string;
  /** The metered price whose billing meter receives the value. */
  readonly priceId: string;
  /** Whole credits, not negative. */
  readonly credits: bigint;
  readonly timestamp: Date;
  /** The meter event identifier; also the idempotency key. */
  readonly identifier: string;
}

export interface PaymentProvider {
  createCustomer(customer: NewCustomer, idempotencyKey: string): Promise<ProviderCustomer>;
  getCustomer(customerId: string): Promise<ProviderCustomer | undefined>;
  /** Every customer (not deleted) whose metadata.attributionId is `attributionId`, oldest first (at most customersFoundMax). */
  findCustomersByAttributionId(attributionId: string): Promise<ProviderCustomer[]>;
  /** One page of all customers (newest first, as Stripe lists them), from `startingAfter`; a list is consistent, unlike search. */
  listCustomers(startingAfter: string | undefined): Promise<{ customers: ProviderCustomer[]; hasMore: boolean }>;
  /** Attaches the payment method to the customer if needed and makes it the default for invoices. */
  setDefaultPaymentMethod(customerId: string, paymentMethodId: string, idempotencyKey: string): Promise<void>;
  /** Copies the payment method's billing address (when it has a country) onto the customer; false when there is none. */
  copyBillingAddress(customerId: string, paymentMethodId: string, idempotencyKey: string): Promise<boolean>;

  createHoldPaymentIntent(intent: NewHoldPaymentIntent, idempotencyKey: string): Promise<ProviderPaymentIntent>;
  getPaymentIntent(paymentIntentId: string): Promise<ProviderPaymentIntent | undefined>;
  cancelPaymentIntent(paymentIntentId: string, idempotencyKey: string): Promise<void>;

  /** Subscriptions of the customer that are not canceled (nor incomplete_expired). */
  listActiveSubscriptions(customerId: string): Promise<ProviderSubscription[]>;
  getSubscription(subscriptionId: string): Promise<ProviderSubscription | undefined>;
  createSubscription(subscription: NewSubscription, idempotencyKey: string): Promise<ProviderSubscription>;
  setSubscriptionAutomaticTax(subscriptionId: string, enabled: boolean, idempotencyKey: string): Promise<void>;
  /** Moves one subscription item to another price, without prorations (`tally stripe migrate-prices`). */
  setSubscriptionItemPrice(subscriptionId: string, itemId: string, priceId: string, idempotencyKey: string): Promise<ProviderSubscription>;

  getPrice(priceId: string): Promise<ProviderPrice | undefined>;

  getInvoice(invoiceId: string): Promise<ProviderInvoice | undefined>;
  /** The customer's finalized invoices (any status but draft) created at or after `createdFrom`, oldest first. */
  listFinalizedInvoices(customerId: string, createdFrom: Date): Promise<ProviderInvoice[]>;

  /** Sends the value to the price's billing meter (a meter event with a deterministic identifier). */
  reportUsage(report: UsageReport): Promise<void>;

  getDispute(disputeId: string): Promise<ProviderDispute | undefined>;
}
