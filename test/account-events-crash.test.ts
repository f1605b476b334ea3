// kill -9 of the real server between the changes and their delivery: after a restart every event
// arrives, in order per team; the only duplicates are deliveries that were in flight at the kill,
// and they carry the same webhook-id.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { EventService } from "../src/gen/usage/v1/event_pb.js";
import { UsageService } from "../src/gen/usage/v1/usage_pb.js";
import { teamId } from "./support/ledger-fixtures.js";
import { spawnTally, stopTally, type TallyProcess } from "./support/tally-process.js";
import { createTestDatabase, type TestDatabase } from "./support/test-database.js";
import { startWebhookReceiver, type WebhookReceiver } from "./support/webhook-receiver.js";

const notesPerTeam = 6;

describe("a server killed between the changes and their delivery", () => {
  let database: TestDatabase;
  let receiver: WebhookReceiver;
  const servers: TallyProcess[] = [];
  before(async () => {
    database = await createTestDatabase();
    receiver = await startWebhookReceiver([]);
  });
  after(async () => {
    for (const server of servers) await stopTally(server);
    await receiver?.close();
    await database?.drop();
  });

  const env = () => ({
    ...(database.databaseUrl ? { DATABASE_URL: database.databaseUrl } : { TALLY_DATA_DIR: database.dataDir }),
    TALLY_JOBS: "off",
    // Long enough that no hanging delivery times out before the kill.
    TALLY_EVENT_DELIVERY_TIMEOUT: "3s",
  });

  it("loses nothing: after a restart every event arrives, in order per team", async () => {
    // Generous start timeouts: a new PGlite directory, and recovery after the kill, are slow on a busy machine.
    const first = await spawnTally(env(), 120_000);
    servers.push(first);
    const transport = createGrpcTransport({ baseUrl: first.url });
    const added = await createClient(EventService, transport).addEndpoint({ url: receiver.url, eventTypes: ["credit_note.added"] });
    receiver.secrets = [added.secret];
    // Until the kill, the receiver takes requests and never answers: each team's first event is in
    // flight, the others wait behind it, committed and undelivered.
    receiver.behaviour = () => "hang";
    const usage = createClient(UsageService, transport);
    const teams = [teamId(), teamId(), teamId()];
    for (let note = 1; note <= notesPerTeam; note++) {
      for (const team of teams) await usage.addUsageCreditNote({ attributionId: team, credits: note, description: `note ${note}` });
    }
    await receiver.waitFor(() => receiver.requests.length >= teams.length);
    const inFlight = new Set(receiver.requests.map((request) => request.webhookId));
    first.child.kill("SIGKILL");
    assert.equal(await first.exited, "SIGKILL");

    receiver.behaviour = () => ({ status: 200 });
    const second = await spawnTally(env(), 120_000);
    servers.push(second);
    await receiver.waitFor(() => receiver.unique().length === teams.length * notesPerTeam, 60_000);

    for (const team of teams) {
      const received = receiver
        .unique()
        .filter((delivery) => delivery.payload.data.attributionId === team)
        .map((delivery) => delivery.payload.data.description);
      assert.deepEqual(received, Array.from({ length: notesPerTeam }, (_, k) => `note ${k + 1}`), `events of ${team} in order`);
    }
    // Duplicates: only what was in flight at the kill, once more, with the same webhook-id.
    const counts = new Map<string, number>();
    for (const request of receiver.requests) counts.set(request.webhookId, (counts.get(request.webhookId) ?? 0) + 1);
    for (const [id, times] of counts) assert.equal(times, inFlight.has(id) ? 2 : 1, `deliveries of ${id}`);
    assert.deepEqual(receiver.refused, []);
  });
});
