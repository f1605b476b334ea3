// Two Tally servers on one PostgreSQL reconciling the same instances at the same time: exactly one
// entry per instance, each with the exact credits, and every balance equal to its ledger sum.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { sql } from "drizzle-orm";
import { buildPriceTable } from "../src/domain/pricing.js";
import { instanceUsage } from "../src/domain/reconciliation.js";
import type { WorkspaceInstance } from "../src/domain/workspace-instance.js";
import { rowsOf } from "../src/store/raw-result.js";
import { teamId } from "./support/ledger-fixtures.js";
import { instanceClient, instanceReport, ts, type InstanceSpec } from "./support/instances.js";
import { testStoreKind } from "./support/test-database.js";
import { startTestTally, type TestTally } from "./support/test-tally.js";

const minute = 60_000;
const classes = { "g1-standard": 0.6, "g1-large": 1 };
const skip = testStoreKind === "pglite" ? "needs PostgreSQL (set DATABASE_URL): two servers cannot share one PGlite directory" : false;

describe("two servers reconciling at once", { skip }, () => {
  let a: TestTally;
  let b: TestTally;
  before(async () => {
    const env = { TALLY_CREDITS_PER_MINUTE_BY_WORKSPACE_CLASS: JSON.stringify(classes) };
    a = await startTestTally({ env });
    b = await startTestTally({ env, database: a.database, clock: a.clock });
  });
  after(async () => {
    await b?.stop();
    await a?.stop();
  });

  it("books exactly one entry per instance with the exact credits, and balances equal the ledger", async (t) => {
    const teams = Array.from({ length: 40 }, () => teamId());
    const specs = new Map<string, InstanceSpec>();
    const at = (offsetMs: number) => new Date(a.clock.now().getTime() + offsetMs);
    for (let i = 0; i < 4000; i++) {
      const id = randomUUID();
      const startedTime = at(-(10 + (i % 50)) * minute - (i % 7) * 1000);
      const kind = i % 3;
      specs.set(id, {
        id,
        attributionId: teams[i % teams.length],
        workspaceClass: i % 4 === 0 ? "g1-large" : i % 4 === 1 ? "unpriced" : "g1-standard",
        startedTime,
        ...(kind === 1 ? { stoppingTime: at(-5 * minute - i), stoppedTime: at(-4 * minute) } : {}),
        ...(kind === 2 ? { stoppingTime: at(-3 * minute - i) } : {}),
      });
    }
    const client = instanceClient(a);
    try {
      const all = [...specs.values()];
      for (let i = 0; i < all.length; i += 1000) {
        await client.methods.upsertWorkspaceInstances({ instances: all.slice(i, i + 1000).map(instanceReport) });
      }
      // Four reconciles at once: two through the RPC, two straight on each server's reconciler
      // (which report how many of their planned writes another one made first).
      const reconcileTogether = async () => {
        const [, , fromA, fromB] = await Promise.all([
          a.grpc.reconcileUsage({ from: ts(at(-60 * minute)), to: ts(at(1)) }),
          b.grpc.reconcileUsage({ from: ts(at(-60 * minute)), to: ts(at(1)) }),
          a.tally.reconciler.reconcile(at(-60 * minute), at(1)),
          b.tally.reconciler.reconcile(at(-60 * minute), at(1)),
        ]);
        t.diagnostic(`writes lost to a concurrent reconcile: ${fromA.lostRaces} and ${fromB.lostRaces}`);
      };

      await reconcileTogether();
      await assertLedger(specs, teams);

      // A minute later half of the running instances stop, and both servers reconcile again.
      a.clock.advanceMs(minute);
      const stops = all.filter((spec) => !spec.stoppingTime && Number.parseInt(spec.id!.slice(0, 2), 16) % 2 === 0);
      for (const spec of stops) Object.assign(spec, { stoppingTime: at(-20_000), stoppedTime: at(-10_000) });
      for (let i = 0; i < stops.length; i += 1000) {
        await client.methods.upsertWorkspaceInstances({ instances: stops.slice(i, i + 1000).map(instanceReport) });
      }
      await reconcileTogether();
      await assertLedger(specs, teams);
    } finally {
      client.close();
    }
  });

  async function assertLedger(specs: Map<string, InstanceSpec>, teams: string[]) {
    const db = a.tally.database.db;
    const entries = rowsOf<{ workspace_instance_id: string; credit_cents: bigint; draft: boolean; n: bigint }>(
      await db.execute(sql`SELECT workspace_instance_id, max(credit_cents) AS credit_cents, bool_and(draft) AS draft, count(*) AS n
        FROM usage WHERE kind = 'workspaceinstance' GROUP BY workspace_instance_id`),
    );
    const byInstance = new Map(entries.map((row) => [row.workspace_instance_id, row]));
    const prices = buildPriceTable(classes);
    const now = a.clock.now();
    let checked = 0;
    for (const [id, spec] of specs) {
      const row = byInstance.get(id);
      assert.ok(row, `instance ${id} has no entry`);
      assert.equal(Number(row.n), 1, `instance ${id} has ${row.n} entries`);
      const expected = instanceUsage(asInstance(spec), prices, now)!;
      assert.equal(BigInt(row.credit_cents), expected.creditCents, `credits of ${id}`);
      assert.equal(row.draft, expected.draft, `draft flag of ${id}`);
      checked += 1;
    }
    assert.equal(checked, specs.size);
    const mismatches = rowsOf<{ attribution_id: string }>(
      await db.execute(sql`SELECT b.attribution_id FROM balances b
        LEFT JOIN (SELECT attribution_id, sum(credit_cents) AS s FROM usage GROUP BY attribution_id) l USING (attribution_id)
        WHERE b.balance_cents <> coalesce(l.s, 0)`),
    );
    assert.deepEqual(mismatches, []);
    const [{ teams: balanced }] = rowsOf<{ teams: bigint }>(
      await db.execute(sql`SELECT count(*) AS teams FROM balances WHERE attribution_id IN ${teams} AND balance_cents > 0`),
    ) as [{ teams: bigint }];
    assert.equal(Number(balanced), teams.length);
  }
});

function asInstance(spec: InstanceSpec): WorkspaceInstance {
  return {
    id: spec.id!,
    workspaceId: "",
    attributionId: spec.attributionId,
    userId: undefined,
    workspaceClass: spec.workspaceClass ?? "",
    workspaceType: undefined,
    creationTime: undefined,
    startedTime: spec.startedTime,
    stoppingTime: spec.stoppingTime,
    stoppedTime: spec.stoppedTime,
    projectId: "",
    contextUrl: "",
    userName: "",
    userAvatarUrl: "",
  };
}
