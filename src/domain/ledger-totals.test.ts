import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { balanceDeltas, locateOffset, planRange, totalsDeltas, type TotalsEntry } from "./ledger-totals.js";

const at = (iso: string) => new Date(iso);
const entry = (overrides: Partial<TotalsEntry> = {}): TotalsEntry => ({
  attributionId: "team:a",
  kind: "workspaceinstance",
  creditCents: 100n,
  effectiveTime: at("2026-03-10T10:00:00Z"),
  workspaceClass: "g1",
  userId: "u1",
  ...overrides,
});

describe("ledger totals", () => {
  describe("balance deltas", () => {
    it("moves balances by the difference, and off the old attribution id when a draft moves", () => {
      const deltas = balanceDeltas([
        { after: entry({ creditCents: 5n }) },
        { before: entry({ creditCents: 10n }), after: entry({ creditCents: 25n }) },
        { before: entry({ attributionId: "team:b", creditCents: 7n }), after: entry({ attributionId: "team:c", creditCents: 9n }) },
      ]);
      assert.deepEqual(Object.fromEntries(deltas), { "team:a": 20n, "team:b": -7n, "team:c": 9n });
    });

    it("counts entries of every kind", () => {
      const deltas = balanceDeltas([{ after: entry({ kind: "creditnote", creditCents: -500n }) }]);
      assert.deepEqual(Object.fromEntries(deltas), { "team:a": -500n });
    });
  });

  describe("daily totals deltas", () => {
    it("counts a new entry for all users and for its user, in its UTC day and class", () => {
      assert.deepEqual(totalsDeltas([{ after: entry() }]), [
        { attributionId: "team:a", userScope: "", day: "2026-03-10", workspaceClass: "g1", entries: 1n, creditCents: 100n },
        { attributionId: "team:a", userScope: "u1", day: "2026-03-10", workspaceClass: "g1", entries: 1n, creditCents: 100n },
      ]);
    });

    it("moves a draft that grows past midnight from one day to the next, and keeps only non-zero changes", () => {
      const deltas = totalsDeltas([
        { before: entry({ effectiveTime: at("2026-03-10T23:59:00Z"), userId: null }), after: entry({ effectiveTime: at("2026-03-11T00:01:00Z"), creditCents: 130n, userId: null }) },
        { before: entry({ creditCents: 40n, userId: null }), after: entry({ creditCents: 40n, userId: null, effectiveTime: at("2026-03-10T11:00:00Z") }) },
      ]);
      assert.deepEqual(deltas, [
        { attributionId: "team:a", userScope: "", day: "2026-03-10", workspaceClass: "g1", entries: -1n, creditCents: -100n },
        { attributionId: "team:a", userScope: "", day: "2026-03-11", workspaceClass: "g1", entries: 1n, creditCents: 130n },
      ]);
    });

    it("ignores credit notes and invoices, and files a missing class under ''", () => {
      assert.deepEqual(totalsDeltas([{ after: entry({ kind: "invoice" }) }, { after: entry({ kind: "creditnote" }) }]), []);
      assert.equal(totalsDeltas([{ after: entry({ workspaceClass: null, userId: null }) }])[0]!.workspaceClass, "");
    });
  });

  describe("range plan", () => {
    it("reads whole days from the totals and nothing from the ledger when the range is day-aligned", () => {
      assert.deepEqual(planRange(at("2026-03-01T00:00:00Z"), at("2026-03-04T00:00:00Z")), {
        totalsDays: { first: "2026-03-01", last: "2026-03-03" },
        add: [],
        subtract: [],
      });
    });

    it("adds a short edge from the ledger and subtracts the rest of a long one from its day's total", () => {
      const plan = planRange(at("2026-03-01T20:00:00Z"), at("2026-03-05T15:00:00Z"));
      assert.deepEqual(plan.totalsDays, { first: "2026-03-02", last: "2026-03-05" });
      assert.deepEqual(plan.add, [{ from: at("2026-03-01T20:00:00Z"), to: at("2026-03-02T00:00:00Z") }]);
      assert.deepEqual(plan.subtract, [{ from: at("2026-03-05T15:00:00Z"), to: at("2026-03-06T00:00:00Z") }]);
    });

    it("handles a range inside one day either way", () => {
      assert.deepEqual(planRange(at("2026-03-01T10:00:00Z"), at("2026-03-01T12:00:00Z")), {
        totalsDays: undefined,
        add: [{ from: at("2026-03-01T10:00:00Z"), to: at("2026-03-01T12:00:00Z") }],
        subtract: [],
      });
      assert.deepEqual(planRange(at("2026-03-01T01:00:00Z"), at("2026-03-01T23:00:00Z")), {
        totalsDays: { first: "2026-03-01", last: "2026-03-01" },
        add: [],
        subtract: [
          { from: at("2026-03-01T00:00:00Z"), to: at("2026-03-01T01:00:00Z") },
          { from: at("2026-03-01T23:00:00Z"), to: at("2026-03-02T00:00:00Z") },
        ],
      });
    });

    it("plans nothing for an empty range", () => {
      assert.deepEqual(planRange(at("2026-03-01T10:00:00Z"), at("2026-03-01T10:00:00Z")), { totalsDays: undefined, add: [], subtract: [] });
    });
  });

  describe("locating a page", () => {
    const days = [
      { day: "2026-03-01", entries: 3 },
      { day: "2026-03-02", entries: 0 },
      { day: "2026-03-03", entries: 2 },
    ];

    it("finds the day an offset falls in and the entries before it, in either order", () => {
      assert.deepEqual(locateOffset(days, 0, "ascending"), { day: "2026-03-01", before: 0 });
      assert.deepEqual(locateOffset(days, 3, "ascending"), { day: "2026-03-03", before: 3 });
      assert.deepEqual(locateOffset(days, 1, "descending"), { day: "2026-03-03", before: 0 });
      assert.deepEqual(locateOffset(days, 2, "descending"), { day: "2026-03-01", before: 2 });
    });

    it("says there is nothing at or past the end", () => {
      assert.equal(locateOffset(days, 5, "descending"), undefined);
      assert.equal(locateOffset([], 0, "ascending"), undefined);
    });
  });
});
