import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { dateFromEpochSeconds, epochMicros, timestamptzLiteral } from "./epoch-time.js";

describe("times read as float8 Unix seconds", () => {
  it("recovers the exact microsecond of every time 1970 .. 2106 that PostgreSQL's date_part('epoch') can give", () => {
    const check = (micros: number) => {
      // What PostgreSQL computes: the int8 microseconds over 10^6, correctly rounded (exact in BigInt).
      const seconds = Number(BigInt(micros)) / 1e6;
      assert.equal(epochMicros(seconds), micros, `${micros}`);
      assert.equal(dateFromEpochSeconds(seconds).getTime(), Math.floor(micros / 1000));
    };
    const limit = 2 ** 32 * 1e6 - 1;
    for (const micros of [0, 1, 999, 1000, 1001, 999_999, 1_764_000_000_123_456, limit, limit - 999, 4_102_444_800_000_000]) check(micros);
    // Random microseconds across the range, and whole milliseconds (what ingestion stores).
    let state = 0x2545f491;
    const next = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let i = 0; i < 200_000; i++) {
      const micros = Math.floor(next() * limit);
      check(micros);
      check(micros - (micros % 1000));
    }
  });

  it("writes a microsecond timestamptz literal", () => {
    assert.equal(timestamptzLiteral(1_764_000_000_123_456), "2025-11-24T16:00:00.123456Z");
    assert.equal(timestamptzLiteral(5), "1970-01-01T00:00:00.000005Z");
    assert.equal(timestamptzLiteral(1_000_000), "1970-01-01T00:00:01.000000Z");
  });
});
