// `tally stripe sync`, the real command (node bin/tally.mjs) against the Stripe emulator and a fresh
// database: an installation with 50 existing Stripe subscribers is adopted in one run, a second run
// changes nothing, and then Tally's server bills those teams through Stripe like any other.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type Stripe from "stripe";
import { getCurrentCostCenter } from "../src/store/cost-centers.js";
import { getStripeCustomerByAttributionId } from "../src/store/stripe-customers.js";
import { BillingService } from "../src/gen/usage/v1/billing_pb.js";
import { stripeClientFor } from "./support/billing-tally.js";
import { teamId } from "./support/ledger-fixtures.js";
import { createTestDatabase, type TestDatabase } from "./support/test-database.js";
import { grpcClientFor, startTestTally } from "./support/test-tally.js";
import { seedUsagePrices, startStripeEmulator, type StripeEmulator } from "./stripe-emulator/emulator.js";

const root = path.join(import.meta.dirname, "..");

function tally(args: readonly string[], env: Record<string, string | undefined>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(root, "bin/tally.mjs"), ...args],
      { cwd: root, env: { ...process.env, TALLY_SERVER: undefined, TALLY_TOKEN: undefined, ...env } },
      (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, stdout, stderr }),
    );
  });
}

describe("tally stripe sync", () => {
  let emulator: StripeEmulator;
  let stripe: Stripe;
  let database: TestDatabase;
  before(async () => {
    emulator = await startStripeEmulator();
    stripe = stripeClientFor(emulator.url);
    database = await createTestDatabase();
  });
  after(async () => {
    await emulator?.close();
    await database?.drop();
  });

  it("adopts an installation's 50 existing subscribers in one run, and a second run changes nothing", async () => {
    const prices = await seedUsagePrices(stripe);
    const env = {
      ...(database.databaseUrl ? { DATABASE_URL: database.databaseUrl } : { DATABASE_URL: "", TALLY_DATA_DIR: database.dataDir }),
      STRIPE_SECRET_KEY: "sk_test_sync",
      STRIPE_API_BASE: emulator.url,
      STRIPE_USAGE_PRICE_ID_EUR: prices.EUR,
      STRIPE_USAGE_PRICE_ID_USD: prices.USD,
    };
    const migrated = await tally(["migrate"], env);
    assert.equal(migrated.code, 0, migrated.stderr);

    const teams: string[] = [];
    const subscriptions = new Map<string, string>();
    for (let i = 0; i < 50; i++) {
      const team = teamId();
      teams.push(team);
      const currency = i % 2 ? "EUR" : "USD";
      const customer = await stripe.customers.create({ name: `Existing ${i}`, metadata: { attributionId: team, preferredCurrency: currency } });
      const subscription = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: i % 2 ? prices.EUR : prices.USD }] });
      subscriptions.set(team, subscription.id);
    }
    const lapsed = teamId();
    const lapsedCustomer = await stripe.customers.create({ name: "Lapsed", metadata: { attributionId: lapsed, preferredCurrency: "EUR" } });
    await stripe.subscriptions.cancel((await stripe.subscriptions.create({ customer: lapsedCustomer.id, items: [{ price: prices.EUR }] })).id);
    await stripe.customers.create({ name: "Another product's customer" });

    // The command logs what it does on stderr (JSON lines, as the server does); stdout is its report.
    const summary = (stdout: string) => stdout.trim().split("\n").at(-1);
    const switchedLogs = (stdout: string) => stdout.split("\n").filter((line) => line.includes("stripe sync: cost center now billed by Stripe")).length;
    const first = await tally(["stripe", "sync"], env);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(switchedLogs(first.stderr), 50);
    assert.equal(
      summary(first.stdout),
      "read 52 Stripe customers, 51 with metadata.attributionId: 50 with a live subscription, 50 stored or updated, 50 switched to STRIPE, " +
        "0 unchanged, 1 without a live subscription, 0 failed",
    );
    const second = await tally(["stripe", "sync"], env);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(switchedLogs(second.stderr), 0);
    assert.equal(
      summary(second.stdout),
      "read 52 Stripe customers, 51 with metadata.attributionId: 50 with a live subscription, 0 stored or updated, 0 switched to STRIPE, " +
        "50 unchanged, 1 without a live subscription, 0 failed",
    );

    // The server on that database: every team billed through Stripe on its own subscription.
    const t = await startTestTally({ database, env: { ...env, STRIPE_WEBHOOK_SECRET: emulator.webhookSecret } });
    const billing = grpcClientFor(`127.0.0.1:${t.tally.port}`, BillingService);
    try {
      for (const team of teams) {
        assert.equal((await getCurrentCostCenter(t.tally.database.db, team))?.billingStrategy, "stripe", team);
        assert.equal((await getStripeCustomerByAttributionId(t.tally.database.db, team))?.syncedSubscriptionId, subscriptions.get(team));
      }
      assert.equal((await getCurrentCostCenter(t.tally.database.db, lapsed))?.billingStrategy ?? "other", "other");
      const team = teams[7]!;
      const hold = await billing.methods.createHoldPaymentIntent({ attributionId: team });
      await stripe.paymentIntents.confirm(hold.paymentIntentId, { payment_method: "pm_card_visa" });
      const answered = await billing.methods.createStripeSubscription({ attributionId: team, paymentIntentId: hold.paymentIntentId, usageLimit: 300 });
      assert.equal(answered.subscription.id, subscriptions.get(team), "the synced subscription, not ALREADY_EXISTS and not a second one");
    } finally {
      billing.close();
      await t.stop();
    }
  });

  it("refuses to run without Stripe configured", async () => {
    const run = await tally(["stripe", "sync"], { DATABASE_URL: "", TALLY_DATA_DIR: database.dataDir, STRIPE_SECRET_KEY: "" });
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /billing is not configured/);
  });
});
