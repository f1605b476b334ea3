import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { buildPriceTable, priceOf, usageCents } from "./pricing.js";

describe("pricing", () => {
  const table = buildPriceTable({ "g1-large": 1 / 3, "g1-xlarge": 0.5 });

  it("prices unknown classes at the default of 1/6 credit per minute (10 credits an hour)", () => {
    assert.equal(usageCents(3600n, priceOf(table, "no-such-class")), 1000n);
    assert.equal(usageCents(60n, priceOf(table, "no-such-class")), 17n); // 16.67 cents
  });

  it("prices configured classes exactly", () => {
    assert.equal(usageCents(3600n, priceOf(table, "g1-large")), 2000n);
    assert.equal(usageCents(90n, priceOf(table, "g1-xlarge")), 75n);
  });

  it("rounds half away from zero and never charges for zero or negative runtime", () => {
    // 1/6 credit/min: 9 s = 2.5 cents -> 3 cents.
    assert.equal(usageCents(9n, priceOf(table, "x")), 3n);
    assert.equal(usageCents(0n, priceOf(table, "x")), 0n);
    assert.equal(usageCents(-50n, priceOf(table, "x")), 0n);
  });

  it("rejects negative or non-finite prices", () => {
    assert.throws(() => buildPriceTable({ bad: -1 }), /creditsPerMinuteByWorkspaceClass.bad -1/);
    assert.throws(() => buildPriceTable({ bad: Number.NaN }), /creditsPerMinuteByWorkspaceClass.bad NaN/);
  });
});
