import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { creditNoteCreditsMax, creditNoteDescriptionLengthMax, parseCreditNoteDescription, validateCreditNoteCredits } from "./credit-note.js";
import { TallyError } from "./tally-error.js";

const invalid = (fn: () => unknown, message: RegExp) =>
  assert.throws(fn, (e: unknown) => e instanceof TallyError && e.code === "InvalidArgument" && message.test(e.message));

describe("credit note rules", () => {
  it("takes the description trimmed, multi-line allowed", () => {
    assert.equal(parseCreditNoteDescription("  goodwill for the outage \n"), "goodwill for the outage");
    assert.equal(parseCreditNoteDescription("line one\nline two\r\n\tindented"), "line one\nline two\r\n\tindented");
    assert.equal(parseCreditNoteDescription("x".repeat(creditNoteDescriptionLengthMax)).length, 1000);
  });

  it("refuses a blank, overlong or control-character description, saying why", () => {
    invalid(() => parseCreditNoteDescription(""), /^description is required \(the reason for the credit note\)$/);
    invalid(() => parseCreditNoteDescription(" \n\t "), /^description is required/);
    invalid(() => parseCreditNoteDescription("x".repeat(1001)), /^description is 1001 characters long, at most 1000 allowed$/);
    // Counted after trimming: surrounding blanks do not push a description over the limit.
    assert.equal(parseCreditNoteDescription(` ${"x".repeat(1000)} `).length, 1000);
    for (const control of ["\u0000", "\u0007", "\u000b", "\u001b", "\u007f"]) {
      invalid(() => parseCreditNoteDescription(`a${control}b`), /^description must not contain control characters$/);
    }
  });

  it("takes any whole int32: positive credits, negative debits, zero", () => {
    assert.equal(validateCreditNoteCredits(1), 1);
    assert.equal(validateCreditNoteCredits(creditNoteCreditsMax + 1), 100_000_001);
    assert.equal(validateCreditNoteCredits(-50_000), -50_000);
    assert.equal(validateCreditNoteCredits(0), 0);
    assert.ok(Object.is(validateCreditNoteCredits(-0), 0));
    assert.equal(validateCreditNoteCredits(2_147_483_647), 2_147_483_647);
    assert.equal(validateCreditNoteCredits(-2_147_483_648), -2_147_483_648);
    for (const credits of [1.5, -0.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      invalid(() => validateCreditNoteCredits(credits), new RegExp(`^credits ${credits} must be a whole number$`));
    }
    invalid(() => validateCreditNoteCredits(2_147_483_648), /^credits 2147483648 must be an int32 \(-2147483648 to 2147483647\)$/);
    invalid(() => validateCreditNoteCredits(-2_147_483_649), /^credits -2147483649 must be an int32/);
  });
});
