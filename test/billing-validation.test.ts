// Every BillingService RPC's refusals, with their gRPC codes, against the Stripe emulator.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { getStripeCustomerByAttributionId } from "../src/store/stripe-customers.js";
import { startBillingTally, type BillingTally } from "./support/billing-tally.js";
import { teamId, userId } from "./support/ledger-fixtures.js";
import { grpcStatus, rejects } from "./support/test-tally.js";

const { INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION, ALREADY_EXISTS } = grpcStatus;

describe("BillingService refusals", () => {
  let b: BillingTally;
  before(async () => {
    b = await startBillingTally();
  });
  after(async () => {
    await b?.stop();
  });

  async function customerFor(team: string, currency = "USD") {
    const { customer } = await b.billing.createStripeCustomer({ attributionId: team, name: "Acme", email: "a@acme.test", currency });
    return customer.id as string;
  }

  it("GetStripeCustomer needs one identifier, valid, and known somewhere", async () => {
    await rejects(b.billing.getStripeCustomer({}), INVALID_ARGUMENT, /attribution_id or stripe_customer_id is required/);
    await rejects(b.billing.getStripeCustomer({ attributionId: "team:nope" }), INVALID_ARGUMENT, /attribution_id "team:nope"/);
    await rejects(b.billing.getStripeCustomer({ stripeCustomerId: "" }), INVALID_ARGUMENT, /stripe_customer_id is required/);
    await rejects(b.billing.getStripeCustomer({ attributionId: teamId() }), NOT_FOUND, /no Stripe customer for attribution_id/);
    await rejects(b.billing.getStripeCustomer({ stripeCustomerId: "cus_missing" }), NOT_FOUND, /Stripe customer "cus_missing" does not exist/);
    const foreign = await b.stripe.customers.create({ name: "not from tally" });
    await rejects(b.billing.getStripeCustomer({ stripeCustomerId: foreign.id }), FAILED_PRECONDITION, /no metadata.attributionId/);
  });

  it("GetStripeCustomer finds a customer Tally created but did not store, and stores it", async () => {
    const team = teamId();
    const made = await b.stripe.customers.create({ name: "Acme", metadata: { attributionId: team, preferredCurrency: "EUR" } });
    assert.equal(await getStripeCustomerByAttributionId(b.t.tally.database.db, team), undefined);
    const found = await b.billing.getStripeCustomer({ attributionId: team });
    assert.equal(found.customer.id, made.id);
    assert.equal(found.customer.currency, "EUR");
    assert.equal(found.customer.invalidBillingAddress, true);
    assert.equal((await getStripeCustomerByAttributionId(b.t.tally.database.db, team))?.stripeCustomerId, made.id);
    // CreateStripeCustomer finds it too instead of creating a second one.
    assert.equal((await b.billing.createStripeCustomer({ attributionId: team, name: "A", email: "a@b.c", currency: "EUR" })).customer.id, made.id);
  });

  it("CreateStripeCustomer validates id, name, email, currency and billing creator", async () => {
    const ok = { attributionId: teamId(), name: "Acme", email: "a@acme.test", currency: "EUR" };
    await rejects(b.billing.createStripeCustomer({ ...ok, attributionId: "" }), INVALID_ARGUMENT, /attribution_id is required/);
    await rejects(b.billing.createStripeCustomer({ ...ok, name: " " }), INVALID_ARGUMENT, /name is required/);
    await rejects(b.billing.createStripeCustomer({ ...ok, email: "" }), INVALID_ARGUMENT, /email is required/);
    await rejects(b.billing.createStripeCustomer({ ...ok, email: "acme" }), INVALID_ARGUMENT, /email "acme" is not an email address/);
    await rejects(b.billing.createStripeCustomer({ ...ok, name: "Ac\u0007me" }), INVALID_ARGUMENT, /^name must not contain control characters/);
    await rejects(b.billing.createStripeCustomer({ ...ok, email: "a\u001b@acme.test" }), INVALID_ARGUMENT, /^email must not contain control characters/);
    await rejects(b.billing.createStripeCustomer({ ...ok, email: "a@acme" }), INVALID_ARGUMENT, /^email "a@acme" is not an email address/);
    await rejects(b.billing.createStripeCustomer({ ...ok, email: "a b@acme.test" }), INVALID_ARGUMENT, /^email "a b@acme.test" is not an email address/);
    await rejects(b.billing.createStripeCustomer({ ...ok, email: `a@${"d".repeat(250)}.test` }), INVALID_ARGUMENT, /^email is 257 characters long, at most 254/);
    await rejects(b.billing.createStripeCustomer({ ...ok, currency: "" }), INVALID_ARGUMENT, /currency is required/);
    await rejects(b.billing.createStripeCustomer({ ...ok, currency: "GBP" }), INVALID_ARGUMENT, /currency "GBP" is not supported/);
    await rejects(b.billing.createStripeCustomer({ ...ok, billingCreatorUserId: "bob" }), INVALID_ARGUMENT, /billing_creator_user_id "bob"/);
    await rejects(b.billing.getStripeCustomer({ attributionId: ok.attributionId }), NOT_FOUND);
  });

  it("CreateHoldPaymentIntent needs a valid id with a customer", async () => {
    await rejects(b.billing.createHoldPaymentIntent({ attributionId: "x" }), INVALID_ARGUMENT, /no colon/);
    await rejects(b.billing.createHoldPaymentIntent({ attributionId: userId() }), NOT_FOUND, /call CreateStripeCustomer first/);
  });

  it("CreateStripeSubscription needs a payment intent that verified this customer's card", async () => {
    const team = teamId();
    await rejects(b.billing.createStripeSubscription({ attributionId: team, paymentIntentId: "" }), INVALID_ARGUMENT, /payment_intent_id is required/);
    await rejects(b.billing.createStripeSubscription({ attributionId: "bad", paymentIntentId: "pi_1" }), INVALID_ARGUMENT, /attribution_id "bad"/);
    await rejects(b.billing.createStripeSubscription({ attributionId: team, paymentIntentId: "pi_1", usageLimit: -5 }), INVALID_ARGUMENT, /usage_limit -5/);
    await rejects(b.billing.createStripeSubscription({ attributionId: team, paymentIntentId: "pi_1", usageLimit: "3000000000" }), INVALID_ARGUMENT, /usage_limit 3000000000/);
    await rejects(b.billing.createStripeSubscription({ attributionId: team, paymentIntentId: "pi_1" }), NOT_FOUND, /no Stripe customer/);
    await customerFor(team);
    await rejects(b.billing.createStripeSubscription({ attributionId: team, paymentIntentId: "pi_missing" }), NOT_FOUND, /payment intent "pi_missing" does not exist/);
    const hold = await b.billing.createHoldPaymentIntent({ attributionId: team });
    await rejects(
      b.billing.createStripeSubscription({ attributionId: team, paymentIntentId: hold.paymentIntentId }),
      INVALID_ARGUMENT,
      /payment method is invalid: payment intent \S+ is requires_payment_method/,
    );
    const other = teamId();
    await customerFor(other);
    const otherHold = await b.billing.createHoldPaymentIntent({ attributionId: other });
    await b.stripe.paymentIntents.confirm(otherHold.paymentIntentId, { payment_method: "pm_card_visa" });
    await rejects(
      b.billing.createStripeSubscription({ attributionId: team, paymentIntentId: otherHold.paymentIntentId }),
      INVALID_ARGUMENT,
      /belongs to another customer/,
    );
    await b.stripe.paymentIntents.confirm(hold.paymentIntentId, { payment_method: "pm_card_visa" });
    await b.billing.createStripeSubscription({ attributionId: team, paymentIntentId: hold.paymentIntentId });
    await rejects(
      b.billing.createStripeSubscription({ attributionId: team, paymentIntentId: otherHold.paymentIntentId }),
      ALREADY_EXISTS,
    );
    // USD customer, no usage limit: the subscription is on the USD price and the limit stays.
    const subscriptions = await b.stripe.subscriptions.list({ customer: (await b.billing.getStripeCustomer({ attributionId: team })).customer.id });
    assert.equal(subscriptions.data[0]?.items.data[0]?.price.id, b.prices.USD);
  });

  it("UpdateCustomerSubscriptionsTaxState needs a known customer", async () => {
    await rejects(b.billing.updateCustomerSubscriptionsTaxState({ customerId: "" }), INVALID_ARGUMENT, /customer_id is required/);
    await rejects(b.billing.updateCustomerSubscriptionsTaxState({ customerId: "cus_missing" }), NOT_FOUND);
    const deleted = await customerFor(teamId());
    await b.stripe.customers.del(deleted);
    await rejects(b.billing.updateCustomerSubscriptionsTaxState({ customerId: deleted }), NOT_FOUND);
  });

  it("GetPriceInformation validates the id and describes the price a new customer would get", async () => {
    await rejects(b.billing.getPriceInformation({ attributionId: "" }), INVALID_ARGUMENT, /attribution_id is required/);
    const described = await b.billing.getPriceInformation({ attributionId: teamId() });
    assert.equal(described.humanReadableDescription, "Usage credits: 0.036 USD per credit, billed monthly");
    const team = teamId();
    await customerFor(team, "EUR");
    assert.match((await b.billing.getPriceInformation({ attributionId: team })).humanReadableDescription, /EUR per credit/);
  });

  it("FinalizeInvoice needs a known, finalized invoice with lines", async () => {
    await rejects(b.billing.finalizeInvoice({ invoiceId: "" }), INVALID_ARGUMENT, /invoice_id is required/);
    await rejects(b.billing.finalizeInvoice({ invoiceId: "in_missing" }), NOT_FOUND, /Stripe invoice "in_missing" does not exist/);
    const customerId = await customerFor(teamId());
    const empty = await b.stripe.invoices.create({ customer: customerId });
    await b.stripe.invoices.finalizeInvoice(empty.id);
    await rejects(b.billing.finalizeInvoice({ invoiceId: empty.id }), FAILED_PRECONDITION, /has no lines/);
    const team = teamId();
    await customerFor(team);
    const hold = await b.billing.createHoldPaymentIntent({ attributionId: team });
    await b.stripe.paymentIntents.confirm(hold.paymentIntentId, { payment_method: "pm_card_visa" });
    const { subscription } = await b.billing.createStripeSubscription({ attributionId: team, paymentIntentId: hold.paymentIntentId });
    const draft = b.emulator.billSubscription(subscription.id, { finalize: false });
    await rejects(b.billing.finalizeInvoice({ invoiceId: draft.id }), FAILED_PRECONDITION, /is draft, not finalized/);
    await b.stripe.invoices.finalizeInvoice(draft.id);
    await b.billing.finalizeInvoice({ invoiceId: draft.id });
  });

  it("CancelSubscription and OnChargeDispute need known ids", async () => {
    await rejects(b.billing.cancelSubscription({ subscriptionId: "" }), INVALID_ARGUMENT, /subscription_id is required/);
    await rejects(b.billing.cancelSubscription({ subscriptionId: "sub_missing" }), NOT_FOUND);
    await rejects(b.billing.onChargeDispute({ disputeId: "" }), INVALID_ARGUMENT, /dispute_id is required/);
    await rejects(b.billing.onChargeDispute({ disputeId: "dp_missing" }), NOT_FOUND, /Stripe dispute "dp_missing" does not exist/);
  });

  it("ReconcileInvoices reports which cost centers failed, after doing the others", async () => {
    const team = teamId();
    // A cost center billed by Stripe without any Stripe customer: the report cannot be made.
    await b.t.tally.costCenters.set({ attributionId: team, spendingLimitCredits: 10, billingStrategy: "stripe" });
    await rejects(b.billing.reconcileInvoices({}), grpcStatus.UNAVAILABLE, new RegExp(`failed for 1 of \\d+ Stripe cost centers.*${team}`));
  });
});
