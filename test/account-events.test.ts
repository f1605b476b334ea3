// Outbound account events end to end: a real server, endpoints registered through EventService, and
// a receiver that verifies every signature with the `standardwebhooks` package, fails the first
// attempts and answers one too late, and still ends with every event exactly as produced, in order
// per team.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { AccountService } from "../src/gen/usage/v1/account_pb.js";
import { AuditService } from "../src/gen/usage/v1/audit_pb.js";
import { Delivery_Status, DeliveryAttempt_Outcome, Endpoint_Source, EventService } from "../src/gen/usage/v1/event_pb.js";
import { CostCenter_BillingStrategy } from "../src/gen/usage/v1/usage_pb.js";
import { WorkspaceInstanceService } from "../src/gen/usage/v1/workspace_instance_pb.js";
import { timestamp } from "../src/rpc/convert.js";
import { teamId } from "./support/ledger-fixtures.js";
import { createTestDatabase } from "./support/test-database.js";
import { rejectsConnect, startTestTally, type TestTally } from "./support/test-tally.js";
import { startWebhookReceiver, type WebhookReceiver } from "./support/webhook-receiver.js";

const minute = 60_000;
const configuredSecret = `whsec_${Buffer.alloc(32, 7).toString("base64")}`;

describe("account events (webhooks)", () => {
  let t: TestTally;
  let events: Client<typeof EventService>;
  let accounts: Client<typeof AccountService>;
  let instances: Client<typeof WorkspaceInstanceService>;
  let receiver: WebhookReceiver;
  let endpointId: string;

  before(async () => {
    receiver = await startWebhookReceiver([]);
    t = await startTestTally({
      env: {
        TALLY_EVENT_DELIVERY_TIMEOUT: "1s",
        TALLY_CREDITS_PER_MINUTE_BY_WORKSPACE_CLASS: JSON.stringify({ test: 1 }),
      },
    });
    const transport = createGrpcTransport({ baseUrl: t.tally.url });
    events = createClient(EventService, transport);
    accounts = createClient(AccountService, transport);
    instances = createClient(WorkspaceInstanceService, transport);
  });
  after(async () => {
    await t?.stop();
    await receiver?.close();
  });

  /** Books `minutes` credits of usage (class "test" costs 1 credit a minute) through ingestion and ReconcileUsage. */
  async function use(attributionId: string, minutes: number): Promise<void> {
    const now = t.clock.now();
    await instances.upsertWorkspaceInstances({
      instances: [
        {
          id: randomUUID(),
          workspaceId: "ws-events",
          attributionId,
          workspaceClass: "test",
          startedTime: timestamp(new Date(now.getTime() - minutes * minute)),
          stoppingTime: timestamp(now),
          stoppedTime: timestamp(now),
        },
      ],
    });
    await t.usage.reconcileUsage({ from: timestamp(new Date(now.getTime() - 1000)), to: timestamp(new Date(now.getTime() + 1000)) });
    t.clock.advanceMs(1000);
  }

  async function setLimit(attributionId: string, spendingLimit: number): Promise<void> {
    await t.usage.setCostCenter({ costCenter: { attributionId, spendingLimit, billingStrategy: CostCenter_BillingStrategy.OTHER } });
  }

  /** Lets the dispatcher work, stepping the clock over the retry backoff, until nothing is pending. */
  async function deliverEverything(): Promise<void> {
    for (let step = 0; step < 400; step++) {
      await t.tally.events.dispatcher.settle(30_000);
      if ((await t.tally.events.backlog()).pending === 0) return;
      t.clock.advanceMs(5_000);
    }
    assert.fail(`deliveries still pending: ${JSON.stringify(await t.tally.events.backlog())}`);
  }

  it("refuses bad endpoints, naming the field", async () => {
    await rejectsConnect(events.addEndpoint({ url: "", eventTypes: ["limit.reached"] }), Code.InvalidArgument, /^url is required/);
    await rejectsConnect(events.addEndpoint({ url: "ftp://x", eventTypes: ["limit.reached"] }), Code.InvalidArgument, /url "ftp:\/\/x" must start with http/);
    await rejectsConnect(events.addEndpoint({ url: receiver.url, eventTypes: [] }), Code.InvalidArgument, /event_types must name at least one/);
    await rejectsConnect(
      events.addEndpoint({ url: receiver.url, eventTypes: ["limit.reached", "limit.exceeded"] }),
      Code.InvalidArgument,
      /event_types\[1\] "limit.exceeded" is not an event type/,
    );
    await rejectsConnect(events.addEndpoint({ url: receiver.url, eventTypes: ["limit.reached"], secret: "s3cr3t" }), Code.InvalidArgument, /^secret must be "whsec_"/);
    await rejectsConnect(
      events.addEndpoint({ url: receiver.url, eventTypes: ["limit.reached"], secret: `whsec_${Buffer.alloc(8).toString("base64")}` }),
      Code.InvalidArgument,
      /24 to 64 bytes, not 8/,
    );
    await rejectsConnect(events.removeEndpoint({ endpointId: randomUUID() }), Code.NotFound, /does not exist/);
    await rejectsConnect(events.removeEndpoint({ endpointId: "nope" }), Code.InvalidArgument, /endpoint_id "nope" is not an endpoint id/);
    await rejectsConnect(events.listEvents({ pageToken: "abc" }), Code.InvalidArgument, /page_token "abc"/);
    await rejectsConnect(events.listEvents({ type: "limit" }), Code.InvalidArgument, /type "limit" is not an event type/);
    await rejectsConnect(events.redeliverEvent({ eventId: randomUUID() }), Code.NotFound, /event .* does not exist/);
    await rejectsConnect(events.redeliverEvent({ eventId: "42" }), Code.InvalidArgument, /event_id "42"/);
  });

  it("delivers every event exactly as produced, in order per team, through failures and a timeout", async () => {
    const added = await events.addEndpoint({ url: receiver.url, eventTypes: [], description: "platform" }).catch(() => undefined);
    assert.equal(added, undefined, "an endpoint needs event types");
    const all = [
      "limit.warning",
      "limit.reached",
      "limit.cleared",
      "attribution.blocked",
      "attribution.unblocked",
      "invoice.booked",
      "credit_note.added",
      "cost_center.changed",
    ];
    const response = await events.addEndpoint({ url: receiver.url, eventTypes: all, description: "platform" });
    endpointId = response.endpoint!.id;
    assert.match(response.secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
    receiver.secrets = [response.secret];
    // Two failures, then an answer after the 1 s timeout (the receiver got it: a duplicate follows).
    receiver.behaviour = (index) => (index < 2 ? { status: 503 } : index === 2 ? { status: 204, delayMs: 1500 } : { status: 204 });

    const a = teamId();
    const b = teamId();
    await setLimit(a, 100); // cost_center.changed
    await setLimit(b, 10); // cost_center.changed
    await use(a, 85); // 85 of 100: limit.warning
    await use(b, 12); // 12 of 10: limit.reached, straight from ok
    await use(a, 10); // 95: still warning, nothing
    await use(a, 10); // 105: limit.reached
    await use(b, 1); // still reached, nothing
    await t.usage.addUsageCreditNote({ attributionId: a, credits: 30, description: "goodwill" }); // credit_note.added, 75: limit.cleared
    await t.tally.billing.accounts.block({ attributionId: a, reason: "dispute dp_1", source: `stripe-dispute:${randomUUID()}` }); // attribution.blocked
    await accounts.unblockAttribution({ attributionId: a, reason: "resolved" }); // attribution.unblocked
    await accounts.unblockAttribution({ attributionId: a, reason: "again" }); // nothing to lift: nothing
    await setLimit(a, 50); // cost_center.changed, 75 of 50: limit.reached
    await deliverEverything();
    // A month later the cycle ends: min(75, 50) is invoiced, 25 of 50 is left.
    t.clock.advanceMs(32 * 24 * 60 * minute);
    await t.usage.resetUsage({}); // a: invoice.booked, cost_center.changed, 25 of 50: limit.cleared; b: the same, 3 of 10
    await deliverEverything();

    const produced = new Map<string, string[]>([
      [
        a,
        [
          "cost_center.changed",
          "limit.warning",
          "limit.reached",
          "credit_note.added",
          "limit.cleared",
          "attribution.blocked",
          "attribution.unblocked",
          "cost_center.changed",
          "limit.reached",
          "invoice.booked",
          "cost_center.changed",
          "limit.cleared",
        ],
      ],
      [b, ["cost_center.changed", "limit.reached", "invoice.booked", "cost_center.changed", "limit.cleared"]],
    ]);
    const unique = receiver.unique();
    for (const [team, types] of produced) {
      assert.deepEqual(
        unique.filter((d) => d.payload.data.attributionId === team).map((d) => d.payload.type),
        types,
        `events of ${team}, in the order received`,
      );
    }
    assert.equal(unique.length, 17);
    assert.deepEqual(receiver.refused, []);
    // The two refused deliveries and the late answer came again, with the same webhook-id; nothing else twice.
    assert.equal(receiver.requests.length, unique.length + 3);
    const repeated = receiver.requests.slice(0, 3).map((r) => r.webhookId);
    for (const id of new Set(repeated)) {
      const times = receiver.requests.filter((r) => r.webhookId === id).length;
      assert.equal(times, repeated.filter((x) => x === id).length + 1, `deliveries of ${id}`);
    }

    // Exactly as produced: the bodies are the stored events.
    const listed = await events.listEvents({ endpointId, pageSize: 100 });
    assert.equal(listed.events.length, 17);
    const byId = new Map(unique.map((d) => [d.webhookId, d]));
    for (const event of listed.events) {
      assert.equal(byId.get(event.id)?.body, event.payload, `body of ${event.type} ${event.id}`);
      assert.equal(event.deliveries.length, 1);
      assert.equal(event.deliveries[0]!.status, Delivery_Status.DELIVERED);
    }
    const limitEvent = unique.find((d) => d.payload.data.attributionId === a && d.payload.type === "limit.warning")!;
    assert.deepEqual(limitEvent.payload.data, {
      attributionId: a,
      level: "warning",
      previousLevel: "ok",
      balanceCreditCents: "8500",
      spendingLimit: 100,
      warningPercent: 80,
      billingCycleStart: limitEvent.payload.data.billingCycleStart,
      cause: "usage",
    });
    const invoice = unique.find((d) => d.payload.data.attributionId === a && d.payload.type === "invoice.booked")!;
    assert.equal(invoice.payload.data.creditCents, "-5000");
    assert.equal(invoice.payload.data.source, "cycle_reset");

    // The attempts are kept: two 503s, one timeout, then delivered.
    const attempts = listed.events.flatMap((event) => event.deliveries[0]!.attempts).sort((x, y) => Number(timestampDate(x.time!)) - Number(timestampDate(y.time!)));
    const outcomes = listed.events.flatMap((event) => event.deliveries[0]!.attempts.map((attempt) => attempt.outcome));
    assert.equal(outcomes.filter((o) => o === DeliveryAttempt_Outcome.HTTP_ERROR).length, 2);
    assert.equal(outcomes.filter((o) => o === DeliveryAttempt_Outcome.TIMEOUT).length, 1);
    assert.equal(outcomes.filter((o) => o === DeliveryAttempt_Outcome.DELIVERED).length, 17);
    const failed = attempts.find((attempt) => attempt.outcome === DeliveryAttempt_Outcome.HTTP_ERROR)!;
    assert.equal(failed.responseStatus, 503);
    assert.match(failed.error, /^HTTP 503: not now/);
    const timedOut = attempts.find((attempt) => attempt.outcome === DeliveryAttempt_Outcome.TIMEOUT)!;
    assert.ok(timedOut.latencyMs >= 900n, `timeout latency ${timedOut.latencyMs}`);

    // Filters and keyset pages.
    const ofA = await events.listEvents({ attributionId: a, type: "limit.reached" });
    assert.equal(ofA.events.length, 2);
    const first = await events.listEvents({ endpointId, pageSize: 10 });
    const second = await events.listEvents({ endpointId, pageSize: 10, pageToken: first.nextPageToken });
    assert.equal(first.events.length, 10);
    assert.equal(second.events.length, 7);
    assert.equal(second.nextPageToken, "");
    assert.ok(first.events[9]!.sequence > second.events[0]!.sequence);
    const { endpoints } = await events.listEndpoints({});
    const platform = endpoints.find((endpoint) => endpoint.id === endpointId)!;
    assert.equal(platform.pendingDeliveries, 0n);
    assert.equal(platform.url, receiver.url);
  });

  it("delivers an event again on request, with the same webhook-id", async () => {
    const [event] = (await events.listEvents({ endpointId, pageSize: 1 })).events;
    const before = receiver.requests.length;
    assert.equal((await events.redeliverEvent({ eventId: event!.id })).redelivered, 1n);
    await receiver.waitFor(() => receiver.requests.length > before);
    await t.tally.events.dispatcher.settle();
    assert.equal(receiver.requests.at(-1)!.webhookId, event!.id);
    assert.equal(receiver.requests.at(-1)!.body, event!.payload);
    const [again] = (await events.listEvents({ endpointId, pageSize: 1 })).events;
    assert.equal(again!.deliveries[0]!.status, Delivery_Status.DELIVERED);
    assert.equal(again!.deliveries[0]!.attemptCount, 1);
    // The attempt log keeps the earlier attempts too.
    assert.ok(again!.deliveries[0]!.attempts.length >= 2);
  });

  it("signs with both secrets during a rotation, and only the new one after a day", async () => {
    const old = receiver.secrets[0]!;
    const rotated = await events.rotateEndpointSecret({ endpointId });
    assert.notEqual(rotated.secret, old);
    assert.equal(timestampDate(rotated.previousSecretExpireTime!).getTime(), t.clock.now().getTime() + 24 * 60 * minute);
    // A receiver that knows either secret accepts the deliveries meanwhile.
    receiver.secrets = [old, rotated.secret];
    const team = teamId();
    await setLimit(team, 100);
    await receiver.waitFor(() => receiver.requests.some((r) => r.payload.data.attributionId === team));
    assert.deepEqual(receiver.requests.at(-1)!.verifiedWith, [0, 1]);
    assert.equal(receiver.requests.at(-1)!.signature.split(" ").length, 2);
    t.clock.advanceMs(24 * 60 * minute + 1000);
    await setLimit(team, 200);
    await receiver.waitFor(() => receiver.requests.filter((r) => r.payload.data.attributionId === team).length === 2);
    assert.deepEqual(receiver.requests.at(-1)!.verifiedWith, [1]);
    await t.tally.events.dispatcher.settle();
  });

  it("stops delivering to a removed endpoint, and audits the mutations without the secret", async () => {
    const before = receiver.requests.length;
    const removed = await events.removeEndpoint({ endpointId });
    assert.equal(removed.canceledDeliveries, 0n);
    await setLimit(teamId(), 5);
    await t.tally.events.dispatcher.settle();
    assert.equal(receiver.requests.length, before);
    assert.ok(!(await events.listEndpoints({})).endpoints.some((endpoint) => endpoint.id === endpointId));
    await rejectsConnect(events.rotateEndpointSecret({ endpointId }), Code.NotFound, /does not exist/);
    const secret = `whsec_${Buffer.alloc(24, 1).toString("base64")}`;
    await events.addEndpoint({ url: receiver.url, eventTypes: ["limit.reached"], secret });
    const audit = createClient(AuditService, createGrpcTransport({ baseUrl: t.tally.url }));
    const { entries } = await audit.listAuditEntries({ pageSize: 50 });
    const procedures = entries.map((entry) => entry.procedure);
    for (const method of ["AddEndpoint", "RemoveEndpoint", "RotateEndpointSecret", "RedeliverEvent"]) {
      assert.ok(procedures.includes(`usage.v1.EventService/${method}`), method);
    }
    const add = entries.find((entry) => entry.procedure === "usage.v1.EventService/AddEndpoint" && entry.outcome === "OK")!;
    assert.equal(JSON.parse(add.details).secret, "[redacted]");
    assert.ok(!entries.some((entry) => entry.procedure.endsWith("/ListEvents")));
  });
});

describe("configured endpoints", () => {
  it("syncs eventEndpoints at start: added, changed (the old secret stays valid a day), removed; the API cannot remove them", async () => {
    const database = await createTestDatabase();
    const first = await startTestTally({
      database,
      env: {
        TALLY_EVENT_ENDPOINTS: JSON.stringify([
          { name: "audit-sink", url: "http://127.0.0.1:9/a", eventTypes: ["invoice.booked"], secret: configuredSecret },
          { name: "crm", url: "http://127.0.0.1:9/b", eventTypes: ["limit.reached", "limit.cleared"], secret: configuredSecret, description: "CRM" },
        ]),
      },
    });
    const client = () => createClient(EventService, createGrpcTransport({ baseUrl: current.tally.url }));
    let current = first;
    try {
      const { endpoints } = await client().listEndpoints({});
      assert.deepEqual(
        endpoints.map((endpoint) => [endpoint.id, endpoint.source, endpoint.eventTypes, endpoint.description]),
        [
          ["config:audit-sink", Endpoint_Source.CONFIG, ["invoice.booked"], ""],
          ["config:crm", Endpoint_Source.CONFIG, ["limit.reached", "limit.cleared"], "CRM"],
        ],
      );
      assert.equal(endpoints[0]!.secretHint, `${configuredSecret.slice(0, 10)}...`);
      await rejectsConnect(client().removeEndpoint({ endpointId: "config:crm" }), Code.FailedPrecondition, /from the configuration/);
      await rejectsConnect(client().rotateEndpointSecret({ endpointId: "config:crm" }), Code.FailedPrecondition, /from the configuration/);
      await first.stop();
      const newSecret = `whsec_${Buffer.alloc(32, 9).toString("base64")}`;
      current = await startTestTally({
        database,
        env: { TALLY_EVENT_ENDPOINTS: JSON.stringify([{ name: "crm", url: "http://127.0.0.1:9/c", eventTypes: ["limit.reached"], secret: newSecret }]) },
      });
      const after = (await client().listEndpoints({})).endpoints;
      assert.deepEqual(after.map((endpoint) => [endpoint.id, endpoint.url, endpoint.eventTypes]), [["config:crm", "http://127.0.0.1:9/c", ["limit.reached"]]]);
      assert.equal(after[0]!.secretHint, `${newSecret.slice(0, 10)}...`);
      assert.equal(timestampDate(after[0]!.previousSecretExpireTime!).getTime(), current.clock.now().getTime() + 24 * 60 * minute);
    } finally {
      await current.stop();
      await database.drop();
    }
  });

  it("refuses a bad configuration with a message naming the key", async () => {
    const { loadConfig } = await import("../src/config.js");
    const load = (endpoints: unknown) => () => loadConfig({ TALLY_EVENT_ENDPOINTS: JSON.stringify(endpoints) });
    assert.throws(load({}), /eventEndpoints must be a JSON array/);
    assert.throws(load([{ name: "Bad Name", url: "http://x", eventTypes: ["limit.reached"], secret: configuredSecret }]), /eventEndpoints\[0\]\.name "Bad Name"/);
    assert.throws(load([{ name: "a", url: "http://x", eventTypes: ["nope"], secret: configuredSecret }]), /eventEndpoints\[0\]\.eventTypes\[0\] "nope"/);
    assert.throws(load([{ name: "a", url: "http://x", eventTypes: ["limit.reached"], secret: "x" }]), /eventEndpoints\[0\]\.secret must be/);
    const ok = { name: "a", url: "http://x", eventTypes: ["limit.reached"], secret: configuredSecret };
    assert.throws(load([ok, ok]), /names "a" twice/);
    assert.throws(() => loadConfig({ TALLY_LIMIT_WARNING_PERCENT: "100" }), /limitWarningPercent 100 must be a whole number from 1 to 99/);
  });
});
