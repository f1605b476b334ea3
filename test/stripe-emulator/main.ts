// `npm run stripe-emulator`: a local Stripe on PORT (default 12111) with a usage meter and EUR/USD
// prices seeded, printing what Tally needs to use it. STRIPE_WEBHOOK_URL adds a webhook endpoint.
import Stripe from "stripe";
import { stripeApiVersion } from "../../src/billing/stripe-payment-provider.js";
import { seedUsagePrices, startStripeEmulator } from "./emulator.js";

/** A clock the /_emulator/clock/advance route can move forwards, starting at the real time. */
class OffsetClock {
  private offsetMs = 0;
  now(): Date {
    return new Date(Date.now() + this.offsetMs);
  }
  advanceMs(ms: number): void {
    this.offsetMs += ms;
  }
}

const port = Number(process.env.PORT ?? 12111);
const emulator = await startStripeEmulator({
  port,
  host: process.env.HOST ?? "127.0.0.1",
  clock: new OffsetClock(),
  ...(process.env.STRIPE_WEBHOOK_SECRET ? { webhookSecret: process.env.STRIPE_WEBHOOK_SECRET } : {}),
});
const base = new URL(emulator.url);
const secretKey = "sk_test_emulator";
const stripe = new Stripe(secretKey, { apiVersion: stripeApiVersion, host: base.hostname, port: Number(base.port), protocol: "http" });
const prices = await seedUsagePrices(stripe);
if (process.env.STRIPE_WEBHOOK_URL) emulator.addWebhookEndpoint(process.env.STRIPE_WEBHOOK_URL);

console.log(`Stripe emulator listening on ${emulator.url}`);
console.log(`
Point Tally at it:
  STRIPE_API_BASE=${emulator.url}
  STRIPE_SECRET_KEY=${secretKey}   (any sk_test_ key is accepted)
  STRIPE_WEBHOOK_SECRET=${emulator.webhookSecret}
  STRIPE_USAGE_PRICE_ID_EUR=${prices.EUR}
  STRIPE_USAGE_PRICE_ID_USD=${prices.USD}
Webhook endpoint: ${process.env.STRIPE_WEBHOOK_URL ?? "(none; set STRIPE_WEBHOOK_URL, e.g. http://127.0.0.1:9001/webhooks/stripe)"}
Test controls: POST /_emulator/subscriptions/<id>/bill, /_emulator/charges/<id>/dispute,
  /_emulator/events/<id>/deliver, /_emulator/clock/advance (seconds=...)`);

const stop = () => void emulator.close().then(() => process.exit(0));
process.once("SIGINT", stop);
process.once("SIGTERM", stop);
