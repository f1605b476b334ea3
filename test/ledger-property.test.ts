// Property: whatever happens (credit notes, usage, resets after clock jumps, strategy switches,
// concurrent calls), every attribution id's balance equals the sum of its ledger, to the cent,
// and every cycle is balanced out at most once.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { getBalanceCents } from "../src/store/balances.js";
import { listCostCenterHistory } from "../src/store/cost-centers.js";
import { listEntries, sumLedgerCents } from "../src/store/ledger.js";
import { bookInstanceUsage, teamId, userId } from "./support/ledger-fixtures.js";
import { startTestTally, type TestTally } from "./support/test-tally.js";

type Op =
  | { kind: "credit"; who: number; credits: number }
  | { kind: "usage"; who: number; cents: number }
  | { kind: "set"; who: number; strategy: "stripe" | "other"; limit: number }
  | { kind: "get"; who: number }
  | { kind: "advance"; hours: number }
  | { kind: "reset" }
  | { kind: "concurrent"; ops: Op[] };

const who = fc.integer({ min: 0, max: 2 });
const simpleOp: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("credit" as const), who, credits: fc.integer({ min: -5000, max: 5000 }) }),
  fc.record({ kind: fc.constant("usage" as const), who, cents: fc.integer({ min: 0, max: 2_000_000 }) }),
  fc.record({
    kind: fc.constant("set" as const),
    who,
    strategy: fc.constantFrom("stripe" as const, "other" as const),
    limit: fc.integer({ min: 0, max: 20_000 }),
  }),
  fc.record({ kind: fc.constant("get" as const), who }),
  fc.record({ kind: fc.constant("advance" as const), hours: fc.integer({ min: 1, max: 24 * 70 }) }),
  fc.constant({ kind: "reset" as const }),
);
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: simpleOp },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("concurrent" as const), ops: fc.array(simpleOp, { minLength: 2, maxLength: 6 }) }) },
);

describe("ledger invariants under random histories", () => {
  let t: TestTally;
  before(async () => {
    t = await startTestTally({ env: { STRIPE_SECRET_KEY: "sk_test_unused" } });
  });
  after(async () => {
    await t?.stop();
  });

  it("keeps balance == SUM(ledger) and books each reset once", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), async (ops) => {
        const ids = [teamId(), userId(), teamId()];
        const db = t.tally.database.db;
        const apply = async (o: Op): Promise<void> => {
          switch (o.kind) {
            case "credit":
              await t.tally.ledger.addCreditNote({ attributionId: ids[o.who]!, credits: o.credits, description: "property", userId: "" });
              return;
            case "usage":
              await bookInstanceUsage(db, [{ attributionId: ids[o.who]!, creditCents: BigInt(o.cents), effectiveTime: t.clock.now() }]);
              return;
            case "set":
              await t.grpc.setCostCenter({
                costCenter: {
                  attributionId: ids[o.who]!,
                  spendingLimit: o.limit,
                  billingStrategy: o.strategy === "stripe" ? "BILLING_STRATEGY_STRIPE" : "BILLING_STRATEGY_OTHER",
                },
              });
              return;
            case "get":
              await t.grpc.getCostCenter({ attributionId: ids[o.who]! });
              return;
            case "advance":
              t.clock.advanceMs(o.hours * 3_600_000);
              return;
            case "reset":
              await t.grpc.resetUsage({});
              return;
            case "concurrent":
              await Promise.all(o.ops.map(apply));
              return;
          }
        };
        for (const o of ops) await apply(o);
        for (const id of ids) {
          assert.equal(await getBalanceCents(db, id), await sumLedgerCents(db, id), `balance of ${id}`);
          assert.equal((await t.grpc.getBalance({ attributionId: id })).credits, Number(await sumLedgerCents(db, id)) / 100);
          const history = await listCostCenterHistory(db, id);
          history.forEach((version, index) => assert.equal(version.version, history.length - index, "versions are dense"));
          const invoices = (await listEntries(db, id, 10_000)).filter((e) => e.kind === "invoice");
          assert.equal(new Set(invoices.map((e) => e.sourceKey)).size, invoices.length);
          for (const invoice of invoices) assert.ok(invoice.creditCents < 0n, "invoices only reduce the balance");
        }
      }),
      { numRuns: Number(process.env.TALLY_PROPERTY_RUNS ?? 40) },
    );
  });
});
