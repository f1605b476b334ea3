import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { explainKeyConflict, parseIdempotencyKey, resultFromJson, resultToJson } from "./idempotency-key.js";
import { TallyError } from "./tally-error.js";

describe("idempotency keys", () => {
  it("accepts printable ASCII up to 255 characters and treats an empty header as none", () => {
    assert.equal(parseIdempotencyKey("0a7dcf25-f05e-4dcf-9a47-cf8fccc74717"), "0a7dcf25-f05e-4dcf-9a47-cf8fccc74717");
    assert.equal(parseIdempotencyKey("x".repeat(255)), "x".repeat(255));
    assert.equal(parseIdempotencyKey(""), undefined);
    assert.equal(parseIdempotencyKey(null), undefined);
  });

  it("refuses long keys and keys with spaces or non-ASCII characters, naming the header", () => {
    for (const bad of ["x".repeat(256), "a b", "ключ", "tab\there"]) {
      assert.throws(
        () => parseIdempotencyKey(bad),
        (error: unknown) => error instanceof TallyError && error.code === "InvalidArgument" && /idempotency-key header/.test(error.message),
      );
    }
  });

  it("tells the same request from another one and another procedure", () => {
    const claim = { key: "k", procedure: "usage.v1.UsageService/AddUsageCreditNote", requestHash: "aa" };
    const createdAt = new Date("2026-01-15T12:00:00Z");
    assert.equal(explainKeyConflict(claim, { ...claim, createdAt }), undefined);
    assert.match(explainKeyConflict(claim, { ...claim, requestHash: "bb", createdAt })!, /already used for a different request at 2026-01-15T12:00:00.000Z/);
    assert.match(explainKeyConflict(claim, { ...claim, procedure: "usage.v1.UsageService/SetCostCenter", createdAt })!, /already used for usage.v1.UsageService\/SetCostCenter/);
  });

  it("keeps bigints and dates through JSON", () => {
    const result = { cents: -12_345_678_901_234n, at: new Date("2026-01-15T12:00:00.123Z"), nested: [{ n: 1n }], none: null, text: "$date" };
    assert.deepEqual(resultFromJson(resultToJson(result)), result);
    assert.equal(resultFromJson(resultToJson(undefined)), null);
  });
});
