// Credits and credit cents: 1 credit = 100 credit cents. The ledger is integer cents (bigint);
// a double appears only at the wire.
import assert from "node:assert/strict";

export const centsPerCredit = 100n;

/** Divides and rounds half away from zero: 5 / 2 = 3, -5 / 2 = -3. */
export function divideRoundHalfAwayFromZero(numerator: bigint, denominator: bigint): bigint {
  assert(denominator !== 0n, "division by zero");
  const negative = numerator < 0n !== denominator < 0n;
  const n = numerator < 0n ? -numerator : numerator;
  const d = denominator < 0n ? -denominator : denominator;
  const quotient = (n * 2n + d) / (d * 2n);
  return negative ? -quotient : quotient;
}

/** Divides and rounds towards +infinity: 5 / 2 = 3, -5 / 2 = -2. */
export function divideRoundUp(numerator: bigint, denominator: bigint): bigint {
  assert(denominator > 0n, "denominator must be positive");
  const quotient = numerator / denominator;
  return numerator % denominator > 0n ? quotient + 1n : quotient;
}

/** Converts credits (a wire double) to cents: round(credits * 100), halves away from zero. */
export function creditsToCents(credits: number): bigint {
  assert(Number.isFinite(credits), "credits must be finite");
  const magnitude = Math.round(Math.abs(credits) * 100);
  return BigInt(credits < 0 ? -magnitude : magnitude);
}

/** Converts cents to credits for the wire. Exact for any balance below 2^53 cents. */
export function centsToCredits(cents: bigint): number {
  assert(typeof cents === "bigint", "cents must be a bigint");
  return Number(cents) / 100;
}

export function creditsToCentsExact(credits: bigint | number): bigint {
  return BigInt(credits) * centsPerCredit;
}

export function minBigint(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}
