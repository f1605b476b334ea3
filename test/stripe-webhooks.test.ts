// POST /webhooks/stripe: only correctly signed, recent, reasonably sized events are stored; a stored
// event is acknowledged before it is processed; redeliveries and unknown types change nothing.
import assert from "node:assert/strict";
import http from "node:http";
import { after, before, describe, it } from "node:test";
import Stripe from "stripe";
import { storeWebhookEvent, webhookBodyBytesMax } from "../src/billing/stripe-webhook.js";
import { inboxAttemptsMax, inboxRetryDelayMs, InboxWorker } from "../src/billing/webhook-inbox-worker.js";
import { ManualClock } from "../src/domain/clock.js";
import { silentLogger } from "../src/logger.js";
import { getInboxEvent, inboxBacklog } from "../src/store/webhook-inbox.js";
import { startTestTally, type TestTally } from "./support/test-tally.js";

const secret = "whsec_test_webhooks";

describe("the Stripe webhook endpoint", () => {
  let t: TestTally;
  let eventSeq = 0;
  before(async () => {
    t = await startTestTally({ env: { STRIPE_SECRET_KEY: "sk_test_x", STRIPE_WEBHOOK_SECRET: secret, TALLY_JOBS: "off" } });
    // Nothing in these tests reaches Stripe: keep the worker from trying.
    await t.tally.billing.inbox!.stop();
  });
  after(async () => {
    await t?.stop();
  });

  const nowSeconds = () => Math.floor(t.clock.now().getTime() / 1000);
  const event = (type = "customer.created", extra: object = {}) =>
    JSON.stringify({ id: `evt_test_${++eventSeq}_${Date.now()}`, object: "event", type, data: { object: { id: "cus_123", object: "customer" } }, ...extra });
  const sign = (payload: string, options: { secret?: string; timestamp?: number } = {}) =>
    Stripe.webhooks.generateTestHeaderString({ payload, secret: options.secret ?? secret, timestamp: options.timestamp ?? nowSeconds() });
  const post = (body: string | Buffer, headers: Record<string, string>) =>
    fetch(`${t.tally.url}/webhooks/stripe`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
  const idOf = (payload: string) => (JSON.parse(payload) as { id: string }).id;
  const stored = async (payload: string) => getInboxEvent(t.tally.database.db, idOf(payload));

  it("stores a correctly signed event before answering 200, as pending when Tally acts on its type", async () => {
    const payload = event("invoice.finalized");
    const response = await post(payload, { "stripe-signature": sign(payload) });
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { received: true, duplicate: false });
    const row = await stored(payload);
    assert.equal(row?.status, "pending");
    assert.equal(row?.objectId, "cus_123");
    assert.deepEqual(row?.payload, JSON.parse(payload));
    assert.equal((await inboxBacklog(t.tally.database.db)).pending, 1);
  });

  it("acknowledges a redelivery without storing it twice", async () => {
    const payload = event("charge.dispute.created");
    assert.equal((await post(payload, { "stripe-signature": sign(payload) })).status, 200);
    const again = await post(payload, { "stripe-signature": sign(payload) });
    assert.equal(again.status, 200);
    assert.deepEqual(await again.json(), { received: true, duplicate: true });
    assert.equal((await stored(payload))?.attempts, 0);
  });

  it("acknowledges unknown event types and records them as ignored", async () => {
    const payload = event("customer.tax_id.created");
    assert.equal((await post(payload, { "stripe-signature": sign(payload) })).status, 200);
    const row = await stored(payload);
    assert.equal(row?.status, "ignored");
    assert.ok(row?.processedAt);
  });

  const refused: Array<[string, (payload: string) => [string | Buffer, Record<string, string>], number]> = [
    ["a tampered body", (p) => [p.replace("cus_123", "cus_999"), { "stripe-signature": sign(p) }], 400],
    ["a signature made with another secret", (p) => [p, { "stripe-signature": sign(p, { secret: "whsec_wrong" }) }], 400],
    ["a signature older than 300 seconds", (p) => [p, { "stripe-signature": sign(p, { timestamp: nowSeconds() - 301 }) }], 400],
    ["a signature dated 301 seconds in the future", (p) => [p, { "stripe-signature": sign(p, { timestamp: nowSeconds() + 301 }) }], 400],
    ["a signature dated 30 days in the future", (p) => [p, { "stripe-signature": sign(p, { timestamp: nowSeconds() + 30 * 86_400 }) }], 400],
    ["no signature", (p) => [p, {}], 400],
    ["a garbage signature header", (p) => [p, { "stripe-signature": "t=1,v1=abc" }], 400],
    ["a signed body that is not an event", () => ["[1,2]", { "stripe-signature": sign("[1,2]") }], 400],
    ["a body over 1 MiB", (p) => [p + " ".repeat(webhookBodyBytesMax), { "stripe-signature": sign(p + " ".repeat(webhookBodyBytesMax)) }], 413],
  ];
  for (const [what, build, status] of refused) {
    it(`refuses ${what} with ${status} and stores nothing`, async () => {
      const payload = event("invoice.finalized");
      const before = await inboxBacklog(t.tally.database.db);
      const [body, headers] = build(payload);
      const response = await post(body, headers);
      assert.equal(response.status, status);
      assert.equal(await stored(payload), undefined);
      assert.deepEqual(await inboxBacklog(t.tally.database.db), before);
    });
  }

  it("accepts a signature at the edge of the tolerance, in the past and in the future", async () => {
    const payload = event("customer.updated");
    assert.equal((await post(payload, { "stripe-signature": sign(payload, { timestamp: nowSeconds() - 299 }) })).status, 200);
    const ahead = event("customer.updated");
    assert.equal((await post(ahead, { "stripe-signature": sign(ahead, { timestamp: nowSeconds() + 299 }) })).status, 200);
  });

  it("refuses an oversized body sent without a content length (chunked) with 413", async () => {
    const url = new URL(`${t.tally.url}/webhooks/stripe`);
    const status = await new Promise<number>((resolve, reject) => {
      const request = http.request({ host: url.hostname, port: url.port, path: url.pathname, method: "POST", headers: { "stripe-signature": "t=1,v1=x" } }, (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      });
      request.on("error", reject);
      const chunk = Buffer.alloc(64 * 1024, 32);
      for (let sent = 0; sent <= webhookBodyBytesMax; sent += chunk.length) request.write(chunk);
      request.end();
    });
    assert.equal(status, 413);
  });

  it("answers other methods with 405", async () => {
    const response = await fetch(`${t.tally.url}/webhooks/stripe`);
    assert.equal(response.status, 405);
    assert.equal(response.headers.get("allow"), "POST");
  });

  it("retries a failing event with growing backoff, then gives up on it for an operator", async () => {
    assert.deepEqual([1, 2, 3, 12, 30].map(inboxRetryDelayMs), [5_000, 10_000, 20_000, 3_600_000, 3_600_000]);
    const clock = new ManualClock(t.clock.now());
    let calls = 0;
    const worker = new InboxWorker({
      db: t.tally.database.db,
      clock,
      logger: silentLogger,
      handle: async () => {
        calls += 1;
        throw new Error("Stripe said no");
      },
    });
    const db = t.tally.database.db;
    const before = await inboxBacklog(db);
    // Events stored by earlier tests are pending too; this worker works them all off, so count ours.
    await storeWebhookEvent(db, { id: "evt_always_fails", type: "invoice.finalized", data: { object: { id: "in_x" } } }, clock.now());
    assert.equal(await worker.processNext(), "retry");
    assert.equal((await getInboxEvent(db, "evt_always_fails"))?.lastError, "Stripe said no");
    const notYet = await worker.drain();
    assert.ok(notYet <= before.pending, "nothing is retried before its backoff");
    for (let round = 0; round < inboxAttemptsMax + 5; round++) {
      clock.advanceMs(inboxRetryDelayMs(inboxAttemptsMax));
      await worker.drain();
    }
    const row = await getInboxEvent(db, "evt_always_fails");
    assert.equal(row?.status, "failed");
    assert.equal(row?.attempts, inboxAttemptsMax);
    const after = await inboxBacklog(db);
    assert.equal(after.pending, 0);
    assert.ok(after.failed >= 1);
    assert.ok(calls >= inboxAttemptsMax);
  });
});
