// Tally with billing on, against the Stripe emulator, both on free ports and one ManualClock. The test
// gets gRPC clients for billing and accounts, and a Stripe SDK client playing the browser and the
// Stripe dashboard (confirming cards, canceling subscriptions, editing addresses).
import Stripe from "stripe";
import { stripeApiVersion } from "../../src/billing/stripe-payment-provider.js";
import { ManualClock } from "../../src/domain/clock.js";
import { seedUsagePrices, startStripeEmulator, type StripeEmulator, type StripeEmulatorOptions } from "../stripe-emulator/emulator.js";
import { AccountService } from "../../src/gen/usage/v1/account_pb.js";
import { BillingService } from "../../src/gen/usage/v1/billing_pb.js";
import { grpcClientFor, startTestTally, type GrpcClient, type TestTally } from "./test-tally.js";


export interface BillingTally {
  readonly t: TestTally;
  readonly emulator: StripeEmulator;
  readonly stripe: Stripe;
  readonly prices: { meterId: string; EUR: string; USD: string };
  readonly billing: GrpcClient<typeof BillingService>["methods"];
  readonly accounts: GrpcClient<typeof AccountService>["methods"];
  /** Waits for webhook deliveries and for the inbox to be worked off. */
  settle(): Promise<void>;
  stop(): Promise<void>;
}

export function stripeClientFor(url: string): Stripe {
  const base = new URL(url);
  return new Stripe("sk_test_tally_tests", {
    apiVersion: stripeApiVersion,
    host: base.hostname,
    port: Number(base.port),
    protocol: "http",
    maxNetworkRetries: 0,
    telemetry: false,
  });
}

export async function startBillingTally(
  options: { clock?: ManualClock; env?: Record<string, string>; emulator?: Omit<StripeEmulatorOptions, "clock"> } = {},
): Promise<BillingTally> {
  const clock = options.clock ?? new ManualClock(new Date("2026-01-15T12:00:00Z"));
  const emulator = await startStripeEmulator({ ...options.emulator, clock });
  const stripe = stripeClientFor(emulator.url);
  const prices = await seedUsagePrices(stripe);
  const t = await startTestTally({
    clock,
    env: {
      STRIPE_SECRET_KEY: "sk_test_tally",
      STRIPE_WEBHOOK_SECRET: emulator.webhookSecret,
      STRIPE_API_BASE: emulator.url,
      STRIPE_USAGE_PRICE_ID_EUR: prices.EUR,
      STRIPE_USAGE_PRICE_ID_USD: prices.USD,
      ...options.env,
    },
  });
  emulator.addWebhookEndpoint(`${t.tally.url}/webhooks/stripe`);
  const address = `127.0.0.1:${t.tally.port}`;
  const billing = grpcClientFor(address, BillingService);
  const accounts = grpcClientFor(address, AccountService);
  return {
    t,
    emulator,
    stripe,
    prices,
    billing: billing.methods,
    accounts: accounts.methods,
    async settle() {
      await emulator.settled();
      await t.tally.billing.inbox!.settle();
    },
    async stop() {
      billing.close();
      accounts.close();
      await t.stop();
      await emulator.close();
    },
  };
}
