// Retries that never double-book: mutations take an `idempotency-key` header (gRPC metadata or HTTP
// header). The same key with the same request replays the first result and books nothing more; with
// another request it is ALREADY_EXISTS; concurrent requests with one key book once; keys are pruned
// after their retention.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { eq } from "drizzle-orm";
import { AccountService } from "../src/gen/usage/v1/account_pb.js";
import { EventService } from "../src/gen/usage/v1/event_pb.js";
import { CostCenter_BillingStrategy, UsageService } from "../src/gen/usage/v1/usage_pb.js";
import { countKeys } from "../src/store/idempotency-keys.js";
import { usage as usageTable } from "../src/store/schema.js";
import { protoDir, startTestTally, type TestTally } from "./support/test-tally.js";
import { startBillingTally, type BillingTally } from "./support/billing-tally.js";
import { teamId } from "./support/ledger-fixtures.js";
import * as protoLoader from "@grpc/proto-loader";

const keyed = (key: string) => ({ headers: { "idempotency-key": key } });

async function codeOf(call: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await call;
    return { code: "ok", message: "" };
  } catch (error) {
    const connect = ConnectError.from(error);
    return { code: Code[connect.code], message: connect.rawMessage };
  }
}

describe("idempotency keys on UsageService and AccountService mutations", () => {
  let t: TestTally;
  let usage: Client<typeof UsageService>;
  let usageJson: Client<typeof UsageService>;
  let accounts: Client<typeof AccountService>;
  before(async () => {
    t = await startTestTally();
    usage = t.usage;
    usageJson = t.usageJson;
    accounts = createClient(AccountService, createConnectTransport({ baseUrl: t.tally.url, httpVersion: "1.1" }));
  });
  after(async () => {
    await t?.stop();
  });

  const creditNotes = async (attributionId: string) =>
    (await t.tally.database.db.select().from(usageTable).where(eq(usageTable.attributionId, attributionId))).filter((row) => row.kind === "creditnote");

  it("books a credit note once however often it is retried, over gRPC metadata and HTTP headers alike", async () => {
    const team = teamId();
    const key = randomUUID();
    const request = { attributionId: team, credits: 25, description: "goodwill" };
    await usage.addUsageCreditNote(request, keyed(key));
    // The same request again, over another protocol (Connect JSON on HTTP/1.1), and over grpc-js.
    await usageJson.addUsageCreditNote(request, keyed(key));
    await grpcJsCreditNote(`127.0.0.1:${t.tally.port}`, request, key);
    assert.equal((await creditNotes(team)).length, 1);
    assert.equal((await usage.getBalance({ attributionId: team })).credits, -25);
    // Without a key every call books: keys are the client's to send.
    await usage.addUsageCreditNote(request);
    assert.equal((await usage.getBalance({ attributionId: team })).credits, -50);
  });

  it("answers ALREADY_EXISTS for the same key with another request or on another procedure, booking nothing", async () => {
    const team = teamId();
    const key = randomUUID();
    await usage.addUsageCreditNote({ attributionId: team, credits: 10, description: "first" }, keyed(key));
    const other = await codeOf(usage.addUsageCreditNote({ attributionId: team, credits: 11, description: "first" }, keyed(key)));
    assert.equal(other.code, "AlreadyExists");
    assert.match(other.message, new RegExp(`idempotency key "${key}" was already used for a different request at .*; send a new key`));
    const elsewhere = await codeOf(
      usage.setCostCenter({ costCenter: { attributionId: team, spendingLimit: 5, billingStrategy: CostCenter_BillingStrategy.OTHER } }, keyed(key)),
    );
    assert.equal(elsewhere.code, "AlreadyExists");
    assert.match(elsewhere.message, /already used for usage\.v1\.UsageService\/AddUsageCreditNote/);
    assert.equal((await creditNotes(team)).length, 1);
    assert.equal((await usage.getCostCenter({ attributionId: team })).costCenter?.spendingLimit, 0);
  });

  it("books once when many requests with one key arrive together", async () => {
    const team = teamId();
    const key = randomUUID();
    const request = { attributionId: team, credits: 3, description: "concurrent" };
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => codeOf((i % 2 ? usage : usageJson).addUsageCreditNote(request, keyed(key)))));
    assert.deepEqual(
      results.filter((result) => result.code !== "ok"),
      [],
    );
    assert.equal((await creditNotes(team)).length, 1);
    assert.equal((await usage.getBalance({ attributionId: team })).credits, -3);
  });

  it("replays SetCostCenter's first stored version, even after a later change, and stores no new version", async () => {
    const team = teamId();
    const key = randomUUID();
    const request = { costCenter: { attributionId: team, spendingLimit: 100, billingStrategy: CostCenter_BillingStrategy.OTHER } };
    const first = await usage.setCostCenter(request, keyed(key));
    assert.equal(first.costCenter?.spendingLimit, 100);
    t.clock.advanceMs(60_000);
    await usage.setCostCenter({ costCenter: { ...request.costCenter, spendingLimit: 200 } });
    const replay = await usage.setCostCenter(request, keyed(key));
    assert.deepEqual(replay, first);
    assert.equal((await usage.getCostCenter({ attributionId: team })).costCenter?.spendingLimit, 200);
  });

  it("replays UnblockAttribution's count without lifting a block set after the first call", async () => {
    const team = teamId();
    const key = randomUUID();
    await t.tally.billing.accounts.block({ attributionId: team, reason: "dispute 1", source: `test:${randomUUID()}` });
    const request = { attributionId: team, reason: "paid" };
    assert.equal((await accounts.unblockAttribution(request, keyed(key))).unblocked, 1n);
    await t.tally.billing.accounts.block({ attributionId: team, reason: "dispute 2", source: `test:${randomUUID()}` });
    assert.equal((await accounts.unblockAttribution(request, keyed(key))).unblocked, 1n);
    assert.equal((await accounts.getAccountStatus({ attributionId: team })).blocked, true);
  });

  it("registers a webhook endpoint once when AddEndpoint is retried with its key, and replays the removal", async () => {
    const events = createClient(EventService, createConnectTransport({ baseUrl: t.tally.url, httpVersion: "1.1" }));
    const url = `http://127.0.0.1:9/${randomUUID()}`;
    const key = randomUUID();
    const request = { url, eventTypes: ["limit.reached"] };
    const first = await events.addEndpoint(request, keyed(key));
    const retried = await events.addEndpoint(request, keyed(key));
    assert.equal(retried.endpoint?.id, first.endpoint?.id);
    assert.equal(retried.secret, first.secret);
    const listed = () => events.listEndpoints({}).then((answer) => answer.endpoints.filter((endpoint) => endpoint.url === url));
    assert.equal((await listed()).length, 1);
    // A new key is a new action: a second endpoint.
    await events.addEndpoint(request, keyed(randomUUID()));
    assert.equal((await listed()).length, 2);
    const removeKey = randomUUID();
    const removal = { endpointId: first.endpoint!.id };
    await events.removeEndpoint(removal, keyed(removeKey));
    // The retry replays the answer instead of failing with NOT_FOUND for the endpoint just removed.
    assert.equal((await events.removeEndpoint(removal, keyed(removeKey))).canceledDeliveries, 0n);
    assert.equal((await codeOf(events.removeEndpoint(removal))).code, "NotFound");
    assert.equal((await listed()).length, 1);
  });

  it("refuses a malformed key with INVALID_ARGUMENT naming the header", async () => {
    const team = teamId();
    for (const key of ["x".repeat(256), "two words"]) {
      const result = await codeOf(usageJson.addUsageCreditNote({ attributionId: team, credits: 1, description: "x" }, keyed(key)));
      assert.equal(result.code, "InvalidArgument");
      assert.match(result.message, /idempotency-key header/);
    }
    assert.equal((await creditNotes(team)).length, 0);
  });

  it("keeps keys for their retention (24 h) and prunes them with the idempotency-keys job", async () => {
    const team = teamId();
    const oldKey = randomUUID();
    const request = { attributionId: team, credits: 1, description: "old" };
    await usage.addUsageCreditNote(request, keyed(oldKey));
    t.clock.advanceMs(23 * 3_600_000);
    const youngKey = randomUUID();
    await usage.addUsageCreditNote({ ...request, description: "young" }, keyed(youngKey));
    const before = await countKeys(t.tally.database.db);
    let outcome = await t.tally.jobs.runOnce("idempotency-keys");
    assert.ok(outcome.ran && outcome.ok && outcome.summary.pruned === 0, JSON.stringify(outcome));
    t.clock.advanceMs(2 * 3_600_000);
    outcome = await t.tally.jobs.runOnce("idempotency-keys");
    assert.ok(outcome.ran && outcome.ok && (outcome.summary.pruned as number) >= 1, JSON.stringify(outcome));
    assert.equal(await countKeys(t.tally.database.db), before - (outcome.summary.pruned as number));
    // The young key still replays; the pruned one books anew (as documented: keep retries within the retention).
    await usage.addUsageCreditNote({ ...request, description: "young" }, keyed(youngKey));
    assert.equal((await creditNotes(team)).length, 2);
    await usage.addUsageCreditNote(request, keyed(oldKey));
    assert.equal((await creditNotes(team)).length, 3);
  });
});

describe("idempotency keys on BillingService mutations", () => {
  let b: BillingTally;
  before(async () => {
    b = await startBillingTally();
  });
  after(async () => {
    await b?.stop();
  });

  it("replays CreateStripeCustomer's response, answers ALREADY_EXISTS for another request with the key, and creates one Stripe customer", async () => {
    const billing = createClient((await import("../src/gen/usage/v1/billing_pb.js")).BillingService, createGrpcTransport({ baseUrl: b.t.tally.url }));
    const team = teamId();
    const key = randomUUID();
    const request = { attributionId: team, name: "Acme", email: "billing@acme.test", currency: "EUR" };
    // Two at once with the key: one runs, the other replays or is told to retry (ABORTED), never a second customer.
    const [first, second] = await Promise.all([codeOf(billing.createStripeCustomer(request, keyed(key))), codeOf(billing.createStripeCustomer(request, keyed(key)))]);
    assert.ok([first, second].every((result) => result.code === "ok" || result.code === "Aborted"), JSON.stringify([first, second]));
    const created = await billing.createStripeCustomer(request, keyed(key));
    const replay = await billing.createStripeCustomer(request, keyed(key));
    assert.deepEqual(replay, created);
    const other = await codeOf(billing.createStripeCustomer({ ...request, email: "other@acme.test" }, keyed(key)));
    assert.equal(other.code, "AlreadyExists");
    const inStripe = await b.stripe.customers.search({ query: `metadata['attributionId']:'${team}'` });
    assert.equal(inStripe.data.length, 1);
  });
});

/** AddUsageCreditNote through grpc-js with the key in gRPC metadata, as a plain gRPC client sends it. */
async function grpcJsCreditNote(address: string, request: object, key: string): Promise<void> {
  const definition = protoLoader.loadSync(["usage/v1/usage.proto"], { includeDirs: [protoDir] });
  const loaded = grpc.loadPackageDefinition(definition) as any;
  const client = new loaded.usage.v1.UsageService(address, grpc.credentials.createInsecure());
  const metadata = new grpc.Metadata();
  metadata.set("idempotency-key", key);
  try {
    await new Promise<void>((resolve, reject) => client.addUsageCreditNote(request, metadata, (error: Error | null) => (error ? reject(error) : resolve())));
  } finally {
    client.close();
  }
}


