// Cost centers and the rules for changing them: versions, strategy switches and cycle resets.
import type { AttributionId } from "./attribution-id.js";
import { advanceCycle, cycleStartingAt, isCycleExpired, type BillingCycle } from "./billing-cycle.js";
import { creditsToCentsExact, minBigint } from "./credit-cents.js";
import { invalidArgument } from "./tally-error.js";

export type BillingStrategy = "stripe" | "other";

export interface CostCenter extends BillingCycle {
  readonly attributionId: string;
  /** Whole credits, as on the wire (int32). */
  readonly spendingLimitCredits: number;
  readonly billingStrategy: BillingStrategy;
}

export interface StoredCostCenter extends CostCenter {
  readonly version: number;
  readonly createdAt: Date;
}

export interface DefaultSpendingLimits {
  readonly forTeams: number;
  readonly forUsers: number;
}

export const spendingLimitCreditsMax = 2_147_483_647;

export function validateSpendingLimit(credits: number, field = "spending_limit"): number {
  if (!Number.isInteger(credits)) throw invalidArgument(`${field} ${credits} must be a whole number of credits`);
  if (credits < 0) throw invalidArgument(`${field} ${credits} must not be negative`);
  if (credits > spendingLimitCreditsMax) throw invalidArgument(`${field} ${credits} must be at most ${spendingLimitCreditsMax}`);
  return credits;
}

export function defaultSpendingLimitFor(attribution: AttributionId, defaults: DefaultSpendingLimits): number {
  return attribution.kind === "team" ? defaults.forTeams : defaults.forUsers;
}

/** The cost center an attribution id gets on first use. */
export function initialCostCenter(attribution: AttributionId, defaults: DefaultSpendingLimits, now: Date): CostCenter {
  return {
    attributionId: attribution.text,
    spendingLimitCredits: defaultSpendingLimitFor(attribution, defaults),
    billingStrategy: "other",
    ...cycleStartingAt(now),
  };
}

/** A change to the ledger that a cost-center change requires: an invoice entry of `creditCents` (negative). */
export interface BalancingInvoice {
  readonly creditCents: bigint;
  readonly effectiveTime: Date;
}

export interface CostCenterChange {
  readonly next: CostCenter;
  readonly invoice: BalancingInvoice | undefined;
}

export interface RequestedCostCenter {
  readonly spendingLimitCredits: number;
  readonly billingStrategy: BillingStrategy;
}

/**
 * SetCostCenter: the new version takes limit and strategy from the request and keeps the current
 * cycle, except on a strategy switch. OTHER -> STRIPE balances out all positive usage and starts a
 * new cycle now; STRIPE -> OTHER restores the last OTHER limit (or the default) and starts a new cycle now.
 */
export function planCostCenterChange(args: {
  readonly current: CostCenter;
  readonly requested: RequestedCostCenter;
  readonly lastOtherSpendingLimitCredits: number | undefined;
  readonly defaultSpendingLimitCredits: number;
  readonly balanceCents: bigint;
  readonly now: Date;
}): CostCenterChange {
  const { current, requested, now } = args;
  const base = { attributionId: current.attributionId, billingStrategy: requested.billingStrategy };
  if (current.billingStrategy === "other" && requested.billingStrategy === "stripe") {
    const invoice = args.balanceCents > 0n ? { creditCents: -args.balanceCents, effectiveTime: now } : undefined;
    return { next: { ...base, spendingLimitCredits: requested.spendingLimitCredits, ...cycleStartingAt(now) }, invoice };
  }
  if (current.billingStrategy === "stripe" && requested.billingStrategy === "other") {
    const restored = args.lastOtherSpendingLimitCredits ?? args.defaultSpendingLimitCredits;
    return { next: { ...base, spendingLimitCredits: restored, ...cycleStartingAt(now) }, invoice: undefined };
  }
  const next = {
    ...base,
    spendingLimitCredits: requested.spendingLimitCredits,
    billingCycleStart: current.billingCycleStart,
    nextBillingTime: current.nextBillingTime,
  };
  return { next, invoice: undefined };
}

/**
 * ResetUsage for one cost center: if it is billed OTHER and its cycle has expired, advance the cycle
 * (catching up month by month) and balance out min(balance, spending limit) when the balance is
 * positive. A spending limit of 0 means "no cap" (as in the usage component Tally replaces): the
 * whole positive balance is balanced out. Returns undefined when nothing is due.
 */
export function planReset(current: CostCenter, balanceCents: bigint, now: Date): CostCenterChange | undefined {
  if (current.billingStrategy !== "other" || !isCycleExpired(current, now)) return undefined;
  const { cycle } = advanceCycle(current, now);
  const limitCents = creditsToCentsExact(current.spendingLimitCredits);
  const invoicedCents = current.spendingLimitCredits === 0 ? balanceCents : minBigint(balanceCents, limitCents);
  const invoice = balanceCents > 0n ? { creditCents: -invoicedCents, effectiveTime: cycle.billingCycleStart } : undefined;
  return {
    next: { ...current, ...cycle },
    invoice: invoice !== undefined && invoice.creditCents !== 0n ? invoice : undefined,
  };
}

export function isResetDue(current: CostCenter, now: Date): boolean {
  return current.billingStrategy === "other" && isCycleExpired(current, now);
}
