// Pure rules of billing through Stripe: currencies, what is reported to the meter, what an invoice
// books, how an invoice moves a cost center's cycle, and how a price reads to a human.
import { cycleStartingAt } from "./billing-cycle.js";
import type { CostCenter } from "./cost-center.js";
import { centsPerCredit, divideRoundHalfAwayFromZero, divideRoundUp } from "./credit-cents.js";
import { failedPrecondition, invalidArgument, TallyError } from "./tally-error.js";

export const supportedCurrencies = ["EUR", "USD"] as const;
export type Currency = (typeof supportedCurrencies)[number];
/** Without a customer (or a preference), prices are shown in this currency. */
export const defaultCurrency: Currency = "USD";
/** The card-verification hold: 1.00 in the customer's currency, in minor units. */
export const holdAmountMinor = 100;
export const customerNameLengthMax = 256;
/** The longest address SMTP can carry (RFC 5321: a 256-octet path less its angle brackets). */
export const customerEmailLengthMax = 254;
/** Invoice lines summed per invoice; Tally's invoices have one, Stripe allows far fewer than this. */
export const invoiceLinesMax = 1000;

export function parseCurrency(value: string, field = "currency"): Currency {
  const upper = value.trim().toUpperCase();
  if (upper === "") throw invalidArgument(`${field} is required (one of ${supportedCurrencies.join(", ")})`);
  const found = supportedCurrencies.find((currency) => currency === upper);
  if (!found) {
    throw invalidArgument(`${field} ${JSON.stringify(value)} is not supported: use one of ${supportedCurrencies.join(", ")}`);
  }
  return found;
}

/** A stored or reported preference; anything unknown falls back to the default currency. */
export function currencyOrDefault(value: string | undefined): Currency {
  const upper = value?.toUpperCase();
  return supportedCurrencies.find((currency) => currency === upper) ?? defaultCurrency;
}

/** Stripe's ids are at most 255 characters (`cus_...`, `pi_...`); longer ones are never sent on. */
export const stripeIdLengthMax = 255;

/** A Stripe object id from a request, checked before it goes to Stripe: required, short, printable ASCII. */
export function parseStripeId(value: string, field: string): string {
  const id = value.trim();
  if (id === "") throw invalidArgument(`${field} is required`);
  if (id.length > stripeIdLengthMax) throw invalidArgument(`${field} is ${id.length} characters long, at most ${stripeIdLengthMax} (a Stripe id)`);
  if (!/^[\x21-\x7e]+$/.test(id)) throw invalidArgument(`${field} ${JSON.stringify(id)} is not a Stripe id: printable ASCII without spaces expected`);
  return id;
}

export function requireText(value: string, field: string, lengthMax: number): string {
  const trimmed = value.trim();
  if (trimmed === "") throw invalidArgument(`${field} is required`);
  if (trimmed.length > lengthMax) {
    throw invalidArgument(`${field} is ${trimmed.length} characters long, at most ${lengthMax} allowed`);
  }
  return trimmed;
}

/** Unicode's control characters (C0, DEL, C1): never part of a name or an address, and a hazard in logs and on invoices. */
const controlCharacterPattern = /\p{Cc}/u;

function rejectControlCharacters(value: string, field: string): void {
  const match = controlCharacterPattern.exec(value);
  if (!match) return;
  const codePoint = match[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0");
  throw invalidArgument(`${field} must not contain control characters (U+${codePoint} at position ${match.index})`);
}

/** The customer's name as Stripe shows it on invoices: trimmed, not blank, no control characters. */
export function parseCustomerName(value: string, field = "name"): string {
  rejectControlCharacters(value, field);
  return requireText(value, field, customerNameLengthMax);
}

/**
 * A plausible email address, not a full RFC 5322 parser (Stripe and the mail server have the last
 * word): one "@", a non-empty local part, a domain of dot-separated non-empty labels with at least
 * one dot, no whitespace, no control characters, at most customerEmailLengthMax characters.
 */
export function parseCustomerEmail(value: string, field = "email"): string {
  rejectControlCharacters(value, field);
  const email = requireText(value, field, customerEmailLengthMax);
  if (/\s/.test(email)) throw invalidArgument(`${field} ${JSON.stringify(email)} is not an email address: it contains a space`);
  const parts = email.split("@");
  if (parts.length !== 2) {
    throw invalidArgument(`${field} ${JSON.stringify(email)} is not an email address: it needs exactly one "@"`);
  }
  const [local, domain] = parts as [string, string];
  if (local === "") throw invalidArgument(`${field} ${JSON.stringify(email)} is not an email address: nothing before the "@"`);
  const labels = domain.split(".");
  if (labels.length < 2 || labels.some((label) => label === "")) {
    throw invalidArgument(`${field} ${JSON.stringify(email)} is not an email address: the domain needs a dot between non-empty parts`);
  }
  return email;
}

/** The cycle's usage as reported to Stripe: the balance in whole credits, rounded up, never negative. */
export function usageReportCredits(balanceCents: bigint): bigint {
  const credits = divideRoundUp(balanceCents, centsPerCredit);
  return credits > 0n ? credits : 0n;
}

/** Exact cents of a decimal string of credits ("12", "12.345"): round(credits * 100), halves away from zero. */
export function decimalCreditsToCents(text: string, field: string): bigint {
  const match = /^(-?)(\d{1,15})(?:\.(\d{1,12}))?$/.exec(text.trim());
  if (!match) throw failedPrecondition(`${field} ${JSON.stringify(text)} is not a decimal number`);
  const [, sign, whole, fraction = ""] = match;
  const scale = 10n ** BigInt(fraction.length);
  const scaled = BigInt(whole!) * scale + BigInt(fraction === "" ? "0" : fraction);
  const cents = divideRoundHalfAwayFromZero(scaled * centsPerCredit, scale);
  return sign === "-" ? -cents : cents;
}

/** An invoice without lines bills no credits: there is nothing to book (and nothing to retry). */
export class InvoiceWithoutLinesError extends TallyError {
  constructor(message: string) {
    super("FailedPrecondition", message);
  }
}

export interface InvoiceLineQuantity {
  readonly quantity: number | null;
  readonly quantityDecimal: string | null;
}

/** The credits an invoice bills, in cents: the sum of its line quantities (one unit = one credit). */
export function invoicedCents(invoiceId: string, lines: readonly InvoiceLineQuantity[]): bigint {
  if (lines.length === 0) throw new InvoiceWithoutLinesError(`invoice ${invoiceId} has no lines, so it bills no credits`);
  if (lines.length > invoiceLinesMax) {
    throw failedPrecondition(`invoice ${invoiceId} has ${lines.length} lines, at most ${invoiceLinesMax} are supported`);
  }
  let cents = 0n;
  for (const [index, line] of lines.entries()) {
    const field = `invoice ${invoiceId} line ${index} quantity`;
    if (line.quantityDecimal !== null && line.quantityDecimal !== "") {
      cents += decimalCreditsToCents(line.quantityDecimal, field);
    } else if (line.quantity !== null) {
      if (!Number.isSafeInteger(line.quantity)) throw failedPrecondition(`${field} ${line.quantity} is not a whole number`);
      cents += BigInt(line.quantity) * centsPerCredit;
    }
  }
  return cents;
}

/**
 * A finalized invoice closes the Stripe cycle it billed: the cost center's next cycle starts at the
 * invoice's period end. Only for cost centers billed by Stripe, and only forwards (an older invoice
 * arriving late leaves the cycle alone), so invoices may be booked in any order.
 */
export function planInvoiceCycle(current: CostCenter, periodEnd: Date): CostCenter | undefined {
  if (current.billingStrategy !== "stripe") return undefined;
  if (periodEnd <= current.billingCycleStart) return undefined;
  return { ...current, ...cycleStartingAt(periodEnd) };
}

export interface PriceForDescription {
  readonly currency: string;
  readonly unitAmountDecimal: string | undefined;
  readonly interval: string | undefined;
  readonly nickname: string | undefined;
  readonly productName: string | undefined;
}

/** "Usage credits: 0.036 EUR per credit, billed monthly" */
export function describePrice(price: PriceForDescription): string {
  const currency = price.currency.toUpperCase();
  const name = price.productName ?? price.nickname ?? "Usage";
  const billed = price.interval ? `, billed ${intervalAdverb(price.interval)}` : "";
  if (price.unitAmountDecimal === undefined) return `${name}: tiered price in ${currency}${billed}`;
  return `${name}: ${minorToMajor(price.unitAmountDecimal)} ${currency} per credit${billed}`;
}

function intervalAdverb(interval: string): string {
  const adverbs: Record<string, string> = { day: "daily", week: "weekly", month: "monthly", year: "yearly" };
  return adverbs[interval] ?? `every ${interval}`;
}

/** "3.6" minor units -> "0.036"; exact decimal shifting, no floats. */
export function minorToMajor(minorDecimal: string): string {
  const match = /^(\d+)(?:\.(\d+))?$/.exec(minorDecimal.trim());
  if (!match) return `${minorDecimal} (minor units)`;
  const digits = (match[1]! + (match[2] ?? "")).replace(/^0+(?=\d)/, "");
  const scale = (match[2] ?? "").length + 2;
  const padded = digits.padStart(scale + 1, "0");
  const whole = padded.slice(0, padded.length - scale);
  const fraction = padded.slice(padded.length - scale).replace(/0+$/, "");
  return fraction.length < 2 ? `${whole}.${fraction.padEnd(2, "0")}` : `${whole}.${fraction}`;
}

export interface LimitState {
  readonly limitReached: boolean;
  readonly almostReached: boolean;
}

/** Reached: balance at or above the limit. Almost: balance above `warningPercent` % of the limit (limitWarningPercent). */
export function spendingLimitState(balanceCents: bigint, spendingLimitCredits: number, warningPercent = 80): LimitState {
  const limitCents = BigInt(spendingLimitCredits) * centsPerCredit;
  return {
    limitReached: balanceCents >= limitCents,
    almostReached: balanceCents * 100n > limitCents * BigInt(warningPercent),
  };
}
