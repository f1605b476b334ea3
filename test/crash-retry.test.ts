// kill -9 of the real server while clients add credit notes, then every request retried under its
// own idempotency key against the restarted server: every acknowledged note is stored once, notes
// committed but never acknowledged are found by their retry, and nothing is booked twice.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { sql } from "drizzle-orm";
import { UsageService } from "../src/gen/usage/v1/usage_pb.js";
import { openDatabase } from "../src/store/database.js";
import { spawnTally, stopTally, type TallyProcess } from "./support/tally-process.js";
import { createTestDatabase, type TestDatabase } from "./support/test-database.js";

const requestCount = 300;
const concurrency = 16;
/** PGlite's start (WASM, migrations) is slow on a busy 2-core machine. */
const startTimeoutMs = 120_000;

interface NoteRequest {
  readonly key: string;
  readonly attributionId: string;
  readonly credits: number;
  readonly description: string;
}

describe("a server killed during AddUsageCreditNote, with clients retrying under the same keys", () => {
  let database: TestDatabase;
  let server: TallyProcess | undefined;
  before(async () => {
    database = await createTestDatabase();
  });
  after(async () => {
    if (server) await stopTally(server);
    await database?.drop();
  });

  const env = (): Record<string, string> => (database.databaseUrl ? { DATABASE_URL: database.databaseUrl } : { TALLY_DATA_DIR: database.dataDir });
  const clientOf = (url: string) => createClient(UsageService, createGrpcTransport({ baseUrl: url, defaultTimeoutMs: 30_000 }));
  /** Credit notes in the ledger by description, read from the database itself (the server is down). */
  const notesByDescription = async () => {
    const handle = await openDatabase({ databaseUrl: database.databaseUrl, dataDir: database.dataDir, poolSize: 1 });
    try {
      const rows = await handle.db.execute<{ description: string; n: bigint }>(
        sql`SELECT description, count(*)::int8 AS n FROM usage WHERE kind = 'creditnote' GROUP BY description`,
      );
      return new Map((rows as unknown as { rows: Array<{ description: string; n: bigint }> }).rows.map((row) => [row.description, Number(row.n)]));
    } finally {
      await handle.close();
    }
  };

  it("stores every acknowledged note once and books no retried note twice", async (t) => {
    const teams = Array.from({ length: 10 }, () => `team:${randomUUID()}`);
    const requests: NoteRequest[] = Array.from({ length: requestCount }, (_, i) => ({
      key: randomUUID(),
      attributionId: teams[i % teams.length]!,
      credits: 1 + (i % 7),
      description: `note ${i}`,
    }));
    const send = (client: Client<typeof UsageService>, request: NoteRequest) =>
      client.addUsageCreditNote(
        { attributionId: request.attributionId, credits: request.credits, description: request.description },
        { headers: { "idempotency-key": request.key } },
      );

    server = await spawnTally({ ...env(), TALLY_JOBS: "off" }, startTimeoutMs);
    const first = clientOf(server.url);
    const acknowledged = new Set<number>();
    let next = 0;
    const worker = async () => {
      while (next < requests.length) {
        const i = next++;
        try {
          await send(first, requests[i]!);
          acknowledged.add(i);
        } catch {
          return; // the server is gone
        }
      }
    };
    const workers = Array.from({ length: concurrency }, worker);
    while (acknowledged.size < requestCount / 3) await new Promise((resolve) => setTimeout(resolve, 5));
    server.child.kill("SIGKILL");
    assert.equal(await server.exited, "SIGKILL");
    server = undefined;
    await Promise.all(workers);
    assert.ok(acknowledged.size < requestCount, "every request finished before the kill; raise requestCount");

    const atKill = await notesByDescription();
    for (const i of acknowledged) assert.equal(atKill.get(requests[i]!.description), 1, `acknowledged note ${i} is not stored once`);
    const unacknowledgedCommitted = [...atKill.keys()].filter((description) => !acknowledged.has(Number(description.slice(5)))).length;

    // Restart, and retry every request (acknowledged or not) with its key, until each succeeds.
    server = await spawnTally({ ...env(), TALLY_JOBS: "off" }, startTimeoutMs);
    const second = clientOf(server.url);
    let position = 0;
    const retry = async () => {
      while (position < requests.length) await send(second, requests[position++]!);
    };
    await Promise.all(Array.from({ length: concurrency }, retry));
    const balances = await Promise.all(teams.map((attributionId) => second.getBalance({ attributionId })));
    await stopTally(server);
    server = undefined;

    const final = await notesByDescription();
    assert.equal(final.size, requestCount);
    assert.deepEqual([...final.values()].filter((n) => n !== 1), [], "a note was booked twice");
    teams.forEach((team, k) => {
      const expected = -requests.filter((request) => request.attributionId === team).reduce((sum, request) => sum + request.credits, 0);
      assert.equal(balances[k]!.credits, expected, `balance of ${team}`);
    });
    t.diagnostic(
      `killed after ${acknowledged.size} acknowledged notes; ${unacknowledgedCommitted} more were committed without an answer and found by their retry; 0 booked twice`,
    );
  });
});
