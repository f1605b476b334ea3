// Property: whatever order instance reports, clock jumps, ledger runs and (concurrent) reconciles
// come in, no instance ever has two entries, every balance equals its ledger, and once everything
// has stopped and been reported, each instance has one final entry with exactly its credits.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { sql } from "drizzle-orm";
import fc from "fast-check";
import { buildPriceTable, priceOf, usageCents } from "../src/domain/pricing.js";
import { rowsOf } from "../src/store/raw-result.js";
import { teamId } from "./support/ledger-fixtures.js";
import { instanceClient, instanceReport, ts, type InstanceClient, type InstanceSpec } from "./support/instances.js";
import { startTestTally, type TestTally } from "./support/test-tally.js";

const second = 1000;
const minute = 60 * second;
const hour = 60 * minute;
const classes = { small: 0.6, large: 1.7 };
const prices = buildPriceTable(classes);

/** What is true of an instance; reports reveal it piece by piece. Times are offsets from the run's start. */
interface Truth {
  readonly team: number;
  readonly workspaceClass: string;
  readonly startMs: number;
  readonly runtimeMs: number;
  readonly stoppedAfterMs: number;
}

type Op =
  | { kind: "reportStart"; instance: number; withAttribution: boolean }
  | { kind: "reportAttribution"; instance: number }
  | { kind: "reportStop"; instance: number }
  | { kind: "advance"; ms: number }
  | { kind: "ledger" }
  | { kind: "reconcile"; fromBackMs: number; toBackMs: number }
  | { kind: "concurrent" };

const instanceCount = 5;
const truth: fc.Arbitrary<Truth> = fc.record({
  team: fc.integer({ min: 0, max: 2 }),
  workspaceClass: fc.constantFrom("small", "large", "unknown", ""),
  startMs: fc.integer({ min: 0, max: 3 * hour }),
  runtimeMs: fc.integer({ min: 0, max: 3 * hour }),
  stoppedAfterMs: fc.integer({ min: 0, max: 10 * second }),
});
const instance = fc.integer({ min: 0, max: instanceCount - 1 });
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("reportStart" as const), instance, withAttribution: fc.boolean() }),
  fc.record({ kind: fc.constant("reportAttribution" as const), instance }),
  fc.record({ kind: fc.constant("reportStop" as const), instance }),
  fc.record({ kind: fc.constant("advance" as const), ms: fc.integer({ min: second, max: 2 * hour }) }),
  fc.constant({ kind: "ledger" as const }),
  fc.record({
    kind: fc.constant("reconcile" as const),
    fromBackMs: fc.integer({ min: 0, max: 6 * hour }),
    toBackMs: fc.integer({ min: 0, max: hour }),
  }),
  fc.constant({ kind: "concurrent" as const }),
);

describe("reconciliation invariants under random histories", () => {
  let t: TestTally;
  let client: InstanceClient;
  before(async () => {
    t = await startTestTally({ env: { TALLY_CREDITS_PER_MINUTE_BY_WORKSPACE_CLASS: JSON.stringify(classes) } });
    client = instanceClient(t);
  });
  after(async () => {
    client?.close();
    await t?.stop();
  });

  it("never books an instance twice, keeps balance == SUM(ledger), and settles to the exact credits", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(truth, { minLength: instanceCount, maxLength: instanceCount }), fc.array(op, { maxLength: 30 }), async (truths, ops) => {
        const base = t.clock.now().getTime();
        const teams = [teamId(), teamId(), teamId()];
        const ids = truths.map(() => randomUUID());
        const at = (offsetMs: number) => new Date(base + offsetMs);
        const spec = (k: number, parts: { attribution?: boolean; stop?: boolean }): InstanceSpec => {
          const tr = truths[k]!;
          return {
            id: ids[k],
            workspaceClass: tr.workspaceClass,
            startedTime: at(tr.startMs),
            ...(parts.attribution ? { attributionId: teams[tr.team] } : {}),
            ...(parts.stop ? { stoppingTime: at(tr.startMs + tr.runtimeMs), stoppedTime: at(tr.startMs + tr.runtimeMs + tr.stoppedAfterMs) } : {}),
          };
        };
        const report = (s: InstanceSpec) => client.methods.upsertWorkspaceInstances({ instances: [instanceReport(s)] });
        const reconcile = (fromBackMs: number, toBackMs: number) =>
          t.grpc.reconcileUsage({
            from: ts(new Date(t.clock.now().getTime() - fromBackMs - toBackMs)),
            to: ts(new Date(t.clock.now().getTime() - toBackMs)),
          });
        const apply = async (o: Op): Promise<void> => {
          switch (o.kind) {
            case "reportStart":
              await report(spec(o.instance, { attribution: o.withAttribution }));
              return;
            case "reportAttribution":
              await report({ id: ids[o.instance], attributionId: teams[truths[o.instance]!.team] });
              return;
            case "reportStop": {
              // A stop is reported once it happened (reports may run a little ahead of the clock).
              const tr = truths[o.instance]!;
              const stoppedAt = base + tr.startMs + tr.runtimeMs + tr.stoppedAfterMs;
              if (stoppedAt > t.clock.now().getTime()) t.clock.set(new Date(stoppedAt));
              await report(spec(o.instance, { attribution: true, stop: true }));
              return;
            }
            case "advance":
              t.clock.advanceMs(o.ms);
              return;
            case "ledger":
              assert.ok((await t.tally.jobs.runOnce("ledger")).ran);
              return;
            case "reconcile":
              await reconcile(o.fromBackMs, o.toBackMs);
              return;
            case "concurrent":
              await Promise.all([t.tally.jobs.runOnce("ledger"), reconcile(hour, 0), reconcile(hour, 0)]);
              return;
          }
        };
        for (const o of ops) {
          await apply(o);
          if (o.kind === "ledger" || o.kind === "reconcile" || o.kind === "concurrent") await assertLedgerConsistent(ids, teams);
        }
        // Settle: everything has stopped and is reported in full, then the ledger runs.
        t.clock.set(new Date(Math.max(t.clock.now().getTime(), base + 7 * hour)));
        for (let k = 0; k < instanceCount; k++) await report(spec(k, { attribution: true, stop: true }));
        t.clock.advanceMs(second);
        assert.ok((await t.tally.jobs.runOnce("ledger")).ran);
        await assertLedgerConsistent(ids, teams);
        const entries = await entriesOf(ids);
        for (let k = 0; k < instanceCount; k++) {
          const tr = truths[k]!;
          const entry = entries.get(ids[k]!);
          assert.ok(entry, `instance ${k} was never booked`);
          assert.equal(entry.draft, false, `instance ${k} is still a draft`);
          assert.equal(entry.attributionId, teams[tr.team]);
          const expected = usageCents(BigInt(Math.floor(tr.runtimeMs / 1000)), priceOf(prices, tr.workspaceClass));
          assert.equal(entry.creditCents, expected, `credits of instance ${k}`);
        }
        t.clock.advanceMs(hour);
      }),
      { numRuns: Number(process.env.TALLY_PROPERTY_RUNS ?? 20) },
    );
  });

  async function entriesOf(ids: string[]) {
    const rows = rowsOf<{ workspace_instance_id: string; attribution_id: string; credit_cents: bigint | string; draft: boolean; n: bigint | string }>(
      await t.tally.database.db.execute(sql`
        SELECT workspace_instance_id, min(attribution_id) AS attribution_id, min(credit_cents) AS credit_cents,
          bool_or(draft) AS draft, count(*) AS n
        FROM usage WHERE workspace_instance_id IN ${ids} GROUP BY workspace_instance_id`),
    );
    return new Map(
      rows.map((row) => {
        assert.equal(Number(row.n), 1, `instance ${row.workspace_instance_id} has ${row.n} entries`);
        return [row.workspace_instance_id, { attributionId: row.attribution_id, creditCents: BigInt(row.credit_cents), draft: row.draft }];
      }),
    );
  }

  async function assertLedgerConsistent(ids: string[], teams: string[]) {
    await entriesOf(ids);
    const rows = rowsOf<{ attribution_id: string; balance: bigint | string | null; ledger: bigint | string | null }>(
      await t.tally.database.db.execute(sql`
        SELECT a.id AS attribution_id,
          (SELECT balance_cents FROM balances WHERE attribution_id = a.id) AS balance,
          (SELECT sum(credit_cents) FROM usage WHERE attribution_id = a.id) AS ledger
        FROM unnest(${sql.raw(`ARRAY[${teams.map((team) => `'${team}'`).join(",")}]`)}::text[]) AS a(id)`),
    );
    for (const row of rows) assert.equal(BigInt(row.balance ?? 0), BigInt(row.ledger ?? 0), `balance of ${row.attribution_id}`);
  }
});
