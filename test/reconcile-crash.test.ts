// kill -9 of the real server in the middle of a large reconcile: what was committed is consistent,
// and after a restart the ledger job completes the ledger without a single duplicate.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import pg from "pg";
import { buildPriceTable, priceOf, usageCents } from "../src/domain/pricing.js";
import { UsageService } from "../src/gen/usage/v1/usage_pb.js";
import { WorkspaceInstanceSchema, WorkspaceInstanceService } from "../src/gen/usage/v1/workspace_instance_pb.js";
import { createTestDatabase, testStoreKind, type TestDatabase } from "./support/test-database.js";
import { spawnTally, stopTally, type TallyProcess } from "./support/tally-process.js";

const instanceCount = 30_000;
const skip = testStoreKind === "pglite" ? "needs PostgreSQL (set DATABASE_URL): the crash test kills a server on a shared database" : false;

describe("a server killed during a large reconcile", { skip }, () => {
  let database: TestDatabase;
  let client: pg.Client;
  const servers: TallyProcess[] = [];
  before(async () => {
    database = await createTestDatabase();
    client = new pg.Client({ connectionString: database.databaseUrl });
  });
  after(async () => {
    for (const server of servers) await stopTally(server);
    await client?.end().catch(() => {});
    await database?.drop();
  });

  const count = async (query: string) => Number((await client.query(query)).rows[0].n);

  it("leaves a consistent partial ledger, and the restarted ledger job completes it without duplicates", async (t) => {
    const first = await spawnTally({ DATABASE_URL: database.databaseUrl!, TALLY_JOBS: "off" });
    servers.push(first);
    await client.connect();
    const transport = createGrpcTransport({ baseUrl: first.url });
    const instancesApi = createClient(WorkspaceInstanceService, transport);
    const now = Date.now();
    const teams = Array.from({ length: 200 }, () => `team:${randomUUID()}`);
    const prices = buildPriceTable({});
    let expectedCents = 0n;
    for (let start = 0; start < instanceCount; start += 1000) {
      const batch = Array.from({ length: 1000 }, (_, k) => {
        const i = start + k;
        const runtimeMs = 60_000 + (i % 3600) * 1000;
        const stopped = now - 3600_000 - (i % 1000) * 1000;
        expectedCents += usageCents(BigInt(runtimeMs / 1000), priceOf(prices, ""));
        return create(WorkspaceInstanceSchema, {
          id: randomUUID(),
          workspaceId: `ws-${i}`,
          attributionId: teams[i % teams.length]!,
          startedTime: timestampFromDate(new Date(stopped - runtimeMs)),
          stoppingTime: timestampFromDate(new Date(stopped)),
          stoppedTime: timestampFromDate(new Date(stopped + 2000)),
        });
      });
      await instancesApi.upsertWorkspaceInstances({ instances: batch });
    }

    // Reconcile everything, and kill -9 the server once some pages have committed.
    const reconcile = createClient(UsageService, transport)
      .reconcileUsage({ from: timestampFromDate(new Date(now - 24 * 3600_000)), to: timestampFromDate(new Date(now + 60_000)) })
      .then(() => "finished", () => "failed");
    let entriesAtKill = 0;
    for (;;) {
      entriesAtKill = await count("SELECT count(*) AS n FROM usage");
      if (entriesAtKill >= 2000) break;
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    first.child.kill("SIGKILL");
    assert.equal(await first.exited, "SIGKILL");
    assert.equal(await reconcile, "failed");
    const partial = await count("SELECT count(*) AS n FROM usage");
    t.diagnostic(`killed with ${entriesAtKill} entries seen, ${partial} committed of ${instanceCount}`);
    assert.ok(partial < instanceCount, `the reconcile finished (${partial} entries) before the kill; raise instanceCount`);
    await assertBalancesMatchLedger();

    // Restart with the jobs on: the first ledger run looks back far enough to finish the work.
    const second = await spawnTally({ DATABASE_URL: database.databaseUrl!, TALLY_JOBS: "on", TALLY_LEDGER_INTERVAL: "1s" });
    servers.push(second);
    const deadline = Date.now() + 60_000;
    while ((await count("SELECT count(*) AS n FROM job_runs WHERE job = 'ledger' AND last_success_at IS NOT NULL")) === 0) {
      assert.ok(Date.now() < deadline, "the ledger job did not succeed within 60 s of the restart");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(await count("SELECT count(*) AS n FROM usage WHERE kind = 'workspaceinstance'"), instanceCount);
    assert.equal(await count("SELECT count(DISTINCT workspace_instance_id) AS n FROM usage"), instanceCount);
    assert.equal(await count("SELECT count(*) AS n FROM usage WHERE draft"), 0);
    assert.equal(BigInt((await client.query("SELECT sum(credit_cents) AS n FROM usage")).rows[0].n), expectedCents);
    await assertBalancesMatchLedger();
  });

  async function assertBalancesMatchLedger() {
    const { rows } = await client.query(`SELECT b.attribution_id FROM balances b
      LEFT JOIN (SELECT attribution_id, sum(credit_cents) AS s FROM usage GROUP BY attribution_id) l USING (attribution_id)
      WHERE b.balance_cents <> coalesce(l.s, 0)`);
    assert.deepEqual(rows, []);
    const { rows: missing } = await client.query(`SELECT attribution_id FROM usage
      EXCEPT SELECT attribution_id FROM balances`);
    assert.deepEqual(missing, []);
  }
});
