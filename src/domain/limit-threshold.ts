// Spending-limit levels and the events their changes fire. An attribution id is at one level of its
// spending limit (ok, warning above the warning percentage, reached at or above the limit); an event
// fires when the level changes, not on every ledger write, and a new billing cycle starts afresh.
import { centsPerCredit } from "./credit-cents.js";
import { invalidArgument } from "./tally-error.js";

export type LimitLevel = "ok" | "warning" | "reached";
export type LimitEventType = "limit.warning" | "limit.reached" | "limit.cleared";

export const limitWarningPercentDefault = 80;

const rank: Record<LimitLevel, number> = { ok: 0, warning: 1, reached: 2 };

export function validateWarningPercent(percent: number, field = "limitWarningPercent"): number {
  if (!Number.isInteger(percent) || percent < 1 || percent > 99) {
    throw invalidArgument(`${field} ${percent} must be a whole number from 1 to 99`);
  }
  return percent;
}

/**
 * Reached when the balance is at or above the limit (so a limit of 0 is reached at a balance of 0,
 * as GetAccountStatus says); warning when it is above `warningPercent` % of the limit.
 */
export function limitLevel(balanceCents: bigint, spendingLimitCredits: number, warningPercent: number): LimitLevel {
  const limitCents = BigInt(spendingLimitCredits) * centsPerCredit;
  if (balanceCents >= limitCents) return "reached";
  if (balanceCents * 100n > limitCents * BigInt(warningPercent)) return "warning";
  return "ok";
}

/** Where an attribution id stands: its level in the billing cycle that starts at `cycleStart`. */
export interface LimitPosition {
  readonly level: LimitLevel;
  /** null before the attribution id has a cost center (its first cycle has not been stored yet). */
  readonly cycleStart: Date | null;
}

/** An attribution id nobody was told anything about yet is at "ok". */
export const initialLimitPosition: LimitPosition = { level: "ok", cycleStart: null };

function sameCycle(a: LimitPosition, b: LimitPosition): boolean {
  // The cycle a cost center is created with includes the usage booked before it existed.
  return a.cycleStart === null || b.cycleStart === null || a.cycleStart.getTime() === b.cycleStart.getTime();
}

const eventOfLevel: Record<Exclude<LimitLevel, "ok">, LimitEventType> = { warning: "limit.warning", reached: "limit.reached" };

/**
 * The event a move from `previous` to `next` fires, if any: one per change of level.
 * - Up (ok -> warning, ok or warning -> reached): limit.warning or limit.reached for the new level;
 *   a jump over both thresholds is one limit.reached.
 * - Down (a reset, a credit note, a raised limit): limit.cleared.
 * - In a new billing cycle a level above ok is announced again (the cycle starts afresh), unless
 *   the level went down, which is a limit.cleared.
 */
export function limitCrossing(previous: LimitPosition, next: LimitPosition): LimitEventType | undefined {
  const up = rank[next.level] > rank[previous.level];
  const down = rank[next.level] < rank[previous.level];
  if (down) return "limit.cleared";
  if (next.level === "ok") return undefined;
  if (up || !sameCycle(previous, next)) return eventOfLevel[next.level];
  return undefined;
}

/**
 * Whether the stored position must change to `next` so that later crossings are judged right.
 * At "ok" the cycle does not matter (nothing is announced again from ok).
 */
export function positionChanged(previous: LimitPosition, next: LimitPosition): boolean {
  if (previous.level !== next.level) return true;
  if (next.level === "ok") return false;
  return (previous.cycleStart?.getTime() ?? null) !== (next.cycleStart?.getTime() ?? null);
}
