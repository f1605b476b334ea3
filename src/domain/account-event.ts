// Account events: their types, what each one's data holds, and the webhook body that carries it.
// Money in event data is exact: credit cents as decimal strings (as protobuf JSON writes int64).
import type { CostCenter } from "./cost-center.js";
import type { LedgerEntry } from "./ledger-entry.js";
import type { LimitEventType, LimitLevel } from "./limit-threshold.js";
import { invalidArgument } from "./tally-error.js";

export const accountEventTypes = [
  "limit.warning",
  "limit.reached",
  "limit.cleared",
  "attribution.blocked",
  "attribution.unblocked",
  "invoice.booked",
  "credit_note.added",
  "cost_center.changed",
] as const;

export type AccountEventType = (typeof accountEventTypes)[number];

export const limitEventTypes: readonly LimitEventType[] = ["limit.warning", "limit.reached", "limit.cleared"];

export type EventData = { readonly [key: string]: EventDataValue };
export type EventDataValue = string | number | boolean | null | EventData;

/** An event to be written to the outbox (in the transaction of the change that caused it). */
export interface NewAccountEvent {
  readonly attributionId: string;
  readonly type: AccountEventType;
  readonly data: EventData;
}

export function isAccountEventType(value: string): value is AccountEventType {
  return (accountEventTypes as readonly string[]).includes(value);
}

/** A non-empty list of known event types, each once, in the order of `accountEventTypes`. */
export function parseEventTypes(values: readonly string[], field = "event_types"): AccountEventType[] {
  if (values.length === 0) throw invalidArgument(`${field} must name at least one of ${accountEventTypes.join(", ")}`);
  for (const [index, value] of values.entries()) {
    if (!isAccountEventType(value)) {
      throw invalidArgument(`${field}[${index}] ${JSON.stringify(value)} is not an event type; expected one of ${accountEventTypes.join(", ")}`);
    }
  }
  return accountEventTypes.filter((type) => values.includes(type));
}

const iso = (time: Date) => time.toISOString();

/** What made Tally look at the spending limit: the data of limit events says it. */
export type LimitCause = "usage" | "credit_note" | "cost_center" | "reset" | "invoice";

export function limitEvent(args: {
  readonly type: LimitEventType;
  readonly attributionId: string;
  readonly level: LimitLevel;
  readonly previousLevel: LimitLevel;
  readonly balanceCents: bigint;
  readonly spendingLimitCredits: number;
  readonly warningPercent: number;
  readonly billingCycleStart: Date | null;
  readonly cause: LimitCause;
}): NewAccountEvent {
  return {
    attributionId: args.attributionId,
    type: args.type,
    data: {
      attributionId: args.attributionId,
      level: args.level,
      previousLevel: args.previousLevel,
      balanceCreditCents: args.balanceCents.toString(),
      spendingLimit: args.spendingLimitCredits,
      warningPercent: args.warningPercent,
      billingCycleStart: args.billingCycleStart ? iso(args.billingCycleStart) : null,
      cause: args.cause,
    },
  };
}

function entryData(entry: LedgerEntry): EventData {
  return {
    attributionId: entry.attributionId,
    entryId: entry.id,
    creditCents: entry.creditCents.toString(),
    description: entry.description,
    effectiveTime: iso(entry.effectiveTime),
  };
}

export function creditNoteAdded(entry: LedgerEntry): NewAccountEvent {
  const userId = typeof entry.metadata.userId === "string" ? entry.metadata.userId : null;
  return { attributionId: entry.attributionId, type: "credit_note.added", data: { ...entryData(entry), userId } };
}

/** Where an invoice entry came from: Stripe, the end of a cycle billed "other", a switch to Stripe. */
export type InvoiceSource = "stripe" | "cycle_reset" | "strategy_switch";

export function invoiceBooked(entry: LedgerEntry, source: InvoiceSource): NewAccountEvent {
  const stripeInvoiceId = typeof entry.metadata.stripeInvoiceId === "string" ? entry.metadata.stripeInvoiceId : null;
  return { attributionId: entry.attributionId, type: "invoice.booked", data: { ...entryData(entry), source, stripeInvoiceId } };
}

function costCenterData(costCenter: CostCenter): EventData {
  return {
    spendingLimit: costCenter.spendingLimitCredits,
    billingStrategy: costCenter.billingStrategy,
    billingCycleStart: iso(costCenter.billingCycleStart),
    nextBillingTime: iso(costCenter.nextBillingTime),
  };
}

/** A new cost-center version (limit, strategy or cycle changed); `previous` is the version it replaced. */
export function costCenterChanged(previous: CostCenter, next: CostCenter & { version: number }): NewAccountEvent {
  return {
    attributionId: next.attributionId,
    type: "cost_center.changed",
    data: { attributionId: next.attributionId, version: next.version, ...costCenterData(next), previous: costCenterData(previous) },
  };
}

export function attributionBlocked(block: { attributionId: string; reason: string; source: string; blockedAt: Date }): NewAccountEvent {
  return {
    attributionId: block.attributionId,
    type: "attribution.blocked",
    data: { attributionId: block.attributionId, reason: block.reason, source: block.source, blockedAt: iso(block.blockedAt) },
  };
}

export function attributionUnblocked(args: { attributionId: string; reason: string; unblockedAt: Date; blocksLifted: number }): NewAccountEvent {
  return {
    attributionId: args.attributionId,
    type: "attribution.unblocked",
    data: { attributionId: args.attributionId, reason: args.reason, unblockedAt: iso(args.unblockedAt), blocksLifted: args.blocksLifted },
  };
}

/** The body of every delivery of an event (Standard Webhooks' recommended shape). */
export function webhookBody(event: { type: string; createdAt: Date; data: unknown }): string {
  return JSON.stringify({ type: event.type, timestamp: iso(event.createdAt), data: event.data });
}
