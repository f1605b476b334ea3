// The rules of a credit note (AddUsageCreditNote): its reason and how many credits it gives.
import { creditNoteCreditsMax } from "./limits.js";
import { invalidArgument } from "./tally-error.js";

export const creditNoteDescriptionLengthMax = 1000;
/** The largest amount the CLI and the dashboard offer in one step (see limits.ts). */
export { creditNoteCreditsMax };
/** The wire type of `credits` is int32. */
export const creditNoteCreditsMin = -2_147_483_648;
export const creditNoteCreditsWireMax = 2_147_483_647;

/**
 * C0 control characters and DEL, except tab, line feed and carriage return: a reason may span
 * lines, but nothing that garbles a terminal, a log line or a CSV export.
 */
const forbiddenControlCharacterPattern = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

/** The reason for the credit note: trimmed, not blank, at most creditNoteDescriptionLengthMax characters. */
export function parseCreditNoteDescription(text: string): string {
  const description = text.trim();
  if (description === "") throw invalidArgument("description is required (the reason for the credit note)");
  if (description.length > creditNoteDescriptionLengthMax) {
    throw invalidArgument(`description is ${description.length} characters long, at most ${creditNoteDescriptionLengthMax} allowed`);
  }
  if (forbiddenControlCharacterPattern.test(description)) {
    throw invalidArgument("description must not contain control characters");
  }
  return description;
}

/**
 * Any whole int32 number of credits: positive gives credits (the balance goes down), negative is a
 * debit (the balance goes up: "subtract credits"), zero books a zero entry. Over gRPC or Connect an
 * int32 cannot be anything else; the check guards the callers inside Tally.
 */
export function validateCreditNoteCredits(credits: number): number {
  if (!Number.isInteger(credits)) throw invalidArgument(`credits ${credits} must be a whole number`);
  if (credits < creditNoteCreditsMin || credits > creditNoteCreditsWireMax) {
    throw invalidArgument(`credits ${credits} must be an int32 (${creditNoteCreditsMin} to ${creditNoteCreditsWireMax})`);
  }
  // -0 would book as 0 anyway; keep it out of messages and events.
  return credits === 0 ? 0 : credits;
}
