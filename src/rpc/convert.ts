// Between Tally's types and the generated messages: times, credits, enums.
import { create } from "@bufbuild/protobuf";
import { DurationSchema, timestampFromDate, type Duration, type Timestamp } from "@bufbuild/protobuf/wkt";
import { centsToCredits } from "../domain/credit-cents.js";
import type { BillingStrategy, StoredCostCenter } from "../domain/cost-center.js";
import type { LedgerEntry } from "../domain/ledger-entry.js";
import { invalidArgument } from "../domain/tally-error.js";
import { storableTime } from "../domain/time-range.js";
import {
  CostCenter_BillingStrategy,
  CostCenterSchema,
  Usage_Kind,
  UsageSchema,
  type CostCenter,
  type Usage,
} from "../gen/usage/v1/usage_pb.js";

/** Latest instant a Timestamp may carry (year 9999), per the protobuf spec. */
const timestampSecondsMax = 253_402_300_799n;
const timestampSecondsMin = -62_135_596_800n;

export function dateFromTimestamp(timestamp: Timestamp | undefined, field: string): Date | undefined {
  if (timestamp === undefined) return undefined;
  if (timestamp.seconds > timestampSecondsMax || timestamp.seconds < timestampSecondsMin) {
    throw invalidArgument(`${field} seconds ${timestamp.seconds} is outside 0001-01-01 .. 9999-12-31`);
  }
  if (timestamp.nanos < 0 || timestamp.nanos > 999_999_999) {
    throw invalidArgument(`${field} nanos ${timestamp.nanos} must be between 0 and 999999999`);
  }
  // Milliseconds rounded down: timestampDate rounds 9999-12-31T23:59:59.999999999 up to year 10000,
  // which no database column takes.
  return storableTime(new Date(Number(timestamp.seconds) * 1000 + Math.floor(timestamp.nanos / 1_000_000)), field);
}

export function timestamp(date: Date): Timestamp {
  return timestampFromDate(date);
}

export function durationFromMs(ms: number): Duration {
  return create(DurationSchema, { seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 });
}

export function billingStrategyFromWire(value: CostCenter_BillingStrategy, field: string): BillingStrategy {
  switch (value) {
    case CostCenter_BillingStrategy.STRIPE:
      return "stripe";
    case CostCenter_BillingStrategy.OTHER:
      return "other";
    default:
      throw invalidArgument(`${field} ${value} is not a known billing strategy (0 = STRIPE, 1 = OTHER)`);
  }
}

export function costCenterToWire(costCenter: StoredCostCenter): CostCenter {
  return create(CostCenterSchema, {
    attributionId: costCenter.attributionId,
    spendingLimit: costCenter.spendingLimitCredits,
    billingStrategy:
      costCenter.billingStrategy === "stripe" ? CostCenter_BillingStrategy.STRIPE : CostCenter_BillingStrategy.OTHER,
    billingCycleStart: timestamp(costCenter.billingCycleStart),
    nextBillingTime: timestamp(costCenter.nextBillingTime),
  });
}

export function usageToWire(entry: LedgerEntry): Usage {
  return create(UsageSchema, {
    id: entry.id,
    attributionId: entry.attributionId,
    description: entry.description,
    credits: centsToCredits(entry.creditCents),
    effectiveTime: timestamp(entry.effectiveTime),
    // The wire knows two kinds; credit notes, like invoices, are money coming in.
    kind: entry.kind === "workspaceinstance" ? Usage_Kind.WORKSPACE_INSTANCE : Usage_Kind.INVOICE,
    workspaceInstanceId: entry.workspaceInstanceId ?? "",
    draft: entry.draft,
    metadata: JSON.stringify(entry.metadata),
  });
}
