import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { CostCenter } from "./cost-center.js";
import {
  currencyOrDefault,
  decimalCreditsToCents,
  describePrice,
  invoicedCents,
  minorToMajor,
  parseCurrency,
  parseCustomerEmail,
  parseCustomerName,
  planInvoiceCycle,
  spendingLimitState,
  usageReportCredits,
} from "./stripe-billing.js";
import { TallyError } from "./tally-error.js";

const failsWith = (code: string, fn: () => unknown, message: RegExp) =>
  assert.throws(fn, (e: unknown) => e instanceof TallyError && e.code === code && message.test(e.message));

describe("stripe billing rules", () => {
  it("accepts EUR and USD in any case and names the allowed values otherwise", () => {
    assert.equal(parseCurrency("eur"), "EUR");
    assert.equal(parseCurrency(" USD "), "USD");
    failsWith("InvalidArgument", () => parseCurrency(""), /currency is required/);
    failsWith("InvalidArgument", () => parseCurrency("GBP"), /"GBP" is not supported: use one of EUR, USD/);
    assert.equal(currencyOrDefault(undefined), "USD");
    assert.equal(currencyOrDefault("eur"), "EUR");
  });

  it("takes a customer's name trimmed, refusing blanks, overlong names and control characters", () => {
    assert.equal(parseCustomerName("  Acme GmbH "), "Acme GmbH");
    assert.equal(parseCustomerName("Zoë & Søn"), "Zoë & Søn");
    failsWith("InvalidArgument", () => parseCustomerName(" "), /^name is required/);
    failsWith("InvalidArgument", () => parseCustomerName("x".repeat(257)), /^name is 257 characters long, at most 256 allowed/);
    failsWith("InvalidArgument", () => parseCustomerName("Ac\u0000me"), /^name must not contain control characters \(U\+0000 at position 2\)/);
    failsWith("InvalidArgument", () => parseCustomerName("Acme\nInc"), /^name must not contain control characters \(U\+000A/);
    failsWith("InvalidArgument", () => parseCustomerName("Acme\u007f"), /^name must not contain control characters \(U\+007F/);
    failsWith("InvalidArgument", () => parseCustomerName("Acme\u0085"), /^name must not contain control characters \(U\+0085/);
  });

  it("takes a plausible email address and says what is wrong with an implausible one", () => {
    assert.equal(parseCustomerEmail(" billing@acme.test "), "billing@acme.test");
    assert.equal(parseCustomerEmail("a+b.c@mail.example.co.uk"), "a+b.c@mail.example.co.uk");
    const local = "l".repeat(64);
    const longest = `${local}@${"d".repeat(254 - local.length - 6)}.test`;
    assert.equal(parseCustomerEmail(longest).length, 254);
    failsWith("InvalidArgument", () => parseCustomerEmail(`${longest}x`), /^email is 255 characters long, at most 254 allowed/);
    failsWith("InvalidArgument", () => parseCustomerEmail(""), /^email is required/);
    failsWith("InvalidArgument", () => parseCustomerEmail("a\u0000@acme.test"), /^email must not contain control characters \(U\+0000 at position 1\)/);
    failsWith("InvalidArgument", () => parseCustomerEmail("a@acme.test\r\n"), /^email must not contain control characters \(U\+000D/);
    failsWith("InvalidArgument", () => parseCustomerEmail("acme"), /^email "acme" is not an email address: it needs exactly one "@"/);
    failsWith("InvalidArgument", () => parseCustomerEmail("a@b@acme.test"), /^email "a@b@acme.test" is not an email address: it needs exactly one "@"/);
    failsWith("InvalidArgument", () => parseCustomerEmail("@acme.test"), /^email "@acme.test" is not an email address: nothing before the "@"/);
    failsWith("InvalidArgument", () => parseCustomerEmail("a@localhost"), /^email "a@localhost" is not an email address: the domain needs a dot/);
    for (const domain of ["", ".test", "acme.", "acme..test"]) {
      failsWith("InvalidArgument", () => parseCustomerEmail(`a@${domain}`), /is not an email address: the domain needs a dot between non-empty parts/);
    }
    failsWith("InvalidArgument", () => parseCustomerEmail("john doe@acme.test"), /^email "john doe@acme.test" is not an email address: it contains a space/);
  });

  it("reports the balance in whole credits rounded up, never negative", () => {
    assert.equal(usageReportCredits(1234n), 13n);
    assert.equal(usageReportCredits(1200n), 12n);
    assert.equal(usageReportCredits(1n), 1n);
    assert.equal(usageReportCredits(0n), 0n);
    assert.equal(usageReportCredits(-550n), 0n);
  });

  it("converts decimal credits exactly, halves away from zero", () => {
    assert.equal(decimalCreditsToCents("12", "q"), 1200n);
    assert.equal(decimalCreditsToCents("0.125", "q"), 13n);
    assert.equal(decimalCreditsToCents("-0.125", "q"), -13n);
    assert.equal(decimalCreditsToCents("3.999999999999", "q"), 400n);
    failsWith("FailedPrecondition", () => decimalCreditsToCents("1e3", "q"), /q "1e3" is not a decimal/);
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 12n }), (cents) => {
        const text = `${cents / 100n}.${String(cents % 100n).padStart(2, "0")}`;
        assert.equal(decimalCreditsToCents(text, "q"), cents);
      }),
    );
  });

  it("books the sum of an invoice's line quantities, and refuses an invoice without lines", () => {
    const line = (quantity: number | null, quantityDecimal: string | null = null) => ({ quantity, quantityDecimal });
    assert.equal(invoicedCents("in_1", [line(13), line(2)]), 1500n);
    assert.equal(invoicedCents("in_1", [line(null, "1.5"), line(null)]), 150n);
    assert.equal(invoicedCents("in_1", [line(0)]), 0n);
    failsWith("FailedPrecondition", () => invoicedCents("in_1", []), /invoice in_1 has no lines/);
  });

  it("moves a Stripe cycle forwards to the invoice's period end only", () => {
    const current: CostCenter = {
      attributionId: "team:x",
      spendingLimitCredits: 5,
      billingStrategy: "stripe",
      billingCycleStart: new Date("2026-01-15T12:00:00Z"),
      nextBillingTime: new Date("2026-02-15T12:00:00Z"),
    };
    const end = new Date("2026-02-15T11:59:59Z");
    assert.deepEqual(planInvoiceCycle(current, end), {
      ...current,
      billingCycleStart: end,
      nextBillingTime: new Date("2026-03-15T11:59:59Z"),
    });
    assert.equal(planInvoiceCycle(current, current.billingCycleStart), undefined);
    assert.equal(planInvoiceCycle({ ...current, billingStrategy: "other" }, end), undefined);
  });

  it("describes a price for humans, with exact decimal shifting", () => {
    assert.equal(minorToMajor("3.6"), "0.036");
    assert.equal(minorToMajor("36"), "0.36");
    assert.equal(minorToMajor("1000"), "10.00");
    assert.equal(minorToMajor("0.5"), "0.005");
    assert.equal(
      describePrice({ currency: "eur", unitAmountDecimal: "3.6", interval: "month", nickname: undefined, productName: "Usage credits" }),
      "Usage credits: 0.036 EUR per credit, billed monthly",
    );
    assert.equal(
      describePrice({ currency: "usd", unitAmountDecimal: undefined, interval: undefined, nickname: "Credits", productName: undefined }),
      "Credits: tiered price in USD",
    );
  });

  it("calls a limit reached at or above it and almost reached above 80 %", () => {
    assert.deepEqual(spendingLimitState(10_000n, 100), { limitReached: true, almostReached: true });
    assert.deepEqual(spendingLimitState(8_001n, 100), { limitReached: false, almostReached: true });
    assert.deepEqual(spendingLimitState(8_000n, 100), { limitReached: false, almostReached: false });
    assert.deepEqual(spendingLimitState(0n, 0), { limitReached: true, almostReached: false });
    assert.deepEqual(spendingLimitState(-500n, 0), { limitReached: false, almostReached: false });
  });
});
