// An in-memory PaymentProvider for property runs that would be too slow over HTTP. It keeps the
// objects a test puts in, answers the port's calls from them, honours idempotency keys, and can be
// told to fail its next call (as Stripe being unavailable would).
import { TallyError } from "../../src/domain/tally-error.js";
import type {
  NewCustomer,
  NewHoldPaymentIntent,
  NewSubscription,
  PaymentProvider,
  ProviderCustomer,
  ProviderDispute,
  ProviderInvoice,
  ProviderPaymentIntent,
  ProviderPrice,
  ProviderSubscription,
  UsageReport,
} from "../../src/billing/payment-provider.js";

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export class FakePaymentProvider implements PaymentProvider {
  readonly customers = new Map<string, Mutable<ProviderCustomer>>();
  readonly subscriptions = new Map<string, Mutable<ProviderSubscription>>();
  readonly invoices = new Map<string, ProviderInvoice>();
  readonly disputes = new Map<string, ProviderDispute>();
  readonly paymentIntents = new Map<string, Mutable<ProviderPaymentIntent>>();
  readonly prices = new Map<string, ProviderPrice>();
  readonly usageReports: UsageReport[] = [];
  /** Idempotency keys seen, with the result they produced. */
  private readonly replies = new Map<string, unknown>();
  private sequence = 0;
  /** When set, the next call throws Unavailable (and clears it). */
  failNextCall = false;

  private maybeFail(call: string): void {
    if (!this.failNextCall) return;
    this.failNextCall = false;
    throw new TallyError("Unavailable", `injected failure: Stripe is unavailable (${call})`);
  }

  private once<T>(key: string, work: () => T): T {
    if (this.replies.has(key)) return this.replies.get(key) as T;
    const result = work();
    this.replies.set(key, result);
    return result;
  }

  private id(prefix: string): string {
    return `${prefix}_fake${++this.sequence}`;
  }

  async createCustomer(customer: NewCustomer, idempotencyKey: string): Promise<ProviderCustomer> {
    this.maybeFail("createCustomer");
    return this.once(idempotencyKey, () => {
      const created = {
        id: this.id("cus"),
        attributionId: customer.attributionId,
        preferredCurrency: customer.preferredCurrency,
        billingCreatorUserId: customer.billingCreatorUserId,
        automaticTax: "unrecognized_location" as const,
        created: new Date(0),
      };
      this.customers.set(created.id, created);
      return { ...created };
    });
  }

  async getCustomer(customerId: string): Promise<ProviderCustomer | undefined> {
    this.maybeFail("getCustomer");
    const customer = this.customers.get(customerId);
    return customer && { ...customer };
  }

  async findCustomersByAttributionId(attributionId: string): Promise<ProviderCustomer[]> {
    this.maybeFail("findCustomersByAttributionId");
    return [...this.customers.values()].filter((c) => c.attributionId === attributionId).map((c) => ({ ...c }));
  }

  async listCustomers(): Promise<{ customers: ProviderCustomer[]; hasMore: boolean }> {
    this.maybeFail("listCustomers");
    return { customers: [...this.customers.values()].reverse().map((c) => ({ ...c })), hasMore: false };
  }

  async setDefaultPaymentMethod(): Promise<void> {
    this.maybeFail("setDefaultPaymentMethod");
  }

  async copyBillingAddress(): Promise<boolean> {
    this.maybeFail("copyBillingAddress");
    return false;
  }

  async createHoldPaymentIntent(intent: NewHoldPaymentIntent, idempotencyKey: string): Promise<ProviderPaymentIntent> {
    this.maybeFail("createHoldPaymentIntent");
    return this.once(idempotencyKey, () => {
      const id = this.id("pi");
      const created = { id, status: "requires_payment_method" as const, customerId: intent.customerId, paymentMethodId: undefined, clientSecret: `${id}_secret` };
      this.paymentIntents.set(id, created);
      return { ...created };
    });
  }

  async getPaymentIntent(paymentIntentId: string): Promise<ProviderPaymentIntent | undefined> {
    this.maybeFail("getPaymentIntent");
    const intent = this.paymentIntents.get(paymentIntentId);
    return intent && { ...intent };
  }

  async cancelPaymentIntent(paymentIntentId: string): Promise<void> {
    this.maybeFail("cancelPaymentIntent");
    const intent = this.paymentIntents.get(paymentIntentId);
    if (intent) intent.status = "canceled";
  }

  async listActiveSubscriptions(customerId: string): Promise<ProviderSubscription[]> {
    this.maybeFail("listActiveSubscriptions");
    return [...this.subscriptions.values()]
      .filter((s) => s.customerId === customerId && s.status !== "canceled" && s.status !== "incomplete_expired")
      .map((s) => ({ ...s }));
  }

  async getSubscription(subscriptionId: string): Promise<ProviderSubscription | undefined> {
    this.maybeFail("getSubscription");
    const subscription = this.subscriptions.get(subscriptionId);
    return subscription && { ...subscription };
  }

  async createSubscription(subscription: NewSubscription, idempotencyKey: string): Promise<ProviderSubscription> {
    this.maybeFail("createSubscription");
    return this.once(idempotencyKey, () => {
      const created = {
        id: this.id("sub"),
        customerId: subscription.customerId,
        status: "active" as const,
        automaticTax: subscription.automaticTax,
        priceIds: [subscription.priceId],
        itemIds: [this.id("si")],
        metadata: { ...subscription.metadata },
      };
      this.subscriptions.set(created.id, created);
      return { ...created };
    });
  }

  async setSubscriptionAutomaticTax(subscriptionId: string, enabled: boolean, idempotencyKey: string): Promise<void> {
    this.maybeFail("setSubscriptionAutomaticTax");
    this.once(idempotencyKey, () => {
      const subscription = this.subscriptions.get(subscriptionId);
      if (!subscription) throw new TallyError("FailedPrecondition", `Stripe: No such subscription: '${subscriptionId}'`);
      subscription.automaticTax = enabled;
    });
  }

  async setSubscriptionItemPrice(subscriptionId: string, itemId: string, priceId: string, idempotencyKey: string): Promise<ProviderSubscription> {
    this.maybeFail("setSubscriptionItemPrice");
    return this.once(idempotencyKey, () => {
      const subscription = this.subscriptions.get(subscriptionId);
      if (!subscription) throw new TallyError("FailedPrecondition", `Stripe: No such subscription: '${subscriptionId}'`);
      const index = subscription.itemIds.indexOf(itemId);
      if (index < 0) throw new TallyError("FailedPrecondition", `Stripe: No such subscription item: '${itemId}'`);
      if (!this.prices.has(priceId)) throw new TallyError("FailedPrecondition", `Stripe: No such price: '${priceId}'`);
      subscription.priceIds = subscription.priceIds.map((id, i) => (i === index ? priceId : id));
      return { ...subscription };
    });
  }

  async getPrice(priceId: string): Promise<ProviderPrice | undefined> {
    this.maybeFail("getPrice");
    return this.prices.get(priceId);
  }

  async getInvoice(invoiceId: string): Promise<ProviderInvoice | undefined> {
    this.maybeFail("getInvoice");
    return this.invoices.get(invoiceId);
  }

  async listFinalizedInvoices(customerId: string, createdFrom: Date): Promise<ProviderInvoice[]> {
    this.maybeFail("listFinalizedInvoices");
    return [...this.invoices.values()]
      .filter((i) => i.customerId === customerId && i.finalizedAt && i.created >= createdFrom)
      .sort((a, b) => a.created.getTime() - b.created.getTime());
  }

  async reportUsage(report: UsageReport): Promise<void> {
    this.maybeFail("reportUsage");
    if (!this.usageReports.some((r) => r.identifier === report.identifier)) this.usageReports.push(report);
  }

  async getDispute(disputeId: string): Promise<ProviderDispute | undefined> {
    this.maybeFail("getDispute");
    return this.disputes.get(disputeId);
  }
}
