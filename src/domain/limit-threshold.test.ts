import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { limitCrossing, limitLevel, positionChanged, validateWarningPercent, type LimitPosition } from "./limit-threshold.js";

const cycle1 = new Date("2026-01-01T00:00:00Z");
const cycle2 = new Date("2026-02-01T00:00:00Z");
const at = (level: LimitPosition["level"], cycleStart: Date | null = cycle1): LimitPosition => ({ level, cycleStart });

describe("limit levels", () => {
  it("is reached at the limit, warning above the percentage, ok otherwise", () => {
    assert.equal(limitLevel(10_000n, 100, 80), "reached");
    assert.equal(limitLevel(9_999n, 100, 80), "warning");
    assert.equal(limitLevel(8_001n, 100, 80), "warning");
    assert.equal(limitLevel(8_000n, 100, 80), "ok");
    assert.equal(limitLevel(-500n, 100, 80), "ok");
    assert.equal(limitLevel(9_001n, 100, 90), "warning");
    assert.equal(limitLevel(9_000n, 100, 90), "ok");
  });

  it("calls a limit of 0 reached at a balance of 0, as GetAccountStatus does", () => {
    assert.equal(limitLevel(0n, 0, 80), "reached");
    assert.equal(limitLevel(-1n, 0, 80), "ok");
  });

  it("accepts whole percentages from 1 to 99", () => {
    assert.equal(validateWarningPercent(80), 80);
    for (const bad of [0, 100, 80.5, -1]) assert.throws(() => validateWarningPercent(bad), /must be a whole number from 1 to 99/);
  });
});

describe("limit crossings", () => {
  it("fires once per change of level within a cycle", () => {
    assert.equal(limitCrossing(at("ok"), at("ok")), undefined);
    assert.equal(limitCrossing(at("ok"), at("warning")), "limit.warning");
    assert.equal(limitCrossing(at("warning"), at("warning")), undefined);
    assert.equal(limitCrossing(at("warning"), at("reached")), "limit.reached");
    assert.equal(limitCrossing(at("reached"), at("reached")), undefined);
    assert.equal(limitCrossing(at("reached"), at("warning")), "limit.cleared");
    assert.equal(limitCrossing(at("warning"), at("ok")), "limit.cleared");
    assert.equal(limitCrossing(at("reached"), at("ok")), "limit.cleared");
  });

  it("fires one limit.reached for a jump over both thresholds", () => {
    assert.equal(limitCrossing(at("ok"), at("reached")), "limit.reached");
  });

  it("announces a level above ok again in a new cycle, unless it went down", () => {
    assert.equal(limitCrossing(at("reached", cycle1), at("reached", cycle2)), "limit.reached");
    assert.equal(limitCrossing(at("warning", cycle1), at("warning", cycle2)), "limit.warning");
    assert.equal(limitCrossing(at("reached", cycle1), at("warning", cycle2)), "limit.cleared");
    assert.equal(limitCrossing(at("ok", cycle1), at("ok", cycle2)), undefined);
  });

  it("treats the first stored cycle as the one usage before the cost center belonged to", () => {
    assert.equal(limitCrossing(at("reached", null), at("reached", cycle1)), undefined);
    assert.equal(limitCrossing(at("ok", null), at("warning", cycle1)), "limit.warning");
  });

  it("stores a position when the level changes, or the cycle of a level above ok", () => {
    assert.equal(positionChanged(at("ok", cycle1), at("ok", cycle2)), false);
    assert.equal(positionChanged(at("warning", cycle1), at("warning", cycle1)), false);
    assert.equal(positionChanged(at("warning", cycle1), at("warning", cycle2)), true);
    assert.equal(positionChanged(at("reached", null), at("reached", cycle1)), true);
    assert.equal(positionChanged(at("ok"), at("warning")), true);
  });
});
