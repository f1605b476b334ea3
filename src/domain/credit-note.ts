// The rules of a credit note (AddUsageCreditNote): its reason and how many credits it gives.
import { invalidArgument } from "./tally-error.js";

export const creditNoteDescriptionLengthMax = 1000;
/** A single credit note is capped; larger corrections are several notes, each with its reason. */
export const creditNoteCreditsMax = 100_000_000;

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

/** Whole credits above 0, at most creditNoteCreditsMax. */
export function validateCreditNoteCredits(credits: number): number {
  if (!Number.isInteger(credits) || credits <= 0) {
    throw invalidArgument(`credits ${credits} must be a whole number above 0`);
  }
  if (credits > creditNoteCreditsMax) {
    throw invalidArgument(`credits ${credits} must be at most ${creditNoteCreditsMax}`);
  }
  return credits;
}
