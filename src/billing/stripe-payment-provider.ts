// The PaymentProvider port over the official Stripe SDK. Options are explicit: a pinned API version,
// timeouts, retries, and host/port/protocol from `stripe.apiBase` for the emulator or stripe-mock.
import { createHash } from "node:crypto";
import Stripe from "stripe";
import { withDeadline } from "../deadline.js";
import { TallyError } from "../domain/tally-error.js";
import type {
  AutomaticTaxStatus,
  InvoiceStatus,
  NewCustomer,
  NewHoldPaymentIntent,
  NewSubscription,
  PaymentIntentStatus,
  PaymentProvider,
  ProviderCustomer,
  ProviderDispute,
  ProviderInvoice,
  ProviderPaymentIntent,
  ProviderPrice,
  ProviderSubscription,
  SubscriptionStatus,
  UsageReport,
} from "./payment-provider.js";

/**
 * The Stripe API version Tally is written against. Response shapes (invoice parents, line pricing,
 * billing meters) depend on it; change it only together with the adapter and the emulator.
 */
export const stripeApiVersion = "2026-10-28.endive" as const satisfies Stripe.LatestApiVersion;
/** One Stripe request (one attempt) may take this long before it fails (and is retried). */
export const stripeRequestTimeoutMs = 8_000;
/** Retries of a failed request (network errors, 409, 5xx); the SDK backs off between them. */
export const stripeNetworkRetriesMax = 2;
/**
 * The SDK's backoff before retry n is at most min(0.5 s * 2^(n-1), 5 s): 0.5 s, then 1 s. Tally's
 * bound on all backoffs of one call.
 */
export const stripeBackoffTotalMsMax = 1_500;
/**
 * The total time budget of one Stripe call: every attempt and every backoff fits in it
 * ((1 + retries) x timeout + backoff = 25.5 s); past it the call fails UNAVAILABLE whatever the SDK
 * still does. It is well below the deadlines of the callers: the 5-minute lease of a webhook event
 * (inboxLeaseMs) and of a billing RPC's idempotency key (idempotencyLeaseMs).
 */
export const stripeCallBudgetMs = 30_000;
/** Customers read per attribution id (duplicates left by earlier integrations are a handful at most). */
export const customersFoundMax = 100;
/** Invoices listed per repair run of one customer; older ones have long been booked. */
export const invoicesListedMax = 100;
/** Invoice lines read per invoice. */
export const invoiceLinesReadMax = 1000;

export interface StripePaymentProviderOptions {
  readonly secretKey: string;
  /** e.g. http://127.0.0.1:12111; undefined for api.stripe.com. */
  readonly apiBase: string | undefined;
  /** Per attempt; stripeRequestTimeoutMs unless a test shortens it. */
  readonly requestTimeoutMs?: number;
}

/**
 * How a failed Stripe call is classed for alerts: `resource_missing` (the object is gone) is the only
 * answer that means "nothing there"; `unrecognized_url` is a 404 for a path Stripe does not serve (a
 * wrong STRIPE_API_BASE), never an object that is gone.
 */
export type StripeErrorKind =
  | "unrecognized_url"
  | "authentication"
  | "rate_limit"
  | "connection"
  | "server"
  | "timeout"
  | "card"
  | "idempotency"
  | "invalid_request";

/** Told of every failed Stripe call but `resource_missing` (metrics and logs). */
export type StripeErrorObserver = (kind: StripeErrorKind, error: unknown) => void;

export function createStripeClient(options: StripePaymentProviderOptions): Stripe {
  const base = options.apiBase ? parseApiBase(options.apiBase) : {};
  return new Stripe(options.secretKey, {
    apiVersion: stripeApiVersion,
    timeout: options.requestTimeoutMs ?? stripeRequestTimeoutMs,
    maxNetworkRetries: stripeNetworkRetriesMax,
    telemetry: false,
    appInfo: { name: "tally" },
    ...base,
  });
}

function parseApiBase(apiBase: string): { host: string; port: number; protocol: "http" | "https" } {
  let url: URL;
  try {
    url = new URL(apiBase);
  } catch {
    throw new TallyError("FailedPrecondition", `stripe.apiBase ${JSON.stringify(apiBase)} is not a URL like http://127.0.0.1:12111`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TallyError("FailedPrecondition", `stripe.apiBase ${JSON.stringify(apiBase)} must use http or https`);
  }
  const protocol = url.protocol === "http:" ? "http" : "https";
  return { host: url.hostname, port: url.port ? Number(url.port) : protocol === "http" ? 80 : 443, protocol };
}

export class StripePaymentProvider implements PaymentProvider {
  /** Meter (event name, payload keys) per price id; prices and meters never change their meter. */
  private readonly meterByPrice = new Map<string, Promise<MeterTarget>>();

  private readonly call: <T>(work: () => Promise<T>) => Promise<T>;
  private readonly callOrMissing: <T>(work: () => Promise<T>) => Promise<T | undefined>;

  constructor(
    private readonly stripe: Stripe,
    options: { readonly onError?: StripeErrorObserver; readonly callBudgetMs?: number } = {},
  ) {
    const budgetMs = options.callBudgetMs ?? stripeCallBudgetMs;
    const onError = options.onError ?? (() => {});
    this.call = (work) => call(work, budgetMs, onError);
    this.callOrMissing = (work) => callOrMissing(work, budgetMs, onError);
  }

  async createCustomer(customer: NewCustomer, idempotencyKey: string): Promise<ProviderCustomer> {
    const metadata: Record<string, string> = {
      attributionId: customer.attributionId,
      preferredCurrency: customer.preferredCurrency,
    };
    if (customer.billingCreatorUserId) metadata.billingCreatorUserId = customer.billingCreatorUserId;
    const params: Stripe.CustomerCreateParams = { name: customer.name, email: customer.email, metadata, expand: ["tax"] };
    const created = await this.call(() => this.stripe.customers.create(params, { idempotencyKey: requestKey(idempotencyKey, params) }));
    return toCustomer(created);
  }

  async getCustomer(customerId: string): Promise<ProviderCustomer | undefined> {
    const customer = await this.callOrMissing(() => this.stripe.customers.retrieve(customerId, { expand: ["tax"] }));
    if (!customer || customer.deleted) return undefined;
    return toCustomer(customer);
  }

  async findCustomersByAttributionId(attributionId: string): Promise<ProviderCustomer[]> {
    const query = `metadata['attributionId']:'${attributionId.replace(/['\\]/g, "\\$&")}'`;
    // Search results come in no promised order and in pages: read them all, then order.
    const found = await this.call(async () => {
      const customers: Stripe.Customer[] = [];
      for await (const customer of this.stripe.customers.search({ query, limit: 100, expand: ["data.tax"] })) {
        customers.push(customer);
        if (customers.length >= customersFoundMax) break;
      }
      return customers;
    });
    return found
      .filter((customer) => customer.metadata?.attributionId === attributionId)
      .sort((a, b) => a.created - b.created || a.id.localeCompare(b.id))
      .map(toCustomer);
  }

  async listCustomers(startingAfter: string | undefined): Promise<{ customers: ProviderCustomer[]; hasMore: boolean }> {
    const page = await this.call(() =>
      this.stripe.customers.list({ limit: 100, expand: ["data.tax"], ...(startingAfter ? { starting_after: startingAfter } : {}) }),
    );
    return { customers: page.data.map(toCustomer), hasMore: page.has_more };
  }

  async setDefaultPaymentMethod(customerId: string, paymentMethodId: string, idempotencyKey: string): Promise<void> {
    const method = await this.call(() => this.stripe.paymentMethods.retrieve(paymentMethodId));
    const owner = typeof method.customer === "string" ? method.customer : method.customer?.id;
    if (owner !== customerId) {
      const attach = { customer: customerId };
      await this.call(() =>
        this.stripe.paymentMethods.attach(paymentMethodId, attach, { idempotencyKey: requestKey(`${idempotencyKey}:attach`, [paymentMethodId, attach]) }),
      );
    }
    const params = { invoice_settings: { default_payment_method: paymentMethodId } };
    await this.call(() => this.stripe.customers.update(customerId, params, { idempotencyKey: requestKey(idempotencyKey, [customerId, params]) }));
  }

  async copyBillingAddress(customerId: string, paymentMethodId: string, idempotencyKey: string): Promise<boolean> {
    const method = await this.call(() => this.stripe.paymentMethods.retrieve(paymentMethodId));
    const address = method.billing_details?.address;
    if (!address?.country) return false;
    const params: Stripe.CustomerUpdateParams = {
      address: {
        country: address.country,
        ...(address.line1 ? { line1: address.line1 } : {}),
        ...(address.line2 ? { line2: address.line2 } : {}),
        ...(address.city ? { city: address.city } : {}),
        ...(address.postal_code ? { postal_code: address.postal_code } : {}),
        ...(address.state ? { state: address.state } : {}),
      },
    };
    await this.call(() => this.stripe.customers.update(customerId, params, { idempotencyKey: requestKey(idempotencyKey, [customerId, params]) }));
    return true;
  }

  async createHoldPaymentIntent(intent: NewHoldPaymentIntent, idempotencyKey: string): Promise<ProviderPaymentIntent> {
    const params: Stripe.PaymentIntentCreateParams = {
      amount: intent.amountMinor,
      currency: intent.currency,
      customer: intent.customerId,
      capture_method: "manual",
      allowed_payment_method_types: ["card"],
      setup_future_usage: "off_session",
      description: "Card verification (released, never captured)",
      metadata: { attributionId: intent.attributionId, purpose: "card-verification" },
    };
    const created = await this.call(() => this.stripe.paymentIntents.create(params, { idempotencyKey: requestKey(idempotencyKey, params) }));
    return toPaymentIntent(created);
  }

  async getPaymentIntent(paymentIntentId: string): Promise<ProviderPaymentIntent | undefined> {
    const intent = await this.callOrMissing(() => this.stripe.paymentIntents.retrieve(paymentIntentId));
    return intent ? toPaymentIntent(intent) : undefined;
  }

  async cancelPaymentIntent(paymentIntentId: string, idempotencyKey: string): Promise<void> {
    await this.call(() => this.stripe.paymentIntents.cancel(paymentIntentId, {}, { idempotencyKey: requestKey(idempotencyKey, [paymentIntentId]) }));
  }

  async listActiveSubscriptions(customerId: string): Promise<ProviderSubscription[]> {
    // The default status filter leaves out canceled subscriptions; at most a handful per customer.
    const list = await this.call(() => this.stripe.subscriptions.list({ customer: customerId, limit: 100 }));
    return list.data.map(toSubscription).filter((s) => s.status !== "canceled" && s.status !== "incomplete_expired");
  }

  async getSubscription(subscriptionId: string): Promise<ProviderSubscription | undefined> {
    const subscription = await this.callOrMissing(() => this.stripe.subscriptions.retrieve(subscriptionId));
    return subscription ? toSubscription(subscription) : undefined;
  }

  async createSubscription(subscription: NewSubscription, idempotencyKey: string): Promise<ProviderSubscription> {
    const params: Stripe.SubscriptionCreateParams = {
      customer: subscription.customerId,
      items: [{ price: subscription.priceId }],
      automatic_tax: { enabled: subscription.automaticTax },
      metadata: { ...subscription.metadata },
    };
    const created = await this.call(() => this.stripe.subscriptions.create(params, { idempotencyKey: requestKey(idempotencyKey, params) }));
    return toSubscription(created);
  }

  async setSubscriptionAutomaticTax(subscriptionId: string, enabled: boolean, idempotencyKey: string): Promise<void> {
    const params = { automatic_tax: { enabled } };
    await this.call(() => this.stripe.subscriptions.update(subscriptionId, params, { idempotencyKey: requestKey(idempotencyKey, [subscriptionId, params]) }));
  }

  async setSubscriptionItemPrice(subscriptionId: string, itemId: string, priceId: string, idempotencyKey: string): Promise<ProviderSubscription> {
    // POST /v1/subscriptions/:id with items[0][id] and items[0][price]: the item keeps its id and
    // period; no proration (a metered price bills usage in arrears, and none was reportable before).
    const params: Stripe.SubscriptionUpdateParams = { items: [{ id: itemId, price: priceId }], proration_behavior: "none" };
    const updated = await this.call(() =>
      this.stripe.subscriptions.update(subscriptionId, params, { idempotencyKey: requestKey(idempotencyKey, [subscriptionId, params]) }),
    );
    return toSubscription(updated);
  }

  async getPrice(priceId: string): Promise<ProviderPrice | undefined> {
    const price = await this.callOrMissing(() => this.stripe.prices.retrieve(priceId, { expand: ["product"] }));
    if (!price) return undefined;
    const product = typeof price.product === "object" && price.product !== null && !price.product.deleted ? price.product : undefined;
    return {
      id: price.id,
      currency: price.currency,
      unitAmountDecimal:
        price.unit_amount_decimal !== null && price.unit_amount_decimal !== undefined
          ? String(price.unit_amount_decimal)
          : price.unit_amount !== null
            ? String(price.unit_amount)
            : undefined,
      interval: price.recurring?.interval ?? undefined,
      nickname: price.nickname ?? undefined,
      productName: product?.name,
      meterId: price.recurring?.meter ?? undefined,
    };
  }

  async getInvoice(invoiceId: string): Promise<ProviderInvoice | undefined> {
    const invoice = await this.callOrMissing(() => this.stripe.invoices.retrieve(invoiceId));
    return invoice ? this.toInvoice(invoice) : undefined;
  }

  async listFinalizedInvoices(customerId: string, createdFrom: Date): Promise<ProviderInvoice[]> {
    const params = { customer: customerId, created: { gte: Math.floor(createdFrom.getTime() / 1000) }, limit: 100 };
    const listed = await this.call(async () => {
      const found: Stripe.Invoice[] = [];
      for await (const invoice of this.stripe.invoices.list(params)) {
        if (invoice.status !== "draft" && invoice.status_transitions.finalized_at) found.push(invoice);
        if (found.length >= invoicesListedMax) break;
      }
      return found;
    });
    const invoices: ProviderInvoice[] = [];
    for (const invoice of listed) invoices.push(await this.toInvoice(invoice));
    return invoices.sort((a, b) => a.created.getTime() - b.created.getTime());
  }

  async reportUsage(report: UsageReport): Promise<void> {
    const meter = await this.meterOf(report.priceId);
    try {
      await this.call(() =>
        this.stripe.billing.meterEvents.create(
          {
            event_name: meter.eventName,
            identifier: report.identifier,
            timestamp: Math.floor(report.timestamp.getTime() / 1000),
            payload: { [meter.customerKey]: report.customerId, [meter.valueKey]: report.credits.toString() },
          },
          { idempotencyKey: report.identifier },
        ),
      );
    } catch (error) {
      // The identifier was used before (a retried report, past the idempotency cache): already reported.
      if ((error as { cause?: { code?: string } }).cause?.code === "resource_already_exists") return;
      throw error;
    }
  }

  async getDispute(disputeId: string): Promise<ProviderDispute | undefined> {
    const dispute = await this.callOrMissing(() => this.stripe.disputes.retrieve(disputeId, { expand: ["charge"] }));
    if (!dispute) return undefined;
    const charge = typeof dispute.charge === "object" ? dispute.charge : undefined;
    const customer = charge?.customer;
    return {
      id: dispute.id,
      chargeId: charge?.id ?? (typeof dispute.charge === "string" ? dispute.charge : undefined),
      customerId: typeof customer === "string" ? customer : customer?.id,
      reason: dispute.reason,
    };
  }

  private meterOf(priceId: string): Promise<MeterTarget> {
    let target = this.meterByPrice.get(priceId);
    if (!target) {
      target = this.loadMeter(priceId);
      this.meterByPrice.set(priceId, target);
      target.catch(() => this.meterByPrice.delete(priceId));
    }
    return target;
  }

  private async loadMeter(priceId: string): Promise<MeterTarget> {
    const price = await this.call(() => this.stripe.prices.retrieve(priceId));
    const meterId = price.recurring?.meter;
    if (!meterId) {
      throw new TallyError("FailedPrecondition", `Stripe price ${priceId} is not a metered price with a billing meter`);
    }
    const meter = await this.call(() => this.stripe.billing.meters.retrieve(meterId));
    // Tally reports the cycle's balance, not increments: only "last" bills the reported value.
    if (meter.default_aggregation.formula !== "last") {
      throw new TallyError(
        "FailedPrecondition",
        `Stripe billing meter ${meterId} of price ${priceId} aggregates with "${meter.default_aggregation.formula}"; Tally reports balances and needs "last"`,
      );
    }
    return {
      eventName: meter.event_name,
      customerKey: meter.customer_mapping.event_payload_key,
      valueKey: meter.value_settings.event_payload_key,
    };
  }

  private async toInvoice(invoice: Stripe.Invoice): Promise<ProviderInvoice> {
    let lines = invoice.lines.data;
    if (invoice.lines.has_more) {
      lines = await this.call(async () => {
        const read: Stripe.InvoiceLineItem[] = [];
        for await (const line of this.stripe.invoices.listLineItems(invoice.id, { limit: 100 })) {
          read.push(line);
          if (read.length >= invoiceLinesReadMax) break;
        }
        return read;
      });
    }
    const customer = typeof invoice.customer === "string" ? invoice.customer : invoice.customer?.id;
    if (!customer) throw new TallyError("FailedPrecondition", `Stripe invoice ${invoice.id} has no customer`);
    const subscription = invoice.parent?.subscription_details?.subscription;
    const periodEnds = lines.map((line) => line.period.end);
    const finalizedAt = invoice.status_transitions.finalized_at;
    return {
      id: invoice.id,
      number: invoice.number ?? undefined,
      customerId: customer,
      subscriptionId: typeof subscription === "string" ? subscription : subscription?.id,
      status: (invoice.status ?? "draft") as InvoiceStatus,
      billingReason: invoice.billing_reason ?? undefined,
      created: fromUnix(invoice.created),
      finalizedAt: finalizedAt ? fromUnix(finalizedAt) : undefined,
      periodEnd: fromUnix(Math.max(invoice.period_end, ...periodEnds)),
      lines: lines.map((line) => ({
        quantity: line.quantity,
        quantityDecimal: line.quantity_decimal === null || line.quantity_decimal === undefined ? null : String(line.quantity_decimal),
        periodEnd: fromUnix(line.period.end),
      })),
    };
  }
}

/** Stripe keeps idempotency keys of at most this many characters. */
export const idempotencyKeyLengthMax = 255;

/**
 * The idempotency key Stripe gets: the caller's key (what the call acts on) and a digest of every
 * request parameter, so that a retry with other parameters (another currency, automatic tax turned
 * on, another price) is a new request rather than a replay of the old answer or an idempotency
 * error. A key that would be too long for Stripe becomes a digest of itself, keeping its start.
 */
export function requestKey(key: string, params: unknown): string {
  const digest = createHash("sha256").update(canonicalJson(params)).digest("hex").slice(0, 16);
  const full = `${key}:p${digest}`;
  if (full.length <= idempotencyKeyLengthMax) return full;
  return `${key.slice(0, 180)}:h${createHash("sha256").update(full).digest("hex").slice(0, 32)}`;
}

/** JSON with object keys sorted, so equal parameters give equal digests. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, item]) => item !== undefined);
    return `{${entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, item]) => `${JSON.stringify(k)}:${canonicalJson(item)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

interface MeterTarget {
  readonly eventName: string;
  readonly customerKey: string;
  readonly valueKey: string;
}

const fromUnix = (seconds: number) => new Date(seconds * 1000);

function toCustomer(customer: Stripe.Customer): ProviderCustomer {
  const metadata = customer.metadata ?? {};
  return {
    id: customer.id,
    attributionId: metadata.attributionId || undefined,
    preferredCurrency: metadata.preferredCurrency ? metadata.preferredCurrency.toUpperCase() : undefined,
    billingCreatorUserId: metadata.billingCreatorUserId || undefined,
    automaticTax: (customer.tax?.automatic_tax ?? "unrecognized_location") as AutomaticTaxStatus,
    created: fromUnix(customer.created),
  };
}

function toPaymentIntent(intent: Stripe.PaymentIntent): ProviderPaymentIntent {
  const customer = intent.customer;
  const method = intent.payment_method;
  return {
    id: intent.id,
    status: intent.status as PaymentIntentStatus,
    customerId: typeof customer === "string" ? customer : customer?.id,
    paymentMethodId: typeof method === "string" ? method : method?.id,
    clientSecret: intent.client_secret ?? "",
  };
}

function toSubscription(subscription: Stripe.Subscription): ProviderSubscription {
  const customer = subscription.customer;
  return {
    id: subscription.id,
    customerId: typeof customer === "string" ? customer : customer.id,
    status: subscription.status as SubscriptionStatus,
    automaticTax: subscription.automatic_tax.enabled,
    priceIds: subscription.items.data.map((item) => item.price.id),
    itemIds: subscription.items.data.map((item) => item.id),
    metadata: { ...subscription.metadata },
  };
}

/**
 * Runs a Stripe call within its time budget and maps its errors to TallyErrors, keeping the Stripe
 * error as the cause; every failure is told to `onError` (metrics, logs).
 */
async function call<T>(work: () => Promise<T>, budgetMs: number, onError: StripeErrorObserver): Promise<T> {
  try {
    return await withDeadline(work(), budgetMs, () => new StripeBudgetExceededError(budgetMs));
  } catch (error) {
    const kind = errorKind(error);
    if (kind) onError(kind, error);
    throw toTallyError(error);
  }
}

/**
 * Like `call`, but an object Stripe says is gone (404 with code `resource_missing`) is `undefined`.
 * Any other 404 (an unrecognized URL: a wrong STRIPE_API_BASE) is an error like any other.
 */
async function callOrMissing<T>(work: () => Promise<T>, budgetMs: number, onError: StripeErrorObserver): Promise<T | undefined> {
  try {
    return await call(work, budgetMs, onError);
  } catch (error) {
    if (error instanceof TallyError && isResourceMissing(error.cause)) return undefined;
    throw error;
  }
}

/** The call outlived stripeCallBudgetMs (all attempts and backoffs): Stripe is too slow or unreachable. */
export class StripeBudgetExceededError extends Error {
  constructor(readonly budgetMs: number) {
    super(`no answer from Stripe within the ${budgetMs} ms budget of one call (attempts and backoff included)`);
  }
}

/** Stripe's own "this object does not exist" (and only that). */
export function isResourceMissing(error: unknown): boolean {
  return error instanceof Stripe.errors.StripeError && error.code === "resource_missing";
}

/** A 404 that is not about an object: Stripe (or whatever STRIPE_API_BASE points at) does not serve the URL. */
function isUnrecognizedUrl(error: Stripe.errors.StripeError): boolean {
  return error.statusCode === 404 && error.code !== "resource_missing";
}

/** The alert class of a failure; undefined for answers that are not trouble (an object that is gone). */
export function errorKind(error: unknown): StripeErrorKind | undefined {
  if (error instanceof StripeBudgetExceededError) return "timeout";
  if (!(error instanceof Stripe.errors.StripeError)) return undefined;
  if (isResourceMissing(error) || error.code === "resource_already_exists") return undefined;
  if (isUnrecognizedUrl(error)) return "unrecognized_url";
  if (error instanceof Stripe.errors.StripeAuthenticationError || error instanceof Stripe.errors.StripePermissionError) return "authentication";
  if (error instanceof Stripe.errors.StripeRateLimitError) return "rate_limit";
  if (error instanceof Stripe.errors.StripeConnectionError) return "connection";
  if (error instanceof Stripe.errors.StripeAPIError || (error.statusCode ?? 0) >= 500) return "server";
  if (error instanceof Stripe.errors.StripeCardError) return "card";
  if (error instanceof Stripe.errors.StripeIdempotencyError) return "idempotency";
  return "invalid_request";
}

function toTallyError(error: unknown): unknown {
  if (error instanceof StripeBudgetExceededError) {
    return new TallyError("Unavailable", `Stripe: ${error.message} (try again later)`, { cause: error });
  }
  if (error instanceof TallyError || !(error instanceof Stripe.errors.StripeError)) return error;
  const what = `Stripe: ${error.message}`;
  // Not an object that is gone, but a URL nothing serves: Tally talks to the wrong server. Retried
  // (UNAVAILABLE) and alerted, never taken for "this object does not exist".
  if (isUnrecognizedUrl(error)) {
    return new TallyError("Unavailable", `${what} (HTTP 404 for an unrecognized URL: check STRIPE_API_BASE)`, { cause: error });
  }
  // Network trouble, rate limits and Stripe's own errors outlived the SDK's retries: try again later.
  if (
    error instanceof Stripe.errors.StripeConnectionError ||
    error instanceof Stripe.errors.StripeRateLimitError ||
    error instanceof Stripe.errors.StripeAPIError ||
    (error.statusCode ?? 0) >= 500
  ) {
    return new TallyError("Unavailable", `${what} (Stripe is unavailable, try again later)`, { cause: error });
  }
  // A declined card is the caller's input.
  if (error instanceof Stripe.errors.StripeCardError) return new TallyError("InvalidArgument", what, { cause: error });
  // A wrong key or missing permission is an operator's configuration problem.
  if (error instanceof Stripe.errors.StripeAuthenticationError || error instanceof Stripe.errors.StripePermissionError) {
    return new TallyError("FailedPrecondition", `${what} (check STRIPE_SECRET_KEY)`, { cause: error });
  }
  // The same idempotency key with other parameters, or still in flight elsewhere.
  if (error instanceof Stripe.errors.StripeIdempotencyError) return new TallyError("Aborted", what, { cause: error });
  // Stripe refused the request in the current state of its objects (or our configuration).
  return new TallyError("FailedPrecondition", what, { cause: error });
}
