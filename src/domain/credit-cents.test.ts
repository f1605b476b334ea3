import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { centsToCredits, creditsToCents, divideRoundHalfAwayFromZero, divideRoundUp } from "./credit-cents.js";

describe("credit cents", () => {
  it("rounds halves away from zero", () => {
    assert.equal(divideRoundHalfAwayFromZero(5n, 2n), 3n);
    assert.equal(divideRoundHalfAwayFromZero(-5n, 2n), -3n);
    assert.equal(divideRoundHalfAwayFromZero(4n, 3n), 1n);
    assert.equal(divideRoundHalfAwayFromZero(-4n, 3n), -1n);
    assert.equal(divideRoundHalfAwayFromZero(5n, -2n), -3n);
    assert.equal(divideRoundHalfAwayFromZero(0n, 7n), 0n);
  });

  it("rounds up towards +infinity", () => {
    assert.equal(divideRoundUp(5n, 2n), 3n);
    assert.equal(divideRoundUp(4n, 2n), 2n);
    assert.equal(divideRoundUp(-5n, 2n), -2n);
  });

  it("converts wire credits to cents with round(credits * 100), halves away from zero", () => {
    assert.equal(creditsToCents(1.5), 150n);
    assert.equal(creditsToCents(0.125), 13n);
    assert.equal(creditsToCents(-0.125), -13n);
    assert.equal(creditsToCents(-2), -200n);
  });

  it("round-trips any cents value below 2^53 exactly through wire credits", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(2n ** 50n), max: 2n ** 50n }), (cents) => {
        assert.equal(creditsToCents(centsToCredits(cents)), cents);
      }),
    );
  });

  it("matches exact rational rounding for any numerator and denominator", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 12n), max: 10n ** 12n }), fc.bigInt({ min: 1n, max: 10n ** 6n }), (n, d) => {
        const q = divideRoundHalfAwayFromZero(n, d);
        // |n/d - q| <= 1/2, and exactly 1/2 only when q is farther from zero.
        const twiceError = 2n * n - 2n * q * d;
        assert.ok(twiceError <= d && twiceError >= -d);
        if (twiceError === d || twiceError === -d) assert.ok(q === 0n || (q > 0n) === (n > 0n));
      }),
    );
  });
});
