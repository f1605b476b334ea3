import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { addMonths, advanceCycle, cycleStartingAt } from "./billing-cycle.js";

const d = (iso: string) => new Date(iso);

describe("billing cycles", () => {
  it("adds calendar months and normalises overflowing days like Go's AddDate", () => {
    assert.deepEqual(addMonths(d("2026-01-15T10:00:00Z"), 1), d("2026-02-15T10:00:00Z"));
    assert.deepEqual(addMonths(d("2026-01-31T00:00:00Z"), 1), d("2026-03-03T00:00:00Z"));
    assert.deepEqual(addMonths(d("2024-01-31T00:00:00Z"), 1), d("2024-03-02T00:00:00Z"));
    assert.deepEqual(addMonths(d("2026-12-31T23:59:59.999Z"), 1), d("2027-01-31T23:59:59.999Z"));
    assert.deepEqual(addMonths(d("2026-03-31T00:00:00Z"), -1), d("2026-03-03T00:00:00Z"));
  });

  it("starts a cycle of one month", () => {
    assert.deepEqual(cycleStartingAt(d("2026-05-01T00:00:00Z")), {
      billingCycleStart: d("2026-05-01T00:00:00Z"),
      nextBillingTime: d("2026-06-01T00:00:00Z"),
    });
  });

  it("leaves a cycle that has not ended alone", () => {
    const cycle = cycleStartingAt(d("2026-05-01T00:00:00Z"));
    assert.deepEqual(advanceCycle(cycle, d("2026-05-31T23:59:59Z")), { cycle, monthsAdvanced: 0 });
  });

  it("catches up month by month from the old next billing time, after months of downtime", () => {
    const cycle = cycleStartingAt(d("2026-01-10T00:00:00Z"));
    const { cycle: next, monthsAdvanced } = advanceCycle(cycle, d("2026-06-20T00:00:00Z"));
    assert.equal(monthsAdvanced, 5);
    assert.deepEqual(next, { billingCycleStart: d("2026-06-10T00:00:00Z"), nextBillingTime: d("2026-07-10T00:00:00Z") });
  });

  it("treats a next billing time equal to now as ended", () => {
    const cycle = cycleStartingAt(d("2026-01-10T00:00:00Z"));
    assert.equal(advanceCycle(cycle, d("2026-02-10T00:00:00Z")).monthsAdvanced, 1);
  });

  it("runs ten years of cycles, each starting where the previous ended", () => {
    let cycle = cycleStartingAt(d("2026-01-31T08:00:00Z"));
    for (let month = 0; month < 120; month++) {
      const { cycle: next } = advanceCycle(cycle, cycle.nextBillingTime);
      assert.deepEqual(next.billingCycleStart, cycle.nextBillingTime);
      assert.ok(next.nextBillingTime > next.billingCycleStart);
      cycle = next;
    }
  });
});
