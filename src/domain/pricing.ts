// Pricing of workspace runtime. Rule (documented in the README): a price in credits per minute is
// kept exactly to a thousandth of a credit cent per hour; the usage of an instance is
// round_half_away_from_zero(whole seconds of runtime x price per hour / 3600) credit cents.
import { divideRoundHalfAwayFromZero } from "./credit-cents.js";
import { invalidArgument } from "./tally-error.js";

/** 1/6 credit per minute = 10 credits per hour. */
export const defaultCreditsPerMinute = 1 / 6;

const milliCentsPerHourPerCreditPerMinute = 60 * 100 * 1000;

export interface PriceTable {
  readonly defaultMilliCentsPerHour: bigint;
  readonly milliCentsPerHourByClass: ReadonlyMap<string, bigint>;
}

export function creditsPerMinuteToMilliCentsPerHour(creditsPerMinute: number, field: string): bigint {
  if (!Number.isFinite(creditsPerMinute) || creditsPerMinute < 0) {
    throw invalidArgument(`${field} ${creditsPerMinute} must be a finite, non-negative number`);
  }
  return BigInt(Math.round(creditsPerMinute * milliCentsPerHourPerCreditPerMinute));
}

export function buildPriceTable(
  creditsPerMinuteByWorkspaceClass: Readonly<Record<string, number>>,
  defaultPerMinute = defaultCreditsPerMinute,
): PriceTable {
  const byClass = new Map<string, bigint>();
  for (const [workspaceClass, perMinute] of Object.entries(creditsPerMinuteByWorkspaceClass)) {
    byClass.set(workspaceClass, creditsPerMinuteToMilliCentsPerHour(perMinute, `creditsPerMinuteByWorkspaceClass.${workspaceClass}`));
  }
  return {
    defaultMilliCentsPerHour: creditsPerMinuteToMilliCentsPerHour(defaultPerMinute, "default credits per minute"),
    milliCentsPerHourByClass: byClass,
  };
}

export function priceOf(table: PriceTable, workspaceClass: string): bigint {
  return table.milliCentsPerHourByClass.get(workspaceClass) ?? table.defaultMilliCentsPerHour;
}

/** Credit cents for `runtimeSeconds` whole seconds at `milliCentsPerHour`. */
export function usageCents(runtimeSeconds: bigint, milliCentsPerHour: bigint): bigint {
  if (runtimeSeconds <= 0n) return 0n;
  return divideRoundHalfAwayFromZero(runtimeSeconds * milliCentsPerHour, 3_600_000n);
}
