// The Stripe emulator conforms to the Stripe SDK's own type definitions: Tally's server is driven
// through the billing flows it has (customers, card check, subscription, usage reports, invoices,
// disputes, tax, cancellation, `stripe sync`), the remaining API routes are called through the SDK,
// and every answer the emulator gave and every event it made is checked against the types in
// node_modules/stripe (read with the TypeScript compiler API, test/support/stripe-shapes.ts): every
// required field present, every field of the declared type, enums within their values.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import Stripe from "stripe";
import { startBillingTally, type BillingTally } from "./support/billing-tally.js";
import { bookInstanceUsage, teamId } from "./support/ledger-fixtures.js";
import { loadStripeShapes, type StripeShapes } from "./support/stripe-shapes.js";
import { seedUsagePrices } from "./stripe-emulator/emulator.js";

const day = 86_400_000;

describe("the Stripe emulator conforms to the Stripe SDK's types", () => {
  let shapes: StripeShapes;
  let b: BillingTally;
  before(async () => {
    shapes = loadStripeShapes();
    b = await startBillingTally({ emulator: { recordExchanges: true } });
  });
  after(async () => {
    await b?.stop();
  });

  const emulatorPost = async (path: string, body = "") => {
    const response = await fetch(`${b.emulator.url}${path}`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body });
    assert.equal(response.status, 200, `${path}: ${await response.clone().text()}`);
    return (await response.json()) as Record<string, unknown> & { id: string };
  };

  it("fails on any gap: a missing required field, a wrong type, an unknown enum value, a broken expanded object", async () => {
    const customer = await b.stripe.customers.create({ name: "Gap", email: "gap@acme.test", metadata: { attributionId: teamId() } });
    const raw = async (path: string) => (await (await fetch(`${b.emulator.url}${path}`, { headers: { authorization: "Bearer sk_test_gap" } })).json()) as Record<string, any>;
    const wire = await raw(`/v1/customers/${customer.id}`);
    assert.deepEqual(shapes.checkObject(wire), [], "an emulator customer conforms");

    // Deleting any one required field is found, naming it.
    for (const field of ["email", "invoice_settings", "livemode", "metadata", "created"]) {
      const broken = structuredClone(wire);
      delete broken[field];
      const problems = shapes.checkObject(broken);
      assert.equal(problems.length, 1, `${field}: ${problems.join("; ")}`);
      assert.match(problems[0]!, new RegExp(`\\.${field}: missing \\(required `));
    }
    const nested = structuredClone(wire);
    delete nested.invoice_settings.default_payment_method;
    assert.match(shapes.checkObject(nested).join("\n"), /invoice_settings\.default_payment_method: missing/);
    assert.match(shapes.checkObject({ ...wire, balance: "0" }).join("\n"), /\.balance: "0", expected a number/);
    assert.match(shapes.checkObject({ ...wire, tax_exempt: "sometimes" }).join("\n"), /\.tax_exempt: "sometimes" is not one of "exempt" \| "none" \| "reverse"/);
    assert.match(shapes.checkObject({ ...wire, livemode: null }).join("\n"), /\.livemode: null, expected boolean/);
    assert.match(shapes.checkObject({ ...wire, metadata: { a: 1 } }).join("\n"), /\.metadata\["a"\]: number, expected a string/);
    assert.match(shapes.checkObject({ ...wire, object: "customerz" }).join("\n"), /has no Stripe type/);
    assert.match(shapes.checkObject({ ...wire, surprise: 1 }).join("\n"), /\.surprise: not a field of Customer/);
    const refusal = await (await fetch(`${b.emulator.url}/v1/customers/cus_nope`, { headers: { authorization: "Bearer sk_test_gap" } })).json();
    assert.deepEqual(shapes.checkError(refusal), []);
    assert.match(shapes.checkError({ error: { ...(refusal as any).error, type: "oops_error" } }).join("\n"), /\.type: "oops_error" is not one of "card_error"/);
    assert.match(shapes.checkError({ error: { type: "api_error" } }).join("\n"), /\.message: missing/);

    // Expandable fields: the id or the whole object, and the object is checked too.
    const hold = await b.stripe.paymentIntents.create({ amount: 100, currency: "eur", customer: customer.id, capture_method: "manual" });
    const intent = await raw(`/v1/payment_intents/${hold.id}?expand[]=customer`);
    assert.deepEqual(shapes.checkObject(intent), []);
    assert.equal(typeof intent.customer, "object");
    delete intent.customer.invoice_settings;
    assert.match(shapes.checkObject(intent).join("\n"), /\.customer\.invoice_settings: missing/);

    // The emulator's own objects and events, broken inside the emulator, are found through the API.
    const subscriptionCustomer = await b.stripe.customers.create({ name: "Gap 2" });
    const subscription = await b.stripe.subscriptions.create({ customer: subscriptionCustomer.id, items: [{ price: b.prices.EUR }] });
    const invoice = await raw(`/v1/invoices/${subscription.latest_invoice as string}`);
    assert.deepEqual(shapes.checkObject(invoice), []);
    delete invoice.lines.data[0].pricing.price_details.product;
    assert.match(shapes.checkObject(invoice).join("\n"), /\.lines\.data\[0\]\.pricing\.price_details\.product: missing/);
    const event = b.emulator.events("invoice.finalized").find((e) => e.data.object.id === invoice.id)!;
    assert.deepEqual(shapes.checkObject(event), []);
    delete event.data.object.status_transitions;
    assert.match(shapes.checkObject(event).join("\n"), /\.data\.object\.status_transitions: missing/);
    event.type = "invoice.finalized_later";
    assert.notDeepEqual(shapes.checkObject(event), []);
  });

  it("returns and sends only objects with every field Stripe's types require, over Tally's billing flows and every API route", async () => {
    const team = teamId();

    // Customer (search, then create), card check (declined, then accepted, with the card's address), subscription.
    const { customer } = await b.billing.createStripeCustomer({ attributionId: team, name: "Acme", email: "billing@acme.test", currency: "EUR" });
    await b.billing.getStripeCustomer({ attributionId: team });
    const hold = await b.billing.createHoldPaymentIntent({ attributionId: team });
    await assert.rejects(b.stripe.paymentIntents.confirm(hold.paymentIntentId, { payment_method: "pm_card_chargeDeclined" }), /declined/);
    const confirmed = await b.stripe.paymentIntents.confirm(hold.paymentIntentId, { payment_method: "pm_card_visa" });
    await b.stripe.paymentMethods.update(confirmed.payment_method as string, {
      billing_details: { name: "Acme", address: { country: "DE", postal_code: "10115", city: "Berlin", line1: "Str. 1" } },
    });
    const { subscription } = await b.billing.createStripeSubscription({ attributionId: team, paymentIntentId: hold.paymentIntentId, usageLimit: 1000 });
    await b.billing.getPriceInformation({ attributionId: team });
    await b.settle();

    // Usage reported to the meter, the period billed (the webhook books the invoice), a dispute.
    await bookInstanceUsage(b.t.tally.database.db, [{ attributionId: team, creditCents: 1234n, effectiveTime: b.t.clock.now() }]);
    b.t.clock.advanceMs(3 * day);
    await b.billing.reconcileInvoices({});
    const item = (await b.stripe.subscriptions.retrieve(subscription.id)).items.data[0]!;
    b.t.clock.set(new Date(item.current_period_end * 1000 + 60_000));
    const invoice = await emulatorPost(`/_emulator/subscriptions/${subscription.id}/bill`);
    await b.settle();
    await b.billing.finalizeInvoice({ invoiceId: invoice.id });
    const [charge] = b.emulator.charges(customer.id);
    const dispute = await emulatorPost(`/_emulator/charges/${charge!.id}/dispute`);
    await b.settle();
    await b.billing.onChargeDispute({ disputeId: dispute.id });

    // Tax: the address goes, the subscription's automatic tax follows (customer.updated).
    await b.stripe.customers.update(customer.id, { address: "" as unknown as Stripe.AddressParam });
    await b.settle();
    await b.billing.updateCustomerSubscriptionsTaxState({ customerId: customer.id });

    // Existing subscribers, a legacy price, `stripe sync`.
    const existing = await b.stripe.customers.create({ name: "Existing", metadata: { attributionId: teamId(), preferredCurrency: "USD" } });
    await b.stripe.subscriptions.create({ customer: existing.id, items: [{ price: b.prices.USD }] });
    const legacy = await b.stripe.customers.create({ name: "Legacy", metadata: { attributionId: teamId(), preferredCurrency: "EUR" } });
    await b.stripe.subscriptions.create({ customer: legacy.id, items: [{ price: b.emulator.createLegacyMeteredPrice("eur").id }] });
    await b.settle();
    await b.t.tally.billing.billing!.syncStripeSubscribers();
    await b.billing.reconcileInvoices({}).catch(() => {});

    // Cancellation in Stripe (the webhook moves the team back), then through Tally.
    await b.stripe.subscriptions.cancel(subscription.id);
    await b.settle();
    await b.billing.cancelSubscription({ subscriptionId: subscription.id });

    // The routes no flow above took, through the SDK.
    const sdk = b.stripe;
    await seedUsagePrices(sdk);
    const other = await sdk.customers.create({ name: "Other", email: "o@acme.test" });
    await sdk.customers.list({ limit: 3 });
    await sdk.customers.search({ query: `name:'Other'` });
    await sdk.paymentMethods.retrieve("pm_card_visa");
    const attached = await sdk.paymentMethods.attach("pm_card_mastercard", { customer: other.id });
    await sdk.paymentMethods.retrieve(attached.id);
    await sdk.customers.update(other.id, { invoice_settings: { default_payment_method: attached.id } });
    const paid = await sdk.paymentIntents.create({ amount: 500, currency: "usd", customer: other.id, payment_method: attached.id, confirm: true });
    const manual = await sdk.paymentIntents.create({ amount: 500, currency: "usd", customer: other.id, capture_method: "manual" });
    await sdk.paymentIntents.confirm(manual.id, { payment_method: attached.id });
    await sdk.paymentIntents.capture(manual.id);
    await sdk.paymentIntents.retrieve(paid.id);
    await sdk.charges.retrieve(paid.latest_charge as string);
    await sdk.disputes.retrieve(dispute.id);
    await sdk.disputes.retrieve(dispute.id, { expand: ["charge"] });
    const price = await sdk.prices.retrieve(b.prices.USD, { expand: ["product"] });
    const productId = typeof price.product === "string" ? price.product : price.product.id;
    await sdk.products.retrieve(productId);
    await sdk.billing.meters.retrieve(b.prices.meterId);
    const oneOff = await sdk.prices.create({ currency: "usd", unit_amount: 1000, product_data: { name: "One-off" } });
    const licensed = await sdk.prices.create({ currency: "usd", unit_amount: 900, product: productId, recurring: { interval: "month" } });
    const manualInvoice = await sdk.invoices.create({ customer: other.id, auto_advance: false });
    await sdk.invoices.finalizeInvoice(manualInvoice.id);
    const licensedSubscription = await sdk.subscriptions.create({ customer: other.id, items: [{ price: licensed.id }], metadata: { k: "v" } });
    await sdk.subscriptions.update(licensedSubscription.id, { metadata: { k: "w" }, cancel_at_period_end: true });
    const dearer = await sdk.prices.create({ currency: "usd", unit_amount: 1900, product: productId, recurring: { interval: "month" } });
    const moved = await sdk.subscriptions.update(licensedSubscription.id, {
      items: [{ id: licensedSubscription.items.data[0]!.id, price: dearer.id }],
      proration_behavior: "none",
    });
    assert.deepEqual([moved.items.data[0]?.price.id, moved.items.data[0]?.plan.id], [dearer.id, dearer.id], "the plan follows the price");
    await sdk.subscriptions.list({ customer: other.id, status: "all" });
    const unpaid = await emulatorPost(`/_emulator/subscriptions/${licensedSubscription.id}/bill`, "finalize=false");
    await sdk.invoices.finalizeInvoice(unpaid.id);
    const openInvoice = await sdk.invoices.create({ customer: other.id });
    await sdk.invoices.finalizeInvoice(openInvoice.id);
    await sdk.invoices.pay(openInvoice.id);
    await sdk.invoices.retrieve(unpaid.id, { expand: ["customer"] });
    await sdk.invoices.list({ customer: other.id, limit: 5 });
    await sdk.invoices.listLineItems(unpaid.id);
    await sdk.subscriptions.cancel(licensedSubscription.id, { invoice_now: true });
    const events = await sdk.events.list({ limit: 5 });
    await sdk.events.retrieve(events.data[0]!.id);
    const endpoint = await sdk.webhookEndpoints.create({ url: "http://127.0.0.1:9/none", enabled_events: ["invoice.paid"] });
    await sdk.webhookEndpoints.list();
    await sdk.webhookEndpoints.update(endpoint.id, { disabled: true });
    await sdk.webhookEndpoints.del(endpoint.id);
    await sdk.customers.del(other.id);
    await sdk.customers.retrieve(other.id);
    await sdk.customers.retrieve(other.id, { expand: ["tax"] }); // as Tally asks: a deleted customer has no tax
    void oneOff;
    await emulatorPost(`/_emulator/events/${events.data[0]!.id}/deliver`);
    await b.settle();

    // Every answer of the API, and every object the test controls hand out, conforms.
    const problems: string[] = [];
    const answered = new Set<string>();
    let refusals = 0;
    for (const exchange of b.emulator.exchanges) {
      if (exchange.status >= 300) {
        // Refusals (a declined card, a missing object, an unknown URL, ...) are Stripe-shaped errors.
        refusals++;
        problems.push(...shapes.checkError(exchange.body, `${exchange.status} ${exchange.method} ${exchange.path.replace(/_[A-Za-z0-9]+/g, "_…")}`));
        continue;
      }
      if (exchange.route === undefined) continue;
      if (/\/_emulator\/(clock|events)\//.test(exchange.path)) continue; // not Stripe objects
      answered.add(exchange.route);
      problems.push(...shapes.checkObject(exchange.body, exchange.route.replace(":id", exchange.path.split("/")[3] ?? "")));
    }
    // Every event it made (and so every event it sent), with its object.
    const events_ = b.emulator.events();
    const types = new Set(events_.map((e) => e.type as string));
    for (const event of events_) problems.push(...shapes.checkObject(event, `event ${event.type}`));
    // One line per kind of problem: the same gap in every answer of a kind is told once.
    const unique = [...new Set(problems.map((p) => p.replace(/^[^(]*/, "").replace(/\[\d+\]/g, "[]")))].sort();
    assert.deepEqual(unique, [], `${unique.length} kinds of problems:\n${unique.join("\n")}`);

    // Over every route of the API it serves, and the events Tally acts on.
    assert.deepEqual(b.emulator.apiRoutes().filter((route) => !answered.has(route)), [], "every API route answered and was checked");
    for (const type of ["invoice.finalized", "customer.subscription.deleted", "charge.dispute.created", "customer.updated"]) assert.ok(types.has(type), type);
    assert.ok(events_.length > 50, String(events_.length));
    assert.ok(refusals >= 2, `${refusals} refusals checked`);
  });
});
