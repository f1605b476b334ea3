import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { boolArray, plainArray, textArray } from "./pg-arrays.js";

describe("array literals", () => {
  it("quotes text, escapes backslashes and double quotes, keeps NULL apart from the string NULL", () => {
    assert.equal(textArray(["a", 'x"y', "back\\slash", "", "NULL", null, " {,} "]), '{"a","x\\"y","back\\\\slash","","NULL",NULL," {,} "}');
    assert.equal(textArray([]), "{}");
  });
  it("writes plain values and booleans as they are", () => {
    assert.equal(plainArray(["2026-01-01T00:00:00.000Z", null, "-12"]), "{2026-01-01T00:00:00.000Z,NULL,-12}");
    assert.equal(boolArray([true, false]), "{t,f}");
  });
});
