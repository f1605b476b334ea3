// Billing end to end: Tally's server, the Stripe emulator and the real Stripe SDK, with webhooks
// delivered over HTTP, from the card check to the cancellation.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import Stripe from "stripe";
import { getBalanceCents } from "../src/store/balances.js";
import { getCurrentCostCenter } from "../src/store/cost-centers.js";
import { listEntries, sumLedgerCents } from "../src/store/ledger.js";
import { getStripeCustomerByAttributionId } from "../src/store/stripe-customers.js";
import { getInboxEvent } from "../src/store/webhook-inbox.js";
import { startBillingTally, type BillingTally } from "./support/billing-tally.js";
import { bookInstanceUsage, teamId } from "./support/ledger-fixtures.js";
import { grpcStatus, rejects } from "./support/test-tally.js";

const day = 86_400_000;

describe("billing through Stripe, end to end", () => {
  let b: BillingTally;
  before(async () => {
    b = await startBillingTally();
  });
  after(async () => {
    await b?.stop();
  });

  const db = () => b.t.tally.database.db;
  const balanceCents = (attributionId: string) => getBalanceCents(db(), attributionId);
  const invoiceEntries = async (attributionId: string) => (await listEntries(db(), attributionId, 100)).filter((e) => e.sourceKey.startsWith("invoice:"));

  /** Customer, card check with a confirmed hold, subscription: what the dashboard does. */
  async function subscribe(team: string, usageLimit = 0) {
    const { customer } = await b.billing.createStripeCustomer({ attributionId: team, name: "Acme", email: "billing@acme.test", currency: "EUR" });
    const hold = await b.billing.createHoldPaymentIntent({ attributionId: team });
    await b.stripe.paymentIntents.confirm(hold.paymentIntentId, { payment_method: "pm_card_visa" });
    const { subscription } = await b.billing.createStripeSubscription({ attributionId: team, paymentIntentId: hold.paymentIntentId, usageLimit });
    return { customerId: customer.id as string, subscriptionId: subscription.id as string, holdId: hold.paymentIntentId as string };
  }

  it("goes from card check to invoice, dispute and cancellation, booking the invoice exactly once", async () => {
    const team = teamId();
    const creator = randomUUID();

    // The customer, created once however often asked.
    const created = await b.billing.createStripeCustomer({ attributionId: team, name: "Acme", email: "billing@acme.test", currency: "eur", billingCreatorUserId: creator });
    assert.match(created.customer.id, /^cus_/);
    assert.deepEqual({ ...created.customer, id: "" }, { id: "", currency: "EUR", invalidBillingAddress: true });
    const again = await b.billing.createStripeCustomer({ attributionId: team, name: "Other", email: "x@y.test", currency: "USD" });
    assert.equal(again.customer.id, created.customer.id);
    const customerId: string = created.customer.id;
    const inStripe = await b.stripe.customers.retrieve(customerId);
    assert.ok(!inStripe.deleted);
    assert.deepEqual(inStripe.metadata, { attributionId: team, preferredCurrency: "EUR", billingCreatorUserId: creator });
    assert.equal((await b.stripe.customers.search({ query: `metadata['attributionId']:'${team}'` })).data.length, 1);
    const byId = await b.billing.getStripeCustomer({ stripeCustomerId: customerId });
    assert.equal(byId.attributionId, team);
    assert.equal((await b.billing.getStripeCustomer({ attributionId: team })).customer.id, customerId);

    // The card check: a 1.00 manual-capture hold, handed out again until it is used.
    const hold = await b.billing.createHoldPaymentIntent({ attributionId: team });
    assert.match(hold.paymentIntentClientSecret, /_secret_/);
    assert.equal((await b.billing.createHoldPaymentIntent({ attributionId: team })).paymentIntentId, hold.paymentIntentId);
    const intent = await b.stripe.paymentIntents.retrieve(hold.paymentIntentId);
    assert.deepEqual([intent.amount, intent.currency, intent.capture_method, intent.customer], [100, "eur", "manual", customerId]);
    await rejects(
      b.billing.createStripeSubscription({ attributionId: team, paymentIntentId: hold.paymentIntentId }),
      grpcStatus.INVALID_ARGUMENT,
      /payment method is invalid/,
    );
    await assert.rejects(b.stripe.paymentIntents.confirm(hold.paymentIntentId, { payment_method: "pm_card_chargeDeclined" }), /declined/);
    await b.stripe.paymentIntents.confirm(hold.paymentIntentId, { payment_method: "pm_card_visa" });

    // Usage before subscribing is balanced out by the switch to Stripe.
    await bookInstanceUsage(db(), [{ attributionId: team, creditCents: 500n, effectiveTime: b.t.clock.now() }]);
    const subscribedAt = b.t.clock.now();
    const { subscription } = await b.billing.createStripeSubscription({ attributionId: team, paymentIntentId: hold.paymentIntentId, usageLimit: 1000 });
    assert.match(subscription.id, /^sub_/);
    const stripeCostCenter = await getCurrentCostCenter(db(), team);
    assert.equal(stripeCostCenter?.billingStrategy, "stripe");
    assert.equal(stripeCostCenter?.spendingLimitCredits, 1000);
    assert.deepEqual(stripeCostCenter?.billingCycleStart, subscribedAt);
    assert.equal(await balanceCents(team), 0n);
    const subscriptionInStripe = await b.stripe.subscriptions.retrieve(subscription.id);
    assert.equal(subscriptionInStripe.status, "active");
    assert.equal(subscriptionInStripe.automatic_tax.enabled, false, "the address is not known yet");
    assert.equal(subscriptionInStripe.items.data[0]?.price.id, b.prices.EUR);
    const customerAfter = await b.stripe.customers.retrieve(customerId);
    assert.ok(!customerAfter.deleted && customerAfter.invoice_settings.default_payment_method);
    assert.equal((await b.stripe.paymentIntents.retrieve(hold.paymentIntentId)).status, "canceled", "the hold is released");
    // A retry with the same hold finishes, it does not subscribe twice; a new hold cannot.
    const retried = await b.billing.createStripeSubscription({ attributionId: team, paymentIntentId: hold.paymentIntentId, usageLimit: 1000 });
    assert.equal(retried.subscription.id, subscription.id);
    assert.equal((await b.stripe.subscriptions.list({ customer: customerId })).data.length, 1);
    const secondHold = await b.billing.createHoldPaymentIntent({ attributionId: team });
    assert.notEqual(secondHold.paymentIntentId, hold.paymentIntentId);
    await b.stripe.paymentIntents.confirm(secondHold.paymentIntentId, { payment_method: "pm_card_visa" });
    await rejects(
      b.billing.createStripeSubscription({ attributionId: team, paymentIntentId: secondHold.paymentIntentId }),
      grpcStatus.ALREADY_EXISTS,
      /already has subscription/,
    );

    // customer.updated: a valid address turns automatic tax on.
    await b.stripe.customers.update(customerId, { address: { country: "DE", postal_code: "10115", city: "Berlin", line1: "Str. 1" } });
    await b.settle();
    assert.equal((await b.billing.getStripeCustomer({ attributionId: team })).customer.invalidBillingAddress, false);
    assert.equal((await b.stripe.subscriptions.retrieve(subscription.id)).automatic_tax.enabled, true);
    assert.equal(
      (await b.billing.getPriceInformation({ attributionId: team })).humanReadableDescription,
      "Usage credits: 0.036 EUR per credit, billed monthly",
    );

    // Usage, reported to the meter as whole credits rounded up.
    await bookInstanceUsage(db(), [{ attributionId: team, creditCents: 1234n, effectiveTime: b.t.clock.now() }]);
    b.t.clock.advanceMs(3 * day);
    await b.billing.reconcileInvoices({});

    // The period ends: Stripe invoices 13 credits; the invoice.finalized webhook books it.
    const periodEnd = new Date(subscriptionInStripe.items.data[0]!.current_period_end * 1000);
    b.t.clock.set(new Date(periodEnd.getTime() + 60_000));
    const invoice = b.emulator.billSubscription(subscription.id);
    assert.equal(invoice.lines.data[0].quantity, 13);
    await b.settle();
    assert.equal(await balanceCents(team), 1234n - 1300n);
    const [entry, ...more] = await invoiceEntries(team);
    assert.equal(more.length, 0);
    assert.equal(entry?.sourceKey, `invoice:${invoice.id}`);
    assert.equal(entry?.creditCents, -1300n);
    const finalized = await b.stripe.invoices.retrieve(invoice.id);
    assert.deepEqual(entry?.effectiveTime, new Date(finalized.status_transitions.finalized_at! * 1000));
    const cycled = await getCurrentCostCenter(db(), team);
    assert.deepEqual(cycled?.billingCycleStart, periodEnd, "the next cycle starts where Stripe's period ended");

    // Exactly once, however it arrives again.
    const finalizedEvent = b.emulator.events("invoice.finalized").find((e) => e.data.object.id === invoice.id)!;
    assert.deepEqual(await b.emulator.deliver(finalizedEvent.id), [200]);
    assert.deepEqual(await b.emulator.deliver(finalizedEvent.id), [200]);
    await b.billing.finalizeInvoice({ invoiceId: invoice.id });
    await b.settle();
    assert.equal(await balanceCents(team), -66n);
    assert.equal((await invoiceEntries(team)).length, 1);
    assert.equal(await sumLedgerCents(db(), team), -66n);
    assert.equal((await getInboxEvent(db(), finalizedEvent.id))?.status, "processed");

    // A dispute blocks the team, once.
    const [charge] = b.emulator.charges(customerId);
    assert.equal(charge?.amount, Math.round(13 * 3.6));
    const dispute = b.emulator.disputeCharge(charge!.id);
    await b.settle();
    const blocked = await b.accounts.getAccountStatus({ attributionId: team });
    assert.equal(blocked.blocked, true);
    assert.match(blocked.reason, new RegExp(`Stripe dispute ${dispute.id} on charge ${charge!.id}: fraudulent`));
    assert.equal(blocked.balanceCredits, -0.66);
    assert.equal(blocked.spendingLimit, 1000);
    const disputeEvent = b.emulator.events("charge.dispute.created").find((e) => e.data.object.id === dispute.id)!;
    await b.emulator.deliver(disputeEvent.id);
    await b.billing.onChargeDispute({ disputeId: dispute.id });
    await b.settle();
    assert.equal((await b.t.tally.billing.accounts.blockHistory(team)).length, 1);

    // The subscription is canceled in Stripe: the cost center is billed OTHER again, old limit restored.
    await rejects(b.billing.cancelSubscription({ subscriptionId: subscription.id }), grpcStatus.FAILED_PRECONDITION, /cancel it in Stripe first/);
    await b.stripe.subscriptions.cancel(subscription.id);
    await b.settle();
    const other = await getCurrentCostCenter(db(), team);
    assert.equal(other?.billingStrategy, "other");
    assert.equal(other?.spendingLimitCredits, 0, "the team default, the last OTHER limit");
    assert.deepEqual(other?.billingCycleStart, b.t.clock.now());
    const versions = other!.version;
    await b.billing.cancelSubscription({ subscriptionId: subscription.id });
    assert.equal((await getCurrentCostCenter(db(), team))?.version, versions, "a repeated cancellation changes nothing");

    // Every event was acknowledged; the ones Tally does not act on are recorded as ignored.
    for (const event of b.emulator.events()) {
      const stored = await getInboxEvent(db(), event.id);
      if (!(event.data.object.metadata?.attributionId === team || event.data.object.customer === customerId || event.data.object.id === customerId)) continue;
      assert.ok(stored, `event ${event.type} ${event.id} was stored`);
      assert.equal(stored.status, ["invoice.finalized", "customer.subscription.deleted", "charge.dispute.created", "customer.updated"].includes(event.type) ? "processed" : "ignored", event.type);
    }
    assert.ok(b.emulator.deliveries.every((delivery) => delivery.status === 200));
    assert.deepEqual(await b.t.tally.billing.inboxBacklog(), { pending: 0, failed: 0, oldestReceivedAt: undefined });
  });

  it("bills a team with several Stripe customers through the subscribed one, else the newest, and records why", async () => {
    const team = teamId();
    const customerFor = (currency: string) =>
      b.stripe.customers.create({ name: `Acme ${currency}`, email: "billing@acme.test", metadata: { attributionId: team, preferredCurrency: currency } });
    // An earlier integration left an abandoned EUR customer, then a subscribed USD one, then another abandoned EUR one.
    const abandonedOld = await customerFor("EUR");
    b.t.clock.advanceMs(day);
    const subscribed = await customerFor("USD");
    const live = await b.stripe.subscriptions.create({ customer: subscribed.id, items: [{ price: b.prices.USD }], metadata: { attributionId: team } });
    b.t.clock.advanceMs(day);
    const abandonedNew = await customerFor("EUR");
    // An event about an abandoned one arrives first: it changes nothing, and does not make it the team's customer.
    await b.stripe.customers.update(abandonedNew.id, { address: { country: "DE", postal_code: "10115" } });
    await b.settle();
    const updated = b.emulator.events("customer.updated").find((e) => e.data.object.id === abandonedNew.id)!;
    const inbox = await getInboxEvent(db(), updated.id);
    assert.equal(inbox?.status, "ignored");
    assert.match(inbox?.lastError ?? "", new RegExp(`duplicates ${subscribed.id}`));

    const { customer } = await b.billing.getStripeCustomer({ attributionId: team });
    assert.deepEqual({ id: customer.id, currency: customer.currency }, { id: subscribed.id, currency: "USD" });
    assert.equal((await b.billing.getStripeCustomer({ stripeCustomerId: abandonedOld.id })).customer.id, subscribed.id);
    const stored = await getStripeCustomerByAttributionId(db(), team);
    assert.match(stored?.selectionReason ?? "", new RegExp(`the one of 3 Stripe customers .* that has a live subscription \\(${live.id}\\); not ${abandonedOld.id}, ${abandonedNew.id}`));
    assert.match((await b.billing.getPriceInformation({ attributionId: team })).humanReadableDescription, /0\.036 USD per credit/);
    const hold = await b.billing.createHoldPaymentIntent({ attributionId: team });
    const intent = await b.stripe.paymentIntents.retrieve(hold.paymentIntentId);
    assert.deepEqual([intent.customer, intent.currency], [subscribed.id, "usd"]);

    // Without a live subscription anywhere, the newest one.
    const other = teamId();
    const older = await b.stripe.customers.create({ name: "Old", metadata: { attributionId: other, preferredCurrency: "USD" } });
    b.t.clock.advanceMs(day);
    const newer = await b.stripe.customers.create({ name: "New", metadata: { attributionId: other, preferredCurrency: "EUR" } });
    const chosen = await b.billing.getStripeCustomer({ attributionId: other });
    assert.deepEqual({ id: chosen.customer.id, currency: chosen.customer.currency }, { id: newer.id, currency: "EUR" });
    assert.match((await getStripeCustomerByAttributionId(db(), other))?.selectionReason ?? "", new RegExp(`the newest of 2 .* none with a live subscription; not ${older.id}`));
  });

  it("books nothing for the first invoice Stripe finalizes at subscription creation, and keeps the cycle", async () => {
    const team = teamId();
    const subscribedAt = b.t.clock.now();
    const { subscriptionId, customerId } = await subscribe(team);
    await b.settle();
    const subscription = await b.stripe.subscriptions.retrieve(subscriptionId);
    const first = await b.stripe.invoices.retrieve(subscription.latest_invoice as string);
    assert.equal(first.billing_reason, "subscription_create");
    assert.ok(first.status_transitions.finalized_at);
    assert.equal(first.lines.data[0]?.quantity, 0);
    assert.equal(first.lines.data[0]?.period.end, subscription.items.data[0]!.current_period_end, "its line spans the coming period");
    const event = b.emulator.events("invoice.finalized").find((e) => e.data.object.id === first.id)!;
    assert.equal((await getInboxEvent(db(), event.id))?.status, "processed");
    assert.deepEqual(await invoiceEntries(team), []);
    assert.equal(await balanceCents(team), 0n);
    const costCenter = await getCurrentCostCenter(db(), team);
    assert.deepEqual(costCenter?.billingCycleStart, subscribedAt, "the cycle did not move to the end of the coming period");
    // Asked again (FinalizeInvoice, or the repair of ReconcileInvoices), still nothing.
    assert.ok(!(await b.billing.finalizeInvoice({ invoiceId: first.id })).booked);
    b.t.clock.set(new Date(costCenter!.nextBillingTime.getTime() + 1000));
    await b.billing.reconcileInvoices({});
    assert.deepEqual(await invoiceEntries(team), []);
    assert.ok(customerId);
  });

  it("copies the verified card's billing address onto the customer, so the subscription collects tax", async () => {
    const team = teamId();
    const { customer } = await b.billing.createStripeCustomer({ attributionId: team, name: "Tax", email: "tax@acme.test", currency: "EUR" });
    assert.equal(customer.invalidBillingAddress, true, "Stripe cannot place a customer without an address");
    const hold = await b.billing.createHoldPaymentIntent({ attributionId: team });
    const confirmed = await b.stripe.paymentIntents.confirm(hold.paymentIntentId, { payment_method: "pm_card_visa" });
    // The browser sent the card holder's address with the card.
    await b.stripe.paymentMethods.update(confirmed.payment_method as string, {
      billing_details: { address: { country: "DE", postal_code: "10115", city: "Berlin", line1: "Str. 1" } },
    });
    const { subscription } = await b.billing.createStripeSubscription({ attributionId: team, paymentIntentId: hold.paymentIntentId });
    const inStripe = (await b.stripe.customers.retrieve(customer.id, { expand: ["tax"] })) as Stripe.Customer;
    assert.deepEqual([inStripe.address?.country, inStripe.address?.postal_code, inStripe.address?.city], ["DE", "10115", "Berlin"]);
    assert.equal(inStripe.tax?.automatic_tax, "supported");
    assert.equal((await b.stripe.subscriptions.retrieve(subscription.id)).automatic_tax.enabled, true);
    assert.equal((await b.billing.getStripeCustomer({ attributionId: team })).customer.invalidBillingAddress ?? false, false);
    await b.settle();
    assert.equal((await b.billing.getStripeCustomer({ attributionId: team })).customer.invalidBillingAddress ?? false, false);
  });

  it("adopts an existing installation's 50 subscribers with `stripe sync`, once", async () => {
    const billing = b.t.tally.billing.billing!;
    const teams: string[] = [];
    const subscriptions = new Map<string, string>();
    for (let i = 0; i < 50; i++) {
      const team = teamId();
      teams.push(team);
      const customer = await b.stripe.customers.create({ name: `Existing ${i}`, metadata: { attributionId: team, preferredCurrency: i % 2 ? "EUR" : "USD" } });
      const subscription = await b.stripe.subscriptions.create({ customer: customer.id, items: [{ price: i % 2 ? b.prices.EUR : b.prices.USD }] });
      subscriptions.set(team, subscription.id);
    }
    const lapsed = teamId();
    await b.stripe.customers.create({ name: "No subscription", metadata: { attributionId: lapsed, preferredCurrency: "EUR" } });
    await b.settle();
    // Usage booked while the team was billed elsewhere is balanced out by the switch.
    await bookInstanceUsage(db(), [{ attributionId: teams[0]!, creditCents: 700n, effectiveTime: b.t.clock.now() }]);
    // Before the sync, the team looks unsubscribed to Tally, and cannot subscribe either.
    assert.equal((await getCurrentCostCenter(db(), teams[1]!))?.billingStrategy ?? "other", "other");

    const first = await billing.syncStripeSubscribers();
    assert.deepEqual(first.failed, []);
    assert.ok(first.switched >= 50, JSON.stringify(first));
    for (const team of teams) {
      assert.equal((await getCurrentCostCenter(db(), team))?.billingStrategy, "stripe", team);
      const stored = await getStripeCustomerByAttributionId(db(), team);
      assert.equal(stored?.syncedSubscriptionId, subscriptions.get(team));
    }
    assert.equal(await balanceCents(teams[0]!), 0n);
    assert.equal((await getCurrentCostCenter(db(), lapsed))?.billingStrategy ?? "other", "other");
    const versions = await Promise.all(teams.map(async (team) => (await getCurrentCostCenter(db(), team))!.version));

    const second = await billing.syncStripeSubscribers();
    assert.deepEqual([second.switched, second.stored, second.failed.length], [0, 0, 0], JSON.stringify(second));
    assert.ok(second.unchanged >= 50);
    assert.deepEqual(await Promise.all(teams.map(async (team) => (await getCurrentCostCenter(db(), team))!.version)), versions);

    // Now the team is subscribed like any other: CreateStripeSubscription answers with its subscription.
    const team = teams[1]!;
    const hold = await b.billing.createHoldPaymentIntent({ attributionId: team });
    await b.stripe.paymentIntents.confirm(hold.paymentIntentId, { payment_method: "pm_card_visa" });
    const answered = await b.billing.createStripeSubscription({ attributionId: team, paymentIntentId: hold.paymentIntentId, usageLimit: 500 });
    assert.equal(answered.subscription.id, subscriptions.get(team));
    assert.equal((await getCurrentCostCenter(db(), team))?.spendingLimitCredits, 500);
    assert.equal((await b.stripe.subscriptions.list({ customer: (await getStripeCustomerByAttributionId(db(), team))!.stripeCustomerId })).data.length, 1);
  });

  it("reports usage through the subscription's own price, and flags a legacy metered price it cannot report to", async () => {
    const team = teamId();
    const legacyPrice = b.emulator.createLegacyMeteredPrice("eur");
    const customer = await b.stripe.customers.create({ name: "Legacy", metadata: { attributionId: team, preferredCurrency: "EUR" } });
    const subscription = await b.stripe.subscriptions.create({ customer: customer.id, items: [{ price: legacyPrice.id }] });
    await b.settle();
    const sync = await b.t.tally.billing.billing!.syncStripeSubscribers();
    assert.deepEqual(sync.failed, []);
    await bookInstanceUsage(db(), [{ attributionId: team, creditCents: 300n, effectiveTime: b.t.clock.now() }]);
    await rejects(b.billing.reconcileInvoices({}), grpcStatus.UNAVAILABLE, new RegExp(`${team}`));
    const stored = await getStripeCustomerByAttributionId(db(), team);
    assert.deepEqual([stored?.legacySubscriptionId, stored?.legacyUsagePriceId], [subscription.id, legacyPrice.id]);
    const metrics = await (await fetch(`${b.t.tally.url}/metrics`)).text();
    assert.match(metrics, /^tally_stripe_legacy_price_subscriptions [1-9]/m);
    const flagged = await b.accounts.getAccountStatus({ attributionId: team });
    assert.deepEqual([flagged.legacyPrice, flagged.legacySubscriptionId, flagged.legacyUsagePriceId], [true, subscription.id, legacyPrice.id]);

    // migrate-prices: a dry run changes nothing; the real run moves the item to the configured price and clears the flag.
    const billing = b.t.tally.billing.billing!;
    const mine = (outcome: Awaited<ReturnType<typeof billing.migrateLegacyPrices>>) => outcome.subscriptions.filter((item) => item.attributionId === team);
    const dry = await billing.migrateLegacyPrices({ dryRun: true });
    assert.deepEqual(
      mine(dry).map((item) => [item.action, item.subscriptionId, item.fromPriceId, item.toPriceId, item.meterId]),
      [["would_migrate", subscription.id, legacyPrice.id, b.prices.EUR, b.prices.meterId]],
    );
    assert.equal((await b.stripe.subscriptions.retrieve(subscription.id)).items.data[0]!.price.id, legacyPrice.id);
    assert.equal((await getStripeCustomerByAttributionId(db(), team))?.legacySubscriptionId, subscription.id);
    const real = await billing.migrateLegacyPrices({ dryRun: false });
    assert.deepEqual(mine(real).map((item) => [item.action, item.subscriptionId]), [["migrated", subscription.id]]);
    assert.ok(real.flagsCleared.includes(team));
    assert.equal((await b.stripe.subscriptions.retrieve(subscription.id)).items.data[0]!.price.id, b.prices.EUR);
    assert.equal((await getStripeCustomerByAttributionId(db(), team))?.legacySubscriptionId, null);
    const cleared = await b.accounts.getAccountStatus({ attributionId: team });
    assert.deepEqual([cleared.legacyPrice, cleared.legacySubscriptionId, cleared.legacyUsagePriceId], [false, "", ""]);
    const again = await billing.migrateLegacyPrices({ dryRun: false });
    assert.deepEqual([mine(again), again.flagsCleared.includes(team)], [[], false]);
    // Now the usage goes to the new price's meter.
    await b.billing.reconcileInvoices({}).catch(() => {});
    assert.equal((await getStripeCustomerByAttributionId(db(), team))?.legacySubscriptionId, null);
  });

  it("migrate-prices names a subscription it cannot move (no configured price for its currency) and flags it, changing nothing in Stripe", async () => {
    const team = teamId();
    const billing = b.t.tally.billing.billing!;
    const legacyPrice = b.emulator.createLegacyMeteredPrice("gbp");
    const customer = await b.stripe.customers.create({ name: "Pounds", metadata: { attributionId: team, preferredCurrency: "EUR" } });
    const subscription = await b.stripe.subscriptions.create({ customer: customer.id, items: [{ price: legacyPrice.id }] });
    await b.settle();
    assert.deepEqual((await billing.syncStripeSubscribers()).failed, []);
    assert.equal((await getStripeCustomerByAttributionId(db(), team))?.legacySubscriptionId, null, "not flagged before any report");
    const mine = (outcome: Awaited<ReturnType<typeof billing.migrateLegacyPrices>>) => outcome.subscriptions.filter((item) => item.attributionId === team);

    const dry = mine(await billing.migrateLegacyPrices({ dryRun: true }));
    assert.deepEqual(dry.map((item) => [item.action, item.subscriptionId, item.toPriceId]), [["failed", subscription.id, ""]]);
    assert.match(dry[0]!.error ?? "", /no usage price is configured for GBP \(STRIPE_USAGE_PRICE_ID_GBP\)/);
    assert.equal((await getStripeCustomerByAttributionId(db(), team))?.legacySubscriptionId, null, "a dry run writes nothing");

    const real = mine(await billing.migrateLegacyPrices({ dryRun: false }));
    assert.deepEqual(real.map((item) => item.action), ["failed"]);
    const stored = await getStripeCustomerByAttributionId(db(), team);
    assert.deepEqual([stored?.legacySubscriptionId, stored?.legacyUsagePriceId], [subscription.id, legacyPrice.id], "flagged by the run");
    assert.equal((await b.stripe.subscriptions.retrieve(subscription.id)).items.data[0]!.price.id, legacyPrice.id);

    // Canceled in Stripe: the webhook clears the flag (an ended subscription is no longer unbilled).
    await b.stripe.subscriptions.cancel(subscription.id);
    await b.settle();
    assert.equal((await getStripeCustomerByAttributionId(db(), team))?.legacySubscriptionId, null);
  });

  it("repairs an invoice whose webhook never arrived, and advances the cycle", async () => {
    const team = teamId();
    const { subscriptionId } = await subscribe(team);
    await bookInstanceUsage(db(), [{ attributionId: team, creditCents: 250n, effectiveTime: b.t.clock.now() }]);
    await b.billing.reconcileInvoices({});
    const period = (await b.stripe.subscriptions.retrieve(subscriptionId)).items.data[0]!;
    b.emulator.deliverWebhooks = false;
    try {
      b.t.clock.set(new Date(period.current_period_end * 1000 + 1000));
      const invoice = b.emulator.billSubscription(subscriptionId);
      assert.equal(invoice.lines.data[0].quantity, 3);
      await b.settle();
      assert.equal(await balanceCents(team), 250n, "no webhook, nothing booked yet");
      await b.billing.reconcileInvoices({});
      assert.equal(await balanceCents(team), -50n);
      const costCenter = await getCurrentCostCenter(db(), team);
      assert.deepEqual(costCenter?.billingCycleStart, new Date(period.current_period_end * 1000));
      assert.ok(costCenter!.nextBillingTime > b.t.clock.now());
      // The late webhook changes nothing.
      b.emulator.deliverWebhooks = true;
      const event = b.emulator.events("invoice.finalized").find((e) => e.data.object.id === invoice.id)!;
      await b.emulator.deliver(event.id);
      await b.settle();
      assert.equal(await balanceCents(team), -50n);
      assert.equal((await invoiceEntries(team)).length, 1);
    } finally {
      b.emulator.deliverWebhooks = true;
    }
  });

  it("moves a Stripe cycle on when it ends before Stripe invoices, and books the invoice later", async () => {
    const team = teamId();
    const { subscriptionId } = await subscribe(team, 50);
    await bookInstanceUsage(db(), [{ attributionId: team, creditCents: 1000n, effectiveTime: b.t.clock.now() }]);
    await b.billing.reconcileInvoices({});
    const before = await getCurrentCostCenter(db(), team);
    b.t.clock.set(new Date(before!.nextBillingTime.getTime() + 1000));
    await b.billing.reconcileInvoices({});
    const advanced = await getCurrentCostCenter(db(), team);
    assert.deepEqual(advanced?.billingCycleStart, before?.nextBillingTime);
    assert.equal(advanced?.spendingLimitCredits, 50);
    b.emulator.billSubscription(subscriptionId);
    await b.settle();
    assert.equal(await balanceCents(team), 0n);
    assert.deepEqual((await getCurrentCostCenter(db(), team))?.billingCycleStart, advanced?.billingCycleStart, "an older period end does not move the cycle back");
  });

  it("ignores events about Stripe customers that are not Tally's, instead of retrying them", async () => {
    const foreign = await b.stripe.customers.create({ name: "another product on the same Stripe account" });
    const invoice = await b.stripe.invoices.create({ customer: foreign.id });
    await b.stripe.invoices.finalizeInvoice(invoice.id);
    await b.settle();
    const event = b.emulator.events("invoice.finalized").find((e) => e.data.object.id === invoice.id)!;
    const stored = await getInboxEvent(db(), event.id);
    assert.equal(stored?.status, "ignored");
    assert.equal(stored?.attempts, 1);
    assert.match(stored?.lastError ?? "", /has no metadata.attributionId: it was not created by Tally/);
    const updated = b.emulator.events("customer.created").find((e) => e.data.object.id === foreign.id)!;
    assert.equal((await getInboxEvent(db(), updated.id))?.status, "ignored");
  });

  it("ignores signed events about Stripe objects that do not exist, recording why, instead of retrying them", async () => {
    const deleted = await b.stripe.customers.create({ name: "gone", metadata: { attributionId: teamId(), preferredCurrency: "EUR" } });
    await b.stripe.customers.del(deleted.id);
    await b.settle();
    const missing: Array<[type: string, objectId: string, reason: RegExp]> = [
      ["invoice.finalized", "in_missing", /^Stripe invoice "in_missing" does not exist$/],
      ["customer.subscription.deleted", "sub_missing", /^Stripe subscription "sub_missing" does not exist$/],
      ["charge.dispute.created", "dp_missing", /^Stripe dispute "dp_missing" does not exist$/],
      ["customer.updated", "cus_missing", /^Stripe customer "cus_missing" does not exist$/],
      ["customer.updated", deleted.id, new RegExp(`^Stripe customer "${deleted.id}" does not exist$`)],
    ];
    const eventIds: string[] = [];
    for (const [type, objectId] of missing) {
      const id = `evt_missing_${randomUUID()}`;
      eventIds.push(id);
      const payload = JSON.stringify({ id, object: "event", type, data: { object: { id: objectId } } });
      const signature = Stripe.webhooks.generateTestHeaderString({
        payload,
        secret: b.emulator.webhookSecret,
        timestamp: Math.floor(b.t.clock.now().getTime() / 1000),
      });
      const response = await fetch(`${b.t.tally.url}/webhooks/stripe`, {
        method: "POST",
        headers: { "content-type": "application/json", "stripe-signature": signature },
        body: payload,
      });
      assert.equal(response.status, 200, type);
    }
    await b.settle();
    for (const [index, [type, , reason]] of missing.entries()) {
      const stored = await getInboxEvent(db(), eventIds[index]!);
      assert.equal(stored?.status, "ignored", type);
      assert.equal(stored?.attempts, 1, `${type} was not retried`);
      assert.match(stored?.lastError ?? "", reason);
      assert.ok(stored?.processedAt);
    }
    assert.deepEqual(await b.t.tally.billing.inboxBacklog(), { pending: 0, failed: 0, oldestReceivedAt: undefined });
  });

  it("books an invoice once when FinalizeInvoice calls and webhook deliveries race", async () => {
    const team = teamId();
    const { subscriptionId, customerId } = await subscribe(team);
    await bookInstanceUsage(db(), [{ attributionId: team, creditCents: 4_321n, effectiveTime: b.t.clock.now() }]);
    await b.billing.reconcileInvoices({});
    const period = (await b.stripe.subscriptions.retrieve(subscriptionId)).items.data[0]!;
    b.t.clock.set(new Date(period.current_period_end * 1000 + 1000));
    b.emulator.deliverWebhooks = false;
    let invoiceId: string;
    try {
      invoiceId = b.emulator.billSubscription(subscriptionId).id;
    } finally {
      b.emulator.deliverWebhooks = true;
    }
    const event = b.emulator.events("invoice.finalized").find((e) => e.data.object.id === invoiceId)!;
    await Promise.all([
      ...Array.from({ length: 5 }, () => b.billing.finalizeInvoice({ invoiceId })),
      b.emulator.deliver(event.id),
      b.emulator.deliver(event.id),
    ]);
    await b.settle();
    assert.equal((await invoiceEntries(team)).length, 1);
    assert.equal(await balanceCents(team), 4_321n - 4_400n);
    assert.equal(await sumLedgerCents(db(), team), 4_321n - 4_400n);

    // The address goes away again: automatic tax is turned off on the live subscription.
    await b.stripe.customers.update(customerId, { address: { country: "DE", postal_code: "10115" } });
    await b.settle();
    assert.equal((await b.stripe.subscriptions.retrieve(subscriptionId)).automatic_tax.enabled, true);
    await b.stripe.customers.update(customerId, { address: "" } as unknown as Stripe.CustomerUpdateParams);
    await b.settle();
    assert.equal((await b.stripe.subscriptions.retrieve(subscriptionId)).automatic_tax.enabled, false);
    assert.equal((await b.billing.getStripeCustomer({ attributionId: team })).customer.invalidBillingAddress, true);
  });
});
