// Billing-cycle arithmetic. Months are calendar months that normalise like Go's AddDate(0, n, 0):
// Jan 31 + 1 month = "Feb 31" = Mar 3 (Mar 2 in a leap year). The same rule applies everywhere.
import assert from "node:assert/strict";

/** Safety limit: a cycle catch-up never steps more than this many months in one go (100 years). */
export const cycleCatchUpMonthsMax = 1200;

export function addMonths(time: Date, months: number): Date {
  assert(Number.isInteger(months), "months must be an integer");
  return new Date(
    Date.UTC(
      time.getUTCFullYear(),
      time.getUTCMonth() + months,
      time.getUTCDate(),
      time.getUTCHours(),
      time.getUTCMinutes(),
      time.getUTCSeconds(),
      time.getUTCMilliseconds(),
    ),
  );
}

export interface BillingCycle {
  readonly billingCycleStart: Date;
  readonly nextBillingTime: Date;
}

/** The first cycle of a new cost center, or the fresh cycle after a strategy switch. */
export function cycleStartingAt(start: Date): BillingCycle {
  return { billingCycleStart: start, nextBillingTime: addMonths(start, 1) };
}

/**
 * Advances an expired cycle: the new cycle starts at the old next billing time and steps month by
 * month until its next billing time is after `now`. Returns the cycle unchanged if not expired.
 */
export function advanceCycle(cycle: BillingCycle, now: Date): { cycle: BillingCycle; monthsAdvanced: number } {
  let { billingCycleStart, nextBillingTime } = cycle;
  assert(nextBillingTime > billingCycleStart, "a cycle must end after it starts");
  let monthsAdvanced = 0;
  while (nextBillingTime <= now) {
    assert(monthsAdvanced < cycleCatchUpMonthsMax, `cycle catch-up exceeds ${cycleCatchUpMonthsMax} months`);
    billingCycleStart = nextBillingTime;
    nextBillingTime = addMonths(nextBillingTime, 1);
    monthsAdvanced += 1;
  }
  return { cycle: { billingCycleStart, nextBillingTime }, monthsAdvanced };
}

export function isCycleExpired(cycle: BillingCycle, now: Date): boolean {
  return cycle.nextBillingTime <= now;
}
