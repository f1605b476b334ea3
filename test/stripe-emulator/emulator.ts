// A local Stripe for tests: stateful, in memory, plain node:http. It speaks the subset of Stripe's
// REST API that Tally's adapter uses (form-encoded requests as the SDK sends them, Stripe-shaped JSON
// and errors, idempotency keys, expand), and emits signed webhook events. Driven by the real `stripe`
// SDK. Test controls that Stripe does with time or real cards (closing a billing period, a dispute)
// are methods here and routes under /_emulator/.
//
// Fidelity notes: objects carry the fields Tally and the SDK read, not every field Stripe has;
// unknown parameters are refused like Stripe does; webhook deliveries are not retried on their own
// (call `deliver` to redeliver); every webhook endpoint shares the emulator's signing secret.
/* eslint-disable @typescript-eslint/no-explicit-any */
import { randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import Stripe from "stripe";
import { stripeApiVersion } from "../../src/billing/stripe-payment-provider.js";
import type { Clock } from "../../src/domain/clock.js";
import { parseForm, type FormObject, type FormValue } from "./form.js";

type Obj = Record<string, any>;

export interface StripeEmulatorOptions {
  readonly port?: number;
  readonly host?: string;
  /** Times of objects, periods and signatures; defaults to the system clock. */
  readonly clock?: Clock;
  readonly webhookSecret?: string;
  /** Deliver events to webhook endpoints as they happen (default true). */
  readonly deliverWebhooks?: boolean;
  /** Seconds before a new customer shows in search results (Stripe: under a minute; default 0). */
  readonly searchIndexDelaySeconds?: number;
  /** Keep every answer (`exchanges`), e.g. to check them against Stripe's types (default false). */
  readonly recordExchanges?: boolean;
}

/** One request and its answer, as sent on the wire. */
export interface Exchange {
  readonly method: string;
  readonly path: string;
  /** The route that answered, e.g. `GET /v1/customers/:id`; undefined for an unrecognized URL. */
  readonly route: string | undefined;
  readonly status: number;
  readonly body: unknown;
}

export interface Delivery {
  readonly eventId: string;
  readonly type: string;
  readonly url: string;
  readonly status: number;
}

class StripeApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
    readonly extra: Obj = {},
  ) {
    super(message);
  }
}

const missing = (kind: string, id: string, param = "id") =>
  new StripeApiError(404, "invalid_request_error", `No such ${kind}: '${id}'`, { code: "resource_missing", param });
const invalid = (message: string, param?: string, code?: string) =>
  new StripeApiError(400, "invalid_request_error", message, { ...(param ? { param } : {}), ...(code ? { code } : {}) });

/** Test payment methods, as Stripe's `pm_card_*` tokens; confirming with one copies it into a new method. */
const testCards: Record<string, { brand: string; last4: string; declines: boolean }> = {
  pm_card_visa: { brand: "visa", last4: "4242", declines: false },
  pm_card_mastercard: { brand: "mastercard", last4: "4444", declines: false },
  pm_card_amex: { brand: "amex", last4: "8431", declines: false },
  pm_card_chargeDeclined: { brand: "visa", last4: "0002", declines: true },
};

const idPrefix: Record<string, string> = {
  customer: "cus",
  payment_intent: "pi",
  payment_method: "pm",
  charge: "ch",
  subscription: "sub",
  subscription_item: "si",
  price: "price",
  product: "prod",
  "billing.meter": "mtr",
  invoice: "in",
  line_item: "il",
  dispute: "dp",
  event: "evt",
  webhook_endpoint: "we",
};

type Handler = (params: FormObject, match: RegExpExecArray) => Obj | Promise<Obj>;

export class StripeEmulator {
  readonly webhookSecret: string;
  url = "";
  /** Deliver events as they happen; false keeps them (for `deliver` later), e.g. to simulate missed webhooks. */
  deliverWebhooks: boolean;
  readonly deliveries: Delivery[] = [];
  /** Every answer, when `recordExchanges` is on. */
  readonly exchanges: Exchange[] = [];
  private readonly recordExchanges: boolean;
  private readonly clock: Clock;
  private readonly server: http.Server;
  private readonly objects = new Map<string, Obj>();
  private readonly sequence = new Map<string, number>();
  private nextSequence = 0;
  private invoiceNumber = 0;
  private readonly idempotency = new Map<string, { fingerprint: string; status: number; body: string }>();
  private readonly meterEvents: Array<Obj & { sequence: number }> = [];
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly routes: Array<[string, RegExp, Handler]>;
  /** When each customer was created (search sees it `searchIndexDelaySeconds` later). */
  private readonly indexedAt = new Map<string, number>();
  searchIndexDelaySeconds: number;

  constructor(options: StripeEmulatorOptions = {}) {
    this.searchIndexDelaySeconds = options.searchIndexDelaySeconds ?? 0;
    this.clock = options.clock ?? { now: () => new Date() };
    this.webhookSecret = options.webhookSecret ?? `whsec_${randomBytes(16).toString("hex")}`;
    this.deliverWebhooks = options.deliverWebhooks ?? true;
    this.recordExchanges = options.recordExchanges ?? false;
    this.server = http.createServer((request, response) => void this.handle(request, response));
    this.routes = this.buildRoutes();
  }

  async listen(port = 0, host = "127.0.0.1"): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(port, host, resolve));
    const address = this.server.address() as AddressInfo;
    this.url = `http://${host}:${address.port}`;
    return this.url;
  }

  async close(): Promise<void> {
    await this.settled();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Resolves when every webhook delivery started so far has finished. */
  async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  // ---- test controls (what Stripe does with time and real cards) ----

  /** Adds a webhook endpoint receiving every event type. */
  addWebhookEndpoint(url: string): Obj {
    return this.createWebhookEndpoint({ url, enabled_events: ["*"] });
  }

  /**
   * Closes the subscription's current period: an invoice whose line is the period's metered usage,
   * finalized (unless `finalize` is false) and paid with the default payment method; the next
   * period starts where this one ended.
   */
  billSubscription(subscriptionId: string, options: { finalize?: boolean } = {}): Obj {
    const subscription = this.get("subscription", subscriptionId);
    if (subscription.status === "canceled") throw invalid(`subscription ${subscriptionId} is canceled`);
    const item = subscription.items.data[0];
    const invoice = this.invoiceForPeriod(subscription, item.current_period_start, item.current_period_end, "subscription_cycle");
    item.current_period_start = item.current_period_end;
    item.current_period_end = addInterval(item.current_period_start, item.price.recurring.interval);
    subscription.latest_invoice = invoice.id;
    if (options.finalize !== false) this.finalizeAndPay(invoice);
    return this.view(invoice);
  }

  /**
   * A metered price as Stripe made them before billing meters (usage records): no `recurring.meter`.
   * Stripe's current API cannot create one, and cannot report usage to it; old accounts still have them.
   */
  createLegacyMeteredPrice(currency: string, unitAmountDecimal = "3.6"): Obj {
    const product = this.createProduct({ name: "Legacy usage credits" });
    return this.view(
      this.create("price", {
        active: true,
        billing_scheme: "per_unit",
        currency,
        custom_unit_amount: null,
        lookup_key: null,
        metadata: {},
        nickname: "legacy metered",
        product: product.id,
        recurring: { interval: "month", interval_count: 1, meter: null, trial_period_days: null, usage_type: "metered" },
        tax_behavior: "unspecified",
        tiers_mode: null,
        transform_quantity: null,
        type: "recurring",
        unit_amount: null,
        unit_amount_decimal: unitAmountDecimal,
      }),
    );
  }

  /** The meter events received for a customer, oldest first (what Stripe's dashboard shows per meter). */
  meterEventsOf(customerId: string): Array<{ meter: string; identifier: string; timestamp: number; value: number }> {
    return this.meterEvents
      .filter((event) => event.customer === customerId)
      .map((event) => ({ meter: event.meter as string, identifier: event.identifier as string, timestamp: event.timestamp as number, value: event.value as number }));
  }

  /** A cardholder disputes a charge: emits charge.dispute.created. */
  disputeCharge(chargeId: string, reason = "fraudulent"): Obj {
    const charge = this.get("charge", chargeId);
    // A released hold (an authorization canceled before capture) moved no money: no dispute can follow.
    if (!charge.captured) throw invalid(`Charge ${chargeId} was never captured (a released authorization): it cannot be disputed.`, "charge", "charge_not_captured");
    if (charge.disputed) throw invalid(`Charge ${chargeId} has already been disputed.`, "charge", "charge_already_disputed");
    charge.disputed = true;
    const evidence = Object.fromEntries(
      ["access_activity_log", "billing_address", "cancellation_policy", "cancellation_policy_disclosure", "cancellation_rebuttal", "customer_communication",
        "customer_email_address", "customer_name", "customer_purchase_ip", "customer_signature", "duplicate_charge_documentation", "duplicate_charge_explanation",
        "duplicate_charge_id", "product_description", "receipt", "refund_policy", "refund_policy_disclosure", "refund_refusal_explanation", "service_date",
        "service_documentation", "shipping_address", "shipping_carrier", "shipping_date", "shipping_documentation", "shipping_tracking_number",
        "uncategorized_file", "uncategorized_text"].map((field) => [field, null]),
    );
    const dispute = this.create("dispute", {
      amount: charge.amount,
      // The withdrawal of the disputed amount and the fee (Stripe makes these balance transactions at once).
      balance_transactions: [
        {
          id: `txn_${token(14)}`,
          object: "balance_transaction",
          amount: -charge.amount,
          available_on: this.now(),
          balance_type: "payments",
          created: this.now(),
          currency: charge.currency,
          description: `Chargeback withdrawal for ${charge.id}`,
          exchange_rate: null,
          fee: 1500,
          fee_details: [{ amount: 1500, application: null, currency: charge.currency, description: "Dispute fee", type: "stripe_fee" }],
          net: -charge.amount - 1500,
          reporting_category: "dispute",
          source: null,
          status: "available",
          type: "adjustment",
        },
      ],
      charge: charge.id,
      currency: charge.currency,
      enhanced_eligibility_types: [],
      evidence: { ...evidence, enhanced_evidence: {} },
      evidence_details: { due_by: this.now() + 21 * 86_400, enhanced_eligibility: {}, has_evidence: false, past_due: false, submission_count: 0, submission_method: "not_submitted" },
      intended_submission_method: null,
      is_charge_refundable: false,
      metadata: {},
      payment_intent: charge.payment_intent,
      reason,
      status: "needs_response",
    });
    dispute.balance_transactions[0].source = dispute.id;
    this.emit("charge.dispute.created", dispute);
    return this.view(dispute);
  }

  /** Sends an event (again) to every endpoint; returns the HTTP statuses. */
  async deliver(eventId: string): Promise<number[]> {
    const event = this.get("event", eventId);
    return Promise.all(this.endpointsFor(event.type).map((endpoint) => this.post(event, endpoint.url)));
  }

  /** The customer's charges, newest first. */
  charges(customerId: string): Obj[] {
    return this.all("charge")
      .filter((charge) => charge.customer === customerId)
      .map((charge) => this.view(charge));
  }

  events(type?: string): Obj[] {
    return this.all("event")
      .filter((event) => type === undefined || event.type === type)
      .reverse()
      .map((event) => this.view(event));
  }

  // ---- HTTP ----

  private async handle(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString("utf8");
    const url = new URL(request.url ?? "/", "http://emulator");
    const method = request.method ?? "GET";
    const send = (status: number, body: string, headers: Record<string, string> = {}) => {
      response.writeHead(status, { "content-type": "application/json", "request-id": `req_${token(14)}`, ...headers });
      response.end(body);
    };
    const auth = request.headers.authorization ?? "";
    // Stripe takes the secret key as a bearer token or as the user name of basic auth (curl -u sk_test_...:).
    const basic = /^Basic (\S+)$/.exec(auth);
    const apiKey = basic ? Buffer.from(basic[1]!, "base64").toString("utf8").replace(/:.*$/s, "") : (/^Bearer (\S+)$/.exec(auth)?.[1] ?? "");
    if (!url.pathname.startsWith("/_emulator/") && !/^sk_(test|live)_\S+$/.test(apiKey)) {
      send(401, errorBody(new StripeApiError(401, "invalid_request_error", "Invalid API Key provided")));
      return;
    }
    const params = method === "GET" || method === "DELETE" ? parseForm(url.search.slice(1)) : parseForm(raw);
    const key = method === "POST" ? request.headers["idempotency-key"] : undefined;
    const fingerprint = `${method} ${url.pathname} ${raw}`;
    if (typeof key === "string") {
      const previous = this.idempotency.get(key);
      if (previous && previous.fingerprint !== fingerprint) {
        const message = `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`;
        send(400, errorBody(new StripeApiError(400, "idempotency_error", message)));
        return;
      }
      if (previous) {
        send(previous.status, previous.body, { "idempotent-replayed": "true", "idempotency-key": key });
        return;
      }
    }
    let status = 200;
    let body: string;
    let route: string | undefined;
    try {
      const routed = await this.route(method, url.pathname, params);
      route = routed.route;
      body = JSON.stringify(routed.result, null, 2);
    } catch (error) {
      if (!(error instanceof StripeApiError)) {
        status = 500;
        body = errorBody(new StripeApiError(500, "api_error", `emulator failure: ${String(error)}`));
      } else {
        status = error.status;
        body = errorBody(error);
      }
    }
    // Like Stripe, a request that was processed (even refused) is replayed; a server error is not.
    if (typeof key === "string" && status < 500) this.idempotency.set(key, { fingerprint, status, body });
    if (this.recordExchanges) this.exchanges.push({ method, path: url.pathname, route, status, body: JSON.parse(body) });
    send(status, body, typeof key === "string" ? { "idempotency-key": key } : {});
  }

  /** The routes of Stripe's API it serves (not the `/_emulator/` controls), as `GET /v1/customers/:id`. */
  apiRoutes(): string[] {
    return this.routes.map(([method, pattern]) => routeName(method, pattern)).filter((name) => !name.includes(" /_emulator/"));
  }

  private async route(method: string, path: string, params: FormObject): Promise<{ route: string; result: Obj }> {
    for (const [routeMethod, pattern, handler] of this.routes) {
      if (routeMethod !== method) continue;
      pattern.lastIndex = 0;
      const match = pattern.exec(path);
      if (match) {
        const expand = params.expand;
        const result = await handler(params, match);
        return { route: routeName(method, pattern), result: expand ? this.expand(result, toStringList(expand, "expand")) : result };
      }
    }
    throw new StripeApiError(404, "invalid_request_error", `Unrecognized request URL (${method}: ${path}).`);
  }

  private buildRoutes(): Array<[string, RegExp, Handler]> {
    const id = "([A-Za-z0-9_]+)";
    const r = (pattern: string) => new RegExp(`^${pattern}$`);
    return [
      ["POST", r("/v1/customers"), (p) => this.view(this.createCustomer(p))],
      ["GET", r("/v1/customers/search"), (p) => this.searchCustomers(p)],
      ["GET", r("/v1/customers"), (p) => this.list(this.all("customer").filter((c) => !c.deleted), p, "/v1/customers")],
      ["GET", r(`/v1/customers/${id}`), (_, m) => this.view(this.get("customer", m[1]!, { allowDeleted: true }))],
      ["POST", r(`/v1/customers/${id}`), (p, m) => this.view(this.updateCustomer(m[1]!, p))],
      ["DELETE", r(`/v1/customers/${id}`), (_, m) => this.deleteCustomer(m[1]!)],
      ["GET", r(`/v1/payment_methods/${id}`), (_, m) => this.view(this.paymentMethod(m[1]!))],
      ["POST", r(`/v1/payment_methods/${id}`), (p, m) => this.view(this.updatePaymentMethod(m[1]!, p))],
      ["POST", r(`/v1/payment_methods/${id}/attach`), (p, m) => this.view(this.attachPaymentMethod(m[1]!, p))],
      ["POST", r("/v1/payment_intents"), (p) => this.view(this.createPaymentIntent(p))],
      ["GET", r(`/v1/payment_intents/${id}`), (_, m) => this.view(this.get("payment_intent", m[1]!))],
      ["POST", r(`/v1/payment_intents/${id}/confirm`), (p, m) => this.view(this.confirmPaymentIntent(m[1]!, p))],
      ["POST", r(`/v1/payment_intents/${id}/cancel`), (p, m) => this.view(this.cancelPaymentIntent(m[1]!, p))],
      ["POST", r(`/v1/payment_intents/${id}/capture`), (p, m) => this.view(this.capturePaymentIntent(m[1]!, p))],
      ["GET", r(`/v1/charges/${id}`), (_, m) => this.view(this.get("charge", m[1]!))],
      ["GET", r(`/v1/disputes/${id}`), (_, m) => this.view(this.get("dispute", m[1]!))],
      ["POST", r("/v1/products"), (p) => this.view(this.createProduct(p))],
      ["GET", r(`/v1/products/${id}`), (_, m) => this.view(this.get("product", m[1]!))],
      ["POST", r("/v1/prices"), (p) => this.view(this.createPrice(p))],
      ["GET", r(`/v1/prices/${id}`), (_, m) => this.view(this.get("price", m[1]!))],
      ["POST", r("/v1/billing/meters"), (p) => this.view(this.createMeter(p))],
      ["GET", r(`/v1/billing/meters/${id}`), (_, m) => this.view(this.get("billing.meter", m[1]!))],
      ["POST", r("/v1/billing/meter_events"), (p) => this.createMeterEvent(p)],
      ["POST", r("/v1/subscriptions"), (p) => this.view(this.createSubscription(p))],
      ["GET", r("/v1/subscriptions"), (p) => this.listSubscriptions(p)],
      ["GET", r(`/v1/subscriptions/${id}`), (_, m) => this.view(this.get("subscription", m[1]!))],
      ["POST", r(`/v1/subscriptions/${id}`), (p, m) => this.view(this.updateSubscription(m[1]!, p))],
      ["DELETE", r(`/v1/subscriptions/${id}`), (p, m) => this.view(this.cancelSubscription(m[1]!, p))],
      ["POST", r("/v1/invoices"), (p) => this.view(this.createInvoice(p))],
      ["GET", r("/v1/invoices"), (p) => this.listInvoices(p)],
      ["GET", r(`/v1/invoices/${id}`), (_, m) => this.view(this.get("invoice", m[1]!))],
      ["GET", r(`/v1/invoices/${id}/lines`), (p, m) => this.list(this.get("invoice", m[1]!).lines.data, p, `/v1/invoices/${m[1]}/lines`)],
      ["POST", r(`/v1/invoices/${id}/finalize`), (p, m) => this.view(this.finalizeInvoice(m[1]!, p))],
      ["POST", r(`/v1/invoices/${id}/pay`), (p, m) => this.view(this.payInvoice(m[1]!, p))],
      ["GET", r(`/v1/events/${id}`), (_, m) => this.view(this.get("event", m[1]!))],
      ["GET", r("/v1/events"), (p) => this.list(this.all("event").filter((e) => !p.type || e.type === p.type), p, "/v1/events")],
      ["POST", r("/v1/webhook_endpoints"), (p) => this.createWebhookEndpoint(p)],
      ["GET", r("/v1/webhook_endpoints"), (p) => this.list(this.all("webhook_endpoint"), p, "/v1/webhook_endpoints")],
      ["POST", r(`/v1/webhook_endpoints/${id}`), (p, m) => this.view(this.updateWebhookEndpoint(m[1]!, p))],
      ["DELETE", r(`/v1/webhook_endpoints/${id}`), (_, m) => this.deleteObject("webhook_endpoint", m[1]!)],
      ["POST", r(`/_emulator/subscriptions/${id}/bill`), (p, m) => this.billSubscription(m[1]!, { finalize: p.finalize !== "false" })],
      ["POST", r(`/_emulator/charges/${id}/dispute`), (p, m) => this.disputeCharge(m[1]!, str(p.reason) ?? "fraudulent")],
      ["POST", r(`/_emulator/events/${id}/deliver`), async (_, m) => ({ statuses: await this.deliver(m[1]!) })],
      ["POST", r("/_emulator/clock/advance"), (p) => this.advanceClock(p)],
    ];
  }

  // ---- customers ----

  private createCustomer(p: FormObject): Obj {
    allow(p, ["name", "email", "metadata", "address", "description", "expand", "invoice_settings", "tax"]);
    const customer = this.create("customer", {
      address: null,
      balance: 0,
      currency: null,
      default_source: null,
      delinquent: false,
      description: str(p.description) ?? null,
      email: str(p.email) ?? null,
      invoice_prefix: token(8).toUpperCase(),
      invoice_settings: { custom_fields: null, default_payment_method: null, footer: null, rendering_options: null },
      metadata: {},
      name: str(p.name) ?? null,
      phone: null,
      preferred_locales: [],
      shipping: null,
      tax_exempt: "none",
      test_clock: null,
    });
    this.applyCustomerChanges(customer, p);
    this.indexedAt.set(customer.id, this.now());
    this.emit("customer.created", customer);
    return customer;
  }

  private updateCustomer(id: string, p: FormObject): Obj {
    allow(p, ["name", "email", "metadata", "address", "description", "expand", "invoice_settings", "tax"]);
    const customer = this.get("customer", id);
    const before = structuredClone(customer);
    this.applyCustomerChanges(customer, p);
    this.emit("customer.updated", customer, changedFields(before, customer));
    return customer;
  }

  private applyCustomerChanges(customer: Obj, p: FormObject): void {
    for (const field of ["name", "email", "description"]) if (p[field] !== undefined) customer[field] = str(p[field]) || null;
    if (p.metadata !== undefined) mergeMetadata(customer.metadata, p.metadata, "metadata");
    if (p.address !== undefined) {
      const address = typeof p.address === "object" && !Array.isArray(p.address) ? p.address : {};
      customer.address = ["city", "country", "line1", "line2", "postal_code", "state"].reduce<Obj>(
        (out, field) => ({ ...out, [field]: str(address[field]) ?? null }),
        {},
      );
      if (str(p.address) === "") customer.address = null;
    }
    const settings = p.invoice_settings;
    if (settings && typeof settings === "object" && !Array.isArray(settings) && settings.default_payment_method !== undefined) {
      const methodId = str(settings.default_payment_method) ?? "";
      if (methodId !== "") {
        const method = this.objects.get(methodId);
        if (!method || method.customer !== customer.id) {
          throw invalid(`The customer does not have a payment method with the ID ${methodId}. The payment method must be attached to the customer.`, "invoice_settings[default_payment_method]");
        }
      }
      customer.invoice_settings.default_payment_method = methodId || null;
    }
  }

  private deleteCustomer(id: string): Obj {
    const customer = this.get("customer", id);
    // The event carries the customer as it was (Stripe's has no `deleted` flag in it).
    this.emit("customer.deleted", customer);
    customer.deleted = true;
    return { id, object: "customer", deleted: true };
  }

  /**
   * Stripe's search, for customers: `metadata['key']:'value'`, `email:'x'`, `name:'x'` (exact) and
   * `created>n` style clauses, joined by AND or by OR (not mixed, as in Stripe). Like Stripe's, results
   * come in no promised order (here: oldest first, unlike lists), in pages linked by `next_page`
   * (`page=`), and a new customer becomes searchable only `searchIndexDelaySeconds` after it
   * was created (Stripe: "under a minute"); deleted customers are never found.
   */
  private searchCustomers(p: FormObject): Obj {
    allow(p, ["query", "limit", "page", "expand"]);
    const query = required(p, "query");
    const clause = /^\s*(-)?(metadata\[['"]([^'"]+)['"]\]|email|name|created)\s*(:|>=|<=|>|<)\s*('((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"|(\d+))\s*/;
    const conditions: Array<(customer: Obj) => boolean> = [];
    const joins = new Set<string>();
    let rest = query;
    const unsupported = () => invalid(`The search query is invalid or unsupported by the emulator: ${query}`, "query");
    while (rest.length > 0) {
      const match = clause.exec(rest);
      if (!match) throw unsupported();
      const [, negate, field, metadataKey, operator, , single, double, number] = match;
      const value = (single ?? double ?? number ?? "").replace(/\\(.)/g, "$1");
      let test: (customer: Obj) => boolean;
      if (field === "created") {
        if (number === undefined || operator === ":") throw unsupported();
        const n = Number(number);
        test = (c) => (operator === ">" ? c.created > n : operator === ">=" ? c.created >= n : operator === "<" ? c.created < n : c.created <= n);
      } else {
        if (operator !== ":") throw unsupported();
        test = (c) => (metadataKey !== undefined ? c.metadata[metadataKey] === value : c[field!] === value);
      }
      conditions.push(negate ? (c) => !test(c) : test);
      rest = rest.slice(match[0].length);
      const join = /^(AND|OR)\s+/.exec(rest);
      if (join) {
        joins.add(join[1]!);
        rest = rest.slice(join[0].length);
        if (rest.length === 0) throw unsupported();
      } else if (rest.length > 0) throw unsupported();
    }
    if (joins.size > 1) throw invalid("Search queries cannot mix AND and OR.", "query");
    const any = joins.has("OR");
    const limit = Number(str(p.limit) ?? 10);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw invalid("Limit must be between 1 and 100.", "limit");
    const pageToken = str(p.page);
    const offset = pageToken === undefined ? 0 : Number(Buffer.from(pageToken, "base64url").toString("utf8").replace(/^offset:/, ""));
    if (!Number.isInteger(offset) || offset < 0) throw invalid("Invalid page token.", "page");
    const searchableBefore = this.now() - this.searchIndexDelaySeconds;
    const found = [...this.all("customer")]
      .reverse()
      .filter((c) => !c.deleted && (this.indexedAt.get(c.id) ?? c.created) <= searchableBefore)
      .filter((c) => (any ? conditions.some((condition) => condition(c)) : conditions.every((condition) => condition(c))));
    const page = found.slice(offset, offset + limit);
    const more = offset + limit < found.length;
    return {
      object: "search_result",
      data: page.map((c) => this.view(c)),
      has_more: more,
      next_page: more ? Buffer.from(`offset:${offset + limit}`, "utf8").toString("base64url") : null,
      url: "/v1/customers/search",
    };
  }

  /** Stripe Tax can place a customer with a country (and, in the US, a postal code). */
  private taxOf(customer: Obj): Obj {
    const address = customer.address;
    const country = address?.country ?? null;
    const placed = typeof country === "string" && /^[A-Z]{2}$/.test(country) && country !== "XX" && (country !== "US" || !!address.postal_code);
    return {
      automatic_tax: placed ? "supported" : "unrecognized_location",
      ip_address: null,
      location: placed ? { country, source: "billing_address", state: address.state ?? null } : null,
      provider: "stripe",
    };
  }

  // ---- payment methods and intents ----

  private paymentMethod(id: string): Obj {
    const card = testCards[id];
    if (card && !this.objects.has(id)) {
      return {
        id,
        object: "payment_method",
        allow_redisplay: "unspecified",
        billing_details: noBillingDetails(),
        card: cardDetails(card),
        created: this.now(),
        customer: null,
        customer_account: null,
        livemode: false,
        metadata: {},
        type: "card",
      };
    }
    return this.get("payment_method", id);
  }

  /** A test token becomes a new payment method, as in Stripe; a real id is looked up. */
  private materialize(id: string): Obj {
    const card = testCards[id];
    if (!card) return this.get("payment_method", id);
    return this.create("payment_method", {
      allow_redisplay: "unspecified",
      billing_details: noBillingDetails(),
      card: cardDetails(card),
      customer: null,
      customer_account: null,
      metadata: {},
      type: "card",
      declines: card.declines,
    });
  }

  /** The card holder's details, as a browser sends them with the card (billing_details). */
  private updatePaymentMethod(id: string, p: FormObject): Obj {
    allow(p, ["billing_details", "metadata", "expand"]);
    const method = this.get("payment_method", id);
    if (!method.customer) throw invalid("You must save this PaymentMethod to a customer before you can update it.");
    const details = p.billing_details;
    if (details !== undefined) {
      if (typeof details !== "object" || Array.isArray(details)) throw invalid("Invalid object", "billing_details");
      for (const field of ["email", "name", "phone", "tax_id"]) if (details[field] !== undefined) method.billing_details[field] = str(details[field]) || null;
      if (details.address !== undefined) {
        const address = typeof details.address === "object" && !Array.isArray(details.address) ? details.address : {};
        method.billing_details.address = ["city", "country", "line1", "line2", "postal_code", "state"].reduce<Obj>(
          (out, field) => ({ ...out, [field]: str(address[field]) ?? null }),
          {},
        );
      }
    }
    if (p.metadata !== undefined) mergeMetadata(method.metadata, p.metadata, "metadata");
    this.emit("payment_method.updated", method);
    return method;
  }

  private attachPaymentMethod(id: string, p: FormObject): Obj {
    allow(p, ["customer", "expand"]);
    const customer = this.get("customer", required(p, "customer"), { param: "customer" });
    const method = this.materialize(id);
    if (method.customer && method.customer !== customer.id) {
      throw invalid("This PaymentMethod was previously used without being attached to a Customer or was detached from a Customer, and may not be used again.");
    }
    method.customer = customer.id;
    this.emit("payment_method.attached", method);
    return method;
  }

  private createPaymentIntent(p: FormObject): Obj {
    allow(p, ["amount", "currency", "customer", "capture_method", "allowed_payment_method_types", "setup_future_usage", "description", "metadata", "payment_method", "confirm", "expand"]);
    const amount = Number(required(p, "amount"));
    if (!Number.isInteger(amount) || amount < 50) throw invalid("Amount must be at least 50 cents", "amount", "amount_too_small");
    const customer = p.customer === undefined ? null : this.get("customer", str(p.customer)!, { param: "customer" }).id;
    const id = this.newId("payment_intent");
    const intent = this.create(
      "payment_intent",
      {
        ...paymentIntentDefaults(),
        amount,
        capture_method: str(p.capture_method) ?? "automatic_async",
        client_secret: `${id}_secret_${token(24)}`,
        currency: required(p, "currency").toLowerCase(),
        customer,
        description: str(p.description) ?? null,
        allowed_payment_method_types: p.allowed_payment_method_types === undefined ? null : toStringList(p.allowed_payment_method_types, "allowed_payment_method_types"),
        payment_method_types: toStringList(p.allowed_payment_method_types ?? ["card"], "allowed_payment_method_types"),
        setup_future_usage: str(p.setup_future_usage) ?? null,
      },
      id,
    );
    if (p.metadata !== undefined) mergeMetadata(intent.metadata, p.metadata, "metadata");
    if (p.payment_method !== undefined) {
      intent.payment_method = this.materialize(str(p.payment_method)!).id;
      intent.status = "requires_confirmation";
    }
    this.emit("payment_intent.created", intent);
    if (p.confirm === "true") this.confirmPaymentIntent(intent.id, {});
    return intent;
  }

  private confirmPaymentIntent(id: string, p: FormObject): Obj {
    allow(p, ["payment_method", "expand", "return_url"]);
    const intent = this.get("payment_intent", id);
    if (!["requires_payment_method", "requires_confirmation", "requires_action"].includes(intent.status)) {
      throw invalid(`This PaymentIntent's status is ${intent.status}, but it must be requires_payment_method, requires_confirmation or requires_action to be confirmed.`, undefined, "payment_intent_unexpected_state");
    }
    if (p.payment_method !== undefined) intent.payment_method = this.materialize(str(p.payment_method)!).id;
    if (!intent.payment_method) throw invalid("You cannot confirm this PaymentIntent because it's missing a payment method.", "payment_method");
    const method = this.get("payment_method", intent.payment_method);
    if (method.declines) {
      intent.status = "requires_payment_method";
      intent.last_payment_error = { code: "card_declined", decline_code: "generic_decline", message: "Your card was declined.", type: "card_error" };
      this.emit("payment_intent.payment_failed", intent);
      throw new StripeApiError(402, "card_error", "Your card was declined.", {
        code: "card_declined",
        decline_code: "generic_decline",
        payment_intent: this.view(intent),
      });
    }
    if (intent.setup_future_usage && intent.customer && !method.customer) method.customer = intent.customer;
    const manual = intent.capture_method === "manual";
    const charge = this.createCharge(intent, !manual);
    intent.latest_charge = charge.id;
    intent.last_payment_error = null;
    intent.status = manual ? "requires_capture" : "succeeded";
    intent.amount_capturable = manual ? intent.amount : 0;
    intent.amount_received = manual ? 0 : intent.amount;
    this.emit(manual ? "payment_intent.amount_capturable_updated" : "payment_intent.succeeded", intent);
    return intent;
  }

  private cancelPaymentIntent(id: string, p: FormObject): Obj {
    allow(p, ["cancellation_reason", "expand"]);
    const intent = this.get("payment_intent", id);
    if (intent.status === "succeeded" || intent.status === "canceled") {
      throw invalid(`You cannot cancel this PaymentIntent because it has a status of ${intent.status}.`, undefined, "payment_intent_unexpected_state");
    }
    intent.status = "canceled";
    intent.canceled_at = this.now();
    // Releasing an authorization refunds its uncaptured charge, as Stripe shows it.
    if (intent.latest_charge) {
      const charge = this.get("charge", intent.latest_charge);
      if (!charge.captured) {
        charge.refunded = true;
        charge.amount_refunded = charge.amount;
      }
    }
    intent.cancellation_reason = str(p.cancellation_reason) ?? "requested_by_customer";
    intent.amount_capturable = 0;
    this.emit("payment_intent.canceled", intent);
    return intent;
  }

  private capturePaymentIntent(id: string, p: FormObject): Obj {
    allow(p, ["amount_to_capture", "expand"]);
    const intent = this.get("payment_intent", id);
    if (intent.status !== "requires_capture") {
      throw invalid(`This PaymentIntent could not be captured because it has a status of ${intent.status}.`, undefined, "payment_intent_unexpected_state");
    }
    intent.status = "succeeded";
    intent.amount_received = intent.amount;
    intent.amount_capturable = 0;
    const charge = this.get("charge", intent.latest_charge);
    charge.captured = true;
    charge.amount_captured = charge.amount;
    this.emit("payment_intent.succeeded", intent);
    return intent;
  }

  private createCharge(intent: Obj, captured: boolean): Obj {
    const method = this.get("payment_method", intent.payment_method);
    return this.create("charge", {
      amount: intent.amount,
      amount_captured: captured ? intent.amount : 0,
      amount_refunded: 0,
      application: null,
      application_fee: null,
      application_fee_amount: null,
      balance_transaction: captured ? `txn_${token(14)}` : null,
      billing_details: structuredClone(method.billing_details),
      calculated_statement_descriptor: "STRIPE EMULATOR",
      captured,
      currency: intent.currency,
      customer: intent.customer,
      description: intent.description,
      disputed: false,
      failure_balance_transaction: null,
      failure_code: null,
      failure_message: null,
      fraud_details: {},
      metadata: {},
      on_behalf_of: null,
      outcome: {
        advice_code: null,
        network_advice_code: null,
        network_decline_code: null,
        network_status: "approved_by_network",
        reason: null,
        risk_level: "normal",
        risk_score: 20,
        seller_message: "Payment complete.",
        type: "authorized",
      },
      paid: true,
      payment_intent: intent.id,
      payment_method: intent.payment_method,
      // An uncaptured card authorization can be captured for 7 days.
      payment_method_details: { card: chargeCardDetails(method.card, captured ? undefined : this.now() + 7 * 86_400), type: "card" },
      receipt_email: null,
      receipt_number: null,
      receipt_url: null,
      refunded: false,
      review: null,
      shipping: null,
      source: null,
      source_transfer: null,
      statement_descriptor: null,
      statement_descriptor_suffix: null,
      status: "succeeded",
      transfer_data: null,
      transfer_group: null,
    });
  }

  // ---- products, prices, meters ----

  private createProduct(p: FormObject): Obj {
    allow(p, ["name", "metadata", "expand"]);
    const product = this.create("product", {
      active: true,
      default_price: null,
      description: null,
      images: [],
      marketing_features: [],
      metadata: {},
      name: required(p, "name"),
      package_dimensions: null,
      shippable: null,
      statement_descriptor: null,
      tax_code: null,
      tax_details: null,
      type: "service",
      unit_label: null,
      updated: this.now(),
      url: null,
    });
    if (p.metadata !== undefined) mergeMetadata(product.metadata, p.metadata, "metadata");
    return product;
  }

  private createPrice(p: FormObject): Obj {
    allow(p, ["currency", "unit_amount", "unit_amount_decimal", "recurring", "product", "product_data", "nickname", "metadata", "expand"]);
    let productId = str(p.product);
    if (productId) this.get("product", productId, { param: "product" });
    else if (p.product_data && typeof p.product_data === "object" && !Array.isArray(p.product_data)) {
      productId = this.createProduct({ name: str(p.product_data.name) ?? "" }).id;
    } else throw invalid("Missing required param: product.", "product");
    const recurring = p.recurring && typeof p.recurring === "object" && !Array.isArray(p.recurring) ? p.recurring : undefined;
    const meter = str(recurring?.meter);
    if (meter) this.get("billing.meter", meter, { param: "recurring[meter]" });
    const usageType = str(recurring?.usage_type) ?? "licensed";
    if (usageType === "metered" && !meter) throw invalid("A meter is required for metered prices.", "recurring[meter]");
    const decimal = str(p.unit_amount_decimal) ?? str(p.unit_amount);
    if (decimal === undefined) throw invalid("Missing required param: unit_amount.", "unit_amount");
    const price = this.create("price", {
      active: true,
      billing_scheme: "per_unit",
      currency: required(p, "currency").toLowerCase(),
      custom_unit_amount: null,
      lookup_key: null,
      metadata: {},
      nickname: str(p.nickname) ?? null,
      product: productId,
      recurring: recurring
        ? { interval: str(recurring.interval) ?? "month", interval_count: 1, meter: meter ?? null, trial_period_days: null, usage_type: usageType }
        : null,
      tax_behavior: "unspecified",
      tiers_mode: null,
      transform_quantity: null,
      type: recurring ? "recurring" : "one_time",
      unit_amount: Number.isInteger(Number(decimal)) ? Number(decimal) : null,
      unit_amount_decimal: decimal,
    });
    if (p.metadata !== undefined) mergeMetadata(price.metadata, p.metadata, "metadata");
    return price;
  }

  private createMeter(p: FormObject): Obj {
    allow(p, ["display_name", "event_name", "default_aggregation", "customer_mapping", "value_settings", "event_time_window", "expand"]);
    const eventName = required(p, "event_name");
    if (this.all("billing.meter").some((m) => m.event_name === eventName && m.status === "active")) {
      throw invalid(`An active meter with event_name ${eventName} already exists.`, "event_name");
    }
    const aggregation = p.default_aggregation as FormObject | undefined;
    const formula = str(aggregation?.formula);
    if (!formula || !["sum", "count", "last"].includes(formula)) throw invalid("Invalid default_aggregation[formula].", "default_aggregation[formula]");
    const mapping = (p.customer_mapping ?? {}) as FormObject;
    const valueSettings = (p.value_settings ?? {}) as FormObject;
    return this.create("billing.meter", {
      customer_mapping: { event_payload_key: str(mapping.event_payload_key) ?? "stripe_customer_id", type: "by_id" },
      default_aggregation: { formula },
      display_name: required(p, "display_name"),
      event_name: eventName,
      event_time_window: str(p.event_time_window) ?? null,
      status: "active",
      status_transitions: { deactivated_at: null },
      updated: this.now(),
      value_settings: { event_payload_key: str(valueSettings.event_payload_key) ?? "value" },
    });
  }

  private createMeterEvent(p: FormObject): Obj {
    allow(p, ["event_name", "payload", "identifier", "timestamp", "expand"]);
    const eventName = required(p, "event_name");
    const meter = this.all("billing.meter").find((m) => m.event_name === eventName && m.status === "active");
    if (!meter) throw invalid(`No active meter was found for event_name ${eventName}.`, "event_name");
    const payload = (p.payload ?? {}) as FormObject;
    const customerId = str(payload[meter.customer_mapping.event_payload_key]);
    if (!customerId) throw invalid(`Missing ${meter.customer_mapping.event_payload_key} in payload.`, "payload");
    this.get("customer", customerId, { param: `payload[${meter.customer_mapping.event_payload_key}]` });
    const valueText = str(payload[meter.value_settings.event_payload_key]) ?? "";
    if (!/^-?\d+(\.\d+)?$/.test(valueText)) throw invalid(`The value ${valueText} must be a number.`, "payload");
    const now = this.now();
    const timestamp = p.timestamp === undefined ? now : Number(p.timestamp);
    if (!Number.isInteger(timestamp) || timestamp < now - 35 * 86_400 || timestamp > now + 300) {
      throw invalid("Timestamp must be within the past 35 calendar days or up to 5 minutes in the future.", "timestamp");
    }
    const identifier = str(p.identifier) ?? `emu_${token(20)}`;
    const duplicate = this.meterEvents.find((e) => e.identifier === identifier && e.created > now - 86_400);
    if (duplicate) throw invalid(`A meter event with identifier ${identifier} already exists.`, "identifier", "resource_already_exists");
    const event = {
      object: "billing.meter_event",
      created: now,
      event_name: eventName,
      identifier,
      livemode: false,
      payload: { ...payload },
      timestamp,
    };
    this.meterEvents.push({ ...event, meter: meter.id, customer: customerId, value: Number(valueText), sequence: this.nextSequence++ });
    return event;
  }

  /** The meter's aggregate for a customer over [start, end). */
  private meteredQuantity(meter: Obj, customerId: string, start: number, end: number): number {
    const events = this.meterEvents
      .filter((e) => e.meter === meter.id && e.customer === customerId && e.timestamp >= start && e.timestamp < end)
      .sort((a, b) => a.timestamp - b.timestamp || a.sequence - b.sequence);
    switch (meter.default_aggregation.formula) {
      case "count":
        return events.length;
      case "last":
        return events.length === 0 ? 0 : Math.max(0, events[events.length - 1]!.value);
      default:
        return Math.max(0, events.reduce((sum, e) => sum + e.value, 0));
    }
  }

  // ---- subscriptions ----

  private createSubscription(p: FormObject): Obj {
    allow(p, ["customer", "items", "automatic_tax", "metadata", "default_payment_method", "collection_method", "expand"]);
    const customer = this.get("customer", required(p, "customer"), { param: "customer" });
    const items = Array.isArray(p.items) ? p.items : [];
    if (items.length !== 1) throw invalid("The emulator supports subscriptions with exactly one item.", "items");
    const priceId = str((items[0] as FormObject).price);
    if (!priceId) throw invalid("Missing required param: items[0][price].", "items[0][price]");
    const price = this.get("price", priceId, { param: "items[0][price]" });
    if (!price.recurring) throw invalid(`The price specified (${priceId}) is not recurring.`, "items[0][price]");
    const automaticTax = boolParam((p.automatic_tax as FormObject | undefined)?.enabled, false);
    if (automaticTax) this.requireTaxLocation(customer);
    const now = this.now();
    const id = this.newId("subscription");
    const item = this.create("subscription_item", {
      billing_thresholds: null,
      current_period_end: addInterval(now, price.recurring.interval),
      current_period_start: now,
      current_trial: null,
      discounts: [],
      metadata: {},
      plan: planOf(price),
      price: this.view(price),
      subscription: id,
      tax_rates: [],
    });
    delete item.livemode; // a subscription item has none
    const subscription = this.create(
      "subscription",
      {
        application: null,
        application_fee_percent: null,
        automatic_tax: { disabled_reason: null, enabled: automaticTax, liability: automaticTax ? { type: "self" } : null },
        billing_cycle_anchor: now,
        billing_cycle_anchor_config: null,
        billing_mode: { flexible: null, type: "classic" },
        billing_schedules: [],
        billing_thresholds: null,
        cancel_at: null,
        cancel_at_period_end: false,
        canceled_at: null,
        cancellation_details: { comment: null, feedback: null, feedback_option: null, reason: null },
        collection_method: str(p.collection_method) ?? "charge_automatically",
        currency: price.currency,
        customer: customer.id,
        customer_account: null,
        days_until_due: null,
        default_payment_method: str(p.default_payment_method) ?? null,
        default_source: null,
        description: null,
        discounts: [],
        ended_at: null,
        invoice_settings: { account_tax_ids: null, custom_fields: null, description: null, footer: null, issuer: { type: "self" } },
        items: { object: "list", data: [item], has_more: false, total_count: 1, url: `/v1/subscription_items?subscription=${id}` },
        latest_invoice: null,
        managed_payments: null,
        metadata: {},
        next_pending_invoice_item_invoice: null,
        on_behalf_of: null,
        pause_collection: null,
        payment_settings: { payment_method_options: null, payment_method_types: null, save_default_payment_method: "off" },
        pending_invoice_item_interval: null,
        pending_setup_intent: null,
        pending_update: null,
        schedule: null,
        start_date: now,
        status: "active",
        test_clock: null,
        transfer_data: null,
        trial_end: null,
        trial_settings: { end_behavior: { billing_cycle_anchor: null, missing_payment_method: "create_invoice" } },
        trial_start: null,
      },
      id,
    );
    if (p.metadata !== undefined) mergeMetadata(subscription.metadata, p.metadata, "metadata");
    this.emit("customer.subscription.created", subscription);
    // Like Stripe, the first invoice is made, finalized and paid at once (nothing due for a metered price).
    const first = this.invoiceForPeriod(subscription, item.current_period_start, item.current_period_end, "subscription_create");
    subscription.latest_invoice = first.id;
    this.finalizeAndPay(first);
    return subscription;
  }

  private listSubscriptions(p: FormObject): Obj {
    const status = str(p.status);
    const customer = str(p.customer);
    const found = this.all("subscription").filter(
      (s) =>
        (!customer || s.customer === customer) &&
        (status === "all" || (status ? s.status === status : s.status !== "canceled" && s.status !== "incomplete_expired")),
    );
    return this.list(found, p, "/v1/subscriptions");
  }

  private updateSubscription(id: string, p: FormObject): Obj {
    allow(p, ["automatic_tax", "metadata", "default_payment_method", "cancel_at_period_end", "items", "proration_behavior", "expand"]);
    const subscription = this.get("subscription", id);
    if (subscription.status === "canceled") throw invalid("A canceled subscription can only update its cancellation_details and metadata.");
    const before = structuredClone(subscription);
    const proration = p.proration_behavior === undefined ? undefined : str(p.proration_behavior);
    if (proration !== undefined && !["always_invoice", "create_prorations", "none"].includes(proration ?? "")) {
      throw invalid("Invalid proration_behavior: must be one of always_invoice, create_prorations, or none", "proration_behavior");
    }
    if (p.items !== undefined) this.changeSubscriptionItems(subscription, p.items);
    const enabled = (p.automatic_tax as FormObject | undefined)?.enabled;
    if (enabled !== undefined) {
      const on = boolParam(enabled, false);
      if (on) this.requireTaxLocation(this.get("customer", subscription.customer));
      subscription.automatic_tax = { disabled_reason: null, enabled: on, liability: on ? { type: "self" } : null };
    }
    if (p.metadata !== undefined) mergeMetadata(subscription.metadata, p.metadata, "metadata");
    if (p.default_payment_method !== undefined) subscription.default_payment_method = str(p.default_payment_method) || null;
    if (p.cancel_at_period_end !== undefined) subscription.cancel_at_period_end = boolParam(p.cancel_at_period_end, false);
    this.emit("customer.subscription.updated", subscription, changedFields(before, subscription));
    return subscription;
  }

  /**
   * `items[n][id]` with `items[n][price]`: the item moves to the price, keeping its id and period, as
   * Stripe does. All items are checked before any changes. Proration is not emulated (Tally moves
   * metered prices with proration_behavior=none, where Stripe prorates nothing either).
   */
  private changeSubscriptionItems(subscription: Obj, items: unknown): void {
    if (!Array.isArray(items)) throw invalid("Invalid array", "items");
    const changes = items.map((entry, index) => {
      const item = entry as FormObject;
      allow(item, ["id", "price"]);
      const itemId = str(item.id);
      if (!itemId) throw invalid("The emulator only changes the price of an existing item: items[n][id] is required.", `items[${index}][id]`);
      const existing = subscription.items.data.find((candidate: Obj) => candidate.id === itemId);
      if (!existing) throw new StripeApiError(400, "invalid_request_error", `No such subscription item: '${itemId}'`, { code: "resource_missing", param: `items[${index}][id]` });
      const priceId = str(item.price);
      if (!priceId) return undefined;
      const param = `items[${index}][price]`;
      const price = this.objects.get(priceId);
      if (!price || price.object !== "price" || price.deleted) {
        throw new StripeApiError(400, "invalid_request_error", `No such price: '${priceId}'`, { code: "resource_missing", param });
      }
      if (!price.recurring) throw invalid(`The price specified (${priceId}) is not recurring.`, param);
      if (price.recurring.usage_type === "metered" && !price.recurring.meter) {
        throw invalid(`The price specified (${priceId}) is a legacy usage-based price without a meter; it can no longer be added to subscriptions.`, param);
      }
      if (price.currency !== subscription.currency) {
        throw invalid(`The price specified (${priceId}) is in ${price.currency}, the subscription in ${subscription.currency}: all prices of a subscription share its currency.`, param);
      }
      return { existing, price };
    });
    for (const change of changes) {
      if (!change) continue;
      change.existing.price = this.view(change.price);
      change.existing.plan = planOf(change.price);
    }
  }

  private cancelSubscription(id: string, p: FormObject): Obj {
    allow(p, ["invoice_now", "prorate", "cancellation_details", "expand"]);
    const subscription = this.get("subscription", id);
    if (subscription.status === "canceled") throw invalid(`No such subscription: '${id}' is already canceled.`, "subscription", "resource_missing");
    const now = this.now();
    if (boolParam(p.invoice_now, false)) {
      const item = subscription.items.data[0];
      const invoice = this.invoiceForPeriod(subscription, item.current_period_start, now, "subscription_cycle");
      this.finalizeAndPay(invoice);
    }
    subscription.status = "canceled";
    subscription.canceled_at = now;
    subscription.ended_at = now;
    subscription.cancellation_details = { comment: null, feedback: null, feedback_option: null, reason: "cancellation_requested" };
    this.emit("customer.subscription.deleted", subscription);
    return subscription;
  }

  private requireTaxLocation(customer: Obj): void {
    if (this.taxOf(customer).automatic_tax !== "supported") {
      throw invalid(
        "The customer's location isn't recognized. Automatic tax calculation requires a valid customer address.",
        "automatic_tax[enabled]",
        "customer_tax_location_invalid",
      );
    }
  }

  // ---- invoices ----

  private createInvoice(p: FormObject): Obj {
    allow(p, ["customer", "auto_advance", "collection_method", "description", "metadata", "expand"]);
    const customer = this.get("customer", required(p, "customer"), { param: "customer" });
    const now = this.now();
    const invoice = this.newInvoice(customer, null, now, now, "manual", []);
    invoice.auto_advance = boolParam(p.auto_advance, false);
    if (p.metadata !== undefined) mergeMetadata(invoice.metadata, p.metadata, "metadata");
    this.emit("invoice.created", invoice);
    return invoice;
  }

  private invoiceForPeriod(subscription: Obj, start: number, end: number, reason: string): Obj {
    const customer = this.get("customer", subscription.customer);
    const item = subscription.items.data[0];
    const price = item.price;
    const meter = price.recurring.meter ? this.get("billing.meter", price.recurring.meter) : undefined;
    // The first invoice (subscription_create) bills a metered price's usage of nothing yet: quantity 0,
    // its line spanning the coming period, the invoice's own period an instant.
    const opening = reason === "subscription_create";
    const quantity = meter ? (opening ? 0 : this.meteredQuantity(meter, customer.id, start, end)) : 1;
    const invoiceId = this.newId("invoice");
    const unit = Number(price.unit_amount_decimal);
    const amount = Math.round(quantity * unit);
    const line = this.create("line_item", {
      amount,
      currency: price.currency,
      description: `${quantity} × ${this.objects.get(price.product)?.name ?? "Usage"} (at ${price.unit_amount_decimal} per unit)`,
      discount_amounts: [],
      discountable: true,
      discounts: [],
      invoice: invoiceId,
      metadata: {},
      parent: {
        type: "subscription_item_details",
        invoice_item_details: null,
        subscription_item_details: { invoice_item: null, proration: false, proration_details: { credited_items: null }, subscription: subscription.id, subscription_item: item.id },
      },
      period: { start, end },
      pretax_credit_amounts: [],
      pricing: { type: "price_details", price_details: { price: price.id, product: price.product }, unit_amount_decimal: price.unit_amount_decimal },
      quantity: Number.isInteger(quantity) ? quantity : null,
      quantity_decimal: String(quantity),
      subscription: subscription.id,
      subtotal: amount,
      taxes: [],
    });
    delete line.created; // a line item has none
    const invoice = this.newInvoice(customer, subscription, start, opening ? start : end, reason, [line], invoiceId);
    this.emit("invoice.created", invoice);
    return invoice;
  }

  private newInvoice(customer: Obj, subscription: Obj | null, start: number, end: number, reason: string, lines: Obj[], id?: string): Obj {
    const total = lines.reduce((sum, line) => sum + line.amount, 0);
    return this.create(
      "invoice",
      {
        account_country: "DE",
        account_name: "Stripe emulator",
        account_tax_ids: null,
        amount_due: total,
        amount_overpaid: 0,
        amount_paid: 0,
        amount_remaining: total,
        amount_shipping: 0,
        application: null,
        attempt_count: 0,
        attempted: false,
        auto_advance: true,
        automatic_tax: {
          disabled_reason: null,
          enabled: subscription?.automatic_tax.enabled ?? false,
          liability: subscription?.automatic_tax.enabled ? { type: "self" } : null,
          provider: subscription?.automatic_tax.enabled ? "stripe" : null,
          status: subscription?.automatic_tax.enabled ? "complete" : null,
        },
        automatically_finalizes_at: null,
        billing_reason: reason,
        collection_method: "charge_automatically",
        currency: subscription?.currency ?? "usd",
        custom_fields: null,
        customer: customer.id,
        customer_account: null,
        customer_address: customer.address ? structuredClone(customer.address) : null,
        customer_email: customer.email,
        customer_name: customer.name,
        customer_phone: customer.phone,
        customer_shipping: null,
        customer_tax_exempt: customer.tax_exempt,
        default_payment_method: null,
        default_source: null,
        default_tax_rates: [],
        description: null,
        discounts: [],
        due_date: null,
        effective_at: null,
        ending_balance: null,
        footer: null,
        from_invoice: null,
        issuer: { type: "self" },
        last_finalization_error: null,
        latest_revision: null,
        lines: { object: "list", data: lines, has_more: false, total_count: lines.length, url: `/v1/invoices/${id ?? ""}/lines` },
        metadata: {},
        next_payment_attempt: null,
        number: null,
        on_behalf_of: null,
        parent: subscription
          ? { type: "subscription_details", quote_details: null, subscription_details: { metadata: { ...subscription.metadata }, subscription: subscription.id } }
          : null,
        payment_settings: { default_mandate: null, payment_method_options: null, payment_method_types: null },
        period_end: end,
        period_start: start,
        post_payment_credit_notes_amount: 0,
        pre_payment_credit_notes_amount: 0,
        receipt_number: null,
        rendering: null,
        shipping_cost: null,
        shipping_details: null,
        starting_balance: 0,
        statement_descriptor: null,
        status: "draft",
        status_transitions: { finalized_at: null, marked_uncollectible_at: null, paid_at: null, voided_at: null },
        subtotal: total,
        subtotal_excluding_tax: total,
        test_clock: null,
        total,
        total_discount_amounts: [],
        total_excluding_tax: total,
        total_pretax_credit_amounts: [],
        total_taxes: [],
        webhooks_delivered_at: null,
      },
      id,
    );
  }

  private finalizeInvoice(id: string, p: FormObject): Obj {
    allow(p, ["auto_advance", "expand"]);
    const invoice = this.get("invoice", id);
    if (invoice.status !== "draft") throw invalid(`This invoice is already finalized, you can't re-finalize a non-draft invoice.`, undefined, "invoice_not_editable");
    this.finalize(invoice);
    return invoice;
  }

  private finalize(invoice: Obj): void {
    const now = this.now();
    invoice.status = "open";
    invoice.ending_balance = 0;
    invoice.webhooks_delivered_at ??= now;
    invoice.number = `EMU-${String(++this.invoiceNumber).padStart(4, "0")}`;
    invoice.effective_at = now;
    invoice.status_transitions.finalized_at = now;
    invoice.lines.url = `/v1/invoices/${invoice.id}/lines`;
    this.emit("invoice.finalized", invoice);
  }

  private payInvoice(id: string, p: FormObject): Obj {
    allow(p, ["payment_method", "expand"]);
    const invoice = this.get("invoice", id);
    if (invoice.status !== "open") throw invalid(`Invoice is ${invoice.status}; only open invoices can be paid.`, undefined, "invoice_not_open");
    this.attemptPayment(invoice, str(p.payment_method));
    return invoice;
  }

  private finalizeAndPay(invoice: Obj): void {
    this.finalize(invoice);
    this.attemptPayment(invoice, undefined);
  }

  /** Free invoices are paid at once; others with the given or the customer's default payment method. */
  private attemptPayment(invoice: Obj, methodId: string | undefined): void {
    const now = this.now();
    const customer = this.get("customer", invoice.customer);
    const method = methodId ?? customer.invoice_settings.default_payment_method;
    if (invoice.amount_due > 0) {
      if (!method) return;
      invoice.attempt_count += 1;
      invoice.attempted = true;
      const intent = this.create("payment_intent", {
        ...paymentIntentDefaults(),
        amount: invoice.amount_due,
        amount_received: invoice.amount_due,
        capture_method: "automatic",
        client_secret: `pi_secret_${token(24)}`,
        currency: invoice.currency,
        customer: customer.id,
        description: `Payment for invoice ${invoice.number}`,
        payment_method: method,
        status: "succeeded",
      });
      if (this.get("payment_method", method).declines) {
        intent.status = "requires_payment_method";
        this.emit("invoice.payment_failed", invoice);
        return;
      }
      intent.latest_charge = this.createCharge(intent, true).id;
      invoice.amount_paid = invoice.amount_due;
      invoice.amount_remaining = 0;
    }
    invoice.status = "paid";
    invoice.status_transitions.paid_at = now;
    this.emit("invoice.paid", invoice);
  }

  private listInvoices(p: FormObject): Obj {
    const customer = str(p.customer);
    const subscription = str(p.subscription);
    const status = str(p.status);
    const created = (p.created ?? {}) as FormObject;
    const gte = str(created.gte) === undefined ? -Infinity : Number(str(created.gte));
    const lt = str(created.lt) === undefined ? Infinity : Number(str(created.lt));
    const found = this.all("invoice").filter(
      (invoice) =>
        (!customer || invoice.customer === customer) &&
        (!subscription || invoice.parent?.subscription_details?.subscription === subscription) &&
        (!status || invoice.status === status) &&
        invoice.created >= gte &&
        invoice.created < lt,
    );
    return this.list(found, p, "/v1/invoices");
  }

  // ---- events and webhooks ----

  private createWebhookEndpoint(p: FormObject): Obj {
    allow(p, ["url", "enabled_events", "description", "api_version", "metadata", "expand"]);
    const url = required(p, "url");
    const endpoint = this.create("webhook_endpoint", {
      api_version: str(p.api_version) ?? stripeApiVersion,
      application: null,
      description: str(p.description) ?? null,
      enabled_events: toStringList(p.enabled_events ?? ["*"], "enabled_events"),
      metadata: {},
      status: "enabled",
      url,
    });
    return { ...this.view(endpoint), secret: this.webhookSecret };
  }

  private updateWebhookEndpoint(id: string, p: FormObject): Obj {
    allow(p, ["url", "enabled_events", "disabled", "description", "metadata", "expand"]);
    const endpoint = this.get("webhook_endpoint", id);
    if (p.url !== undefined) endpoint.url = str(p.url);
    if (p.enabled_events !== undefined) endpoint.enabled_events = toStringList(p.enabled_events, "enabled_events");
    if (p.disabled !== undefined) endpoint.status = boolParam(p.disabled, false) ? "disabled" : "enabled";
    return endpoint;
  }

  private endpointsFor(type: string): Obj[] {
    return this.all("webhook_endpoint").filter(
      (endpoint) => !endpoint.deleted && endpoint.status === "enabled" && (endpoint.enabled_events.includes("*") || endpoint.enabled_events.includes(type)),
    );
  }

  private emit(type: string, object: Obj, previous?: Obj): void {
    const endpoints = this.endpointsFor(type);
    const event = this.create("event", {
      api_version: stripeApiVersion,
      data: { object: this.view(object), ...(previous && Object.keys(previous).length > 0 ? { previous_attributes: previous } : {}) },
      pending_webhooks: endpoints.length,
      request: { id: null, idempotency_key: null },
      type,
    });
    if (!this.deliverWebhooks) return;
    for (const endpoint of endpoints) void this.post(event, endpoint.url);
  }

  private post(event: Obj, url: string): Promise<number> {
    const payload = JSON.stringify(this.view(event), null, 2);
    const signature = Stripe.webhooks.generateTestHeaderString({ payload, secret: this.webhookSecret, timestamp: this.now() });
    const delivery = fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json; charset=utf-8", "stripe-signature": signature, "user-agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)" },
      body: payload,
    }).then(
      async (response) => {
        await response.arrayBuffer();
        return response.status;
      },
      () => 0,
    );
    const tracked = delivery.then((status) => {
      this.deliveries.push({ eventId: event.id, type: event.type, url, status });
      return status;
    });
    this.inFlight.add(tracked);
    void tracked.finally(() => this.inFlight.delete(tracked));
    return tracked;
  }

  private advanceClock(p: FormObject): Obj {
    const clock = this.clock as Clock & { advanceMs?: (ms: number) => void };
    if (typeof clock.advanceMs !== "function") throw invalid("This emulator's clock cannot be moved.");
    clock.advanceMs(Number(required(p, "seconds")) * 1000);
    return { now: this.now() };
  }

  // ---- storage, views, lists, expand ----

  private now(): number {
    return Math.floor(this.clock.now().getTime() / 1000);
  }

  private newId(kind: string): string {
    return `${idPrefix[kind] ?? kind}_${token(14)}`;
  }

  private create(kind: string, fields: Obj, id = this.newId(kind)): Obj {
    const object = { id, object: kind, created: this.now(), livemode: false, ...fields };
    this.objects.set(id, object);
    this.sequence.set(id, this.nextSequence++);
    return object;
  }

  private get(kind: string, id: string, options: { param?: string; allowDeleted?: boolean } = {}): Obj {
    const object = this.objects.get(id);
    if (!object || object.object !== kind || (object.deleted && !options.allowDeleted)) {
      throw missing(kind.replace("billing.", "").replace("_", " "), id, options.param);
    }
    if (object.deleted) return { id, object: kind, deleted: true };
    return object;
  }

  private deleteObject(kind: string, id: string): Obj {
    this.get(kind, id).deleted = true;
    return { id, object: kind, deleted: true };
  }

  /** Objects of a kind, newest first (as Stripe lists them). */
  private all(kind: string): Obj[] {
    return [...this.objects.values()]
      .filter((object) => object.object === kind)
      .sort((a, b) => this.sequence.get(b.id)! - this.sequence.get(a.id)!);
  }

  /** A copy for the wire, without emulator-only fields. */
  private view(object: Obj): Obj {
    const copy = structuredClone(object);
    delete copy.declines;
    return copy;
  }

  private list(items: Obj[], p: FormObject, url: string): Obj {
    const limit = Math.min(Math.max(Number(str(p.limit) ?? 10), 1), 100);
    let start = 0;
    const after = str(p.starting_after);
    if (after) start = items.findIndex((item) => item.id === after) + 1;
    const page = items.slice(start, start + limit);
    return { object: "list", data: page.map((item) => this.view(item)), has_more: start + limit < items.length, url };
  }

  private expand(result: Obj, paths: string[]): Obj {
    for (const path of paths) this.expandPath(result, path.split("."), path);
    return result;
  }

  private expandPath(value: Obj, segments: string[], full: string): void {
    const [head, ...rest] = segments as [string, ...string[]];
    if ((value.object === "list" || value.object === "search_result") && head === "data") {
      for (const item of value.data) if (rest.length > 0) this.expandPath(item, rest, full);
      return;
    }
    if (value.object === "customer" && head === "tax" && rest.length === 0) {
      // A deleted customer is only its id, also when its tax is asked for.
      if (!value.deleted) value.tax = this.taxOf(this.objects.get(value.id) ?? value);
      return;
    }
    if (!(head in value)) throw invalid(`This property cannot be expanded (${full}).`, "expand");
    let field = value[head];
    if (typeof field === "string" && this.objects.has(field)) {
      field = this.view(this.objects.get(field)!);
      value[head] = field;
    }
    if (rest.length > 0 && field && typeof field === "object") this.expandPath(field, rest, full);
  }
}

export async function startStripeEmulator(options: StripeEmulatorOptions = {}): Promise<StripeEmulator> {
  const emulator = new StripeEmulator(options);
  await emulator.listen(options.port ?? 0, options.host ?? "127.0.0.1");
  return emulator;
}

/** A meter aggregating with "last" and one metered per-credit price per currency, created through the SDK. */
export async function seedUsagePrices(stripe: Stripe, unitAmountDecimal = "3.6"): Promise<{ meterId: string; EUR: string; USD: string }> {
  const meter = await stripe.billing.meters.create({
    display_name: "Tally credits",
    event_name: `tally_credits_${token(6).toLowerCase()}`,
    default_aggregation: { formula: "last" },
  });
  const product = await stripe.products.create({ name: "Usage credits" });
  const price = (currency: string) =>
    stripe.prices.create({
      currency,
      unit_amount_decimal: Stripe.Decimal.from(unitAmountDecimal),
      product: product.id,
      recurring: { interval: "month", usage_type: "metered", meter: meter.id },
    });
  const [eur, usd] = await Promise.all([price("eur"), price("usd")]);
  return { meterId: meter.id, EUR: eur.id, USD: usd.id };
}

// ---- helpers ----

const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

function token(length: number): string {
  return [...randomBytes(length)].map((byte) => alphabet[byte % alphabet.length]).join("");
}

/** The plan Stripe still shows for a subscription item's price (the price under its old name). */
function planOf(price: Obj): Obj {
  return {
    id: price.id,
    object: "plan",
    active: price.active,
    amount: price.unit_amount,
    amount_decimal: price.unit_amount_decimal,
    billing_scheme: price.billing_scheme,
    created: price.created,
    currency: price.currency,
    interval: price.recurring.interval,
    interval_count: price.recurring.interval_count,
    livemode: price.livemode,
    metadata: { ...price.metadata },
    meter: price.recurring.meter,
    nickname: price.nickname,
    product: price.product,
    tiers_mode: null,
    transform_usage: null,
    trial_period_days: null,
    usage_type: price.recurring.usage_type,
  };
}

/** A payment method's billing details before the card holder gave any. */
function noBillingDetails(): Obj {
  return { address: null, email: null, name: null, phone: null, tax_id: null };
}

/** A test card as Stripe describes it on a payment method. */
function cardDetails(card: { brand: string; last4: string }): Obj {
  return {
    brand: card.brand,
    checks: { address_line1_check: null, address_postal_code_check: null, cvc_check: "pass" },
    country: "US",
    display_brand: card.brand,
    exp_month: 12,
    exp_year: 2034,
    fingerprint: token(16),
    funding: "credit",
    generated_from: null,
    last4: card.last4,
    networks: { available: [card.brand], preferred: null },
    regulated_status: "unregulated",
    three_d_secure_usage: { supported: true },
    wallet: null,
  };
}

/** The card as a charge describes it (payment_method_details.card). */
function chargeCardDetails(card: Obj, captureBefore: number | undefined): Obj {
  return {
    amount_authorized: null,
    authorization_code: token(6),
    brand: card.brand,
    ...(captureBefore === undefined ? {} : { capture_before: captureBefore }),
    checks: structuredClone(card.checks),
    country: card.country,
    electronic_commerce_indicator: null,
    exp_month: card.exp_month,
    exp_year: card.exp_year,
    fingerprint: card.fingerprint,
    funding: card.funding,
    installments: null,
    last4: card.last4,
    mandate: null,
    network: card.brand,
    network_transaction_id: token(15),
    regulated_status: card.regulated_status,
    three_d_secure: null,
    transaction_link_id: null,
    wallet: null,
  };
}

/** A new payment intent's fields as Stripe sets them (null where Stripe returns null). */
function paymentIntentDefaults(): Obj {
  return {
    allowed_payment_method_types: null,
    amount_capturable: 0,
    amount_received: 0,
    application: null,
    application_fee_amount: null,
    automatic_payment_methods: null,
    canceled_at: null,
    cancellation_reason: null,
    confirmation_method: "automatic",
    customer_account: null,
    excluded_payment_method_types: null,
    last_payment_error: null,
    latest_charge: null,
    managed_payments: null,
    metadata: {},
    next_action: null,
    on_behalf_of: null,
    payment_method: null,
    payment_method_configuration_details: null,
    payment_record: null,
    payment_method_options: { card: { installments: null, mandate_options: null, network: null, request_three_d_secure: "automatic" } },
    processing: null,
    receipt_email: null,
    review: null,
    setup_future_usage: null,
    shipping: null,
    source: null,
    statement_descriptor: null,
    statement_descriptor_suffix: null,
    status: "requires_payment_method",
    transfer_data: null,
    transfer_group: null,
  };
}

function routeName(method: string, pattern: RegExp): string {
  return `${method} ${pattern.source.replace(/^\^|\$$/g, "").replaceAll("\\/", "/").replaceAll("([A-Za-z0-9_]+)", ":id")}`;
}

function errorBody(error: StripeApiError): string {
  return JSON.stringify({ error: { type: error.type, message: error.message, ...error.extra } }, null, 2);
}

function str(value: FormValue | undefined): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function required(p: FormObject, field: string): string {
  const value = str(p[field]);
  if (value === undefined || value === "") throw invalid(`Missing required param: ${field}.`, field);
  return value;
}

function allow(p: FormObject, fields: string[]): void {
  for (const key of Object.keys(p)) {
    if (!fields.includes(key)) throw invalid(`Received unknown parameter: ${key}`, key, "parameter_unknown");
  }
}

function boolParam(value: FormValue | undefined, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (value === "true") return true;
  if (value === "false") return false;
  throw invalid(`Invalid boolean: ${String(value)}`);
}

function toStringList(value: FormValue | string[], param: string): string[] {
  const list = Array.isArray(value) ? value : typeof value === "object" ? Object.values(value) : [value];
  if (!list.every((item) => typeof item === "string")) throw invalid(`Invalid array: ${param}`, param);
  return list as string[];
}

/** Stripe merges metadata; an empty value deletes a key, an empty string for the whole map clears it. */
function mergeMetadata(target: Obj, value: FormValue, param: string): void {
  if (value === "") {
    for (const key of Object.keys(target)) delete target[key];
    return;
  }
  if (typeof value !== "object" || Array.isArray(value)) throw invalid("Invalid object", param);
  for (const [key, item] of Object.entries(value)) {
    if (typeof item !== "string") throw invalid("Invalid metadata value", `${param}[${key}]`);
    if (item === "") delete target[key];
    else target[key] = item;
  }
}

function changedFields(before: Obj, after: Obj): Obj {
  const changed: Obj = {};
  for (const key of Object.keys(before)) {
    if (JSON.stringify(before[key]) !== JSON.stringify(after[key])) changed[key] = before[key];
  }
  return changed;
}

/** Stripe's calendar periods: the same day next month, clamped to the month's last day. */
function addInterval(seconds: number, interval: string): number {
  const date = new Date(seconds * 1000);
  if (interval === "day") return seconds + 86_400;
  if (interval === "week") return seconds + 7 * 86_400;
  const months = interval === "year" ? 12 : 1;
  const target = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + months, 1, date.getUTCHours(), date.getUTCMinutes(), date.getUTCSeconds()));
  const lastDay = new Date(Date.UTC(target.getUTCFullYear(), target.getUTCMonth() + 1, 0)).getUTCDate();
  target.setUTCDate(Math.min(date.getUTCDate(), lastDay));
  return Math.floor(target.getTime() / 1000);
}
