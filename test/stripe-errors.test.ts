// Stripe's answers told apart: only `resource_missing` means "this object is gone". A 404 for a URL
// nothing serves (a wrong STRIPE_API_BASE), or any other failure, is retried and alerted (metric and
// log), never recorded as ignored. And a Stripe call has a total time budget.
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import Stripe from "stripe";
import { inboxLeaseMs } from "../src/billing/webhook-inbox-worker.js";
import {
  createStripeClient,
  StripePaymentProvider,
  stripeBackoffTotalMsMax,
  stripeCallBudgetMs,
  stripeNetworkRetriesMax,
  stripeRequestTimeoutMs,
  type StripeErrorKind,
} from "../src/billing/stripe-payment-provider.js";
import { TallyError } from "../src/domain/tally-error.js";
import { idempotencyLeaseMs } from "../src/services/idempotency.js";
import { getInboxEvent } from "../src/store/webhook-inbox.js";
import { BillingService } from "../src/gen/usage/v1/billing_pb.js";
import { startStripeEmulator, type StripeEmulator } from "./stripe-emulator/emulator.js";
import { grpcClientFor, grpcStatus, rejects, startTestTally, type TestTally } from "./support/test-tally.js";

/** Answers every request as Stripe answers a path it does not serve. */
async function startWrongServer(): Promise<{ url: string; requests: string[]; close(): Promise<void> }> {
  const requests: string[] = [];
  const server = http.createServer((request, response) => {
    requests.push(`${request.method} ${request.url}`);
    request.resume();
    response.writeHead(404, { "content-type": "application/json" });
    response.end(
      JSON.stringify({
        error: {
          message: `Unrecognized request URL (${request.method}: ${request.url}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.`,
          type: "invalid_request_error",
        },
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe("Stripe errors told apart", () => {
  const webhookSecret = "whsec_wrong_base";
  let wrong: Awaited<ReturnType<typeof startWrongServer>>;
  let t: TestTally;
  before(async () => {
    wrong = await startWrongServer();
    t = await startTestTally({
      env: { STRIPE_SECRET_KEY: "sk_test_x", STRIPE_WEBHOOK_SECRET: webhookSecret, STRIPE_API_BASE: wrong.url, STRIPE_USAGE_PRICE_ID_EUR: "price_x" },
    });
  });
  after(async () => {
    await t?.stop();
    await wrong?.close();
  });

  it("retries events when STRIPE_API_BASE points at the wrong server, alerting instead of ignoring them", async () => {
    const types: Array<[string, string]> = [
      ["invoice.finalized", "in_1"],
      ["customer.subscription.deleted", "sub_1"],
      ["charge.dispute.created", "dp_1"],
      ["customer.updated", "cus_1"],
    ];
    const ids: string[] = [];
    for (const [type, objectId] of types) {
      const id = `evt_wrong_base_${type}`;
      ids.push(id);
      const payload = JSON.stringify({ id, object: "event", type, data: { object: { id: objectId } } });
      const signature = Stripe.webhooks.generateTestHeaderString({ payload, secret: webhookSecret, timestamp: Math.floor(t.clock.now().getTime() / 1000) });
      const response = await fetch(`${t.tally.url}/webhooks/stripe`, { method: "POST", headers: { "stripe-signature": signature }, body: payload });
      assert.equal(response.status, 200);
    }
    await t.tally.billing.inbox!.settle();
    for (const [index, id] of ids.entries()) {
      const stored = await getInboxEvent(t.tally.database.db, id);
      assert.equal(stored?.status, "pending", `${types[index]![0]} is retried, not ignored`);
      assert.equal(stored?.attempts, 1);
      assert.ok(stored?.nextAttemptAt && stored.nextAttemptAt > t.clock.now(), "after a backoff");
      assert.match(stored?.lastError ?? "", /unrecognized URL: check STRIPE_API_BASE/);
    }
    assert.ok(wrong.requests.length >= types.length);
    const metrics = await (await fetch(`${t.tally.url}/metrics`)).text();
    const count = Number(/^tally_stripe_errors_total\{kind="unrecognized_url"\} (\d+)/m.exec(metrics)?.[1] ?? 0);
    assert.ok(count >= types.length, metrics.split("\n").filter((line) => line.includes("stripe")).join("\n"));
  });

  it("answers UNAVAILABLE, not NOT_FOUND, for a customer looked up through the wrong server", async () => {
    const billing = grpcClientFor(`127.0.0.1:${t.tally.port}`, BillingService);
    try {
      await rejects(billing.methods.getStripeCustomer({ stripeCustomerId: "cus_1" }), grpcStatus.UNAVAILABLE, /STRIPE_API_BASE/);
    } finally {
      billing.close();
    }
  });
});

describe("the Stripe adapter", () => {
  let emulator: StripeEmulator;
  before(async () => {
    emulator = await startStripeEmulator();
  });
  after(async () => {
    await emulator?.close();
  });

  it("reads only resource_missing as an object that is gone", async () => {
    const kinds: StripeErrorKind[] = [];
    const provider = new StripePaymentProvider(createStripeClient({ secretKey: "sk_test_x", apiBase: emulator.url }), { onError: (kind) => kinds.push(kind) });
    assert.equal(await provider.getCustomer("cus_nothere"), undefined);
    assert.equal(await provider.getInvoice("in_nothere"), undefined);
    assert.deepEqual(kinds, [], "a missing object is not an alert");
  });

  it("gives one call a total time budget, attempts and backoff included, below its callers' deadlines", async () => {
    const attemptsMs = (1 + stripeNetworkRetriesMax) * stripeRequestTimeoutMs + stripeBackoffTotalMsMax;
    assert.ok(attemptsMs <= stripeCallBudgetMs, `${attemptsMs} ms of attempts fit in the ${stripeCallBudgetMs} ms budget`);
    assert.ok(stripeCallBudgetMs * 4 <= inboxLeaseMs && stripeCallBudgetMs * 4 <= idempotencyLeaseMs);

    // A server that never answers: the call fails UNAVAILABLE once the budget is spent.
    const stalled = http.createServer(() => {});
    await new Promise<void>((resolve) => stalled.listen(0, "127.0.0.1", resolve));
    const kinds: StripeErrorKind[] = [];
    try {
      const url = `http://127.0.0.1:${(stalled.address() as AddressInfo).port}`;
      const provider = new StripePaymentProvider(createStripeClient({ secretKey: "sk_test_x", apiBase: url, requestTimeoutMs: 5_000 }), {
        callBudgetMs: 300,
        onError: (kind) => kinds.push(kind),
      });
      const started = performance.now();
      const error = await provider.getCustomer("cus_1").then(
        () => assert.fail("a stalled Stripe cannot answer"),
        (e: unknown) => e,
      );
      const elapsed = performance.now() - started;
      assert.ok(error instanceof TallyError && error.code === "Unavailable", String(error));
      assert.match((error as Error).message, /within the 300 ms budget/);
      assert.ok(elapsed < 2_000, `failed after ${elapsed} ms`);
      assert.deepEqual(kinds, ["timeout"]);
    } finally {
      stalled.closeAllConnections();
      await new Promise<void>((resolve) => stalled.close(() => resolve()));
    }
  });
});
