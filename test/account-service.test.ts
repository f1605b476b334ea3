// AccountService and blocking over a real port, and BillingService without Stripe configured.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { listCostCenterHistory } from "../src/store/cost-centers.js";
import { bookInstanceUsage, teamId, userId } from "./support/ledger-fixtures.js";
import { AccountService } from "../src/gen/usage/v1/account_pb.js";
import { BillingService } from "../src/gen/usage/v1/billing_pb.js";
import { grpcClientFor, grpcStatus, rejects, startTestTally, type GrpcClient, type MethodOf, type TestTally } from "./support/test-tally.js";

describe("AccountService and billing without Stripe", () => {
  let t: TestTally;
  let accounts: GrpcClient<typeof AccountService>["methods"];
  let billing: GrpcClient<typeof BillingService>["methods"];
  const closers: Array<() => void> = [];
  before(async () => {
    t = await startTestTally();
    const a = grpcClientFor(`127.0.0.1:${t.tally.port}`, AccountService);
    const b = grpcClientFor(`127.0.0.1:${t.tally.port}`, BillingService);
    closers.push(a.close, b.close);
    accounts = a.methods;
    billing = b.methods;
  });
  after(async () => {
    for (const close of closers) close();
    await t?.stop();
  });

  it("answers every BillingService RPC with FAILED_PRECONDITION while Stripe is not configured", async () => {
    const team = teamId();
    const calls: Array<[MethodOf<typeof BillingService>, object]> = [
      ["reconcileInvoices", {}],
      ["finalizeInvoice", { invoiceId: "in_1" }],
      ["cancelSubscription", { subscriptionId: "sub_1" }],
      ["getStripeCustomer", { attributionId: team }],
      ["createStripeCustomer", { attributionId: team, name: "n", email: "e@x", currency: "EUR" }],
      ["createHoldPaymentIntent", { attributionId: team }],
      ["createStripeSubscription", { attributionId: team, paymentIntentId: "pi_1" }],
      ["updateCustomerSubscriptionsTaxState", { customerId: "cus_1" }],
      ["getPriceInformation", { attributionId: team }],
      ["onChargeDispute", { disputeId: "dp_1" }],
    ];
    for (const [method, request] of calls) {
      await rejects(billing[method](request), grpcStatus.FAILED_PRECONDITION, /^billing is not configured/);
    }
  });

  it("answers the Stripe webhook with 404 while billing is off, storing nothing", async () => {
    const response = await fetch(`${t.tally.url}/webhooks/stripe`, { method: "POST", body: "{}" });
    assert.equal(response.status, 404);
    assert.deepEqual(await t.tally.billing.inboxBacklog(), { pending: 0, failed: 0, oldestReceivedAt: undefined });
  });

  it("rejects a bad attribution id", async () => {
    await rejects(accounts.getAccountStatus({ attributionId: "" }), grpcStatus.INVALID_ARGUMENT, /attribution_id is required/);
    await rejects(accounts.getAccountStatus({ attributionId: "team:xyz" }), grpcStatus.INVALID_ARGUMENT, /attribution_id "team:xyz"/);
    await rejects(accounts.unblockAttribution({ attributionId: "nope", reason: "r" }), grpcStatus.INVALID_ARGUMENT, /no colon/);
  });

  it("reports balance and limit: almost reached above 80 %, reached at the limit", async () => {
    const user = userId(); // users get 500 credits by default
    const fresh = await accounts.getAccountStatus({ attributionId: user });
    assert.deepEqual(
      { ...fresh, blockedTime: fresh.blockedTime ?? null },
      {
        blocked: false,
        reason: "",
        blockedTime: null,
        balanceCredits: 0,
        spendingLimit: 500,
        limitReached: false,
        almostReached: false,
        legacyPrice: false,
        legacySubscriptionId: "",
        legacyUsagePriceId: "",
      },
    );
    await bookInstanceUsage(t.tally.database.db, [{ attributionId: user, creditCents: 40_001n, effectiveTime: t.clock.now() }]);
    const almost = await accounts.getAccountStatus({ attributionId: user });
    assert.equal(almost.balanceCredits, 400.01);
    assert.equal(almost.almostReached, true);
    assert.equal(almost.limitReached, false);
    await bookInstanceUsage(t.tally.database.db, [{ attributionId: user, creditCents: 9_999n, effectiveTime: t.clock.now() }]);
    const reached = await accounts.getAccountStatus({ attributionId: user });
    assert.equal(reached.balanceCredits, 500);
    assert.equal(reached.limitReached, true);
  });

  it("calls a team with the default limit of 0 at its limit, without creating its cost center", async () => {
    const id = teamId();
    const status = await accounts.getAccountStatus({ attributionId: id });
    assert.equal(status.spendingLimit, 0);
    assert.equal(status.limitReached, true);
    assert.equal(status.almostReached, false);
    assert.deepEqual(await listCostCenterHistory(t.tally.database.db, id), []);
  });

  it("shows a block with reason and time; a source blocks once; an operator unblocks with a reason", async () => {
    const team = teamId();
    const blocks = t.tally.billing.accounts;
    assert.equal(await blocks.block({ attributionId: team, reason: "dispute dp_1", source: "stripe-dispute:dp_1" }), true);
    assert.equal(await blocks.block({ attributionId: team, reason: "dispute dp_1", source: "stripe-dispute:dp_1" }), false);
    const blocked = await accounts.getAccountStatus({ attributionId: team });
    assert.equal(blocked.blocked, true);
    assert.equal(blocked.reason, "dispute dp_1");
    assert.equal(Number(blocked.blockedTime.seconds) * 1000, t.clock.now().getTime());
    await rejects(accounts.unblockAttribution({ attributionId: team, reason: "  " }), grpcStatus.INVALID_ARGUMENT, /reason is required/);
    assert.equal((await accounts.unblockAttribution({ attributionId: team, reason: "resolved with the customer" })).unblocked, "1");
    assert.equal((await accounts.getAccountStatus({ attributionId: team })).blocked, false);
    // The same dispute does not block again after an operator lifted it; a new one does.
    assert.equal(await blocks.block({ attributionId: team, reason: "dispute dp_1", source: "stripe-dispute:dp_1" }), false);
    assert.equal((await accounts.getAccountStatus({ attributionId: team })).blocked, false);
    assert.equal(await blocks.block({ attributionId: team, reason: "dispute dp_2", source: "stripe-dispute:dp_2" }), true);
    assert.equal((await accounts.getAccountStatus({ attributionId: team })).reason, "dispute dp_2");
    const history = await blocks.blockHistory(team);
    assert.deepEqual(history.map((b) => [b.source, b.unblockReason]).sort(), [
      ["stripe-dispute:dp_1", "resolved with the customer"],
      ["stripe-dispute:dp_2", null],
    ]);
    assert.equal((await accounts.unblockAttribution({ attributionId: teamId(), reason: "nothing to lift" })).unblocked, "0");
  });
});
