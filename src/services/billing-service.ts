// Billing through Stripe: customers, card holds, subscriptions, usage reports, invoices, disputes.
// Stripe is asked first and Tally's transactions run afterwards, never with a Stripe call inside.
// Every mutating Stripe call carries an idempotency key derived from what it acts on, so a retried
// use case (an RPC retry, a redelivered webhook, a job re-run) never acts twice.
import { randomUUID } from "node:crypto";
import type { PaymentProvider, ProviderCustomer, ProviderInvoice, ProviderPrice } from "../billing/payment-provider.js";
import { parseAttributionId, parseOptionalUserId, type AttributionId } from "../domain/attribution-id.js";
import { advanceCycle, isCycleExpired } from "../domain/billing-cycle.js";
import type { Clock } from "../domain/clock.js";
import { costCenterChanged, invoiceBooked, type NewAccountEvent } from "../domain/account-event.js";
import type { EventRecorder } from "../events/event-recorder.js";
import { validateSpendingLimit } from "../domain/cost-center.js";
import { sourceKeys, type LedgerEntry } from "../domain/ledger-entry.js";
import {
  currencyOrDefault,
  describePrice,
  holdAmountMinor,
  invoicedCents,
  parseCurrency,
  parseCustomerEmail,
  parseCustomerName,
  parseStripeId,
  planInvoiceCycle,
  usageReportCredits,
  type Currency,
} from "../domain/stripe-billing.js";
import { failedPrecondition, invalidArgument, notFound, TallyError } from "../domain/tally-error.js";
import type { Logger } from "../logger.js";
import { getBalanceCents, lockAttribution } from "../store/balances.js";
import { getCurrentCostCenter, insertCostCenterVersion, listCurrentAttributionIds } from "../store/cost-centers.js";
import type { Database } from "../store/database.js";
import { insertEntries } from "../store/ledger.js";
import {
  getStripeCustomerByAttributionId,
  getStripeCustomerById,
  insertStripeCustomer,
  listStripeCustomers,
  replaceStripeCustomer,
  setHoldPaymentIntent,
  setLegacySubscription,
  setSyncedSubscription,
  setInvalidBillingAddress,
  type StoredStripeCustomer,
} from "../store/stripe-customers.js";
import { inTransaction } from "../store/transactions.js";
import type { AccountService } from "./account-service.js";
import type { CostCenterService } from "./cost-center-service.js";

/** Cost centers read per page by ReconcileInvoices. */
export const reconcileBatchSizeMax = 500;
/** Payment-intent states in which a hold can still be confirmed by the client, so it is handed out again. */
const reusableHoldStatuses = new Set(["requires_payment_method", "requires_confirmation", "requires_action"]);
/** A hold that verified the card: authorised (manual capture) or, unusually, captured. */
const verifiedHoldStatuses = new Set(["requires_capture", "succeeded"]);

export interface BillingServiceDeps {
  readonly db: Database;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly provider: PaymentProvider;
  readonly costCenters: CostCenterService;
  readonly accounts: AccountService;
  /** The metered per-credit price of each currency. */
  readonly usagePriceIds: { readonly EUR?: string | undefined; readonly USD?: string | undefined };
  /** invoice.booked, cost_center.changed and limit crossings go to the outbox in the booking's transaction. */
  readonly events?: EventRecorder;
  /** After Tally's own block of a disputed attribution id (Gitpod mode: block its owners in Gitpod too). */
  readonly onDisputed?: (disputeId: string, attributionId: string) => Promise<unknown>;
}

export type CustomerQuery = { attributionId: string } | { stripeCustomerId: string };

export interface StripeSyncOutcome {
  readonly customersRead: number;
  /** Distinct attribution ids among the customers' metadata. */
  readonly attributionIds: number;
  /** Attribution ids with a live subscription. */
  readonly subscribers: number;
  /** Attribution ids whose stored customer or recorded subscription changed. */
  readonly stored: number;
  /** Cost centers switched to STRIPE. */
  readonly switched: number;
  /** Subscribers already stored and billed by Stripe: nothing changed. */
  readonly unchanged: number;
  readonly withoutSubscription: number;
  readonly failed: ReadonlyArray<{ attributionId: string; error: string }>;
}

/** What `tally stripe migrate-prices` did (or, in a dry run, would do) with one subscription. */
export interface LegacyPriceMigration {
  readonly attributionId: string;
  readonly stripeCustomerId: string;
  /** Empty when the customer's subscriptions could not be read. */
  readonly subscriptionId: string;
  readonly itemId: string;
  /** The usage price without a billing meter. */
  readonly fromPriceId: string;
  /** The configured meter-backed usage price of its currency; empty when there is none. */
  readonly toPriceId: string;
  /** The billing meter of toPriceId. */
  readonly meterId: string;
  readonly action: "would_migrate" | "migrated" | "failed";
  readonly error?: string;
}

export interface MigrateLegacyPricesOutcome {
  readonly dryRun: boolean;
  readonly customersRead: number;
  readonly subscriptionsRead: number;
  /** Every live subscription found on a usage price without a billing meter, with what was done. */
  readonly subscriptions: readonly LegacyPriceMigration[];
  /** Attribution ids whose legacy flag was cleared (their subscriptions are all on meter-backed prices now). */
  readonly flagsCleared: readonly string[];
}

/** Stored customers read per page by migrateLegacyPrices. */
export const migratePricesBatchSize = 200;

export interface ReconcileInvoicesOutcome {
  /** Cost centers whose balance was reported to Stripe. */
  readonly reported: number;
  /** Invoices booked that no webhook had booked. */
  readonly invoicesBooked: number;
  readonly cyclesAdvanced: number;
  readonly failed: ReadonlyArray<{ attributionId: string; error: unknown }>;
}

export class BillingService {
  constructor(private readonly deps: BillingServiceDeps) {}

  // ---- customers ----

  /** Tally's store first; else Stripe (by metadata), then stored. NotFound when neither knows it. */
  async getStripeCustomer(query: CustomerQuery): Promise<StoredStripeCustomer> {
    if ("attributionId" in query) {
      const attribution = parseAttributionId(query.attributionId);
      const customer = await this.customerOf(attribution);
      if (!customer) throw notFound(`no Stripe customer for attribution_id ${JSON.stringify(attribution.text)}`);
      return customer;
    }
    const id = parseStripeId(query.stripeCustomerId, "stripe_customer_id");
    const stored = await getStripeCustomerById(this.deps.db, id);
    if (stored) return stored;
    const found = await this.deps.provider.getCustomer(id);
    if (!found) throw new StripeObjectMissingError(`Stripe customer ${JSON.stringify(id)} does not exist`);
    return this.adopt(found);
  }

  /** Creates the attribution id's Stripe customer, once: a repeated call returns the first customer. */
  async createStripeCustomer(request: {
    attributionId: string;
    name: string;
    email: string;
    currency: string;
    billingCreatorUserId: string;
  }): Promise<StoredStripeCustomer> {
    const attribution = parseAttributionId(request.attributionId);
    const name = parseCustomerName(request.name);
    const email = parseCustomerEmail(request.email);
    const currency = parseCurrency(request.currency);
    const billingCreatorUserId = parseOptionalUserId(request.billingCreatorUserId, "billing_creator_user_id");
    const existing = await this.customerOf(attribution);
    if (existing) return existing;
    const created = await this.deps.provider.createCustomer(
      { attributionId: attribution.text, name, email, preferredCurrency: currency, billingCreatorUserId },
      `tally:customer:${attribution.text}`,
    );
    // Stripe's tax status of the new customer (without an address: unrecognized_location).
    return insertStripeCustomer(
      this.deps.db,
      { stripeCustomerId: created.id, attributionId: attribution.text, currency, invalidBillingAddress: created.automaticTax === "unrecognized_location" },
      this.deps.clock.now(),
    );
  }

  // ---- card verification and subscriptions ----

  /** A manual-capture payment intent of 1.00 that verifies a card; an unused one is handed out again. */
  async createHoldPaymentIntent(attributionIdText: string): Promise<{ id: string; clientSecret: string }> {
    const customer = await this.requireCustomer(parseAttributionId(attributionIdText));
    const previous = customer.holdPaymentIntentId;
    if (previous) {
      const intent = await this.deps.provider.getPaymentIntent(previous);
      if (intent && reusableHoldStatuses.has(intent.status)) return { id: intent.id, clientSecret: intent.clientSecret };
    }
    // Derived from the hold it replaces: concurrent or retried calls create the same one.
    const key = `tally:hold:${customer.stripeCustomerId}:after:${previous ?? "none"}`;
    const intent = await this.deps.provider.createHoldPaymentIntent(
      {
        customerId: customer.stripeCustomerId,
        currency: currencyOrDefault(customer.currency).toLowerCase(),
        amountMinor: holdAmountMinor,
        attributionId: customer.attributionId,
      },
      key,
    );
    await setHoldPaymentIntent(this.deps.db, customer.stripeCustomerId, intent.id, this.deps.clock.now());
    return { id: intent.id, clientSecret: intent.clientSecret };
  }

  /**
   * Subscribes the attribution id once its card is verified, and bills its cost center through
   * Stripe. A retry with the same payment intent finishes what the first call started.
   */
  async createStripeSubscription(request: {
    attributionId: string;
    usageLimit: bigint;
    paymentIntentId: string;
  }): Promise<{ subscriptionId: string }> {
    const attribution = parseAttributionId(request.attributionId);
    const paymentIntentId = parseStripeId(request.paymentIntentId, "payment_intent_id");
    const usageLimit = parseUsageLimit(request.usageLimit);
    const customer = await this.requireCustomer(attribution);
    const priceId = this.priceIdFor(currencyOrDefault(customer.currency));
    const { provider } = this.deps;
    const active = await provider.listActiveSubscriptions(customer.stripeCustomerId);
    const replay = active.find((subscription) => subscription.metadata.holdPaymentIntentId === paymentIntentId);
    if (replay) {
      await this.billThroughStripe(attribution.text, usageLimit);
      return { subscriptionId: replay.id };
    }
    // A subscription `tally stripe sync` found is the team's, as if Tally had made it.
    const synced = active.find((subscription) => subscription.id === customer.syncedSubscriptionId);
    if (synced) {
      await this.billThroughStripe(attribution.text, usageLimit);
      return { subscriptionId: synced.id };
    }
    if (active.length > 0) {
      throw new TallyError(
        "AlreadyExists",
        `${attribution.text} already has subscription ${active[0]!.id} (status ${active[0]!.status}); cancel it before subscribing again`,
      );
    }
    const hold = await provider.getPaymentIntent(paymentIntentId);
    if (!hold) throw new StripeObjectMissingError(`payment intent ${JSON.stringify(paymentIntentId)} does not exist`);
    if (hold.customerId !== customer.stripeCustomerId) {
      throw invalidArgument(`payment method is invalid: payment intent ${paymentIntentId} belongs to another customer`);
    }
    if (!verifiedHoldStatuses.has(hold.status) || !hold.paymentMethodId) {
      throw invalidArgument(`payment method is invalid: payment intent ${paymentIntentId} is ${hold.status}, the card was not verified`);
    }
    const customerId = customer.stripeCustomerId;
    await provider.setDefaultPaymentMethod(customerId, hold.paymentMethodId, `tally:default-payment-method:${customerId}:${hold.paymentMethodId}`);
    // The verified card's billing address becomes the customer's, so Stripe can place it for tax.
    await provider.copyBillingAddress(customerId, hold.paymentMethodId, `tally:billing-address:${customerId}:${hold.paymentMethodId}`);
    const fresh = await provider.getCustomer(customerId);
    if (fresh) await setInvalidBillingAddress(this.deps.db, customerId, fresh.automaticTax === "unrecognized_location", this.deps.clock.now());
    const subscription = await provider.createSubscription(
      {
        customerId,
        priceId,
        automaticTax: fresh?.automaticTax === "supported",
        metadata: { attributionId: attribution.text, holdPaymentIntentId: paymentIntentId },
      },
      `tally:subscription:${customerId}:${paymentIntentId}`,
    );
    await this.billThroughStripe(attribution.text, usageLimit);
    if (hold.status === "requires_capture") {
      // The hold only verified the card: release the 1.00. Failing to is not worth failing the call.
      await provider.cancelPaymentIntent(paymentIntentId, `tally:release-hold:${paymentIntentId}`).catch((error: unknown) => {
        this.deps.logger.warn({ err: error, paymentIntentId }, "could not release the card-verification hold");
      });
    }
    return { subscriptionId: subscription.id };
  }

  /** Stores whether Stripe can place the customer for tax, and turns automatic tax on or off to match. */
  async updateCustomerSubscriptionsTaxState(customerIdText: string): Promise<void> {
    const customerId = parseStripeId(customerIdText, "customer_id");
    const customer = await this.deps.provider.getCustomer(customerId);
    if (!customer) throw new StripeObjectMissingError(`Stripe customer ${JSON.stringify(customerId)} does not exist`);
    const invalid = customer.automaticTax === "unrecognized_location";
    const now = this.deps.clock.now();
    let stored = await setInvalidBillingAddress(this.deps.db, customerId, invalid, now);
    if (!stored) {
      await this.adopt(customer);
      stored = await setInvalidBillingAddress(this.deps.db, customerId, invalid, now);
    }
    if (!stored) {
      const canonical = await getStripeCustomerByAttributionId(this.deps.db, customer.attributionId ?? "");
      throw new DuplicateCustomerError(
        `Stripe customer ${customerId} duplicates ${canonical?.stripeCustomerId ?? "another customer"}, through which ${customer.attributionId} is billed`,
      );
    }
    const supported = customer.automaticTax === "supported";
    for (const subscription of await this.deps.provider.listActiveSubscriptions(customerId)) {
      if (subscription.automaticTax === supported) continue;
      // The tax-state version changes with every change of the address validity, so turning tax
      // back on after turning it off is a new request, not a replay of an older one.
      const key = `tally:automatic-tax:${subscription.id}:${supported ? "on" : "off"}:v${stored.taxStateVersion}`;
      await this.deps.provider.setSubscriptionAutomaticTax(subscription.id, supported, key);
    }
  }

  async getPriceInformation(attributionIdText: string): Promise<string> {
    const attribution = parseAttributionId(attributionIdText);
    const customer = await this.customerOf(attribution);
    let priceId: string | undefined;
    if (customer) {
      const [subscription] = await this.deps.provider.listActiveSubscriptions(customer.stripeCustomerId);
      priceId = subscription?.priceIds[0];
    }
    priceId ??= this.priceIdFor(currencyOrDefault(customer?.currency));
    const price = await this.deps.provider.getPrice(priceId);
    if (!price) throw failedPrecondition(`Stripe price ${priceId} does not exist; check stripe.usagePriceIds`);
    return describePrice(price);
  }

  // ---- invoices ----

  /** Books a finalized invoice, exactly once per invoice id, and starts the next Stripe cycle. */
  async finalizeInvoice(invoiceIdText: string): Promise<{ booked: boolean }> {
    const invoiceId = parseStripeId(invoiceIdText, "invoice_id");
    const invoice = await this.deps.provider.getInvoice(invoiceId);
    if (!invoice) throw new StripeObjectMissingError(`Stripe invoice ${JSON.stringify(invoiceId)} does not exist`);
    const { booked, attributionId, billedByStripe, balanceCents } = await this.bookInvoice(invoice);
    if (booked && billedByStripe) {
      // The new cycle starts with what was used since the invoice's period ended; later reports
      // (ReconcileInvoices) refresh it. Not worth failing the booking for.
      await this.reportBalance(attributionId, undefined, balanceCents).catch((error: unknown) => {
        this.deps.logger.warn({ err: error, attributionId, invoiceId }, "could not report the balance after booking an invoice");
      });
    }
    return { booked };
  }

  /**
   * Reports every Stripe-billed cost center's balance to its meter, and repairs missed invoices:
   * for cycles that ended, books finalized invoices no webhook booked, and advances the cycle.
   */
  async reconcileInvoices(): Promise<ReconcileInvoicesOutcome> {
    let reported = 0;
    let invoicesBooked = 0;
    let cyclesAdvanced = 0;
    const failed: Array<{ attributionId: string; error: unknown }> = [];
    for (let afterId = ""; ; ) {
      const page = await listCurrentAttributionIds(this.deps.db, { strategy: "stripe", afterId, limit: reconcileBatchSizeMax });
      for (const attributionId of page) {
        try {
          const outcome = await this.reconcileOne(attributionId);
          invoicesBooked += outcome.invoicesBooked;
          cyclesAdvanced += outcome.cycleAdvanced ? 1 : 0;
          reported += 1;
        } catch (error) {
          failed.push({ attributionId, error });
        }
      }
      if (page.length < reconcileBatchSizeMax) break;
      afterId = page[page.length - 1]!;
    }
    return { reported, invoicesBooked, cyclesAdvanced, failed };
  }

  /**
   * `tally stripe sync`: every Stripe customer with metadata.attributionId and a live subscription
   * (an existing installation's subscribers) is stored as its attribution id's customer (the
   * duplicate rule applies), its subscription recorded, and its cost center billed by Stripe (the
   * switch balances out usage as any strategy switch does). Running it again changes nothing.
   */
  async syncStripeSubscribers(): Promise<StripeSyncOutcome> {
    const byAttribution = new Map<string, ProviderCustomer[]>();
    let customersRead = 0;
    for (let after: string | undefined; ; ) {
      const page = await this.deps.provider.listCustomers(after);
      customersRead += page.customers.length;
      for (const customer of page.customers) {
        if (!customer.attributionId) continue;
        const list = byAttribution.get(customer.attributionId) ?? [];
        list.push(customer);
        byAttribution.set(customer.attributionId, list);
      }
      if (!page.hasMore || page.customers.length === 0) break;
      after = page.customers[page.customers.length - 1]!.id;
    }
    const outcome = { customersRead, attributionIds: byAttribution.size, subscribers: 0, stored: 0, switched: 0, unchanged: 0, withoutSubscription: 0, failed: [] as Array<{ attributionId: string; error: string }> };
    for (const [attributionId, found] of byAttribution) {
      try {
        const candidates = [...found].sort((a, b) => a.created.getTime() - b.created.getTime());
        const attribution = attributionOf(candidates[0]!);
        const choice = await this.chooseCustomer(attribution.text, candidates, { withSubscription: true });
        if (!choice.subscriptionId) {
          outcome.withoutSubscription += 1;
          continue;
        }
        outcome.subscribers += 1;
        const now = this.deps.clock.now();
        let stored = await getStripeCustomerByAttributionId(this.deps.db, attribution.text);
        const row = {
          stripeCustomerId: choice.customer.id,
          attributionId: attribution.text,
          currency: currencyOrDefault(choice.customer.preferredCurrency),
          invalidBillingAddress: choice.customer.automaticTax === "unrecognized_location",
          selectionReason: choice.reason,
        };
        let changed = false;
        if (!stored) {
          stored = await insertStripeCustomer(this.deps.db, row, now);
          changed = true;
        } else if (stored.stripeCustomerId !== choice.customer.id) {
          stored = await replaceStripeCustomer(this.deps.db, row, now);
          changed = true;
        }
        const tallyMade = (await this.deps.provider.listActiveSubscriptions(choice.customer.id)).some(
          (subscription) => subscription.id === choice.subscriptionId && subscription.metadata.holdPaymentIntentId,
        );
        if (!tallyMade && stored.syncedSubscriptionId !== choice.subscriptionId) {
          await setSyncedSubscription(this.deps.db, choice.customer.id, choice.subscriptionId, now);
          changed = true;
        }
        if (changed) outcome.stored += 1;
        const current = await this.deps.costCenters.get(attribution.text);
        if (current.billingStrategy === "stripe") {
          if (!changed) outcome.unchanged += 1;
          continue;
        }
        await this.billThroughStripe(attribution.text, undefined);
        outcome.switched += 1;
        this.deps.logger.info({ attributionId: attribution.text, stripeCustomerId: choice.customer.id, subscriptionId: choice.subscriptionId }, "stripe sync: cost center now billed by Stripe");
      } catch (error) {
        outcome.failed.push({ attributionId, error: error instanceof Error ? error.message : String(error) });
      }
    }
    return outcome;
  }

  /**
   * `tally stripe migrate-prices`: every live subscription of Tally's Stripe customers whose usage
   * price (its first item, the one usage is reported for) has no billing meter moves to the
   * configured meter-backed usage price of the same currency (the item keeps its id and period; no
   * proration). The customer's legacy flag then clears (or names a subscription that could not be
   * moved). A dry run reads the same and changes nothing, in Stripe or in Tally. Running it again
   * finds nothing to move; a retried move replays at Stripe (the idempotency key names the
   * subscription, item and old price).
   */
  async migrateLegacyPrices(options: { dryRun: boolean }): Promise<MigrateLegacyPricesOutcome> {
    const prices = new Map<string, Promise<ProviderPrice | undefined>>();
    const priceOf = (priceId: string) => {
      let price = prices.get(priceId);
      if (!price) {
        price = this.deps.provider.getPrice(priceId);
        prices.set(priceId, price);
        price.catch(() => prices.delete(priceId));
      }
      return price;
    };
    const found: LegacyPriceMigration[] = [];
    const flagsCleared: string[] = [];
    let customersRead = 0;
    let subscriptionsRead = 0;
    for (let after = ""; ; ) {
      const page = await listStripeCustomers(this.deps.db, after, migratePricesBatchSize);
      for (const customer of page) {
        customersRead += 1;
        const base = { attributionId: customer.attributionId, stripeCustomerId: customer.stripeCustomerId };
        let remaining: { subscriptionId: string; priceId: string } | undefined;
        try {
          const subscriptions = await this.deps.provider.listActiveSubscriptions(customer.stripeCustomerId);
          for (const subscription of subscriptions) {
            subscriptionsRead += 1;
            const fromPriceId = subscription.priceIds[0];
            const itemId = subscription.itemIds[0];
            if (!fromPriceId || !itemId) continue;
            const price = await priceOf(fromPriceId);
            if (!price || price.meterId) continue;
            const currency = price.currency.toUpperCase();
            const toPriceId = currency === "EUR" || currency === "USD" ? (this.deps.usagePriceIds[currency] ?? "") : "";
            const record = { ...base, subscriptionId: subscription.id, itemId, fromPriceId, toPriceId, meterId: "" };
            const target = toPriceId ? await priceOf(toPriceId) : undefined;
            const problem = !toPriceId
              ? `no usage price is configured for ${currency} (STRIPE_USAGE_PRICE_ID_${currency})`
              : !target
                ? `the configured usage price ${toPriceId} does not exist in Stripe`
                : !target.meterId
                  ? `the configured usage price ${toPriceId} has no billing meter either`
                  : target.currency !== price.currency
                    ? `the configured usage price ${toPriceId} is in ${target.currency.toUpperCase()}, the subscription in ${currency}`
                    : undefined;
            if (problem || !target?.meterId) {
              remaining ??= { subscriptionId: subscription.id, priceId: fromPriceId };
              found.push({ ...record, action: "failed", error: problem ?? "no target price" });
              continue;
            }
            const migration = { ...record, meterId: target.meterId };
            if (options.dryRun) {
              found.push({ ...migration, action: "would_migrate" });
              continue;
            }
            try {
              await this.deps.provider.setSubscriptionItemPrice(subscription.id, itemId, toPriceId, `tally:migrate-price:${subscription.id}:${itemId}:${fromPriceId}`);
              found.push({ ...migration, action: "migrated" });
              this.deps.logger.info({ ...migration }, "stripe migrate-prices: subscription moved to the meter-backed usage price");
            } catch (error) {
              remaining ??= { subscriptionId: subscription.id, priceId: fromPriceId };
              found.push({ ...migration, action: "failed", error: error instanceof Error ? error.message : String(error) });
            }
          }
          if (options.dryRun) continue;
          if (remaining?.subscriptionId !== (customer.legacySubscriptionId ?? undefined) || remaining?.priceId !== (customer.legacyUsagePriceId ?? undefined)) {
            await setLegacySubscription(this.deps.db, customer.stripeCustomerId, remaining, this.deps.clock.now());
            if (!remaining) flagsCleared.push(customer.attributionId);
          }
        } catch (error) {
          found.push({ ...base, subscriptionId: "", itemId: "", fromPriceId: "", toPriceId: "", meterId: "", action: "failed", error: error instanceof Error ? error.message : String(error) });
        }
      }
      if (page.length < migratePricesBatchSize) break;
      after = page[page.length - 1]!.attributionId;
    }
    return { dryRun: options.dryRun, customersRead, subscriptionsRead, subscriptions: found, flagsCleared };
  }

  // ---- webhook-driven changes ----

  /**
   * The subscription ended in Stripe: its cost center goes back to OTHER (SetCostCenter rules). A
   * cost center that is already OTHER, or whose customer has another live subscription, stays.
   */
  async cancelSubscription(subscriptionIdText: string): Promise<void> {
    const subscriptionId = parseStripeId(subscriptionIdText, "subscription_id");
    const subscription = await this.deps.provider.getSubscription(subscriptionId);
    if (!subscription) throw new StripeObjectMissingError(`Stripe subscription ${JSON.stringify(subscriptionId)} does not exist`);
    if (subscription.status !== "canceled" && subscription.status !== "incomplete_expired") {
      throw failedPrecondition(
        `Stripe subscription ${subscriptionId} is ${subscription.status}; cancel it in Stripe first (its customer.subscription.deleted webhook then moves the cost center back)`,
      );
    }
    const attributionId = await this.attributionOfCustomer(subscription.customerId);
    // An ended subscription bills nothing more: it no longer counts as unbilled on a legacy price.
    const stored = await getStripeCustomerById(this.deps.db, subscription.customerId);
    if (stored?.legacySubscriptionId === subscriptionId) await setLegacySubscription(this.deps.db, stored.stripeCustomerId, undefined, this.deps.clock.now());
    const others = await this.deps.provider.listActiveSubscriptions(subscription.customerId);
    if (others.some((other) => other.id !== subscriptionId)) {
      this.deps.logger.info({ subscriptionId, attributionId }, "subscription ended, but the customer has another one: cost center unchanged");
      return;
    }
    const current = await this.deps.costCenters.get(attributionId);
    if (current.billingStrategy === "other") return;
    await this.deps.costCenters.set({ attributionId, spendingLimitCredits: current.spendingLimitCredits, billingStrategy: "other" });
  }

  /** A payment was disputed: block the customer's attribution id (once per dispute). */
  async onChargeDispute(disputeIdText: string): Promise<void> {
    const disputeId = parseStripeId(disputeIdText, "dispute_id");
    const dispute = await this.deps.provider.getDispute(disputeId);
    if (!dispute) throw new StripeObjectMissingError(`Stripe dispute ${JSON.stringify(disputeId)} does not exist`);
    if (!dispute.customerId) throw failedPrecondition(`the charge of Stripe dispute ${disputeId} has no customer`);
    const attributionId = await this.attributionOfCustomer(dispute.customerId);
    await this.deps.accounts.block({
      attributionId,
      reason: `Stripe dispute ${disputeId} on charge ${dispute.chargeId ?? "(unknown)"}: ${dispute.reason}`,
      source: `stripe-dispute:${disputeId}`,
    });
    await this.deps.onDisputed?.(disputeId, attributionId);
  }

  // ---- helpers ----

  private async reconcileOne(attributionId: string): Promise<{ invoicesBooked: number; cycleAdvanced: boolean }> {
    const attribution = parseAttributionId(attributionId);
    const customer = await this.requireCustomer(attribution);
    const costCenter = await this.deps.costCenters.get(attributionId);
    let invoicesBooked = 0;
    let cycleAdvanced = false;
    if (costCenter.billingStrategy !== "stripe") return { invoicesBooked, cycleAdvanced };
    if (isCycleExpired(costCenter, this.deps.clock.now())) {
      const invoices = await this.deps.provider.listFinalizedInvoices(customer.stripeCustomerId, costCenter.billingCycleStart);
      for (const invoice of invoices) {
        if (invoice.lines.length === 0) continue;
        if ((await this.bookInvoice(invoice)).booked) invoicesBooked += 1;
      }
      cycleAdvanced = await this.advanceExpiredStripeCycle(attributionId);
    }
    await this.reportBalance(attributionId, customer);
    return { invoicesBooked, cycleAdvanced };
  }

  private async bookInvoice(
    invoice: ProviderInvoice,
  ): Promise<{ booked: boolean; attributionId: string; billedByStripe: boolean; balanceCents: bigint }> {
    // Whose invoice first: one of another product's customers is not Tally's to judge.
    const attributionId = await this.attributionOfCustomer(invoice.customerId);
    const cents = invoicedCents(invoice.id, invoice.lines);
    if (!invoice.finalizedAt) {
      throw failedPrecondition(`Stripe invoice ${invoice.id} is ${invoice.status}, not finalized: nothing to book yet`);
    }
    // The invoice Stripe finalizes when a subscription is created bills a metered price's zero
    // quantity (usage is billed in arrears) and its line spans the coming period: it books nothing
    // and closes no cycle. Should it bill something (a price that is not metered), it is booked, but
    // still does not move the cycle.
    const opening = invoice.billingReason === "subscription_create";
    if (opening && cents === 0n) {
      this.deps.logger.info({ invoiceId: invoice.id, attributionId }, "the first invoice of a subscription bills nothing: not booked");
      return { booked: false, attributionId, billedByStripe: false, balanceCents: 0n };
    }
    const entry: LedgerEntry = {
      id: randomUUID(),
      attributionId,
      sourceKey: sourceKeys.invoice(invoice.id),
      kind: "invoice",
      description: `Invoice ${invoice.number ?? invoice.id} finalized in Stripe`,
      creditCents: -cents,
      effectiveTime: invoice.finalizedAt,
      workspaceInstanceId: null,
      draft: false,
      metadata: {
        stripeInvoiceId: invoice.id,
        stripeCustomerId: invoice.customerId,
        ...(invoice.subscriptionId ? { stripeSubscriptionId: invoice.subscriptionId } : {}),
      },
    };
    const now = this.deps.clock.now();
    const outcome = await inTransaction(this.deps.db, async (tx) => {
      const balanceBefore = await lockAttribution(tx, attributionId, now);
      const inserted = await insertEntries(tx, [entry], now);
      const current = await getCurrentCostCenter(tx, attributionId);
      const billedByStripe = current?.billingStrategy === "stripe";
      if (!inserted.has(entry.sourceKey)) return { booked: false, attributionId, billedByStripe, balanceCents: balanceBefore };
      const next = current && !opening ? planInvoiceCycle(current, invoice.periodEnd) : undefined;
      const events: NewAccountEvent[] = [invoiceBooked(entry, "stripe")];
      if (current && next) events.push(costCenterChanged(current, await insertCostCenterVersion(tx, next, current.version + 1, now)));
      await this.deps.events?.record(tx, { events, limitsOf: [attributionId], cause: "invoice" }, now);
      return { booked: true, attributionId, billedByStripe, balanceCents: balanceBefore + entry.creditCents };
    });
    this.deps.events?.committed();
    return outcome;
  }

  /** A Stripe cycle that ended without an invoice (yet) moves on month by month, like Stripe's periods. */
  private async advanceExpiredStripeCycle(attributionId: string): Promise<boolean> {
    const now = this.deps.clock.now();
    const advanced = await inTransaction(this.deps.db, async (tx) => {
      await lockAttribution(tx, attributionId, now);
      const current = await getCurrentCostCenter(tx, attributionId);
      if (!current || current.billingStrategy !== "stripe" || !isCycleExpired(current, now)) return false;
      const { cycle } = advanceCycle(current, now);
      const next = await insertCostCenterVersion(tx, { ...current, ...cycle }, current.version + 1, now);
      await this.deps.events?.record(tx, { events: [costCenterChanged(current, next)], limitsOf: [attributionId], cause: "reset" }, now);
      return true;
    });
    this.deps.events?.committed();
    return advanced;
  }

  /**
   * Reports the balance through the meter of each live subscription's own usage price (not whatever
   * price is configured now). A subscription on a price without a billing meter (a legacy metered
   * price) cannot be reported to: it is flagged on the customer (GetAccountStatus, /metrics), logged,
   * and the report fails, so it is never silently left unbilled. Without a live subscription, the
   * configured price of the customer's currency receives it.
   */
  private async reportBalance(attributionId: string, known?: StoredStripeCustomer, knownBalanceCents?: bigint): Promise<void> {
    const customer = known ?? (await this.requireCustomer(parseAttributionId(attributionId)));
    const credits = usageReportCredits(knownBalanceCents ?? (await getBalanceCents(this.deps.db, attributionId)));
    const timestamp = this.deps.clock.now();
    const seconds = Math.floor(timestamp.getTime() / 1000);
    const subscriptions = await this.deps.provider.listActiveSubscriptions(customer.stripeCustomerId);
    const targets = subscriptions.length > 0
      ? subscriptions.map((subscription) => ({ subscriptionId: subscription.id as string | undefined, priceId: subscription.priceIds[0] }))
      : [{ subscriptionId: undefined, priceId: this.priceIdFor(currencyOrDefault(customer.currency)) }];
    let legacy: { subscriptionId: string; priceId: string } | undefined;
    for (const target of targets) {
      if (!target.priceId) continue;
      if (target.subscriptionId) {
        const price = await this.deps.provider.getPrice(target.priceId);
        if (price && !price.meterId) {
          legacy = { subscriptionId: target.subscriptionId, priceId: target.priceId };
          continue;
        }
      }
      await this.deps.provider.reportUsage({
        customerId: customer.stripeCustomerId,
        priceId: target.priceId,
        credits,
        timestamp,
        // One report per customer, second and value: a retried report is recognised as the same one.
        identifier: `tally:usage:${customer.stripeCustomerId}:${seconds}:${credits}`,
      });
    }
    if (legacy?.subscriptionId !== (customer.legacySubscriptionId ?? undefined) || legacy?.priceId !== (customer.legacyUsagePriceId ?? undefined)) {
      await setLegacySubscription(this.deps.db, customer.stripeCustomerId, legacy, timestamp);
    }
    if (legacy) {
      this.deps.logger.error(
        { attributionId, stripeCustomerId: customer.stripeCustomerId, ...legacy },
        "usage cannot be reported: the subscription's usage price has no billing meter (a legacy metered price); run `tally stripe migrate-prices`",
      );
      throw failedPrecondition(
        `subscription ${legacy.subscriptionId} of ${attributionId} is on usage price ${legacy.priceId}, which has no billing meter: its usage cannot be reported (run \`tally stripe migrate-prices\`)`,
      );
    }
  }

  private async billThroughStripe(attributionId: string, usageLimit: number | undefined): Promise<void> {
    const current = await this.deps.costCenters.get(attributionId);
    const spendingLimitCredits = usageLimit ?? current.spendingLimitCredits;
    if (current.billingStrategy === "stripe" && current.spendingLimitCredits === spendingLimitCredits) return;
    await this.deps.costCenters.set({ attributionId, spendingLimitCredits, billingStrategy: "stripe" });
  }

  private priceIdFor(currency: Currency): string {
    const priceId = this.deps.usagePriceIds[currency];
    if (!priceId) throw failedPrecondition(`no usage price for ${currency}: set stripe.usagePriceIds.${currency} (STRIPE_USAGE_PRICE_ID_${currency})`);
    return priceId;
  }

  private async requireCustomer(attribution: AttributionId): Promise<StoredStripeCustomer> {
    const customer = await this.customerOf(attribution);
    if (!customer) throw notFound(`no Stripe customer for ${attribution.text}: call CreateStripeCustomer first`);
    return customer;
  }

  /**
   * The attribution id's customer: Tally's record, else chosen among the Stripe customers carrying
   * its metadata (chooseCustomer) and stored with the reason, so every later call follows it.
   */
  private async customerOf(attribution: AttributionId): Promise<StoredStripeCustomer | undefined> {
    const stored = await getStripeCustomerByAttributionId(this.deps.db, attribution.text);
    if (stored) return stored;
    const candidates = await this.deps.provider.findCustomersByAttributionId(attribution.text);
    if (candidates.length === 0) return undefined;
    const choice = await this.chooseCustomer(attribution.text, candidates);
    return this.store(choice.customer, choice.reason);
  }

  /**
   * Several Stripe customers with one attribution id (left by an earlier integration, or created by
   * hand): the one with a live subscription bills it, else the newest; never an abandoned older one.
   */
  private async chooseCustomer(
    attributionId: string,
    candidates: readonly ProviderCustomer[],
    options: { withSubscription?: boolean } = {},
  ): Promise<{ customer: ProviderCustomer; reason: string | null; subscriptionId?: string }> {
    if (candidates.length === 1 && !options.withSubscription) return { customer: candidates[0]!, reason: null };
    const live: Array<{ customer: ProviderCustomer; subscriptionId: string }> = [];
    for (const candidate of candidates) {
      const [subscription] = await this.deps.provider.listActiveSubscriptions(candidate.id);
      if (subscription) live.push({ customer: candidate, subscriptionId: subscription.id });
    }
    const newest = <T>(items: readonly T[], created: (item: T) => Date) =>
      items.reduce((best, item) => (created(item) >= created(best) ? item : best));
    const ids = (except: string) => candidates.filter((c) => c.id !== except).map((c) => c.id).join(", ");
    if (candidates.length === 1) return { customer: candidates[0]!, reason: null, ...(live[0] ? { subscriptionId: live[0].subscriptionId } : {}) };
    let customer: ProviderCustomer;
    let reason: string;
    let subscriptionId: string | undefined;
    if (live.length > 0) {
      const chosen = newest(live, (item) => item.customer.created);
      customer = chosen.customer;
      subscriptionId = chosen.subscriptionId;
      reason =
        live.length === 1
          ? `the one of ${candidates.length} Stripe customers with metadata.attributionId ${attributionId} that has a live subscription (${chosen.subscriptionId}); not ${ids(customer.id)}`
          : `the newest of the ${live.length} of ${candidates.length} Stripe customers with metadata.attributionId ${attributionId} that have a live subscription (${chosen.subscriptionId}); not ${ids(customer.id)}`;
    } else {
      customer = newest(candidates, (c) => c.created);
      reason = `the newest of ${candidates.length} Stripe customers with metadata.attributionId ${attributionId}, none with a live subscription; not ${ids(customer.id)}`;
    }
    this.deps.logger.warn({ attributionId, stripeCustomerId: customer.id, candidates: candidates.map((c) => c.id), reason }, "several Stripe customers for one attribution id: chose one");
    return { customer, reason, ...(subscriptionId ? { subscriptionId } : {}) };
  }

  /** The attribution id a Stripe customer belongs to; the customer Tally bills it through is chosen as usual. */
  private async attributionOfCustomer(customerId: string): Promise<string> {
    const stored = await getStripeCustomerById(this.deps.db, customerId);
    if (stored) return stored.attributionId;
    const customer = await this.deps.provider.getCustomer(customerId);
    if (!customer) throw new StripeObjectMissingError(`Stripe customer ${JSON.stringify(customerId)} does not exist`);
    return (await this.adopt(customer)).attributionId;
  }

  /**
   * A customer found in Stripe by id (a webhook, GetStripeCustomer): it must carry Tally's metadata;
   * its attribution id's customer is then chosen among all that carry it (it may be another one).
   */
  private async adopt(customer: ProviderCustomer): Promise<StoredStripeCustomer> {
    const attribution = attributionOf(customer);
    const chosen = await this.customerOf(attribution);
    return chosen ?? this.store(customer, null);
  }

  /** Stores a customer chosen for its attribution id; a concurrent choice stored first wins. */
  private async store(customer: ProviderCustomer, selectionReason: string | null): Promise<StoredStripeCustomer> {
    const attribution = attributionOf(customer);
    return insertStripeCustomer(
      this.deps.db,
      {
        stripeCustomerId: customer.id,
        attributionId: attribution.text,
        currency: currencyOrDefault(customer.preferredCurrency),
        invalidBillingAddress: customer.automaticTax === "unrecognized_location",
        selectionReason,
      },
      this.deps.clock.now(),
    );
  }
}

/** The customer's metadata.attributionId; ForeignCustomerError without one. */
function attributionOf(customer: ProviderCustomer): AttributionId {
  if (!customer.attributionId) {
    throw new ForeignCustomerError(`Stripe customer ${customer.id} has no metadata.attributionId: it was not created by Tally`);
  }
  try {
    return parseAttributionId(customer.attributionId, "metadata.attributionId");
  } catch (error) {
    throw failedPrecondition(`Stripe customer ${customer.id}: ${(error as Error).message}`);
  }
}

/**
 * The Stripe customer is not one of Tally's (no metadata.attributionId): the Stripe account is shared
 * with something else. Webhook events about such customers are ignored, not retried.
 */
export class ForeignCustomerError extends TallyError {
  constructor(message: string) {
    super("FailedPrecondition", message);
  }
}

/**
 * Another Stripe customer with the same attribution id bills it (see chooseCustomer): events about
 * this one change nothing, and are ignored rather than retried.
 */
export class DuplicateCustomerError extends TallyError {
  constructor(message: string) {
    super("FailedPrecondition", message);
  }
}

/**
 * Stripe has no such object (it answered 404 resource_missing): deleted, or never there, e.g. an
 * event from another mode or account signed with our secret. Retrying cannot make it appear, so
 * webhook events about such objects are ignored, not retried. An RPC answers NOT_FOUND.
 */
export class StripeObjectMissingError extends TallyError {
  constructor(message: string) {
    super("NotFound", message);
  }
}

/** usage_limit: 0 means "keep the current spending limit"; otherwise a valid spending limit. */
function parseUsageLimit(value: bigint): number | undefined {
  if (value === 0n) return undefined;
  if (value < 0n || value > 2_147_483_647n) {
    throw invalidArgument(`usage_limit ${value} must be between 0 and 2147483647 credits`);
  }
  return validateSpendingLimit(Number(value), "usage_limit");
}
