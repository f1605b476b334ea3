import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { balanceDeltas, locatePage, monthsOverlapping, planRange, totalsDeltas, type TotalsEntry } from "./ledger-totals.js";

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

  describe("totals deltas", () => {
    it("counts a new entry in its UTC day and class for all users, and in its UTC month for its user", () => {
      assert.deepEqual(totalsDeltas([{ after: entry() }]), {
        daily: [{ attributionId: "team:a", day: "2026-03-10", workspaceClass: "g1", entries: 1n, creditCents: 100n }],
        userMonthly: [{ attributionId: "team:a", userId: "u1", month: "2026-03-01", entries: 1n, creditCents: 100n }],
      });
    });

    it("moves a draft that grows past midnight from one day to the next, and keeps only non-zero changes", () => {
      const deltas = totalsDeltas([
        { before: entry({ effectiveTime: at("2026-03-10T23:59:00Z") }), after: entry({ effectiveTime: at("2026-03-11T00:01:00Z"), creditCents: 130n }) },
        { before: entry({ creditCents: 40n, userId: null }), after: entry({ creditCents: 40n, userId: null, effectiveTime: at("2026-03-10T11:00:00Z") }) },
      ]);
      assert.deepEqual(deltas, {
        daily: [
          { attributionId: "team:a", day: "2026-03-10", workspaceClass: "g1", entries: -1n, creditCents: -100n },
          { attributionId: "team:a", day: "2026-03-11", workspaceClass: "g1", entries: 1n, creditCents: 130n },
        ],
        // The same month: the user's row moves by the difference only.
        userMonthly: [{ attributionId: "team:a", userId: "u1", month: "2026-03-01", entries: 0n, creditCents: 30n }],
      });
    });

    it("moves a draft across the end of a month from the user's one month to the next, and sorts each kind by key", () => {
      const deltas = totalsDeltas([
        { after: entry({ userId: "u2", attributionId: "team:b" }) },
        { before: entry({ effectiveTime: at("2026-03-31T23:59:00Z") }), after: entry({ effectiveTime: at("2026-04-01T00:01:00Z") }) },
      ]);
      assert.deepEqual(deltas.userMonthly, [
        { attributionId: "team:a", userId: "u1", month: "2026-03-01", entries: -1n, creditCents: -100n },
        { attributionId: "team:a", userId: "u1", month: "2026-04-01", entries: 1n, creditCents: 100n },
        { attributionId: "team:b", userId: "u2", month: "2026-03-01", entries: 1n, creditCents: 100n },
      ]);
      assert.deepEqual(
        deltas.daily.map((d) => `${d.attributionId} ${d.day}`),
        ["team:a 2026-03-31", "team:a 2026-04-01", "team:b 2026-03-10"],
      );
    });

    it("ignores credit notes and invoices, files a missing class under '', and keeps no user row without a user", () => {
      assert.deepEqual(totalsDeltas([{ after: entry({ kind: "invoice" }) }, { after: entry({ kind: "creditnote" }) }]), { daily: [], userMonthly: [] });
      const deltas = totalsDeltas([{ after: entry({ workspaceClass: null, userId: null }) }]);
      assert.equal(deltas.daily[0]!.workspaceClass, "");
      assert.deepEqual(deltas.userMonthly, []);
    });
  });

  describe("range plan", () => {
    it("reads whole days from the totals and nothing from the ledger when the range is day-aligned", () => {
      assert.deepEqual(planRange(at("2026-03-01T00:00:00Z"), at("2026-03-04T00:00:00Z")), {
        totalsPeriods: { first: "2026-03-01", last: "2026-03-03" },
        add: [],
        subtract: [],
      });
    });

    it("adds a short edge from the ledger and subtracts the rest of a long one from its day's total", () => {
      const plan = planRange(at("2026-03-01T20:00:00Z"), at("2026-03-05T15:00:00Z"));
      assert.deepEqual(plan.totalsPeriods, { first: "2026-03-02", last: "2026-03-05" });
      assert.deepEqual(plan.add, [{ from: at("2026-03-01T20:00:00Z"), to: at("2026-03-02T00:00:00Z") }]);
      assert.deepEqual(plan.subtract, [{ from: at("2026-03-05T15:00:00Z"), to: at("2026-03-06T00:00:00Z") }]);
    });

    it("handles a range inside one day either way", () => {
      assert.deepEqual(planRange(at("2026-03-01T10:00:00Z"), at("2026-03-01T12:00:00Z")), {
        totalsPeriods: undefined,
        add: [{ from: at("2026-03-01T10:00:00Z"), to: at("2026-03-01T12:00:00Z") }],
        subtract: [],
      });
      assert.deepEqual(planRange(at("2026-03-01T01:00:00Z"), at("2026-03-01T23:00:00Z")), {
        totalsPeriods: { first: "2026-03-01", last: "2026-03-01" },
        add: [],
        subtract: [
          { from: at("2026-03-01T00:00:00Z"), to: at("2026-03-01T01:00:00Z") },
          { from: at("2026-03-01T23:00:00Z"), to: at("2026-03-02T00:00:00Z") },
        ],
      });
    });

    it("plans by UTC months: whole months from the totals, short edges added, long edges by complement", () => {
      const plan = planRange(at("2026-01-20T00:00:00Z"), at("2026-04-25T00:00:00Z"), "month");
      // January: 12 of 31 days inside (added); April: 24 of 30 inside (its total minus the rest).
      assert.deepEqual(plan.totalsPeriods, { first: "2026-02-01", last: "2026-04-01" });
      assert.deepEqual(plan.add, [{ from: at("2026-01-20T00:00:00Z"), to: at("2026-02-01T00:00:00Z") }]);
      assert.deepEqual(plan.subtract, [{ from: at("2026-04-25T00:00:00Z"), to: at("2026-05-01T00:00:00Z") }]);
      assert.deepEqual(planRange(at("2026-02-01T00:00:00Z"), at("2026-03-01T00:00:00Z"), "month"), {
        totalsPeriods: { first: "2026-02-01", last: "2026-02-01" },
        add: [],
        subtract: [],
      });
      // Across a year's end, with one whole month between the edges.
      const across = planRange(at("2025-11-30T00:00:00Z"), at("2026-01-02T00:00:00Z"), "month");
      assert.deepEqual(across.totalsPeriods, { first: "2025-12-01", last: "2025-12-01" });
      assert.deepEqual(across.add, [
        { from: at("2025-11-30T00:00:00Z"), to: at("2025-12-01T00:00:00Z") },
        { from: at("2026-01-01T00:00:00Z"), to: at("2026-01-02T00:00:00Z") },
      ]);
    });

    it("plans nothing for an empty range", () => {
      assert.deepEqual(planRange(at("2026-03-01T10:00:00Z"), at("2026-03-01T10:00:00Z")), { totalsPeriods: undefined, add: [], subtract: [] });
    });
  });

  describe("locating a page", () => {
    const periods = [
      { period: "2026-03-01", entries: 3 },
      { period: "2026-03-02", entries: 0 },
      { period: "2026-03-03", entries: 2 },
    ];

    it("finds the periods a page spans and the entries before them, in either order", () => {
      assert.deepEqual(locatePage(periods, 0, 2, "ascending"), { periods: ["2026-03-01"], before: 0 });
      assert.deepEqual(locatePage(periods, 0, 3, "ascending"), { periods: ["2026-03-01"], before: 0 });
      assert.deepEqual(locatePage(periods, 2, 2, "ascending"), { periods: ["2026-03-01", "2026-03-03"], before: 0 });
      assert.deepEqual(locatePage(periods, 3, 50, "ascending"), { periods: ["2026-03-03"], before: 3 });
      assert.deepEqual(locatePage(periods, 1, 1, "descending"), { periods: ["2026-03-03"], before: 0 });
      assert.deepEqual(locatePage(periods, 1, 2, "descending"), { periods: ["2026-03-03", "2026-03-01"], before: 0 });
      assert.deepEqual(locatePage(periods, 2, 9, "descending"), { periods: ["2026-03-01"], before: 2 });
    });

    it("says there is nothing at or past the end", () => {
      assert.equal(locatePage(periods, 5, 1, "descending"), undefined);
      assert.equal(locatePage([], 0, 1, "ascending"), undefined);
    });

    it("agrees with a listing laid out entry by entry", () => {
      const counts = [0, 4, 1, 0, 0, 7, 2, 3];
      const many = counts.map((entries, i) => ({ period: `2026-${String(i + 1).padStart(2, "0")}-01`, entries }));
      for (const order of ["ascending", "descending"] as const) {
        const listing = (order === "ascending" ? many : [...many].reverse()).flatMap((p) => Array.from({ length: p.entries }, () => p.period));
        for (let offset = 0; offset <= listing.length + 1; offset++) {
          for (const count of [1, 2, 3, 5, 20]) {
            const page = listing.slice(offset, offset + count);
            const located = locatePage([...many].reverse(), offset, count, order);
            if (page.length === 0) {
              assert.equal(located, undefined);
              continue;
            }
            assert.deepEqual(located?.periods, [...new Set(page)], `${order} ${offset}+${count}`);
            assert.equal(located.before, listing.indexOf(page[0]!), `${order} ${offset}+${count}`);
          }
        }
      }
    });
  });

  describe("months of a range", () => {
    it("names each UTC month the range overlaps", () => {
      assert.deepEqual(monthsOverlapping(at("2025-11-30T23:00:00Z"), at("2026-02-01T00:00:00Z")), ["2025-11-01", "2025-12-01", "2026-01-01"]);
      assert.deepEqual(monthsOverlapping(at("2026-01-31T23:59:59Z"), at("2026-02-01T00:00:00.001Z")), ["2026-01-01", "2026-02-01"]);
      assert.deepEqual(monthsOverlapping(at("2026-01-05T00:00:00Z"), at("2026-01-05T00:00:00Z")), []);
    });
  });
});
