// Two replicas on one PostgreSQL: both write events and both deliver. Every event reaches the
// receiver exactly once (no acknowledgement fails here), in order per team, and limit crossings
// caused concurrently through both replicas are announced once. With an acknowledgement lost (an
// answer after the timeout), that one event, and only it, arrives a second time, with the same
// webhook-id, and neither replica sends it while the other has it in flight.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import pg from "pg";
import { ManualClock } from "../src/domain/clock.js";
import { DeliveryAttempt_Outcome, EventService } from "../src/gen/usage/v1/event_pb.js";
import { CostCenter_BillingStrategy, UsageService } from "../src/gen/usage/v1/usage_pb.js";
import { WorkspaceInstanceService } from "../src/gen/usage/v1/workspace_instance_pb.js";
import { timestamp } from "../src/rpc/convert.js";
import { teamId } from "./support/ledger-fixtures.js";
import { createTestDatabase, testStoreKind, type TestDatabase } from "./support/test-database.js";
import { startTestTally, type TestTally } from "./support/test-tally.js";
import { startWebhookReceiver, type WebhookReceiver } from "./support/webhook-receiver.js";

const skip = testStoreKind === "pglite" ? "needs PostgreSQL (set DATABASE_URL): an embedded database has one process" : false;
const teamsCount = 8;
const notesPerTeam = 8;

interface TwoReplicas {
  database: TestDatabase;
  receiver: WebhookReceiver;
  readonly replicas: TestTally[];
}

/**
 * For a describe(): a new database, a webhook receiver, and two replicas of Tally on that database
 * sharing one clock, started before its tests and stopped (the database dropped) after them.
 */
function twoReplicas(env: Record<string, string>): TwoReplicas {
  const setup = { replicas: [] } as unknown as TwoReplicas;
  before(async () => {
    setup.database = await createTestDatabase();
    setup.receiver = await startWebhookReceiver([]);
    const clock = new ManualClock(new Date("2026-01-15T12:00:00Z"));
    for (let i = 0; i < 2; i++) setup.replicas.push(await startTestTally({ database: setup.database, clock, env }));
  });
  after(async () => {
    for (const replica of setup.replicas) await replica.stop();
    await setup.receiver?.close();
    await setup.database?.drop();
  });
  return setup;
}

describe("two replicas delivering account events", { skip }, () => {
  const setup = twoReplicas({ TALLY_CREDITS_PER_MINUTE_BY_WORKSPACE_CLASS: JSON.stringify({ test: 1 }) });

  it("delivers each event once, in order per team, whichever replica wrote or sends it", async () => {
    const { database, receiver, replicas } = setup;
    const [a, b] = replicas.map((replica) => createGrpcTransport({ baseUrl: replica.tally.url }));
    const added = await createClient(EventService, a!).addEndpoint({
      url: receiver.url,
      eventTypes: ["credit_note.added", "limit.warning", "limit.reached", "limit.cleared"],
    });
    receiver.secrets = [added.secret];
    const usage = [createClient(UsageService, a!), createClient(UsageService, b!)];

    // Credit notes for several teams at once, each team's alternating between the replicas.
    const teams = Array.from({ length: teamsCount }, () => teamId());
    await Promise.all(
      teams.map(async (team) => {
        for (let note = 1; note <= notesPerTeam; note++) {
          await usage[note % 2]!.addUsageCreditNote({ attributionId: team, credits: note, description: `note ${note}` });
        }
      }),
    );

    // One team crosses its limit through reconciles running on both replicas at once: 10 x 10 credits
    // against a limit of 100 is one limit.warning (at 90) and one limit.reached, whatever the interleaving.
    const limited = teamId();
    await usage[0]!.setCostCenter({ costCenter: { attributionId: limited, spendingLimit: 100, billingStrategy: CostCenter_BillingStrategy.OTHER } });
    const now = replicas[0]!.clock.now();
    const stops = Array.from({ length: 10 }, (_, k) => new Date(now.getTime() - (k + 1) * 60_000));
    await createClient(WorkspaceInstanceService, a!).upsertWorkspaceInstances({
      instances: stops.map((stop) => ({
        id: randomUUID(),
        workspaceId: "ws-replicas",
        attributionId: limited,
        workspaceClass: "test",
        startedTime: timestamp(new Date(stop.getTime() - 10 * 60_000)),
        stoppingTime: timestamp(stop),
        stoppedTime: timestamp(stop),
      })),
    });
    await Promise.all(
      stops.map((stop, k) =>
        usage[k % 2]!.reconcileUsage({ from: timestamp(stop), to: timestamp(new Date(stop.getTime() + 1000)) }),
      ),
    );

    const total = teamsCount * notesPerTeam + 2;
    await receiver.waitFor(() => receiver.unique().length >= total, 60_000);
    for (const replica of replicas) await replica.tally.events.dispatcher.settle();
    assert.equal(receiver.requests.length, total, "each event delivered once");
    for (const team of teams) {
      const received = receiver.unique().filter((d) => d.payload.data.attributionId === team).map((d) => d.payload.data.description);
      assert.deepEqual(received, Array.from({ length: notesPerTeam }, (_, k) => `note ${k + 1}`), `events of ${team} in order`);
    }
    const crossings = receiver.unique().filter((d) => d.payload.data.attributionId === limited);
    assert.deepEqual(
      crossings.map((d) => [d.payload.type, d.payload.data.balanceCreditCents]),
      [
        ["limit.warning", "9000"],
        ["limit.reached", "10000"],
      ],
    );

    const client = new pg.Client({ connectionString: database.databaseUrl });
    await client.connect();
    try {
      const { rows } = await client.query(`SELECT count(*)::int AS n FROM event_deliveries WHERE status <> 'delivered' OR attempts <> 1`);
      assert.equal(rows[0].n, 0);
      const attempts = await client.query(`SELECT count(*)::int AS n FROM event_delivery_attempts`);
      assert.equal(attempts.rows[0].n, total);
    } finally {
      await client.end();
    }
  });
});

describe("two replicas and a lost acknowledgement", { skip }, () => {
  const deliveryTimeoutMs = 2000;
  const setup = twoReplicas({ TALLY_EVENT_DELIVERY_TIMEOUT: `${deliveryTimeoutMs}ms` });

  it("sends again only the event whose answer came too late, with the same webhook-id, after its attempt ended", async () => {
    const { receiver, replicas } = setup;
    const [a, b] = replicas.map((replica) => createGrpcTransport({ baseUrl: replica.tally.url }));
    const added = await createClient(EventService, a!).addEndpoint({ url: receiver.url, eventTypes: ["credit_note.added"] });
    receiver.secrets = [added.secret];
    // The receiver takes the first request but answers only after Tally gave up waiting: it has the
    // event, Tally does not know it. Every other request is answered at once.
    const lateMs = deliveryTimeoutMs + 1500;
    receiver.behaviour = (index) => (index === 0 ? { status: 204, delayMs: lateMs } : { status: 204 });
    const usage = [createClient(UsageService, a!), createClient(UsageService, b!)];
    const teams = [teamId(), teamId(), teamId()];
    const notesPerTeam = 4;
    for (let note = 1; note <= notesPerTeam; note++) {
      for (const [i, team] of teams.entries()) {
        await usage[(note + i) % 2]!.addUsageCreditNote({ attributionId: team, credits: note, description: `note ${note}` });
      }
    }
    const total = teams.length * notesPerTeam;
    // Both replicas deliver; the shared clock steps over the 5 s backoff once nothing is in flight.
    for (let step = 0; receiver.unique().length < total || (await replicas[0]!.tally.events.backlog()).pending > 0; step++) {
      assert.ok(step < 20, `only ${receiver.unique().length} of ${total} events arrived`);
      await Promise.all(replicas.map((replica) => replica.tally.events.dispatcher.settle(60_000)));
      replicas[0]!.clock.advanceMs(5_000);
    }

    const late = receiver.requests[0]!;
    const sends = receiver.requests.filter((request) => request.webhookId === late.webhookId);
    assert.equal(sends.length, 2, "the event whose acknowledgement was lost came twice");
    assert.equal(sends[1]!.body, late.body);
    assert.ok(sends[1]!.receivedAtMs - late.receivedAtMs >= deliveryTimeoutMs, "the second send only after the first attempt timed out");
    assert.equal(receiver.requests.length, total + 1, "nothing else came twice");
    assert.deepEqual(receiver.refused, []);
    for (const team of teams) {
      const received = receiver.unique().filter((d) => d.payload.data.attributionId === team).map((d) => d.payload.data.description);
      assert.deepEqual(received, Array.from({ length: notesPerTeam }, (_, k) => `note ${k + 1}`), `events of ${team} in order`);
    }
    // The attempts tell the story: a timeout, then delivered.
    const events = await createClient(EventService, b!).listEvents({ pageSize: 100 });
    const attempts = events.events.find((event) => event.id === late.webhookId)!.deliveries[0]!.attempts.map((attempt) => attempt.outcome);
    assert.deepEqual(attempts, [DeliveryAttempt_Outcome.TIMEOUT, DeliveryAttempt_Outcome.DELIVERED]);
  });
});
