// UsageService over a real port, called with a plain gRPC client generated from the .proto files.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { addMonths } from "../src/domain/billing-cycle.js";
import { getBalanceCents } from "../src/store/balances.js";
import { listCostCenterHistory } from "../src/store/cost-centers.js";
import { listEntries, sumLedgerCents } from "../src/store/ledger.js";
import { bookInstanceUsage, teamId, userId } from "./support/ledger-fixtures.js";
import { grpcStatus, rejects, startTestTally, type TestTally } from "./support/test-tally.js";

const day = 24 * 60 * 60 * 1000;
const ts = (date: Date) => ({ seconds: String(Math.floor(date.getTime() / 1000)), nanos: (date.getTime() % 1000) * 1e6 });
const fromTs = (t: { seconds: string; nanos: number }) => new Date(Number(t.seconds) * 1000 + Math.round(t.nanos / 1e6));

async function assertBalanceMatchesLedger(t: TestTally, attributionId: string) {
  const db = t.tally.database.db;
  assert.equal(await getBalanceCents(db, attributionId), await sumLedgerCents(db, attributionId));
}

describe("UsageService over gRPC", () => {
  let t: TestTally;
  before(async () => {
    t = await startTestTally({ env: { STRIPE_SECRET_KEY: "sk_test_unused" } });
  });
  after(async () => {
    await t?.stop();
  });

  describe("attribution ids", () => {
    const bad: Array<[string, RegExp]> = [
      ["", /required/],
      ["0a7dcf25-f05e-4dcf-9a47-cf8fccc74717", /no colon/],
      ["org:0a7dcf25-f05e-4dcf-9a47-cf8fccc74717", /unknown kind "org"/],
      ["team:xyz", /not a UUID|36/],
      ["team:0a7dcf25-f05e-4dcf-9a47-cf8fccc7471z", /characters other than hex/],
      ["team:0a7dcf25f05e-4dcf-9a47-cf8fccc747170", /RFC 4122/],
    ];
    for (const [value, why] of bad) {
      it(`rejects ${JSON.stringify(value)} on every RPC that takes one`, async () => {
        await rejects(t.grpc.getCostCenter({ attributionId: value }), grpcStatus.INVALID_ARGUMENT, why);
        await rejects(t.grpc.getBalance({ attributionId: value }), grpcStatus.INVALID_ARGUMENT, why);
        await rejects(t.grpc.listUsage({ attributionId: value }), grpcStatus.INVALID_ARGUMENT, why);
        await rejects(
          t.grpc.addUsageCreditNote({ attributionId: value, credits: 1, description: "x" }),
          grpcStatus.INVALID_ARGUMENT,
          why,
        );
        await rejects(
          t.grpc.setCostCenter({ costCenter: { attributionId: value, spendingLimit: 1, billingStrategy: "BILLING_STRATEGY_OTHER" } }),
          grpcStatus.INVALID_ARGUMENT,
          why,
        );
      });
    }
  });

  it("sends error messages that plain gRPC clients read verbatim (reserved characters unescaped)", async () => {
    await rejects(
      t.grpc.getBalance({ attributionId: "team:xyz=1/2,ü" }),
      grpcStatus.INVALID_ARGUMENT,
      /^attribution_id "team:xyz=1\/2,ü": the part after "team:" /,
    );
  });

  describe("GetCostCenter", () => {
    it("creates a team's cost center on first use with the team default, billed OTHER, cycle of one month", async () => {
      const id = teamId();
      const { costCenter } = await t.grpc.getCostCenter({ attributionId: id });
      assert.equal(costCenter.attributionId, id);
      assert.equal(costCenter.billingStrategy, "BILLING_STRATEGY_OTHER");
      assert.equal(costCenter.spendingLimit, 0);
      assert.deepEqual(fromTs(costCenter.billingCycleStart), t.clock.now());
      assert.deepEqual(fromTs(costCenter.nextBillingTime), new Date("2026-02-15T12:00:00Z"));
    });

    it("gives users the user default", async () => {
      const { costCenter } = await t.grpc.getCostCenter({ attributionId: userId() });
      assert.equal(costCenter.spendingLimit, 500);
    });

    it("creates exactly one version when many first calls race", async () => {
      const id = teamId();
      const responses = await Promise.all(Array.from({ length: 25 }, () => t.grpc.getCostCenter({ attributionId: id })));
      const starts = new Set(responses.map((r) => JSON.stringify(r.costCenter)));
      assert.equal(starts.size, 1);
      assert.equal((await listCostCenterHistory(t.tally.database.db, id)).length, 1);
    });

    it("normalises upper-case UUIDs to one attribution id", async () => {
      const uuid = randomUUID();
      const { costCenter } = await t.grpc.getCostCenter({ attributionId: `team:${uuid.toUpperCase()}` });
      assert.equal(costCenter.attributionId, `team:${uuid}`);
    });

    it("resets an expired OTHER cost center before returning it", async () => {
      const id = userId();
      await t.grpc.getCostCenter({ attributionId: id });
      await bookInstanceUsage(t.tally.database.db, [{ attributionId: id, creditCents: 70_000n, effectiveTime: t.clock.now() }]);
      const start = t.clock.now();
      t.clock.advanceMs(40 * day);
      try {
        const { costCenter } = await t.grpc.getCostCenter({ attributionId: id });
        assert.deepEqual(fromTs(costCenter.billingCycleStart), new Date("2026-02-15T12:00:00Z"));
        assert.deepEqual(fromTs(costCenter.nextBillingTime), new Date("2026-03-15T12:00:00Z"));
        // Balanced out up to the spending limit (500 credits); 200 credits carry over.
        assert.equal((await t.grpc.getBalance({ attributionId: id })).credits, 200);
        await assertBalanceMatchesLedger(t, id);
      } finally {
        t.clock.set(start);
      }
    });
  });

  describe("SetCostCenter", () => {
    it("rejects a missing cost center, a negative limit and an unknown strategy", async () => {
      await rejects(t.grpc.setCostCenter({}), grpcStatus.INVALID_ARGUMENT, /cost_center is required/);
      await rejects(
        t.grpc.setCostCenter({ costCenter: { attributionId: teamId(), spendingLimit: -5, billingStrategy: "BILLING_STRATEGY_OTHER" } }),
        grpcStatus.INVALID_ARGUMENT,
        /spending_limit -5 must not be negative/,
      );
      await rejects(
        t.grpc.setCostCenter({ costCenter: { attributionId: teamId(), spendingLimit: 5, billingStrategy: 7 } }),
        grpcStatus.INVALID_ARGUMENT,
        /billing_strategy 7/,
      );
    });

    it("stores a new version with the new limit and keeps the cycle", async () => {
      const id = teamId();
      const before = (await t.grpc.getCostCenter({ attributionId: id })).costCenter;
      const { costCenter } = await t.grpc.setCostCenter({
        costCenter: { attributionId: id, spendingLimit: 1234, billingStrategy: "BILLING_STRATEGY_OTHER", billingCycleStart: ts(new Date(0)) },
      });
      assert.equal(costCenter.spendingLimit, 1234);
      assert.deepEqual(costCenter.billingCycleStart, before.billingCycleStart);
      assert.deepEqual(costCenter.nextBillingTime, before.nextBillingTime);
      assert.equal((await t.grpc.getCostCenter({ attributionId: id })).costCenter.spendingLimit, 1234);
      assert.deepEqual(
        (await listCostCenterHistory(t.tally.database.db, id)).map((c) => c.version),
        [2, 1],
      );
    });

    it("creates the cost center when setting one never seen", async () => {
      const id = teamId();
      const { costCenter } = await t.grpc.setCostCenter({
        costCenter: { attributionId: id, spendingLimit: 10, billingStrategy: "BILLING_STRATEGY_OTHER" },
      });
      assert.equal(costCenter.spendingLimit, 10);
      assert.equal((await listCostCenterHistory(t.tally.database.db, id)).length, 2);
    });

    it("balances out all usage and starts a new cycle when switching OTHER -> STRIPE", async () => {
      const id = teamId();
      await t.grpc.setCostCenter({ costCenter: { attributionId: id, spendingLimit: 100, billingStrategy: "BILLING_STRATEGY_OTHER" } });
      await bookInstanceUsage(t.tally.database.db, [{ attributionId: id, creditCents: 12_345n, effectiveTime: t.clock.now() }]);
      t.clock.advanceMs(1000);
      const { costCenter } = await t.grpc.setCostCenter({
        costCenter: { attributionId: id, spendingLimit: 5000, billingStrategy: "BILLING_STRATEGY_STRIPE" },
      });
      assert.equal(costCenter.billingStrategy, "BILLING_STRATEGY_STRIPE");
      assert.equal(costCenter.spendingLimit, 5000);
      assert.deepEqual(fromTs(costCenter.billingCycleStart), t.clock.now());
      assert.equal((await t.grpc.getBalance({ attributionId: id })).credits, 0);
      const invoices = (await listEntries(t.tally.database.db, id, 10)).filter((e) => e.kind === "invoice");
      assert.deepEqual(invoices.map((e) => e.creditCents), [-12_345n]);
      await assertBalanceMatchesLedger(t, id);

      // STRIPE -> OTHER restores the last OTHER limit (100), not the requested one, and starts a new cycle.
      t.clock.advanceMs(1000);
      const back = await t.grpc.setCostCenter({
        costCenter: { attributionId: id, spendingLimit: 99999, billingStrategy: "BILLING_STRATEGY_OTHER" },
      });
      assert.equal(back.costCenter.billingStrategy, "BILLING_STRATEGY_OTHER");
      assert.equal(back.costCenter.spendingLimit, 100);
      assert.deepEqual(fromTs(back.costCenter.billingCycleStart), t.clock.now());
    });

    it("switching OTHER -> STRIPE with a credit (negative balance) books nothing", async () => {
      const id = teamId();
      await t.grpc.addUsageCreditNote({ attributionId: id, credits: 10, description: "goodwill" });
      await t.grpc.setCostCenter({ costCenter: { attributionId: id, spendingLimit: 0, billingStrategy: "BILLING_STRATEGY_STRIPE" } });
      assert.equal((await t.grpc.getBalance({ attributionId: id })).credits, -10);
    });

    it("resets an expired OTHER cost center with the old limit first, then applies the change to the new cycle", async () => {
      const id = teamId();
      const created = await t.grpc.setCostCenter({ costCenter: { attributionId: id, spendingLimit: 30, billingStrategy: "BILLING_STRATEGY_OTHER" } });
      const firstCycle = fromTs(created.costCenter.billingCycleStart);
      const nextCycle = addMonths(firstCycle, 1);
      await bookInstanceUsage(t.tally.database.db, [{ attributionId: id, creditCents: 5_000n, effectiveTime: t.clock.now() }]);
      const start = t.clock.now();
      t.clock.advanceMs(40 * day);
      try {
        const { costCenter } = await t.grpc.setCostCenter({
          costCenter: { attributionId: id, spendingLimit: 1000, billingStrategy: "BILLING_STRATEGY_OTHER" },
        });
        assert.equal(costCenter.spendingLimit, 1000);
        assert.deepEqual(fromTs(costCenter.billingCycleStart), nextCycle);
        assert.deepEqual(fromTs(costCenter.nextBillingTime), addMonths(firstCycle, 2));
        // The reset balanced out min(50, 30) = 30 credits with the old limit, not the new one.
        const invoices = (await listEntries(t.tally.database.db, id, 10)).filter((e) => e.kind === "invoice");
        assert.deepEqual(invoices.map((e) => [e.creditCents, e.effectiveTime]), [[-3_000n, nextCycle]]);
        assert.equal((await t.grpc.getBalance({ attributionId: id })).credits, 20);
        const history = await listCostCenterHistory(t.tally.database.db, id);
        assert.deepEqual(
          history.map((c) => [c.version, c.spendingLimitCredits, c.billingCycleStart]),
          [
            [4, 1000, nextCycle],
            [3, 30, nextCycle],
            [2, 30, firstCycle],
            [1, 0, firstCycle],
          ],
        );
        await assertBalanceMatchesLedger(t, id);
      } finally {
        t.clock.set(start);
      }
    });

    it("resets an expired OTHER cost center first on a switch to STRIPE too, then balances out the rest", async () => {
      const id = teamId();
      await t.grpc.setCostCenter({ costCenter: { attributionId: id, spendingLimit: 30, billingStrategy: "BILLING_STRATEGY_OTHER" } });
      await bookInstanceUsage(t.tally.database.db, [{ attributionId: id, creditCents: 5_000n, effectiveTime: t.clock.now() }]);
      const start = t.clock.now();
      t.clock.advanceMs(40 * day);
      try {
        const { costCenter } = await t.grpc.setCostCenter({
          costCenter: { attributionId: id, spendingLimit: 1000, billingStrategy: "BILLING_STRATEGY_STRIPE" },
        });
        assert.equal(costCenter.billingStrategy, "BILLING_STRATEGY_STRIPE");
        assert.deepEqual(fromTs(costCenter.billingCycleStart), t.clock.now());
        const invoices = (await listEntries(t.tally.database.db, id, 10)).filter((e) => e.kind === "invoice");
        assert.deepEqual(invoices.map((e) => e.creditCents).sort((a, b) => Number(a - b)), [-3_000n, -2_000n]);
        assert.equal((await t.grpc.getBalance({ attributionId: id })).credits, 0);
        assert.equal((await listCostCenterHistory(t.tally.database.db, id)).length, 4);
      } finally {
        t.clock.set(start);
      }
    });

    it("restores the default limit on STRIPE -> OTHER when there never was an OTHER version with another limit", async () => {
      const id = userId();
      await t.grpc.setCostCenter({ costCenter: { attributionId: id, spendingLimit: 3, billingStrategy: "BILLING_STRATEGY_STRIPE" } });
      const { costCenter } = await t.grpc.setCostCenter({
        costCenter: { attributionId: id, spendingLimit: 3, billingStrategy: "BILLING_STRATEGY_OTHER" },
      });
      assert.equal(costCenter.spendingLimit, 500);
    });
  });

  describe("AddUsageCreditNote and GetBalance", () => {
    it("returns 0 for an attribution id never seen", async () => {
      assert.equal((await t.grpc.getBalance({ attributionId: teamId() })).credits, 0);
    });

    it("rejects blank descriptions and bad user ids", async () => {
      const id = teamId();
      await rejects(t.grpc.addUsageCreditNote({ attributionId: id, credits: 5, description: "   " }), grpcStatus.INVALID_ARGUMENT, /description/);
      await rejects(t.grpc.addUsageCreditNote({ attributionId: id, credits: -5, description: "" }), grpcStatus.INVALID_ARGUMENT, /description/);
      await rejects(
        t.grpc.addUsageCreditNote({ attributionId: id, credits: 5, description: "x", userId: "not-a-uuid" }),
        grpcStatus.INVALID_ARGUMENT,
        /user_id "not-a-uuid"/,
      );
      assert.equal((await listEntries(t.tally.database.db, id, 10)).length, 0);
    });

    it("takes any int32: a negative amount is a debit, zero books a zero entry", async () => {
      const id = teamId();
      await t.grpc.addUsageCreditNote({ attributionId: id, credits: 100, description: "welcome" });
      // Gitpod's admin dashboard subtracts credits with a negative credit note (down to -50000 at once).
      await t.grpc.addUsageCreditNote({ attributionId: id, credits: -50_000, description: "subtract credits" });
      await t.grpc.addUsageCreditNote({ attributionId: id, credits: 0, description: "nothing" });
      await t.grpc.addUsageCreditNote({ attributionId: id, credits: 2_147_483_647, description: "int32 max" });
      await t.grpc.addUsageCreditNote({ attributionId: id, credits: -2_147_483_648, description: "int32 min" });
      const notes = (await listEntries(t.tally.database.db, id, 10)).filter((e) => e.kind === "creditnote");
      assert.deepEqual(
        notes.map((e) => [e.description, e.creditCents]).sort(),
        [
          ["int32 max", -214_748_364_700n],
          ["int32 min", 214_748_364_800n],
          ["nothing", 0n],
          ["subtract credits", 5_000_000n],
          ["welcome", -10_000n],
        ],
      );
      assert.equal((await t.grpc.getBalance({ attributionId: id })).credits, 49_901);
      await assertBalanceMatchesLedger(t, id);
    });

    it("books a final negative entry with the user id in its metadata and lowers the balance", async () => {
      const id = teamId();
      const user = randomUUID();
      await bookInstanceUsage(t.tally.database.db, [{ attributionId: id, creditCents: 1_050n, effectiveTime: t.clock.now() }]);
      await t.grpc.addUsageCreditNote({ attributionId: id, credits: 4, description: "  outage refund  ", userId: user });
      assert.equal((await t.grpc.getBalance({ attributionId: id })).credits, 6.5);
      const note = (await listEntries(t.tally.database.db, id, 10)).find((e) => e.kind === "creditnote");
      assert.ok(note);
      assert.equal(note.creditCents, -400n);
      assert.equal(note.description, "outage refund");
      assert.equal(note.draft, false);
      assert.deepEqual(note.metadata, { userId: user });
      assert.deepEqual(note.effectiveTime, t.clock.now());
      await assertBalanceMatchesLedger(t, id);
    });
  });

  describe("ResetUsage", () => {
    it("balances out the whole positive balance when the spending limit is 0 (no cap)", async () => {
      const id = teamId();
      await t.grpc.setCostCenter({ costCenter: { attributionId: id, spendingLimit: 0, billingStrategy: "BILLING_STRATEGY_OTHER" } });
      await bookInstanceUsage(t.tally.database.db, [{ attributionId: id, creditCents: 123_456_789n, effectiveTime: t.clock.now() }]);
      const start = t.clock.now();
      t.clock.advanceMs(40 * day);
      try {
        await t.grpc.resetUsage({});
        const invoices = (await listEntries(t.tally.database.db, id, 10)).filter((e) => e.kind === "invoice");
        assert.deepEqual(invoices.map((e) => e.creditCents), [-123_456_789n]);
        assert.equal((await t.grpc.getBalance({ attributionId: id })).credits, 0);
        await assertBalanceMatchesLedger(t, id);
      } finally {
        t.clock.set(start);
      }
    });

    it("catches up expired cycles month by month, balances out min(balance, limit) once, and is idempotent", async () => {
      const id = teamId();
      const created = await t.grpc.setCostCenter({ costCenter: { attributionId: id, spendingLimit: 50, billingStrategy: "BILLING_STRATEGY_OTHER" } });
      const cycleStart = fromTs(created.costCenter.billingCycleStart);
      const stripeId = teamId();
      await t.grpc.setCostCenter({ costCenter: { attributionId: stripeId, spendingLimit: 50, billingStrategy: "BILLING_STRATEGY_STRIPE" } });
      await bookInstanceUsage(t.tally.database.db, [
        { attributionId: id, creditCents: 3_000n, effectiveTime: t.clock.now() },
        { attributionId: id, creditCents: 4_000n, effectiveTime: t.clock.now() },
        { attributionId: stripeId, creditCents: 4_000n, effectiveTime: t.clock.now() },
      ]);
      const start = t.clock.now();
      t.clock.set(new Date("2026-04-20T00:00:00Z"));
      try {
        await t.grpc.resetUsage({});
        await t.grpc.resetUsage({});
        const history = await listCostCenterHistory(t.tally.database.db, id);
        const current = history[0]!;
        assert.deepEqual(current.billingCycleStart, addMonths(cycleStart, 3));
        assert.deepEqual(current.nextBillingTime, addMonths(cycleStart, 4));
        // One reset version, however many months were caught up and however often it ran.
        assert.equal(history.length, 3);
        assert.equal((await t.grpc.getBalance({ attributionId: id })).credits, 20);
        const invoices = (await listEntries(t.tally.database.db, id, 10)).filter((e) => e.kind === "invoice");
        assert.deepEqual(invoices.map((e) => e.creditCents), [-5_000n]);
        assert.deepEqual(invoices[0]!.effectiveTime, addMonths(cycleStart, 3));
        await assertBalanceMatchesLedger(t, id);
        // STRIPE cost centers are never reset here.
        assert.equal((await t.grpc.getBalance({ attributionId: stripeId })).credits, 40);
        assert.equal((await listCostCenterHistory(t.tally.database.db, stripeId))[0]!.billingStrategy, "stripe");
      } finally {
        t.clock.set(start);
      }
    });
  });

  describe("ListUsage", () => {
    const id = teamId();
    const user = randomUUID();
    const base = new Date("2026-01-01T00:00:00Z");
    before(async () => {
      await bookInstanceUsage(
        t.tally.database.db,
        Array.from({ length: 7 }, (_, i) => ({
          attributionId: id,
          creditCents: BigInt(100 * (i + 1)),
          effectiveTime: new Date(base.getTime() + i * day),
          userId: i % 2 === 0 ? user : randomUUID(),
          draft: i === 6,
        })),
      );
      await t.grpc.addUsageCreditNote({ attributionId: id, credits: 1, description: "not listed" });
    });

    it("validates range, paging and user id", async () => {
      const now = t.clock.now();
      await rejects(t.grpc.listUsage({ attributionId: id, from: ts(now), to: ts(new Date(now.getTime() - 1000)) }), grpcStatus.INVALID_ARGUMENT, /from .* must not be after to/);
      await rejects(
        t.grpc.listUsage({ attributionId: id, from: ts(new Date(now.getTime() - 301 * day)), to: ts(now) }),
        grpcStatus.INVALID_ARGUMENT,
        /300 days/,
      );
      await rejects(t.grpc.listUsage({ attributionId: id, pagination: { perPage: "-1" } }), grpcStatus.INVALID_ARGUMENT, /per_page -1/);
      await rejects(t.grpc.listUsage({ attributionId: id, pagination: { perPage: "1001" } }), grpcStatus.INVALID_ARGUMENT, /per_page 1001/);
      await rejects(t.grpc.listUsage({ attributionId: id, pagination: { page: "-1" } }), grpcStatus.INVALID_ARGUMENT, /page -1/);
      await rejects(t.grpc.listUsage({ attributionId: id, userId: "bob" }), grpcStatus.INVALID_ARGUMENT, /user_id "bob"/);
      await rejects(t.grpc.listUsage({ attributionId: id, order: 9 }), grpcStatus.INVALID_ARGUMENT, /order 9/);
    });

    it("accepts a range of exactly 300 days", async () => {
      const now = t.clock.now();
      await t.grpc.listUsage({ attributionId: id, from: ts(new Date(now.getTime() - 300 * day)), to: ts(now) });
    });

    it("lists workspace-instance entries newest first by default, drafts included, with the summary over all pages", async () => {
      const response = await t.grpc.listUsage({ attributionId: id, pagination: { perPage: "3" } });
      assert.deepEqual(response.usageEntries.map((e: { credits: number }) => e.credits), [7, 6, 5]);
      assert.equal(response.usageEntries[0].draft, true);
      assert.equal(response.usageEntries[0].kind, "KIND_WORKSPACE_INSTANCE");
      assert.ok(JSON.parse(response.usageEntries[0].metadata).workspaceClass);
      assert.deepEqual(response.pagination, { perPage: "3", page: "1", total: "7", totalPages: "3" });
      assert.equal(response.creditsUsed, 28);
      assert.deepEqual(response.ledgerInterval, { seconds: "60", nanos: 0 });
    });

    it("pages ascending and treats page 0 and 1 as the first page, per_page 0 as 50", async () => {
      const page3 = await t.grpc.listUsage({ attributionId: id, order: "ORDERING_ASCENDING", pagination: { perPage: "3", page: "3" } });
      assert.deepEqual(page3.usageEntries.map((e: { credits: number }) => e.credits), [7]);
      const page0 = await t.grpc.listUsage({ attributionId: id, order: "ORDERING_ASCENDING", pagination: { perPage: "3", page: "0" } });
      assert.deepEqual(page0.usageEntries.map((e: { credits: number }) => e.credits), [1, 2, 3]);
      assert.equal(page0.pagination.page, "1");
      const beyond = await t.grpc.listUsage({ attributionId: id, pagination: { perPage: "3", page: "9" } });
      assert.deepEqual(beyond.usageEntries, []);
      assert.equal(beyond.creditsUsed, 28);
      const defaults = await t.grpc.listUsage({ attributionId: id });
      assert.equal(defaults.pagination.perPage, "50");
      assert.equal(defaults.usageEntries.length, 7);
    });

    it("filters by time range [from, to) and by user id", async () => {
      const from = new Date(base.getTime() + 2 * day);
      const to = new Date(base.getTime() + 5 * day);
      const ranged = await t.grpc.listUsage({ attributionId: id, from: ts(from), to: ts(to), order: "ORDERING_ASCENDING" });
      assert.deepEqual(ranged.usageEntries.map((e: { credits: number }) => e.credits), [3, 4, 5]);
      assert.equal(ranged.creditsUsed, 12);
      const mine = await t.grpc.listUsage({ attributionId: id, userId: user, order: "ORDERING_ASCENDING" });
      assert.deepEqual(mine.usageEntries.map((e: { credits: number }) => e.credits), [1, 3, 5, 7]);
      assert.equal(mine.creditsUsed, 16);
      assert.equal(mine.pagination.total, "4");
    });
  });

  describe("ReconcileUsage", () => {
    it("rejects to before from", async () => {
      const now = t.clock.now();
      await rejects(
        t.grpc.reconcileUsage({ from: ts(now), to: ts(new Date(now.getTime() - 1)) }),
        grpcStatus.INVALID_ARGUMENT,
        /must not be before from/,
      );
    });
  });
});
