import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { validate, version } from "uuid";
import { explainNotUuid } from "./uuid.js";

/** The rule as the uuid package states it: valid, and of versions 1-8. */
const isId = (value: string) => validate(value) && version(value) >= 1 && version(value) <= 8;

describe("explainNotUuid", () => {
  it("accepts exactly the UUIDs of versions 1-8 with the RFC variant, in either case", () => {
    const base = "0a7dcf25-f05e-4dcf-9a47-cf8fccc74717";
    const alphabet = "0123456789abcdefABCDEFgz-_ ";
    const values = [
      base,
      base.toUpperCase(),
      "00000000-0000-0000-0000-000000000000",
      "ffffffff-ffff-ffff-ffff-ffffffffffff",
      base.slice(1),
      `${base}0`,
      base.replace(/-/g, ""),
      `{${base}}`,
    ];
    // Every single-character change of every position: versions 0-f, variants 0-f, dashes moved.
    for (let i = 0; i < base.length; i++) {
      for (const c of alphabet) values.push(base.slice(0, i) + c + base.slice(i + 1));
    }
    for (const value of values) {
      const why = explainNotUuid(value);
      assert.equal(why === undefined, isId(value), `${value}: ${why ?? "accepted"}`);
    }
  });
});
