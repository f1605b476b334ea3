import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseAttributionId } from "./attribution-id.js";
import { initialCostCenter, planCostCenterChange, planReset, type CostCenter } from "./cost-center.js";

const now = new Date("2026-03-10T00:00:00Z");
const team = parseAttributionId("team:0a7dcf25-f05e-4dcf-9a47-cf8fccc74717");
const other: CostCenter = {
  attributionId: team.text,
  spendingLimitCredits: 100,
  billingStrategy: "other",
  billingCycleStart: new Date("2026-03-01T00:00:00Z"),
  nextBillingTime: new Date("2026-04-01T00:00:00Z"),
};
const change = (current: CostCenter, requested: CostCenter["billingStrategy"], limit: number, balanceCents: bigint, lastOther?: number) =>
  planCostCenterChange({
    current,
    requested: { billingStrategy: requested, spendingLimitCredits: limit },
    lastOtherSpendingLimitCredits: lastOther,
    defaultSpendingLimitCredits: 7,
    balanceCents,
    now,
  });

describe("cost-center rules", () => {
  it("gives a new cost center the default limit of its kind, billed OTHER", () => {
    const created = initialCostCenter(team, { forTeams: 3, forUsers: 9 }, now);
    assert.equal(created.spendingLimitCredits, 3);
    assert.equal(created.billingStrategy, "other");
    assert.deepEqual(created.nextBillingTime, new Date("2026-04-10T00:00:00Z"));
  });

  it("keeps the cycle when the strategy stays", () => {
    const { next, invoice } = change(other, "other", 55, 5000n);
    assert.equal(next.spendingLimitCredits, 55);
    assert.deepEqual(next.billingCycleStart, other.billingCycleStart);
    assert.equal(invoice, undefined);
  });

  it("balances out a positive balance and restarts the cycle on OTHER -> STRIPE", () => {
    const { next, invoice } = change(other, "stripe", 1000, 4321n);
    assert.deepEqual(invoice, { creditCents: -4321n, effectiveTime: now });
    assert.deepEqual(next.billingCycleStart, now);
    assert.equal(next.spendingLimitCredits, 1000);
    assert.equal(change(other, "stripe", 1000, -50n).invoice, undefined);
    assert.equal(change(other, "stripe", 1000, 0n).invoice, undefined);
  });

  it("restores the last OTHER limit, or the default, on STRIPE -> OTHER", () => {
    const stripe = { ...other, billingStrategy: "stripe" as const, spendingLimitCredits: 5000 };
    assert.equal(change(stripe, "other", 1, 10n, 42).next.spendingLimitCredits, 42);
    assert.equal(change(stripe, "other", 1, 10n).next.spendingLimitCredits, 7);
    assert.deepEqual(change(stripe, "other", 1, 10n).next.billingCycleStart, now);
    assert.equal(change(stripe, "other", 1, 10n).invoice, undefined);
  });

  it("resets only expired OTHER cycles, balancing out min(balance, limit)", () => {
    const later = new Date("2026-04-02T00:00:00Z");
    assert.equal(planReset(other, 100n, now), undefined);
    assert.equal(planReset({ ...other, billingStrategy: "stripe" }, 100n, later), undefined);
    assert.deepEqual(planReset(other, 25_000n, later)?.invoice, { creditCents: -10_000n, effectiveTime: new Date("2026-04-01T00:00:00Z") });
    assert.deepEqual(planReset(other, 2_500n, later)?.invoice?.creditCents, -2_500n);
    assert.equal(planReset(other, -2_500n, later)?.invoice, undefined);
    // A limit of 0 is no cap: the whole positive balance is balanced out.
    assert.deepEqual(planReset({ ...other, spendingLimitCredits: 0 }, 2_500n, later)?.invoice?.creditCents, -2_500n);
    assert.deepEqual(planReset({ ...other, spendingLimitCredits: 0 }, 2_500_000_000_000n, later)?.invoice?.creditCents, -2_500_000_000_000n);
    assert.equal(planReset({ ...other, spendingLimitCredits: 0 }, -2_500n, later)?.invoice, undefined);
    assert.equal(planReset({ ...other, spendingLimitCredits: 0 }, 0n, later)?.invoice, undefined);
    assert.deepEqual(planReset(other, 0n, later)?.next.billingCycleStart, new Date("2026-04-01T00:00:00Z"));
  });
});
