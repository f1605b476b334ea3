// The Stripe emulator, driven by the real SDK: Stripe's encoding, errors, idempotency, search,
// expand, meters and signed webhooks; and the Stripe adapter's own behaviour against it.
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import Stripe from "stripe";
import { createStripeClient, requestKey, StripePaymentProvider } from "../src/billing/stripe-payment-provider.js";
import { ManualClock } from "../src/domain/clock.js";
import { TallyError } from "../src/domain/tally-error.js";
import { parseForm } from "./stripe-emulator/form.js";
import { seedUsagePrices, startStripeEmulator, type StripeEmulator } from "./stripe-emulator/emulator.js";
import { stripeClientFor } from "./support/billing-tally.js";

describe("the Stripe emulator", () => {
  let emulator: StripeEmulator;
  let stripe: Stripe;
  const clock = new ManualClock(new Date("2026-05-01T10:00:00Z"));
  before(async () => {
    emulator = await startStripeEmulator({ clock });
    stripe = stripeClientFor(emulator.url);
  });
  after(async () => {
    await emulator?.close();
  });

  it("parses Stripe's bracketed form encoding", () => {
    assert.deepEqual(parseForm("metadata%5Ba%5D=1&items%5B0%5D%5Bprice%5D=p&expand%5B0%5D=tax&expand%5B1%5D=x&flag=true"), {
      metadata: { a: "1" },
      items: [{ price: "p" }],
      expand: ["tax", "x"],
      flag: "true",
    });
    assert.deepEqual(parseForm("expand[]=a&expand[]=b"), { expand: ["a", "b"] });
  });

  it("refuses requests without an API key, unknown parameters and missing objects like Stripe", async () => {
    const anonymous = await fetch(`${emulator.url}/v1/customers/cus_1`);
    assert.equal(anonymous.status, 401);
    await assert.rejects(stripe.customers.create({ nme: "typo" } as Stripe.CustomerCreateParams), (error: Stripe.errors.StripeError) => {
      assert.ok(error instanceof Stripe.errors.StripeInvalidRequestError);
      assert.equal(error.code, "parameter_unknown");
      assert.equal(error.param, "nme");
      return true;
    });
    await assert.rejects(stripe.customers.retrieve("cus_missing"), (error: Stripe.errors.StripeError) => {
      assert.equal(error.statusCode, 404);
      assert.equal(error.code, "resource_missing");
      return true;
    });
  });

  it("accepts the key as HTTP basic auth too, as Stripe's curl examples send it (curl -u sk_test_...:)", async () => {
    const basic = (user: string) => ({ authorization: `Basic ${Buffer.from(`${user}:`).toString("base64")}` });
    const customer = await stripe.customers.create({ name: "Basic" });
    const byBasic = await fetch(`${emulator.url}/v1/customers/${customer.id}`, { headers: basic("sk_test_emulator") });
    assert.equal(byBasic.status, 200);
    assert.equal(((await byBasic.json()) as { name: string }).name, "Basic");
    assert.equal((await fetch(`${emulator.url}/v1/customers/${customer.id}`, { headers: basic("pk_test_nope") })).status, 401);
  });

  it("replays a request with the same idempotency key and refuses the key with other parameters", async () => {
    const first = await stripe.customers.create({ name: "A" }, { idempotencyKey: "key-1" });
    const second = await stripe.customers.create({ name: "A" }, { idempotencyKey: "key-1" });
    assert.equal(second.id, first.id);
    assert.equal(second.lastResponse.headers["idempotent-replayed"], "true");
    await assert.rejects(stripe.customers.create({ name: "B" }, { idempotencyKey: "key-1" }), Stripe.errors.StripeIdempotencyError);
  });

  it("searches customers by metadata and expands their tax status only when asked", async () => {
    const created = await stripe.customers.create({ name: "O'Brien", metadata: { attributionId: "team:it's" } });
    const found = await stripe.customers.search({ query: `metadata['attributionId']:'team:it\\'s'`, expand: ["data.tax"] });
    assert.deepEqual(found.data.map((c) => c.id), [created.id]);
    assert.equal(found.data[0]?.tax?.automatic_tax, "unrecognized_location");
    assert.equal((await stripe.customers.retrieve(created.id) as Stripe.Customer).tax, undefined);
    await stripe.customers.update(created.id, { address: { country: "US", postal_code: "94107" } });
    const placed = (await stripe.customers.retrieve(created.id, { expand: ["tax"] })) as Stripe.Customer;
    assert.equal(placed.tax?.automatic_tax, "supported");
    await assert.rejects(stripe.customers.search({ query: "email~'x'" }), /search query is invalid/);
  });

  it("searches with Stripe's semantics: every page through next_page, OR, no promised order, new customers found late", async () => {
    const tag = `search-${Date.now()}`;
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await stripe.customers.create({ name: `S${i}`, metadata: { attributionId: tag } })).id);
    const first = await stripe.customers.search({ query: `metadata['attributionId']:'${tag}'`, limit: 2 });
    assert.equal(first.data.length, 2);
    assert.equal(first.has_more, true);
    assert.ok(first.next_page);
    const all: string[] = [];
    for await (const customer of stripe.customers.search({ query: `metadata['attributionId']:'${tag}'`, limit: 2 })) all.push(customer.id);
    assert.deepEqual([...all].sort(), [...ids].sort());
    const either = await stripe.customers.search({ query: `name:'S0' OR name:'S4'` });
    assert.deepEqual(either.data.map((c) => c.id).filter((id) => ids.includes(id)).sort(), [ids[0], ids[4]].sort());
    await assert.rejects(stripe.customers.search({ query: `name:'S0' OR name:'S1' AND name:'S2'` }), /cannot mix AND and OR/);
    await stripe.customers.del(ids[1]!);
    assert.equal((await stripe.customers.search({ query: `metadata['attributionId']:'${tag}'`, limit: 100 })).data.length, 4);

    emulator.searchIndexDelaySeconds = 60;
    try {
      const late = await stripe.customers.create({ name: "late", metadata: { attributionId: `${tag}-late` } });
      assert.equal((await stripe.customers.search({ query: `metadata['attributionId']:'${tag}-late'` })).data.length, 0, "not yet indexed");
      clock.advanceMs(61_000);
      assert.deepEqual((await stripe.customers.search({ query: `metadata['attributionId']:'${tag}-late'` })).data.map((c) => c.id), [late.id]);
    } finally {
      emulator.searchIndexDelaySeconds = 0;
    }
  });

  it("lets the adapter find every customer with an attribution id, oldest first", async () => {
    const provider = new StripePaymentProvider(createStripeClient({ secretKey: "sk_test_x", apiBase: emulator.url }));
    const attributionId = `team:many-${Date.now()}`;
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      ids.push((await stripe.customers.create({ name: `M${i}`, metadata: { attributionId } })).id);
      clock.advanceMs(1000);
    }
    assert.deepEqual((await provider.findCustomersByAttributionId(attributionId)).map((c) => c.id), ids);
  });

  it("makes every request parameter part of the adapter's idempotency keys", async () => {
    const provider = new StripePaymentProvider(createStripeClient({ secretKey: "sk_test_x", apiBase: emulator.url }));
    const customer = await stripe.customers.create({ name: "Keys" });
    const hold = (currency: string) =>
      provider.createHoldPaymentIntent({ customerId: customer.id, currency, amountMinor: 100, attributionId: "team:keys" }, "tally:hold:keys");
    const eur = await hold("eur");
    assert.equal((await hold("eur")).id, eur.id, "the same request replays");
    const usd = await hold("usd");
    assert.notEqual(usd.id, eur.id, "another currency is a new request, not an idempotency error");
    assert.equal((await stripe.paymentIntents.retrieve(usd.id)).currency, "usd");
    assert.equal(requestKey("k", { b: 1, a: [1, { y: 2, x: 1 }] }), requestKey("k", { a: [1, { x: 1, y: 2 }], b: 1 }));
    assert.notEqual(requestKey("k", { automatic_tax: { enabled: true } }), requestKey("k", { automatic_tax: { enabled: false } }));
    assert.ok(requestKey("k".repeat(400), {}).length <= 255);
  });

  it("refuses disputes on released holds", async () => {
    const customer = await stripe.customers.create({ name: "Hold" });
    const hold = await stripe.paymentIntents.create({ amount: 100, currency: "eur", customer: customer.id, capture_method: "manual" });
    const confirmed = await stripe.paymentIntents.confirm(hold.id, { payment_method: "pm_card_visa" });
    await stripe.paymentIntents.cancel(hold.id);
    const chargeId = confirmed.latest_charge as string;
    const charge = await stripe.charges.retrieve(chargeId);
    assert.deepEqual([charge.captured, charge.refunded, charge.amount_refunded], [false, true, 100]);
    assert.throws(() => emulator.disputeCharge(chargeId), /never captured/);
    const response = await fetch(`${emulator.url}/_emulator/charges/${chargeId}/dispute`, { method: "POST" });
    assert.equal(response.status, 400);
    assert.equal(emulator.events("charge.dispute.created").filter((e) => e.data.object.charge === chargeId).length, 0);
  });

  it("bills the last reported meter value of a period, and refuses automatic tax without a location", async () => {
    const prices = await seedUsagePrices(stripe);
    const customer = await stripe.customers.create({ name: "Meter" });
    await assert.rejects(
      stripe.subscriptions.create({ customer: customer.id, items: [{ price: prices.EUR }], automatic_tax: { enabled: true } }),
      (error: Stripe.errors.StripeError) => error.code === "customer_tax_location_invalid",
    );
    const subscription = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: prices.EUR }] });
    const meter = await stripe.billing.meters.retrieve(prices.meterId);
    const now = Math.floor(clock.now().getTime() / 1000);
    const report = (value: string, identifier: string, timestamp = now) =>
      stripe.billing.meterEvents.create({ event_name: meter.event_name, identifier, timestamp, payload: { stripe_customer_id: customer.id, value } });
    await report("40", "a", now + 1);
    await report("12", "b", now + 2);
    await assert.rejects(report("99", "b"), (error: Stripe.errors.StripeError) => error.code === "resource_already_exists");
    await assert.rejects(report("1", "old", now - 36 * 86_400), /Timestamp must be within/);
    clock.set(new Date(subscription.items.data[0]!.current_period_end * 1000));
    const invoice = emulator.billSubscription(subscription.id);
    const fetched = await stripe.invoices.retrieve(invoice.id);
    assert.equal(fetched.lines.data[0]?.quantity, 12);
    assert.equal(fetched.status, "open", "due, and no default payment method to pay it with");
    assert.equal(fetched.amount_due, Math.round(12 * 3.6));
  });

  it("moves a subscription item to another price as Stripe does (same item and period), refusing unknown and legacy prices", async () => {
    const prices = await seedUsagePrices(stripe);
    const legacy = emulator.createLegacyMeteredPrice("eur");
    const customer = await stripe.customers.create({ name: "Mover" });
    const subscription = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: legacy.id }] });
    const item = subscription.items.data[0]!;
    const refused = async (params: Stripe.SubscriptionUpdateParams, check: (error: Stripe.errors.StripeError) => void) =>
      assert.rejects(stripe.subscriptions.update(subscription.id, params), (error: Stripe.errors.StripeError) => {
        assert.ok(error instanceof Stripe.errors.StripeInvalidRequestError);
        check(error);
        return true;
      });
    await refused({ items: [{ id: item.id, price: "price_missing" }], proration_behavior: "none" }, (error) => {
      assert.deepEqual([error.statusCode, error.code, error.param, error.message], [400, "resource_missing", "items[0][price]", "No such price: 'price_missing'"]);
    });
    await refused({ items: [{ id: "si_missing", price: prices.EUR }] }, (error) => assert.deepEqual([error.code, error.param], ["resource_missing", "items[0][id]"]));
    await refused({ items: [{ id: item.id, price: prices.USD }] }, (error) => assert.equal(error.param, "items[0][price]"));
    await refused({ items: [{ id: item.id, price: emulator.createLegacyMeteredPrice("eur").id }] }, (error) => assert.match(error.message, /legacy usage-based price/));
    await refused({ items: [{ id: item.id, price: prices.EUR }], proration_behavior: "sometimes" as "none" }, (error) => assert.equal(error.param, "proration_behavior"));
    assert.equal((await stripe.subscriptions.retrieve(subscription.id)).items.data[0]!.price.id, legacy.id, "nothing changed by a refused update");

    const provider = new StripePaymentProvider(createStripeClient({ secretKey: "sk_test_x", apiBase: emulator.url }));
    const moved = await provider.setSubscriptionItemPrice(subscription.id, item.id, prices.EUR, "tally:test-move");
    assert.deepEqual([moved.priceIds, moved.itemIds], [[prices.EUR], [item.id]]);
    const after = (await stripe.subscriptions.retrieve(subscription.id)).items.data[0]!;
    assert.deepEqual([after.id, after.price.id, after.current_period_start, after.current_period_end], [item.id, prices.EUR, item.current_period_start, item.current_period_end]);
    const again = await provider.setSubscriptionItemPrice(subscription.id, item.id, prices.EUR, "tally:test-move");
    assert.deepEqual(again.priceIds, [prices.EUR]);
    const updated = (await stripe.events.list({ type: "customer.subscription.updated" })).data.find((event) => (event.data.object as Stripe.Subscription).id === subscription.id);
    assert.ok(updated?.data.previous_attributes && "items" in updated.data.previous_attributes, "customer.subscription.updated names the items as changed");
  });

  it("delivers signed webhook events the SDK verifies", async () => {
    const received: Array<{ body: string; signature: string }> = [];
    const server = http.createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => {
        received.push({ body: Buffer.concat(chunks).toString("utf8"), signature: String(request.headers["stripe-signature"]) });
        response.end("ok");
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const endpoint = await stripe.webhookEndpoints.create({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, enabled_events: ["customer.created"] });
      assert.equal(endpoint.secret, emulator.webhookSecret);
      const customer = await stripe.customers.create({ name: "Hooked" });
      await stripe.customers.update(customer.id, { name: "not delivered: not enabled" });
      await emulator.settled();
      assert.equal(received.length, 1);
      const event = Stripe.webhooks.constructEvent(received[0]!.body, received[0]!.signature, emulator.webhookSecret, 300, undefined, clock.now().getTime());
      assert.equal(event.type, "customer.created");
      assert.equal((event.data.object as Stripe.Customer).id, customer.id);
      await stripe.webhookEndpoints.del(endpoint.id);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe("the Stripe adapter against the emulator", () => {
  let emulator: StripeEmulator;
  let provider: StripePaymentProvider;
  let stripe: Stripe;
  before(async () => {
    emulator = await startStripeEmulator();
    stripe = stripeClientFor(emulator.url);
    provider = new StripePaymentProvider(createStripeClient({ secretKey: "sk_test_adapter", apiBase: emulator.url }));
  });
  after(async () => {
    await emulator?.close();
  });

  it("refuses an apiBase that is not an http(s) URL", () => {
    assert.throws(() => createStripeClient({ secretKey: "sk_test_x", apiBase: "nope" }), /stripe.apiBase "nope" is not a URL/);
    assert.throws(() => createStripeClient({ secretKey: "sk_test_x", apiBase: "ftp://x" }), /must use http or https/);
  });

  it("treats a usage report sent twice as reported once", async () => {
    const prices = await seedUsagePrices(stripe);
    const customer = await provider.createCustomer({ attributionId: "team:a", name: "n", email: "e@x", preferredCurrency: "EUR", billingCreatorUserId: undefined }, "k1");
    const report = { customerId: customer.id, priceId: prices.EUR, credits: 7n, timestamp: new Date(), identifier: "tally:usage:test:1" };
    await provider.reportUsage(report);
    await provider.reportUsage(report);
    await provider.reportUsage({ ...report, credits: 7n });
  });

  it("refuses to report balances to a meter that sums them", async () => {
    const meter = await stripe.billing.meters.create({ display_name: "sum", event_name: "summing", default_aggregation: { formula: "sum" } });
    const product = await stripe.products.create({ name: "p" });
    const price = await stripe.prices.create({ currency: "eur", unit_amount: 1, product: product.id, recurring: { interval: "month", usage_type: "metered", meter: meter.id } });
    const customer = await provider.createCustomer({ attributionId: "team:b", name: "n", email: "e@x", preferredCurrency: "EUR", billingCreatorUserId: undefined }, "k2");
    await assert.rejects(
      provider.reportUsage({ customerId: customer.id, priceId: price.id, credits: 1n, timestamp: new Date(), identifier: "x" }),
      (error: unknown) => error instanceof TallyError && error.code === "FailedPrecondition" && /needs "last"/.test(error.message),
    );
  });

  it("maps Stripe's answers: missing objects are undefined, a dead Stripe is Unavailable", async () => {
    assert.equal(await provider.getInvoice("in_missing"), undefined);
    assert.equal(await provider.getCustomer("cus_missing"), undefined);
    const dead = new StripePaymentProvider(createStripeClient({ secretKey: "sk_test_x", apiBase: "http://127.0.0.1:1" }));
    await assert.rejects(dead.getCustomer("cus_1"), (error: unknown) => error instanceof TallyError && error.code === "Unavailable");
  });
});
